"""How many of an integer column's values are keys of each converted table: the data behind
plan's reference warnings (plan/evidence.py).

One read-only query per candidate column, bounded: at most ``ROW_LIMIT`` non-null values are
read, and a table the planner estimates above ``ROW_LIMIT`` rows is sampled with TABLESAMPLE
SYSTEM down to about that many. Each query runs in a savepoint that is rolled back, under a
short lock_timeout and statement_timeout: a column whose table is locked, too slow or not
readable by the role is left unmeasured with the reason, nothing waits behind plan, and the
rollback of each savepoint lets go of the table's ACCESS SHARE lock at once. At most
``COLUMN_LIMIT`` columns, and at most ``BUDGET_SECONDS`` of measuring, in one plan.

The type/id pairs found by their names (``<x>_type`` beside ``<x>_id``, Django's
``content_type_id`` beside ``object_id``) are named here (``type_id_pairs``), and each Rails pair
no --polymorphic names has its distinct type values read the same way (``type_values``): one
query each, at most ``TYPE_LIMIT`` values, in a savepoint rolled back at once, under the same
timeouts, column limit and budget.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from orchestrator.catalog.facts import TypeValues, ValueCount
from orchestrator.catalog.read import Catalog, read_only

#: the most non-null values read from one column; bigger tables are sampled down to about this many
ROW_LIMIT = 100_000
#: the most columns measured in one plan; the others are judged by name only
COLUMN_LIMIT = 300
#: how long one measurement may wait for its table's lock, and run
LOCK_TIMEOUT = "200ms"
STATEMENT_TIMEOUT = "5s"
#: once measuring has taken this long, the remaining columns are judged by name only
BUDGET_SECONDS = 30.0
#: the most distinct type values read from one type/id pair
TYPE_LIMIT = 50
#: Django's generic relation: the type column and the id columns beside it
GENERIC_TYPE = "content_type_id"
GENERIC_IDS = ("object_id", "object_pk")


def deadline() -> float:
    """When measuring must stop: ``BUDGET_SECONDS`` from now (time.monotonic)."""
    return time.monotonic() + BUDGET_SECONDS


def _over(done: int, until: float) -> str:
    """Why no more is measured ('' while there is room)."""
    if done >= COLUMN_LIMIT:
        return f"values not measured: more than {COLUMN_LIMIT} columns to measure"
    if time.monotonic() > until:
        return f"values not measured: {BUDGET_SECONDS:g} s of measuring spent"
    return ""


def value_counts(
    conn: psycopg.Connection,
    candidates: list[dict],
    targets: list[tuple[tuple[str, str], str]],
    until: float | None = None,
) -> list[ValueCount]:
    """Each integer candidate (reference_candidates.sql rows) against every target's key
    (``targets``: ((schema, table), key column)), in the candidates' order; ``until``: the
    deadline shared with ``type_values`` (else ``BUDGET_SECONDS`` from now)."""
    counts: list[ValueCount] = []
    if not targets:
        return counts
    until = deadline() if until is None else until
    with read_only(conn, LOCK_TIMEOUT, STATEMENT_TIMEOUT):
        for row in candidates:
            column = (row["table_schema"], row["table_name"], row["column_name"])
            over = _over(len(counts), until)
            counts.append(
                ValueCount(column, skipped=over) if over else _measure(conn, column, row["est_rows"], targets)
            )
    return counts


def type_id_pairs(candidates: list[dict]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((schema, table), (type column, id column)) for each type/id pair of one table among the
    candidates (reference_candidates.sql rows), named by their names alone."""
    columns: dict[tuple[str, str], list[str]] = {}
    for r in candidates:
        columns.setdefault((r["table_schema"], r["table_name"]), []).append(r["column_name"])
    pairs = []
    for table, names in columns.items():
        for name in names:
            if name == GENERIC_TYPE:
                pairs += [(table, (name, i)) for i in GENERIC_IDS if i in names]
            elif name.endswith("_type") and f"{name[: -len('_type')]}_id" in names:
                pairs.append((table, (name, f"{name[: -len('_type')]}_id")))
    return pairs


def type_values(cat: Catalog, pairs: list[tuple[str, str, str, str]], until: float) -> list[TypeValues]:
    """The distinct type values of each pair ((schema, table, type column, id column)) with their
    rows (Catalog.type_counts), at most ``TYPE_LIMIT`` each, in the pairs' order."""
    found: list[TypeValues] = []
    with read_only(cat.conn, LOCK_TIMEOUT, STATEMENT_TIMEOUT):
        for pair in pairs:
            over = _over(len(found), until)
            if over:
                found.append(TypeValues(pair, skipped=over))
                continue
            try:
                with cat.conn.transaction(force_rollback=True):
                    counts = cat.type_counts(pair[:2], pair[2], pair[3], TYPE_LIMIT + 1)
            except psycopg.Error as exc:
                reason = exc.diag.message_primary or str(exc).splitlines()[0]
                found.append(TypeValues(pair, skipped=f"values not measured: {reason}"))
                continue
            found.append(TypeValues(pair, tuple(counts[:TYPE_LIMIT]), more=len(counts) > TYPE_LIMIT))
    return found


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
