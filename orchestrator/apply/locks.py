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

import psycopg
import psycopg.sql
from yoyo.exceptions import LockTimeout

from orchestrator.apply.messages import to_stderr
from orchestrator.errors import MigrationFailed
from orchestrator.names import qualname

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


#: how each kind of relation is locked. LOCK TABLE takes tables only (and views, but a view's
#: lock reaches every table it reads); a sequence, view or materialized view is locked by
#: giving it the owner it has, which takes its ACCESS EXCLUSIVE lock and changes nothing.
_OWNER_KINDS = {
    "S": "ALTER SEQUENCE {} OWNER TO {}",
    "v": "ALTER VIEW {} OWNER TO {}",
    "m": "ALTER MATERIALIZED VIEW {} OWNER TO {}",
}
_TABLE_KINDS = ("r", "p")
#: (kind, owner, xmin of its pg_class row) of a relation by its exact schema and name
_RELATION = (
    "SELECT c.relkind::text, pg_catalog.pg_get_userbyid(c.relowner)::text, c.xmin::text"
    " FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %s AND c.relname = %s"
)


class _Release(Exception):
    """A lock after the first was not granted within the burst: release them all, wait for it first."""

    def __init__(self, index: int):
        self.index = index


def take_every_lock(conn, where: str, objects: list[tuple[str, str]], dsn: str, lock_timeout: str) -> tuple[int, int]:
    """ACCESS EXCLUSIVE on every one of ``objects`` (the plans' tables, parents first, then
    their key sequences and views), before anything is changed; returns (how many rounds it
    took, how many objects it locked).

    keyshift never waits for a lock while it holds one an application may want next, so it is
    never part of a deadlock: it waits (at most what is left of lock_timeout) for the first lock
    holding none, then takes the others within half of deadlock_timeout in all, which ends
    before any application transaction that queued behind it runs its deadlock check. When one
    of them is not granted in that time, every lock taken is released (a savepoint) and the next
    round waits for that one first. Objects that are gone are not locked: the drift check names them."""
    budget = _setting_ms(conn, "lock_timeout")
    burst = max(1, _setting_ms(conn, "deadlock_timeout") // 2)
    deadline = time.monotonic() + budget / 1000 if budget else None
    order = list(dict.fromkeys(objects))
    first, rounds = 0, 0
    while order:
        rounds += 1
        try:
            with conn.transaction():  # a savepoint: leaving it by an error releases every lock taken in it
                locked = _lock(conn, order[first], _left(deadline))
                rest = time.monotonic() + burst / 1000
                for i, obj in enumerate(order):
                    if i == first:
                        continue
                    try:
                        locked += _lock(conn, obj, _left(rest if deadline is None else min(rest, deadline)))
                    except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                        raise _Release(i) from None
            break
        except _Release as exc:
            first = exc.index
            if deadline is not None and time.monotonic() >= deadline:
                raise lock_not_granted(where, None, dsn, [order[first]], lock_timeout) from None
        except psycopg.errors.QueryCanceled as exc:
            if "user request" in (exc.diag.message_primary or ""):
                raise MigrationFailed(
                    where,
                    "was cancelled (pg_cancel_backend) while it waited for its locks",
                    "nothing was committed; run it again when it should run",
                ) from None
            raise lock_not_granted(where, exc, dsn, [order[first]], lock_timeout) from None
        except psycopg.errors.LockNotAvailable as exc:
            raise lock_not_granted(where, exc, dsn, [order[first]], lock_timeout) from None
        except psycopg.errors.DeadlockDetected as exc:
            raise deadlocked(where, exc) from None
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
    return rounds, locked if order else 0


def _setting_ms(conn, name: str) -> int:
    return int(conn.execute("SELECT setting FROM pg_catalog.pg_settings WHERE name = %s", (name,)).fetchone()[0])


def _left(deadline: float | None) -> int:
    """Milliseconds until ``deadline`` for lock_timeout: at least 1 (0 would wait for ever); 0 without one."""
    if deadline is None:
        return 0
    return max(1, int((deadline - time.monotonic()) * 1000))


def _lock(conn, obj: tuple[str, str], ms: int) -> int:
    """ACCESS EXCLUSIVE on one table, sequence, view or materialized view, waiting at most ``ms``:
    1, or 0 when it is gone (the drift check names it)."""
    row = conn.execute(_RELATION, obj).fetchone()
    if row is None:
        return 0
    kind, owner, xmin = row
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{ms}ms",))
    if kind in _TABLE_KINDS:
        statement = lock_statement([obj])
    elif kind in _OWNER_KINDS:
        statement = psycopg.sql.SQL(_OWNER_KINDS[kind]).format(
            psycopg.sql.Identifier(*obj), psycopg.sql.Identifier(owner)
        )
    else:
        raise MigrationFailed(
            qualname(*obj),
            f"is no table, sequence or view (relkind {kind!r}) though the plan locks it",
            "the object was replaced since plan: plan again; nothing was committed",
        )
    try:
        with conn.transaction():  # a savepoint of its own: an object dropped meanwhile is skipped
            conn.execute(statement)
    except psycopg.errors.UndefinedTable:
        return 0  # gone since it was read: the drift check names it
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.WrongObjectType) as exc:
        raise MigrationFailed(
            qualname(*obj),
            f"could not be locked ({exc.diag.message_primary})",
            "run keyshift as the owner of every object the plan touches, or as a superuser; nothing was committed",
        ) from None
    if kind in _OWNER_KINDS:
        now = conn.execute(_RELATION, obj).fetchone()
        if now is None or now[2] != xmin:
            raise LockNotGranted(
                qualname(*obj),
                "changed owner (or was replaced) while keyshift locked it",
                "nothing was committed; keyshift retries with its owner as it is now",
            )
    return 1


def lock_statement(tables: list[tuple[str, str]]) -> psycopg.sql.Composed:
    return psycopg.sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
        psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(schema, table) for schema, table in tables)
    )


def lock_not_granted(where: str, exc, dsn: str, tables: list[tuple[str, str]], lock_timeout: str) -> LockNotGranted:
    """The one wording of 'a lock waited out lock_timeout', naming who holds it."""
    detail = (
        exc.diag.message_primary
        if isinstance(exc, psycopg.errors.LockNotAvailable)
        else "the tables, sequences and views were not all locked within it, counted over all of them"
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
