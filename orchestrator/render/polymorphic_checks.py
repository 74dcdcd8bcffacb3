"""The plan's claims about the generic relations it remaps (plan/polymorphic.py): one SELECT per
relation and type, joined with UNION ALL, written into ``<plan_id>.checks/`` like the others.

Both speak only while ``keyshift migrate`` applies the plan (the setting keyshift.checking_plans
names it). ``polymorphic_rows_unchanged`` compares with the rows per type that step 01 recorded
in a temporary table of migrate's own transaction, so it runs inside keyshift migrate only.
"""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Literal, qualname
from orchestrator.plan.model import Plan
from orchestrator.plan.polymorphic import Polymorphic, Remap
from orchestrator.render.check_file import CheckFile, gate, gated_header, subject, union
from orchestrator.render.common import I, table_ident
from orchestrator.render.polymorphic import BEFORE, UUID_TEXT


def polymorphic_checks(plan: Plan) -> list[CheckFile]:
    """The claims of a plan that remaps generic relations; none without one."""
    if not plan.polymorphic or plan.options.mode == "external":
        return []
    files = [_rows_unchanged(plan)]
    if any(p.remaps for p in plan.polymorphic):
        files.append(_ids_resolve(plan))
    return files


def _header(plan: Plan, name: str, claim: tuple[str, ...], row: str, inside_migrate: bool) -> tuple[str, ...]:
    extra = (f"It reads {BEFORE.as_string(None)}, which exists only in migrate's own transaction.",)
    return gated_header(
        name, plan.plan_id, claim, (row,), "fingerprint", replay=False, extra_scope=extra if inside_migrate else ()
    )


def _relations(plan: Plan) -> list[str]:
    return [
        f"  {p.display}: " + ", ".join(f"{r.value!r} -> {qualname(*r.target)}" for r in p.remaps)
        for p in plan.polymorphic
    ]


def _resolve_branch(plan: Plan, p: Polymorphic, r: Remap) -> sql.Composable:
    target = plan.target_of(r.target)
    parts = {
        **subject(plan.plan_id, p.table),
        "tc": Literal(p.type_column),
        "ic": Literal(p.id_column),
        "v": Literal(r.value),
        "shown": Literal(qualname(*r.target)),
        "table": table_ident(*p.table),
        "type": I(p.type_column),
        "id": I(p.id_column),
        "target": table_ident(*r.target),
        "key": I(target.key.column_name),
        "m": I("keyshift", r.map_table),
        "uuid": Literal(UUID_TEXT),
        "gate": gate(plan.plan_id),
    }
    if p.to_uuid:
        wrong = "NOT EXISTS (\n        SELECT 1 FROM {target} AS t\n        WHERE t.{key} = c.{id}\n    )"
    else:  # an old id left behind, or a uuid's text that names no row
        wrong = (
            "NOT EXISTS (\n        SELECT 1 FROM {target} AS t\n        WHERE t.{key}::text = c.{id}\n    )\n"
            "    AND (\n        c.{id} ~ {uuid}\n        OR EXISTS (\n            SELECT 1 FROM {m} AS m\n"
            "            WHERE m.old_id::text = c.{id}\n        )\n    )"
        )
    return sql.SQL(
        "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n    {tc} AS type_column,\n"
        "    {ic} AS id_column,\n    {v} AS type_value,\n    {shown} AS type_table,\n    count(*) AS rows,\n"
        "    min(c.{id}::text) AS sample\nFROM {table} AS c\nWHERE\n    {gate}\n    AND c.{type}::text = {v}\n"
        "    AND c.{id} IS NOT NULL\n    AND " + wrong + "\nHAVING count(*) > 0"
    ).format(**parts)


def _ids_resolve(plan: Plan) -> CheckFile:
    branches = [_resolve_branch(plan, p, r) for p in plan.polymorphic for r in p.remaps]
    name = "polymorphic_ids_resolve.sql"
    claim = (
        "Claim: in every generic relation the plan remaps, each row whose type names a converted table",
        "holds the new key of a row of that table: an integer id column became uuid, a text id column",
        "holds the key's text (text that was no old id of that table is left as it was). Relations:",
        *_relations(plan),
        "Why: no foreign key covers these ids; only this claim says that each still names its row.",
    )
    row = "One row: one relation and type with ids that name no row of its table (or old ids left behind)."
    return CheckFile(name, _header(plan, name, claim, row, False), union(branches, "table_schema, table_name"))


def _rows_branch(plan: Plan, p: Polymorphic) -> sql.Composable:
    joins = sql.SQL("").join(
        sql.SQL("\n    LEFT JOIN {m} AS {a} ON c.{type}::text = {v} AND {a}.new_id::text = c.{id}::text").format(
            m=I("keyshift", r.map_table), a=I(f"m{i}"), type=I(p.type_column), v=Literal(r.value), id=I(p.id_column)
        )
        for i, r in enumerate(p.remaps)
    )
    read_back = sql.SQL(", ").join(
        [sql.SQL("{}.old_id::text").format(I(f"m{i}")) for i in range(len(p.remaps))]
        + [sql.SQL("c.{}::text").format(I(p.id_column))]
    )
    return sql.SQL(
        "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n    x.type_value,\n"
        "    sum(x.rows_before) AS rows_before,\n    sum(x.rows_now) AS rows_now,\n"
        "    CASE\n        WHEN sum(x.rows_before) <> sum(x.rows_now) THEN 'rows of this type changed'\n"
        "        ELSE 'ids read back through the mapping differ'\n    END AS problem\n"
        "FROM (\n    SELECT\n        b.type_value,\n        b.row_count AS rows_before,\n        0 AS rows_now,\n"
        "        b.id_hash AS hash_before,\n        0 AS hash_now\n    FROM {before} AS b\n"
        "    WHERE b.table_schema = {s} AND b.table_name = {t}\n    UNION ALL\n    SELECT\n"
        "        c.{type}::text AS type_value,\n        0 AS rows_before,\n        count(*) AS rows_now,\n"
        "        0 AS hash_before,\n        coalesce(sum(hashtext(coalesce(coalesce({read_back}), ''))), 0) AS hash_now\n"
        "    FROM {table} AS c{joins}\n    GROUP BY c.{type}::text\n) AS x\nWHERE {gate}\nGROUP BY x.type_value\n"
        "HAVING sum(x.rows_before) <> sum(x.rows_now) OR sum(x.hash_before) <> sum(x.hash_now)"
    ).format(
        **subject(plan.plan_id, p.table),
        before=BEFORE,
        type=I(p.type_column),
        table=table_ident(*p.table),
        joins=joins,
        read_back=read_back,
        gate=gate(plan.plan_id),
    )


def _rows_unchanged(plan: Plan) -> CheckFile:
    name = "polymorphic_rows_unchanged.sql"
    claim = (
        "Claim: every generic relation the plan remaps has as many rows of each type value as step 01",
        "counted just before it remapped them, and their ids, each read back through its type's",
        "mapping (a text id that was left as it is, as it is), hash as they did then. Relations:",
        *_relations(plan),
        "Why: a row given the key of another row of the right table passes every other claim.",
    )
    row = "One row: one relation and type value whose row count or ids differ; `problem` says which."
    branches = [_rows_branch(plan, p) for p in plan.polymorphic]
    return CheckFile(name, _header(plan, name, claim, row, True), union(branches, "table_schema, table_name"))
