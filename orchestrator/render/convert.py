"""03 convert: every key and referencing column becomes uuid through its mapping, in one ALTER each."""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement, qualname, quote_part
from orchestrator.plan.model import Plan, Target, short_name
from orchestrator.render import polymorphic, rollback_ids
from orchestrator.render.common import (
    I,
    L,
    Migration,
    compose,
    dollar_quoted,
    map_ident,
    raise_text,
    stmt,
    table_ident,
    tables_with_columns,
)
from orchestrator.render.defaults import converted_default, sequence_privileges
from orchestrator.render.keys import create_new_id_fn, key_version_line, new_id_fn, new_key_expr

_KEY_GUARD = stmt(
    "DO {}",
    dollar_quoted(
        "\nBEGIN\n"
        "    IF coalesce(current_setting('keyshift.key', TRUE), '') = '' THEN\n"
        "        RAISE EXCEPTION 'keyshift: the conversion key is not set'\n"
        "        USING HINT = 'apply all migrations of a plan in one transaction: keyshift migrate';\n"
        "    END IF;\nEND\n"
    ),
    note="Refuse to run outside the transaction that drew the key in step 01 (keyshift migrate).",
)


def _old_id_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_old_id_", target.map_table))


def _reference_guards(plan: Plan) -> list[Statement]:
    """--reference columns have no FK: refuse, inside the migration, a value the target lacks.

    plan counted them already; this catches rows written between plan and migrate, so that no
    value is ever turned into a uuid that no row of the target has (exit 1, nothing changed).
    """
    out = []
    for col, target in plan.references.items():
        key = plan.target_of(target).key.column_name
        shown = f"{qualname(*col[:2])}.{col[2]}"
        body = compose(
            "\nDECLARE\n    orphans bigint;\nBEGIN\n"
            "    SELECT count(*) INTO orphans FROM {c} AS c\n    WHERE\n        c.{col} IS NOT NULL\n"
            "        AND NOT EXISTS (SELECT 1 FROM {t} AS t WHERE t.{key} = c.{col});\n"
            "    IF orphans > 0 THEN\n"
            "        RAISE EXCEPTION {msg}, orphans\n        USING HINT = {hint};\n"
            "    END IF;\nEND\n",
            c=I(*col[:2]),
            col=I(col[2]),
            t=I(*target),
            key=I(key),
            msg=L(
                "keyshift: % row(s) of "
                + raise_text(shown)
                + " hold a value that is no "
                + raise_text(key)
                + " of "
                + raise_text(qualname(*target))
            ),
            hint=L("fix or delete those rows (or set them NULL), then plan again"),
        )
        out.append(
            stmt(
                "DO {}",
                dollar_quoted(body),
                note=f"{shown} is declared a reference to {qualname(*target)} (--reference, no FK).",
            )
        )
    return out


def convert_migration(plan: Plan) -> Migration:
    looked_up = [t for t in plan.targets if t.time_ordered and t.timestamp_column]
    apply = [_KEY_GUARD, *_reference_guards(plan)]
    apply += [create_new_id_fn(t) for t in looked_up]
    for table in tables_with_columns(plan):
        apply += _convert_table(plan, table)
    apply += [stmt("DROP FUNCTION {}(bigint)", new_id_fn(t)) for t in looked_up]

    rollback = _old_ids_for_new_rows(plan)
    rollback += polymorphic.rollback(plan, _old_id_fn)
    rollback += [_restore_table(plan, table) for table in reversed(tables_with_columns(plan))]
    for t in plan.targets:
        rollback += _restore_key_default(t)
    rollback += [stmt("DROP FUNCTION {}(uuid)", _old_id_fn(t)) for t in plan.targets]
    return Migration(
        f"{plan.plan_id}_03_convert_key_columns", "convert keys and references to uuid", _header(plan), apply, rollback
    )


def _convert_table(plan: Plan, table: tuple[str, str]) -> list[Statement]:
    """One table's key and reference columns to uuid in one ALTER TABLE (identities dropped first),
    and the defaults of its converted columns."""
    apply = []
    cols = plan.columns_of(table)
    clauses = []
    for c in cols:
        if c.is_key:
            kind = plan.target_of(c.root).key.sequence_kind
            if kind.startswith("identity"):
                # Must precede the type change, in its own statement (catalog only, no rewrite).
                apply.append(
                    stmt("ALTER TABLE {} ALTER COLUMN {} DROP IDENTITY", table_ident(*table), I(c.column_name))
                )
            elif plan.target_of(c.root).key.default_expr:
                clauses.append(compose("ALTER COLUMN {} DROP DEFAULT", I(c.column_name)))
        elif c.default_expr is not None:
            clauses.append(compose("ALTER COLUMN {} DROP DEFAULT", I(c.column_name)))
        clauses.append(
            compose("ALTER COLUMN {} TYPE uuid USING {}", I(c.column_name), new_key_expr(plan, c, once=True))
        )
    apply.append(
        stmt(
            "ALTER TABLE {}\n{}",
            table_ident(*table),
            sql.SQL(",\n").join(clauses),
            note=f"{table[0]}.{table[1]}: {plan.row_counts.get(table, 0)} rows, one rewrite.",
        )
    )
    apply += [converted_default(plan, c) for c in cols if not c.is_key and c.default_expr is not None]
    return apply


def _old_ids_for_new_rows(plan: Plan) -> list[Statement]:
    """Rollback: refuse first when rows written since migrate cannot all get a fresh id; then give
    them their ids (render/rollback_ids.py); a function maps new -> old per target."""
    rollback = [rollback_ids.refuse_overflow(t) for t in plan.targets]
    for t in plan.targets:
        rollback.append(rollback_ids.old_ids_for_new_rows(t))
        body = compose(" SELECT old_id FROM {} WHERE new_id = $1 ", map_ident(t))
        rollback.append(
            stmt(
                "CREATE FUNCTION {}(uuid) RETURNS bigint\nLANGUAGE sql STABLE\nAS {}",
                _old_id_fn(t),
                dollar_quoted(body),
            )
        )
    return rollback


def _restore_table(plan: Plan, table: tuple[str, str]) -> Statement:
    """Rollback: one table's converted columns back to their old types through the mapping."""
    clauses = []
    for c in plan.columns_of(table):
        fn = _old_id_fn(plan.target_of(c.root))
        restored = not c.is_key and c.default_expr is not None
        if restored:
            clauses.append(compose("ALTER COLUMN {} DROP DEFAULT", I(c.column_name)))
        clauses.append(
            compose("ALTER COLUMN {} TYPE {} USING {}({})", I(c.column_name), sql.SQL(c.old_type), fn, I(c.column_name))
        )
        if restored:
            clauses.append(compose("ALTER COLUMN {} SET DEFAULT {}", I(c.column_name), sql.SQL(c.default_expr)))
    return stmt("ALTER TABLE {}\n{}", table_ident(*table), sql.SQL(",\n").join(clauses))


def _restore_key_default(t: Target) -> list[Statement]:
    """Rollback: a target key's identity or default, and its sequence where it was."""
    rollback = []
    k = t.key
    kind = k.sequence_kind
    if kind.startswith("identity"):
        rollback.append(
            stmt(
                "ALTER TABLE {} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY (\n"
                "    SEQUENCE NAME {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}\n)",
                table_ident(*t.table.key),
                I(k.column_name),
                sql.SQL("ALWAYS" if kind == "identity_always" else "BY DEFAULT"),
                table_ident(k.seq_schema, k.seq_name),
                L(k.seq_increment),
                L(k.seq_min),
                L(k.seq_max),
                L(k.seq_start),
                L(k.seq_cache),
                sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            )
        )
        rollback += sequence_privileges(k)
    elif k.default_expr:
        rollback.append(
            stmt(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}",
                table_ident(*t.table.key),
                I(k.column_name),
                sql.SQL(k.default_expr),
            )
        )
    if k.seq_name:
        rollback.append(rollback_ids.sequence_after_every_key(t))
        rollback.append(rollback_ids.claim_sequence_after_every_key(t))
    return rollback


def _header(plan: Plan) -> tuple[str, ...]:
    return (
        "What: converts every key and every column that references one, each table in ONE rewrite:",
        *(
            f"    {qualname(*table)}: " + ", ".join(quote_part(c.column_name) for c in plan.columns_of(table))
            for table in tables_with_columns(plan)
        ),
        "  Old sequences/identities are detached from the keys first. Keys:",
        *(f"    {key_version_line(plan, t)}" for t in plan.targets),
        "Why: the same keyed function of the old id gives a key and all its references the same",
        "  uuid, so no join and no UPDATE is needed, and row triggers never fire. Columns referencing",
        "  a table keyed by a timestamp column cannot see that timestamp: they read the mapping.",
        "  The rewrite rebuilds the indexes on these columns, the primary key's included, under their names,",
        "  in their tablespaces, with their comments, CLUSTER ON and replica identity.",
        f"Proven by: {plan.plan_id}.checks/rows_unchanged_through_mapping.sql, checks/no_integer_key_left.sql,",
        "  checks/indexes_restored.sql, checks/table_properties_restored.sql",
    )
