"""Rows written since migrate: per converted table, how many the mapping lacks and which integer
ids rollback will give them (keyshift.rollback_ids, the function the rollback file itself calls),
or that rollback will refuse because too few are left. Said by `keyshift status` for each table
that has such rows, and by `keyshift rollback`, before it runs, for every table of its plan."""

from __future__ import annotations

import psycopg
from psycopg import sql

from orchestrator.names import qualname

_TABLES = sql.SQL(
    "SELECT c.table_schema, c.table_name, c.key_column, c.map_table\n"
    "FROM keyshift.converted_table AS c\n"
    "WHERE\n"
    "    c.mode = 'replace' AND c.map_dropped_at IS NULL\n"
    "    AND to_regclass(format('keyshift.%%I', c.map_table)) IS NOT NULL\n"
    "    AND (\n"
    "        NOT %(last)s\n"
    "        OR c.plan_id = (\n"
    "            SELECT x.plan_id FROM keyshift.converted_table AS x ORDER BY x.converted_at DESC, x.plan_id DESC LIMIT 1\n"
    "        )\n"
    "    )\n"
    "ORDER BY c.plan_id, c.table_schema, c.table_name"
)

_IDS = (
    "SELECT n.rows_since, r.first_id, r.last_id, r.step, r.ids_left\n"
    "FROM (\n"
    "    SELECT count(*) AS rows_since FROM {t} AS t\n"
    "    WHERE NOT EXISTS (SELECT 1 FROM {m} AS m WHERE m.new_id = t.{k})\n"
    ") AS n\n"
    "CROSS JOIN keyshift.rollback_ids(%(schema)s, %(table)s, n.rows_since) AS r"
)


def lines(conn: psycopg.Connection, last_plan_only: bool = False) -> list[str]:
    """One line per converted table (replace mode, mapping kept): of the plan rollback undoes next,
    every table (``last_plan_only``); else of every applied plan, each table that has rows written
    since migrate. Nothing when keyshift has converted nothing here."""
    ready = conn.execute(
        "SELECT to_regclass('keyshift.converted_table') IS NOT NULL"
        " AND to_regprocedure('keyshift.rollback_ids(name, name, bigint)') IS NOT NULL"
    ).fetchone()[0]
    if not ready:
        return []
    out = []
    for schema, table, key, map_table in conn.execute(_TABLES, {"last": last_plan_only}).fetchall():
        query = sql.SQL(_IDS).format(
            t=sql.Identifier(schema, table), m=sql.Identifier("keyshift", map_table), k=sql.Identifier(key)
        )
        row = conn.execute(query, {"schema": schema, "table": table}).fetchone()
        if row is not None and (last_plan_only or row[0] > 0):
            out.append(_line(qualname(schema, table), *row))
    return out


def _line(shown: str, rows: int, first, last, step: int, left) -> str:
    head = f"SINCE MIGRATE {shown}: "
    if rows == 0:
        return head + "no rows written since migrate"
    if rows > left:
        return (
            head + f"{rows} row(s) written since migrate, only {left} integer id(s) left for them (from {first}, "
            f"step {step}): rollback refuses; delete or move aside rows written since migrate, or keep the uuid keys"
        )
    return head + f"{rows} row(s) written since migrate; rollback gives them ids {first}..{last} (step {step})"
