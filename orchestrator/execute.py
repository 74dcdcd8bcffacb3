"""Execute: apply or roll back migrations through yoyo, all in ONE transaction.

yoyo's own ``apply_migrations`` commits each migration alone (DESIGN.md §5). Instead we take
yoyo's lock, compute the pending list BEFORE opening the transaction, then inside one
``backend.transaction()`` run each migration's steps, log and mark it, and run every check
on the same connection before COMMIT. Any error or any check row rolls back everything:
data, catalog and yoyo's bookkeeping.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.exceptions import LockTimeout

from orchestrator import CHECKS_DIR, checks, drift, dsn as dsnmod
from orchestrator.errors import KeyshiftError, MigrationFailed

MIGRATION_TABLE = "_yoyo_migration"
PLAN_RE = re.compile(r"^(\d{4})_(\d{2})_")
#: pg_advisory_xact_lock key: held for the whole migrate/rollback transaction.
ADVISORY_KEY = 0x6B657973  # 'keys'


@dataclass
class Outcome:
    applied: list[tuple[str, float]] = field(default_factory=list)
    checks: list[checks.CheckResult] = field(default_factory=list)
    nothing_to_do: bool = False
    seconds: float = 0.0


class ChecksFailed(MigrationFailed):
    def __init__(self, results: list[checks.CheckResult]):
        self.results = results
        bad = [r.name for r in results if not r.ok]
        super().__init__(
            "migrate", f"{len(bad)} check(s) failed inside the transaction: {', '.join(bad)}",
            "nothing was committed; read the rows above, fix the cause and run migrate again",
        )


def plan_id_of(migration_id: str) -> str | None:
    m = PLAN_RE.match(migration_id)
    return m.group(1) if m else None


def backend_for(dsn: str):
    try:
        return get_backend(dsnmod.yoyo_uri(dsn), migration_table=MIGRATION_TABLE)
    except psycopg.Error as exc:
        raise dsnmod.connection_failed(dsn, exc) from None


def load(migrations_dir: Path):
    if not migrations_dir.is_dir():
        raise KeyshiftError(f"migrations directory {migrations_dir}", "does not exist",
                            "run keyshift plan first, or pass --migrations")
    return read_migrations(str(migrations_dir))


def _db_error(where: str, exc: psycopg.Error) -> MigrationFailed:
    diag = exc.diag
    parts = [diag.message_primary or str(exc).strip().splitlines()[0]]
    for label, value in (("table", diag.table_name), ("column", diag.column_name),
                         ("constraint", diag.constraint_name), ("detail", diag.message_detail),
                         ("hint", diag.message_hint)):
        if value:
            parts.append(f"{label}: {value}")
    return MigrationFailed(where, "; ".join(parts), "nothing was committed; the database is as it was before")


def _run_in_transaction(backend, work) -> None:
    """Run ``work(conn)`` inside one transaction holding yoyo's lock and our advisory lock."""
    try:
        with backend.lock(timeout=10):
            with backend.transaction():
                conn = backend.connection
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
                work(conn)
    except LockTimeout as exc:
        raise MigrationFailed("yoyo lock", str(exc), "wait for the other run to finish, or break a stale lock") from None


def migrate(dsn: str, migrations_dir: Path, checks_dir: Path = CHECKS_DIR, progress=None,
            lock_timeout: str = "5s") -> Outcome:
    started = time.monotonic()
    migrations = load(migrations_dir)
    backend = backend_for(dsn)
    outcome = Outcome()
    try:
        pending = list(backend.to_apply(migrations))
        if not pending:
            outcome.nothing_to_do = True
            return outcome
        applied_ids = {m.id for m in migrations} - {m.id for m in pending}
        _refuse_partial_plans(pending, applied_ids)
        for m in pending:
            m.load()
            if not m.use_transactions:
                raise MigrationFailed(
                    f"migration {m.id}", "is marked '-- transactional: false' and would commit on its own",
                    "keyshift applies every pending migration in one transaction; remove the directive",
                )

        def work(conn):
            # Never sit in the lock queue behind a long application transaction while every
            # application query queues behind us: give up after lock_timeout instead.
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
            plans = sorted({plan_id_of(m.id) or m.id for m in pending})
            conn.execute("SELECT set_config('keyshift.checking_plans', %s, true)", (",".join(plans),))
            drift.guard_migrate(conn, migrations, pending)  # edited applied files, catalog drift: refuse
            for m in pending:
                t0 = time.monotonic()
                if progress:
                    progress(f"applying {m.id}")
                try:
                    _quietly(m.process_steps, backend, "apply")
                except psycopg.errors.LockNotAvailable as exc:
                    raise MigrationFailed(
                        f"migration {m.id}",
                        f"a table lock was not granted within lock_timeout {lock_timeout} "
                        f"({exc.diag.message_primary}); {_blockers(dsn, pending_tables(m))}",
                        "nothing was committed; retry when that transaction has finished, or raise --lock-timeout",
                    ) from None
                except psycopg.Error as exc:
                    raise _db_error(f"migration {m.id}", exc) from None
                backend.log_migration(m, "apply")
                backend.mark_one(m, log=False)
                outcome.applied.append((m.id, time.monotonic() - t0))
            t0 = time.monotonic()
            outcome.checks = checks.run(conn, checks_dir)
            outcome.applied.append(("checks", time.monotonic() - t0))
            if not all(r.ok for r in outcome.checks):
                raise ChecksFailed(outcome.checks)

        _run_in_transaction(backend, work)
    finally:
        backend.connection.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def pending_tables(migration) -> list[str]:
    """Tables named in the migration's LOCK TABLE statement (for naming who blocks us)."""
    m = re.search(r"LOCK TABLE (.+?) IN ACCESS EXCLUSIVE MODE", migration.source or "", re.S)
    return [t.strip() for t in m.group(1).split(",")] if m else []


def _blockers(dsn: str, tables: list[str]) -> str:
    """Name the sessions holding locks on ``tables``, from a fresh connection."""
    if not tables:
        return "blocking session unknown"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT DISTINCT a.pid, a.state, left(a.query, 80) FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.granted AND l.relation = ANY (%s::regclass[]) AND a.pid <> pg_backend_pid()",
                (tables,),
            ).fetchall()
    except psycopg.Error:
        return "blocking session unknown"
    if not rows:
        return "the blocking session has finished since"
    return "blocked by " + "; ".join(f"pid {pid} ({state}): {query!r}" for pid, state, query in rows)


def _quietly(fn, *args):
    """yoyo prints the result of every SELECT in a migration; keep that off the terminal."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _refuse_partial_plans(pending, applied_ids: set[str]) -> None:
    for m in pending:
        pid = plan_id_of(m.id)
        if pid and any(plan_id_of(a) == pid for a in applied_ids):
            raise MigrationFailed(
                f"plan {pid}", f"is partly applied already, and {m.id} is pending",
                "a plan's migrations share a per-transaction key and must be applied together; "
                "roll back the applied part (keyshift rollback) and migrate again",
            )


def rollback(dsn: str, migrations_dir: Path, progress=None) -> Outcome:
    """Undo the most recent applied plan, all of its migrations, in one transaction."""
    started = time.monotonic()
    migrations = load(migrations_dir)
    backend = backend_for(dsn)
    outcome = Outcome()
    try:
        applied = list(backend.to_rollback(migrations))  # newest first
        if not applied:
            outcome.nothing_to_do = True
            return outcome
        last_plan = plan_id_of(applied[0].id)
        batch = [m for m in applied if plan_id_of(m.id) == last_plan] if last_plan else applied[:1]

        def work(conn):
            for m in batch:
                t0 = time.monotonic()
                if progress:
                    progress(f"rolling back {m.id}")
                try:
                    _quietly(m.process_steps, backend, "rollback")
                except psycopg.Error as exc:
                    raise _db_error(f"rollback of {m.id}", exc) from None
                backend.log_migration(m, "rollback")
                backend.unmark_one(m, log=False)
                outcome.applied.append((m.id, time.monotonic() - t0))

        _run_in_transaction(backend, work)
    finally:
        backend.connection.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def status(dsn: str, migrations_dir: Path) -> "OrderedDict[str, bool]":
    """Migration id -> applied?, in file order."""
    migrations = load(migrations_dir)
    backend = backend_for(dsn)
    try:
        applied = set(backend.get_applied_migration_hashes())
        return OrderedDict((m.id, m.hash in applied) for m in migrations)
    finally:
        backend.connection.close()
