"""A plan's own checks that hold at any time: what the data of its tables must keep showing
after COMMIT, whatever the application writes.

Each is one plain SELECT per table (or per reference), joined with UNION ALL. ``keyshift
migrate`` runs them with the plan and records them in keyshift.plan_check; ``keyshift check``
runs them from there for as long as the plan is applied.
"""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Literal, qualname
from orchestrator.plan.model import Plan
from orchestrator.plan.options import external_version
from orchestrator.render.check_file import CheckFile, header, subject, union
from orchestrator.render.common import I, table_ident

#: The version and variant a key must carry: the 13th hex digit, and the top 2 bits of the 17th.
_BAD_VERSION = (
    "{c} IS NOT NULL\n    AND ((get_byte(uuid_send({c}), 6) >> 4) <> {v} OR (get_byte(uuid_send({c}), 8) >> 6) <> 2)"
)


def _header(
    plan: Plan, name: str, claim: tuple[str, ...], row: tuple[str, ...], registry: str, nothing: str
) -> tuple[str, ...]:
    pid = plan.plan_id
    scope = (
        f"Scope: at any time while plan {pid} is applied: keyshift migrate runs it before COMMIT and",
        "records it in keyshift.plan_check, from where keyshift check runs it later.",
    )
    return header(name, pid, claim, scope, row, f"keyshift.{registry} where plan_id = {pid}", nothing)


def _keyed(plan: Plan) -> list[tuple[tuple[str, str], str, int]]:
    """(table, column, version) of every uuid the plan gives a table: the key in replace mode,
    the external id in external mode."""
    if plan.options.mode == "external":
        return [(e.table.key, e.column, external_version(plan.options)) for e in plan.external_columns]
    return [(t.table.key, t.key.column_name, int(t.uuid_version[1:])) for t in plan.targets]


def uuid_versions_match(plan: Plan) -> CheckFile:
    branches = []
    for table, column, version in _keyed(plan):
        c = sql.SQL("t.{}").format(I(column))
        branches.append(
            sql.SQL(
                "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n"
                "    {col} AS key_column,\n    {v} AS expected_version,\n    count(*) AS bad_keys,\n"
                "    min({c}::text) AS sample_key\nFROM {table} AS t\nWHERE\n    {bad}\nHAVING count(*) > 0"
            ).format(
                **subject(plan.plan_id, table),
                col=Literal(column),
                v=Literal(version),
                c=c,
                table=table_ident(*table),
                bad=sql.SQL(_BAD_VERSION).format(c=c, v=Literal(version)),
            )
        )
    shown = [f"  {qualname(*table)}.{column}: version {version}" for table, column, version in _keyed(plan)]
    return CheckFile(
        "uuid_version_matches.sql",
        _header(
            plan,
            "uuid_version_matches.sql",
            (
                "Claim: every key value (in external mode, every external id) of each table of the plan is",
                "an RFC 9562 UUID of the version the plan chose: the version nibble (the high 4 bits of",
                "byte 6 of uuid_send) is that version and the variant (the top 2 bits of byte 8) is 10.",
                "Rows inserted after the conversion count too: the default must keep producing that kind.",
                *shown,
                "Why: the version is a promise downstream: v7/v6 keys are time-ordered, v4 keys reveal",
                "nothing. A key of another version was produced neither by the conversion nor by the default.",
            ),
            ("One row: one table with keys of the wrong version or variant; `sample_key` shows the smallest.",),
            "converted_table",
            f"plan {plan.plan_id} is not applied in this database",
        ),
        union(branches, "table_schema, table_name"),
    )


def _fk_branch(plan: Plan, fk) -> sql.Composable:
    child = [sql.SQL("c.{}").format(I(col)) for col in fk.child_columns]
    pairs = [sql.SQL("p.{} = c.{}").format(I(p), I(c)) for p, c in zip(fk.parent_columns, fk.child_columns)]
    return _orphan_branch(
        plan,
        (fk.child_schema, fk.child_table),
        (fk.parent_schema, fk.parent_table),
        ", ".join(fk.child_columns),
        fk.name,
        child,
        pairs,
    )


def _orphan_branch(plan, child_table, parent_table, columns: str, name: str, child, pairs) -> sql.Composable:
    return sql.SQL(
        "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n    {cols} AS column_names,\n"
        "    {parent} AS referenced_table,\n    {name} AS constraint_name,\n    count(*) AS orphan_rows,\n"
        "    min(concat_ws(', ', {sample})) AS sample_value\nFROM {child} AS c\nWHERE\n    {not_null}\n"
        "    AND NOT EXISTS (\n        SELECT 1 FROM {parent_table} AS p\n        WHERE {join}\n    )\nHAVING count(*) > 0"
    ).format(
        **subject(plan.plan_id, child_table),
        cols=Literal(columns),
        parent=Literal(qualname(*parent_table)),
        name=Literal(name),
        sample=sql.SQL(", ").join(sql.SQL("{}::text").format(c) for c in child),
        child=table_ident(*child_table),
        not_null=sql.SQL("\n    AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in child),
        parent_table=table_ident(*parent_table),
        join=sql.SQL(" AND ").join(pairs),
    )


def no_orphan_references(plan: Plan) -> CheckFile | None:
    """Every foreign key the plan moved and every --reference it converted, counted in the data."""
    branches = [_fk_branch(plan, fk) for fk in plan.fks]
    refs = []
    for column, target in plan.references.items():
        t = plan.target_of(tuple(target))
        c = sql.SQL("c.{}").format(I(column[2]))
        pair = sql.SQL("p.{} = {}").format(I(t.key.column_name), c)
        name = f"--reference {qualname(column[0], column[1])}.{column[2]}"
        branches.append(_orphan_branch(plan, column[:2], t.table.key, column[2], name, [c], [pair]))
        refs.append(f"  {name} -> {t.table.display}")
    if not branches:
        return None
    return CheckFile(
        "no_orphan_references.sql",
        _header(
            plan,
            "no_orphan_references.sql",
            (
                "Claim: no row references a parent that does not exist, counted in the data (MATCH SIMPLE:",
                "a row whose referencing columns are all non-null and that no parent row matches), for every",
                "foreign key the plan moved to the new keys, even one dropped since, and every --reference:",
                *(f"  {fk.name} on {qualname(fk.child_schema, fk.child_table)}" for fk in plan.fks),
                *refs,
                "Why: a validated foreign key is only the catalog's word: triggers can be disabled",
                "(session_replication_role = replica), constraints dropped and re-added NOT VALID.",
            ),
            ("One row: one reference with orphans; `orphan_rows` counts them, `sample_value` shows one.",),
            "converted_table",
            f"plan {plan.plan_id} is not applied in this database",
        ),
        union(branches, "table_schema, table_name, constraint_name"),
    )


def slugs_are_base62(plan: Plan) -> CheckFile | None:
    """Every slug column the plan added: each row holds a slug of the recorded length in Base62."""
    slugged = [t for t in plan.targets if t.slug_column]
    if not slugged:
        return None
    branches = []
    for t in slugged:
        c = sql.SQL("t.{}").format(I(t.slug_column))
        branches.append(
            sql.SQL(
                "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n"
                "    {col} AS column_name,\n    {n} AS expected_length,\n    count(*) AS bad_rows,\n"
                "    min(coalesce({c}, 'NULL')) AS sample\nFROM {table} AS t\nWHERE\n    {c} IS NULL\n"
                "    OR length({c}) <> {n}\n    OR {c} !~ '^[0-9A-Za-z]*$'\nHAVING count(*) > 0"
            ).format(
                **subject(plan.plan_id, t.table.key),
                col=Literal(t.slug_column),
                n=Literal(t.slug_length),
                c=c,
                table=table_ident(*t.table.key),
            )
        )
    return CheckFile(
        "slugs_are_base62.sql",
        _header(
            plan,
            "slugs_are_base62.sql",
            (
                "Claim: every row of each table the plan gave a slug column holds a slug of exactly the",
                "recorded length made only of the 62 characters 0-9, a-z, A-Z (never NULL). That no slug",
                "is used twice is checks/slug_columns_are_unique_text.sql's claim (a UNIQUE constraint).",
                *(f"  {t.table.display}.{t.slug_column}: {t.slug_length} characters" for t in slugged),
                "Why: a slug is a public identifier; a character outside Base62 or a wrong length breaks",
                "the URLs and parsers built on the promised shape.",
            ),
            ("One row: one slug column with malformed or missing slugs; `sample` shows one.",),
            "converted_slug",
            f"plan {plan.plan_id} added no slug column that is still recorded",
        ),
        union(branches, "table_schema, table_name"),
    )
