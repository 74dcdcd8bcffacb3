"""Table locks and the one transaction that holds them.

``run_in_transaction`` opens the transaction under yoyo's lock and keyshift's advisory lock;
``with_lock_retries`` runs it again in a fresh transaction when a table lock waited out
lock_timeout (with backoff). The tables come from the plan's manifest (its lock list, parents
first), never from SQL text; ``lock_within`` bounds a LOCK TABLE statement's whole wait. A lock
not granted names the sessions that hold it (``lock_not_granted``).
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict

import psycopg
import psycopg.sql
from yoyo.exceptions import LockTimeout

from orchestrator.apply.messages import to_stderr
from orchestrator.errors import MigrationFailed

#: pg_advisory_xact_lock key: held for the whole migrate/rollback transaction.
ADVISORY_KEY = 0x6B657973  # 'keys'


class LockNotGranted(MigrationFailed):
    """A table lock was not granted within lock_timeout: nothing changed, the run may retry."""


def run_in_transaction(backend, work) -> None:
    """Run ``work(conn)`` inside one transaction holding yoyo's lock and our advisory lock."""
    try:
        with backend.lock(timeout=10):
            with backend.transaction():
                conn = backend.connection
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
                work(conn)
    except LockTimeout as exc:
        raise MigrationFailed(
            "yoyo lock", str(exc), "wait for the other run to finish, or break a stale lock"
        ) from None


def with_lock_retries(backend, work, retries: int, delay: float, notice=None) -> None:
    """run_in_transaction, again in a fresh transaction after a lock timeout, up to ``retries``
    times, waiting delay * 2**n seconds (times a random 0.5-1.5, so that runs do not collide)."""
    notice = notice or to_stderr
    committing = False

    def tracked(conn):
        nonlocal committing
        work(conn)
        committing = True  # everything ran: what is left is COMMIT

    attempt = 0
    while True:
        try:
            run_in_transaction(backend, tracked)
            return
        except LockNotGranted as exc:
            if attempt >= retries:
                if retries:
                    exc.reason += f"; gave up after {attempt + 1} attempts"
                raise
            wait = delay * 2**attempt * random.uniform(0.5, 1.5)
            attempt += 1
            notice(f"{exc.obj}: {exc.reason}; nothing was changed; retry {attempt} of {retries} in {wait:.1f} s")
            time.sleep(wait)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not (backend.connection.closed or backend.connection.broken):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if committing:
                raise MigrationFailed(
                    "database connection",
                    f"was lost during COMMIT ({reason})",
                    "whether the transaction committed is unknown: run keyshift status before anything else",
                ) from None
            raise MigrationFailed(
                "database connection",
                f"was lost before COMMIT ({reason})",
                "the server rolled the transaction back, so nothing was committed; run the same command again",
            ) from None


def lock_up_front(conn, tables: list[tuple[str, str]], lock_timeout: str, statement_timeout: str) -> None:
    """LOCK TABLE every table of the manifest's lock list, in its order (parents before
    children), in one statement, so rollback waits (at most lock_timeout) before it changes
    anything, not halfway through."""
    if tables:
        lock_within(conn, lock_statement(tables), lock_timeout, statement_timeout)


def lock_plans_before_drift_check(
    conn, locks: OrderedDict[str, list[tuple[str, str]]], dsn: str, lock_timeout: str, statement_timeout: str
) -> None:
    """Lock each pending plan's tables (its manifest's lock list, parents first: the order of
    its step 01) before the drift check reads the catalog, so the catalog it checks is the
    one the migrations meet. Step 01 takes the same locks again (a no-op then)."""
    for pid, tables in locks.items():
        if not tables:
            continue
        try:
            with conn.transaction():  # a savepoint: a table that is gone is for the drift check to name
                lock_within(conn, lock_statement(tables), lock_timeout, statement_timeout)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            continue
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            raise lock_not_granted(f"plan {pid}", exc, dsn, tables, lock_timeout) from None
        except psycopg.errors.DeadlockDetected as exc:
            raise deadlocked(f"plan {pid}", exc) from None


def lock_statement(tables: list[tuple[str, str]]) -> psycopg.sql.Composed:
    return psycopg.sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
        psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(schema, table) for schema, table in tables)
    )


def lock_within(conn, statement, lock_timeout: str, statement_timeout: str) -> None:
    """Run one LOCK TABLE a, b, c … statement so that it waits at most lock_timeout IN ALL.

    lock_timeout bounds each table's wait on its own, so a statement that queues for three
    tables in turn could hold the first (and every application query behind it) for three
    times as long. statement_timeout bounds the whole statement; it is set to lock_timeout
    for this statement only, then put back. The caller treats the cancel like a lock timeout."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (lock_timeout,))
    conn.execute(statement)
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (statement_timeout,))


def lock_not_granted(where: str, exc, dsn: str, tables: list[tuple[str, str]], lock_timeout: str) -> LockNotGranted:
    """The one wording of 'a lock waited out lock_timeout', naming who holds it."""
    detail = (
        exc.diag.message_primary
        if isinstance(exc, psycopg.errors.LockNotAvailable)
        else "the tables were not all locked within it, counted over all of them"
    )
    return LockNotGranted(
        where,
        f"a table lock was not granted within lock_timeout {lock_timeout} ({detail}); {_blockers(dsn, tables)}",
        "nothing was committed; retry when that transaction has finished, or raise --lock-timeout",
    )


def deadlocked(where: str, exc: psycopg.Error) -> LockNotGranted:
    """PostgreSQL broke a lock cycle with an application transaction (one that took a child
    table before the parent) by cancelling us: nothing changed, so this is retried like a timeout."""
    detail = " ".join((exc.diag.message_detail or "").split())
    return LockNotGranted(
        where,
        f"deadlocked with an application transaction ({detail or exc.diag.message_primary})",
        "nothing was committed; retry when that transaction has finished",
    )


def _blockers(dsn: str, tables: list[tuple[str, str]]) -> str:
    """Name the sessions holding locks on ``tables`` (the manifest's lock list), from a fresh connection."""
    if not tables:
        return "blocking session unknown"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT DISTINCT a.pid, a.state, left(a.query, 80) FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid"
                " JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE l.granted AND a.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([s for s, _t in tables], [t for _s, t in tables]),
            ).fetchall()
    except psycopg.Error:
        return "blocking session unknown"
    if not rows:
        return "the blocking session has finished since"
    return "blocked by " + "; ".join(f"pid {pid} ({state}): {query!r}" for pid, state, query in rows)
