"""How many of an integer column's values are keys of each converted table: the data behind
plan's reference warnings (plan/evidence.py).

One read-only query per candidate column, bounded: at most ``ROW_LIMIT`` non-null values are
read, and a table the planner estimates above ``ROW_LIMIT`` rows is sampled with TABLESAMPLE
SYSTEM down to about that many. Each query runs in a savepoint that is rolled back, under a
short lock_timeout and statement_timeout: a column whose table is locked, too slow or not
readable by the role is left unmeasured with the reason, nothing waits behind plan, and the
rollback of each savepoint lets go of the table's ACCESS SHARE lock at once. At most
``COLUMN_LIMIT`` columns, and at most ``BUDGET_SECONDS`` of measuring, in one plan.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from orchestrator.catalog.facts import ValueCount

#: the most non-null values read from one column; bigger tables are sampled down to about this many
ROW_LIMIT = 100_000
#: the most columns measured in one plan; the others are judged by name only
COLUMN_LIMIT = 300
#: how long one measurement may wait for its table's lock, and run
LOCK_TIMEOUT = "200ms"
STATEMENT_TIMEOUT = "5s"
#: once measuring has taken this long, the remaining columns are judged by name only
BUDGET_SECONDS = 30.0


def value_counts(
    conn: psycopg.Connection, candidates: list[dict], targets: list[tuple[tuple[str, str], str]]
) -> list[ValueCount]:
    """Each integer candidate (reference_candidates.sql rows) against every target's key
    (``targets``: ((schema, table), key column)), in the candidates' order."""
    counts: list[ValueCount] = []
    if not targets:
        return counts
    deadline = time.monotonic() + BUDGET_SECONDS
    with conn.transaction(force_rollback=True):
        conn.execute(
            "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            (LOCK_TIMEOUT, STATEMENT_TIMEOUT),
        )
        for row in candidates:
            column = (row["table_schema"], row["table_name"], row["column_name"])
            if len(counts) >= COLUMN_LIMIT:
                counts.append(
                    ValueCount(column, skipped=f"values not measured: more than {COLUMN_LIMIT} columns to measure")
                )
                continue
            if time.monotonic() > deadline:
                counts.append(
                    ValueCount(column, skipped=f"values not measured: {BUDGET_SECONDS:g} s of measuring spent")
                )
                continue
            counts.append(_measure(conn, column, row["est_rows"], targets))
    return counts


def _measure(conn: psycopg.Connection, column: tuple, est_rows: int, targets: list) -> ValueCount:
    percent = None
    sample = sql.SQL("")
    params: list = []
    if est_rows > ROW_LIMIT:
        percent = max(round(100.0 * ROW_LIMIT / est_rows, 4), 0.0001)
        sample = sql.SQL(" TABLESAMPLE SYSTEM (%s)")
        params.append(percent)
    aliases = [sql.Identifier(f"t{i}") for i in range(len(targets))]
    found = sql.SQL(", ").join(
        sql.SQL("count({}.{})").format(a, sql.Identifier(key)) for a, (_t, key) in zip(aliases, targets)
    )
    joins = sql.SQL(" ").join(
        sql.SQL("LEFT JOIN {} AS {} ON {}.{} = s.v").format(sql.Identifier(*table), a, a, sql.Identifier(key))
        for a, (table, key) in zip(aliases, targets)
    )
    q = sql.SQL(
        "SELECT count(*), count(DISTINCT s.v), {found} FROM"
        " (SELECT c.{col} AS v FROM {table} AS c{sample} WHERE c.{col} IS NOT NULL LIMIT %s) AS s {joins}"
    ).format(
        found=found,
        col=sql.Identifier(column[2]),
        table=sql.Identifier(*column[:2]),
        sample=sample,
        joins=joins,
    )
    try:
        with conn.transaction(force_rollback=True):
            row = conn.execute(q, (*params, ROW_LIMIT)).fetchone()
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc).splitlines()[0]
        return ValueCount(column, skipped=f"values not measured: {reason}")
    values, distinct, *hits = row
    return ValueCount(
        column,
        values=values,
        distinct=distinct,
        found=tuple((table, n) for (table, _key), n in zip(targets, hits)),
        sample_percent=percent,
        bounded=values >= ROW_LIMIT,
    )
