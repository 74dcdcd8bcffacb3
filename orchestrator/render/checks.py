"""The plan's own checks: the claims that must visit the plan's tables, written per table.

A claim about every table a plan touches (its rows are all still there, every row has its
mapping row, ...) must read tables that are known only when the plan is made. Instead of a
query that builds other queries from strings at run time, plan writes such a claim as one
plain SELECT per table, joined with UNION ALL, into ``<plan_id>.checks/<claim>.sql`` next to
the migrations: readable and reviewable like them, recorded in the plan's manifest, and run
by ``keyshift migrate`` inside its transaction with checks/*.sql.

These claims compare the tables with the state recorded just before the conversion, so they
speak only while ``keyshift migrate`` applies the plan (the setting keyshift.checking_plans
names it): each branch is gated on that setting, and the ``applies-to`` directive says the same
to the check runner. Afterwards the application writes rows of its own and they are history.
"""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Literal, qualname
from orchestrator.plan.model import Plan
from orchestrator.render import checks_lasting as lasting
from orchestrator.render.check_file import CheckFile, gate, gated_header, subject, union
from orchestrator.render.common import I, map_ident, table_ident, tables_with_columns
from orchestrator.render.polymorphic_checks import polymorphic_checks

#: The folder of a plan's checks, next to its migrations: ``<plan_id>.checks``.
SUFFIX = ".checks"


def folder_name(plan_id: str) -> str:
    return f"{plan_id}{SUFFIX}"


def plan_checks(plan: Plan) -> list[CheckFile]:
    """The plan's check files, in name order."""
    files = [_row_counts_unchanged(plan), _rows_unchanged_through_mapping(plan), lasting.uuid_versions_match(plan)]
    if plan.options.mode != "external":
        files += [_every_row_has_a_mapping_row(plan), _every_mapping_row_names_a_row(plan)]
        files += [f for f in (lasting.no_orphan_references(plan), lasting.slugs_are_base62(plan)) if f]
        files += polymorphic_checks(plan)
    return sorted(files, key=lambda f: f.name)


def _fingerprinted(plan: Plan) -> list[tuple[str, str]]:
    """The tables whose fingerprint the plan records before it converts anything."""
    if plan.options.mode == "external":
        return [e.table.key for e in plan.external_columns]
    return tables_with_columns(plan)


def _header(plan: Plan, name: str, claim: tuple[str, ...], row: tuple[str, ...], registry: str) -> tuple[str, ...]:
    return gated_header(name, plan.plan_id, claim, row, registry)


def _recorded_for(plan: Plan, table: tuple[str, str]) -> sql.Composable:
    """Conditions on ``f`` (keyshift.fingerprint): the row the plan recorded for ``table``,
    while the plan is being applied."""
    return sql.SQL(
        "f.plan_id = {pid}\n    AND f.table_schema = {s}\n    AND f.table_name = {t}\n    AND {gate}"
    ).format(pid=Literal(plan.plan_id), s=Literal(table[0]), t=Literal(table[1]), gate=gate(plan.plan_id))


def _row_counts_unchanged(plan: Plan) -> CheckFile:
    branches = [
        sql.SQL(
            "SELECT\n    f.plan_id,\n    f.table_schema,\n    f.table_name,\n    f.row_count AS rows_before,\n"
            "    n.rows_now,\n    n.rows_now - f.row_count AS difference\n"
            "FROM keyshift.fingerprint AS f\nCROSS JOIN (SELECT count(*) AS rows_now FROM {t}) AS n\n"
            "WHERE\n    {recorded}\n    AND n.rows_now <> f.row_count"
        ).format(t=table_ident(*table), recorded=_recorded_for(plan, table))
        for table in _fingerprinted(plan)
    ]
    return CheckFile(
        "row_counts_unchanged.sql",
        _header(
            plan,
            "row_counts_unchanged.sql",
            (
                "Claim: every table the conversion touched has exactly as many rows as the plan counted",
                "just before it converted anything (keyshift.fingerprint.row_count). Tables:",
                *(f"  {qualname(*t)}" for t in _fingerprinted(plan)),
                "Why: the simplest statement that no row was lost or duplicated.",
            ),
            ("One row: one table whose row count differs from the recorded one.",),
            "fingerprint",
        ),
        union(branches, "table_schema, table_name"),
    )


def _rows_unchanged_through_mapping(plan: Plan) -> CheckFile:
    branches = [
        sql.SQL(
            "SELECT\n    f.plan_id,\n    f.table_schema,\n    f.table_name,\n    f.row_count AS rows_before,\n"
            "    n.row_count AS rows_now,\n    f.fingerprint AS fingerprint_before,\n"
            "    n.fingerprint AS fingerprint_now,\n"
            "    CASE\n        WHEN n.row_count <> f.row_count THEN 'row count changed'\n"
            "        ELSE 'rows or references changed (fingerprint through the mapping differs)'\n"
            "    END AS problem\n"
            "FROM keyshift.fingerprint AS f\nCROSS JOIN keyshift.table_fingerprint({s}, {t}, TRUE) AS n\n"
            "WHERE\n    {recorded}\n    AND (n.row_count, n.fingerprint) IS DISTINCT FROM (f.row_count, f.fingerprint)"
        ).format(s=Literal(table[0]), t=Literal(table[1]), recorded=_recorded_for(plan, table))
        for table in _fingerprinted(plan)
    ]
    return CheckFile(
        "rows_unchanged_through_mapping.sql",
        _header(
            plan,
            "rows_unchanged_through_mapping.sql",
            (
                "Claim: every table the conversion touched holds the same rows as before it, and every",
                "row still refers to the same parent: the row count and the order-independent hash of all",
                "rows, each converted column read back as its OLD integer id through its mapping table",
                "(keyshift.table_fingerprint(schema, table, TRUE)), equal what the plan recorded in",
                "keyshift.fingerprint just before it converted anything. Tables:",
                *(f"  {qualname(*t)}" for t in _fingerprinted(plan)),
                "Why: a child row that now points at another existing parent passes every foreign key and",
                "orphan check; read back through the mapping its old id differs, and so does the hash.",
            ),
            ("One row: one table whose row count or fingerprint differs; `problem` says which.",),
            "fingerprint",
        ),
        union(branches, "table_schema, table_name"),
    )


def _every_row_has_a_mapping_row(plan: Plan) -> CheckFile:
    branches = [
        sql.SQL(
            "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n"
            "    {mshown} AS map_table,\n    count(*) AS rows,\n    min(t.{k}::text) AS sample\n"
            "FROM {table} AS t\nWHERE\n    {gate}\n    AND NOT EXISTS (\n"
            "        SELECT 1 FROM {m} AS m\n        WHERE m.new_id = t.{k}\n    )\nHAVING count(*) > 0"
        ).format(**_target_parts(plan, t))
        for t in plan.targets
    ]
    return CheckFile(
        "every_row_has_a_mapping_row.sql",
        _header(
            plan,
            "every_row_has_a_mapping_row.sql",
            (
                "Claim: every row of each table the plan converts has a row in its mapping table",
                "(mapping.new_id = the row's new key), so its old id is recorded for rollback, audits",
                "and old URLs. Tables and mappings:",
                *(f"  {t.table.display}: {qualname('keyshift', t.map_table)}" for t in plan.targets),
            ),
            ("One row: one converted table with rows that have no mapping row; `sample` shows one key.",),
            "converted_table",
        ),
        union(branches, "table_schema, table_name"),
    )


def _every_mapping_row_names_a_row(plan: Plan) -> CheckFile:
    branches = [
        sql.SQL(
            "SELECT\n    {pid} AS plan_id,\n    {s} AS table_schema,\n    {t} AS table_name,\n"
            "    {mshown} AS map_table,\n    count(*) AS rows,\n    min(m.new_id::text) AS sample\n"
            "FROM {m} AS m\nWHERE\n    {gate}\n    AND NOT EXISTS (\n"
            "        SELECT 1 FROM {table} AS t\n        WHERE t.{k} = m.new_id\n    )\nHAVING count(*) > 0"
        ).format(**_target_parts(plan, t))
        for t in plan.targets
    ]
    return CheckFile(
        "every_mapping_row_names_a_row.sql",
        _header(
            plan,
            "every_mapping_row_names_a_row.sql",
            (
                "Claim: every row of each mapping table the plan fills names a row of its table",
                "(mapping.new_id is the new key of a row), so no old id leads to a key that is not there.",
                "Tables and mappings:",
                *(f"  {t.table.display}: {qualname('keyshift', t.map_table)}" for t in plan.targets),
            ),
            ("One row: one mapping table with rows whose new_id is no key; `sample` shows one new_id.",),
            "converted_table",
        ),
        union(branches, "table_schema, table_name"),
    )


def _target_parts(plan: Plan, t) -> dict[str, sql.Composable]:
    return {
        **subject(plan.plan_id, t.table.key),
        "mshown": Literal(qualname("keyshift", t.map_table)),
        "k": I(t.key.column_name),
        "table": table_ident(*t.table.key),
        "m": map_ident(t),
        "gate": gate(plan.plan_id),
    }
