"""Execute: apply or roll back migrations with yoyo's bookkeeping, all in ONE transaction.

yoyo's own ``apply_migrations`` commits each migration alone, and its ``Migration.load()``
splits a file with sqlparse (DESIGN.md §5). Instead we read the files ourselves
(orchestrator/source.py), take yoyo's lock, compute the pending list BEFORE opening the
transaction, check every file that will run (its sha256 against the plan's manifest,
orchestrator/manifest.py, and its statements with PostgreSQL's parser), then inside one
``backend.transaction()`` send each file's whole text to the server in one piece (the simple
query protocol, ``run_file``: standard_conforming_strings pinned on, and afterwards the same
transaction, current_user and session_user, or the file is named), log and mark it with
yoyo's backend, and run every check on the same connection before COMMIT (with the plans
being applied set again; with a plan pending, a skipped check that proves it fails the run).
Any error or any check row rolls back everything: data, catalog
and yoyo's bookkeeping. The tables to lock come from the manifest, never from SQL text.
"""

from __future__ import annotations

import random
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import psycopg.sql
from yoyo import get_backend
from yoyo.exceptions import LockTimeout

from orchestrator import CHECKS_DIR
from orchestrator.apply import drift, source
from orchestrator.apply import manifest as manifestmod
from orchestrator.apply.source import plan_id_of
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import MigrationFailed
from orchestrator.plan.ownership import MIGRATION_TABLE
from orchestrator.verify import checks

#: pg_advisory_xact_lock key: held for the whole migrate/rollback transaction.
ADVISORY_KEY = 0x6B657973  # 'keys'
#: Session-level advisory lock held by a keyshift run from before it reads yoyo's state until
#: it ends. Whoever holds it is a live keyshift run (a dead run's session is gone, and its lock
#: with it), so a yoyo_lock row found while we hold it was left by a dead run.
RUN_KEY = 0x6B657972  # 'keyr'
#: application_name of keyshift's session, so a DBA (and the tests) can find it.
APPLICATION_NAME = "keyshift"
#: How soon an orphaned server session notices that keyshift's process died (PostgreSQL 14+),
#: so it rolls back and frees its locks within about this long, not when its statement ends.
CLIENT_CHECK_INTERVAL = "1s"


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


def backend_for(dsn: str):
    try:
        return get_backend(dsnmod.yoyo_uri(dsn), migration_table=MIGRATION_TABLE)
    except psycopg.Error as exc:
        raise dsnmod.connection_failed(dsn, exc) from None


def load(migrations_dir: Path):
    """Every migration of the directory, read whole (never split): see orchestrator/source.py."""
    return source.load_dir(migrations_dir)


def _db_error(where: str, exc: psycopg.Error, text: str | None = None) -> MigrationFailed:
    """One line for a server error; with ``text`` (what was sent in one piece), the line of it
    that the server's error position points at."""
    diag = exc.diag
    if text is not None and (diag.statement_position or "").isdigit():
        where += f" line {_line_of(text, int(diag.statement_position))}"
    parts = [diag.message_primary or str(exc).strip().splitlines()[0]]
    for label, value in (("table", diag.table_name), ("column", diag.column_name),
                         ("constraint", diag.constraint_name), ("detail", diag.message_detail),
                         ("hint", diag.message_hint)):
        if value:
            parts.append(f"{label}: {value}")
    return MigrationFailed(where, "; ".join(parts), "nothing was committed; the database is as it was before")


def _line_of(text: str, position: int) -> int:
    """The line of ``text`` holding character ``position`` (1-based, as the server counts)."""
    return text.count("\n", 0, max(position - 1, 0)) + 1


def run_text(conn, text: str) -> None:
    """Send ``text`` to the server in ONE piece with the simple query protocol (psycopg 3 uses
    it for a query without parameters): PostgreSQL itself finds the statements in it. Never
    prepared (a prepared statement holds one statement only)."""
    conn.execute(text, prepare=False)


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


def _manifests(migrations_dir: Path, batch: list) -> OrderedDict[str, manifestmod.Manifest | None]:
    """The manifest of every plan in ``batch`` (by plan id, in batch order); None for a plan
    that has none. Migrations that no plan wrote have no plan id and no manifest."""
    out: OrderedDict = OrderedDict()
    for m in batch:
        pid = plan_id_of(m.id)
        if pid is not None and pid not in out:
            out[pid] = manifestmod.read(migrations_dir, pid)
    return out


def _refuse_unplanned(manifests: dict, fix: str) -> None:
    for pid, found in manifests.items():
        if found is None:
            raise MigrationFailed(f"plan {pid}", f"has no manifest {manifestmod.file_name(pid)}, so what runs "
                                  "cannot be compared with what was planned", fix)


def _refuse_edited(manifests: dict, files: list[tuple[str, Path, str | None]], accept: bool, fix: str) -> list:
    """Compare ``files`` ((plan id, path, sha256 of the bytes read; None: no such file))
    with their plans' manifests. Without ``accept``, refuse any that differs, in one line;
    with it, return (manifest, {path: sha256}) to record once the transaction has committed."""
    changed: list[tuple[str, Path, str]] = []
    digests: dict[Path, str | None] = {}
    for pid, path, digest in files:
        digests[path] = digest
        changed += [(pid, p, how) for p, how in manifests[pid].changed({path: digest})]
    if not changed:
        return []
    if not accept:
        named = ", ".join(f"{p.name} ({how} {pid})" for pid, p, how in changed)
        raise MigrationFailed(
            f"migration file{'s' if len(changed) > 1 else ''} {named}",
            "differ" + ("" if len(changed) > 1 else "s") + " from what the plan's manifest records "
            f"({', '.join(sorted({manifestmod.file_name(pid) for pid, _p, _h in changed}))})", fix)
    to_record: dict[str, dict[Path, str | None]] = {}
    for pid, path, _how in changed:
        to_record.setdefault(pid, {})[path] = digests[path]
    return [(manifests[pid], recorded) for pid, recorded in to_record.items()]


def _record_accepted(to_record: list, notice=None) -> None:
    """After COMMIT: the files that ran as edited (--accept-edited) are the plan now. A
    manifest that cannot be rewritten is said on stderr; what committed stays committed. The
    sha256 recorded is that of the bytes that ran, never of the file read again."""
    for found, paths in to_record:
        try:
            found.record(paths)
        except OSError as exc:
            (notice or _to_stderr)(f"plan manifest {found.path}: could not record "
                                   f"{', '.join(p.name for p in paths)} as run ({exc}); the migration is "
                                   "committed; pass --accept-edited to rollback for these files")


def _refuse_unplanned_files(pending: list, manifests: dict) -> None:
    """A pending file inside a pending plan's numbering (``<plan_id>_...``) that the plan's
    manifest does not list was written by no plan: refuse it (--accept-edited does not take it)."""
    for pid, found in manifests.items():
        for m in drift.unplanned(pending, pid, found):
            raise MigrationFailed(
                f"migration file {Path(m.path).name}",
                f"is in plan {pid}'s numbering but not in its manifest {manifestmod.file_name(pid)}",
                f"{drift.UNPLANNED_FIX}; nothing was changed")


def _digest_of(path: Path) -> str | None:
    """sha256 of a file that does not run (a planned file no pending migration reads)."""
    data = source.read_bytes(path)
    return None if data is None else source.sha256(data)


def _validate(paths_and_texts: list[tuple[Path, str | None]]) -> None:
    """PostgreSQL's parser over every file that will run, before the transaction opens."""
    for path, text in paths_and_texts:
        if text is not None:
            source.validate(path.name, text)


def migrate(dsn: str, migrations_dir: Path, checks_dir: Path = CHECKS_DIR, progress=None,
            lock_timeout: str = "5s", statement_timeout: str = "0", lock_retries: int = 3,
            lock_retry_delay: float = 1.0, notice=None, before_commit=None,
            accept_edited: bool = False) -> Outcome:
    """Apply every pending migration, then every check, in one transaction. ``before_commit(conn)``
    runs last, inside it: whatever it raises rolls everything back. ``accept_edited`` runs a
    pending file that differs from its plan's manifest as it is, and records it there after COMMIT."""
    started = time.monotonic()
    migrations = load(migrations_dir)
    backend = backend_for(dsn)
    outcome = Outcome()
    try:
        _start_run(backend, dsn, "migrate", lock_timeout, notice, statement_timeout)
        pending = list(backend.to_apply(migrations))
        if not pending:
            outcome.nothing_to_do = True
            return outcome
        applied_ids = {m.id for m in migrations} - {m.id for m in pending}
        _refuse_partial_plans(pending, applied_ids)
        for m in pending:
            if not m.use_transactions:
                raise MigrationFailed(
                    f"migration {m.id}", "is marked '-- transactional: false' and would commit on its own",
                    "keyshift applies every pending migration in one transaction; remove the directive",
                )
        manifests = _manifests(migrations_dir, pending)
        _refuse_unplanned(manifests, "plan it again: delete its unapplied files and run keyshift plan; "
                                     "nothing was changed")
        _refuse_unplanned_files(pending, manifests)
        # Every sha256 is of the bytes load() read, the ones that run: nothing is read twice.
        planned = [(pid, path, digest) for m in pending if (pid := plan_id_of(m.id))
                   for path, digest in m.digests().items()]
        seen = {(pid, path) for pid, path, _d in planned}
        for pid, found in manifests.items():  # and no file of a pending plan deleted
            planned += [(pid, migrations_dir / name, _digest_of(migrations_dir / name))
                        for name in sorted(found.files) if (pid, migrations_dir / name) not in seen]
        to_record = _refuse_edited(
            manifests, planned, accept_edited,
            "plan again (delete the unapplied files of the plan and run keyshift plan), or pass "
            "--accept-edited to run it as it is now; nothing was changed")
        _validate([(Path(m.path), m.source) for m in pending])
        locks = OrderedDict((pid, found.locks) for pid, found in manifests.items())
        loaded_checks = checks.load(checks_dir)
        plans_pending = bool(manifests)

        def work(conn):
            # Never sit in the lock queue behind a long application transaction while every
            # application query queues behind us: give up after lock_timeout instead.
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (statement_timeout,))
            outcome.applied.clear()  # a retry starts the list again
            plans = ",".join(sorted({plan_id_of(m.id) or m.id for m in pending}))
            conn.execute("SELECT set_config('keyshift.checking_plans', %s, true)", (plans,))
            schemas = checks.session_schemas(conn)  # the checks' search path, read before any file runs
            _lock_plans_before_drift_check(conn, locks, dsn, lock_timeout, statement_timeout)  # so no DDL lands between drift check and step 01
            drift.guard_migrate(conn, migrations, pending, manifests)  # edited applied files, catalog drift: refuse
            for m in pending:
                t0 = time.monotonic()
                if progress:
                    progress(f"applying {m.id}")
                where = f"migration {m.id}"
                run_file(conn, where, m.source, dsn, locks.get(plan_id_of(m.id), []), lock_timeout,
                         statement_timeout)
                _bookkeeping(where, lambda m=m: (backend.log_migration(m, "apply"), backend.mark_one(m, log=False)))
                outcome.applied.append((m.id, time.monotonic() - t0))
            t0 = time.monotonic()
            # The checks run in keyshift's session state, not in what the migrations left:
            # the plans being applied (the files may have reset it), and the search path read
            # before the files ran (checks.run_checks puts the catalog first, pg_temp last).
            conn.execute("SELECT set_config('keyshift.checking_plans', %s, true)", (plans,))
            outcome.checks = checks.run_checks(conn, loaded_checks, schemas)
            outcome.applied.append(("checks", time.monotonic() - t0))
            if not all(r.ok for r in outcome.checks):
                raise ChecksFailed(outcome.checks)
            if plans_pending:
                _refuse_skipped_checks(loaded_checks, outcome.checks, plans)
            if before_commit is not None:
                before_commit(conn)  # raises to roll everything back

        _with_lock_retries(backend, work, lock_retries, lock_retry_delay, notice)
    finally:
        _end_run(backend)
        backend.connection.close()
    _record_accepted(to_record, notice)
    outcome.seconds = time.monotonic() - started
    return outcome


class ChecksSkipped(ChecksFailed):
    """A plan is being applied and a check that proves it was skipped: it proved nothing."""

    def __init__(self, results: list[checks.CheckResult], skipped: list[str], plans: str):
        MigrationFailed.__init__(
            self, "migrate",
            (f"{len(skipped)} check(s) that prove plan(s) {plans} were skipped: {', '.join(skipped)}"
             if skipped else f"every one of the {len(results)} checks was skipped while plan(s) {plans} "
                             "were applied, so nothing was proven"),
            "nothing was committed; a migration file reset what the checks read (keyshift.checking_plans, "
            "the registry): remove that from the file, or plan again")
        self.results = results


def _refuse_skipped_checks(loaded: list, results: list, plans: str) -> None:
    """With a plan being applied, every check gated on keyshift.checking_plans must run, and
    at least one check must run: a skip there means the registry or the setting was tampered with."""
    skipped = [r.name for c, r in zip(loaded, results) if r.skipped is not None and checks.plan_gated(c)]
    if skipped or not checks.proved_anything(results):
        raise ChecksSkipped(results, skipped, plans)


def _bookkeeping(where: str, step) -> None:
    """yoyo's log and mark (or unmark) of one migration; a database error is one line."""
    try:
        step()
    except psycopg.Error as exc:
        raise _db_error(f"{where} (yoyo's bookkeeping)", exc) from None


def _session(conn) -> tuple:
    """(current_user, session_user, top-level transaction id) of keyshift's session."""
    return tuple(conn.execute("SELECT current_user::text, session_user::text, txid_current()").fetchone())


def _transaction_ended(where: str) -> MigrationFailed:
    return MigrationFailed(
        where, "ended keyshift's transaction while it ran (the server read a COMMIT or ROLLBACK that "
               "PostgreSQL's parser did not see), so part of the work may have been committed",
        "run keyshift status before anything else")


def run_file(conn, where: str, text: str, dsn: str = "", tables: list[tuple[str, str]] = (),
             lock_timeout: str = "", statement_timeout: str = "0") -> None:
    """Run one migration or rollback file whole (``run_text``) inside keyshift's transaction.

    Before it: standard_conforming_strings on and backslash_quote at its default for this
    transaction, so the server reads quotes as pglast read them (source.validate). After it:
    the connection must still be inside the same transaction, as the same current_user and
    session_user; otherwise the file is named, and the error says whether anything may have
    been committed. Server errors are one line naming the file and its line. A file that
    committed and then began a new transaction that failed is beyond what can be seen after
    the error; validate() refuses every such statement, and the server reads the file as pglast does."""
    conn.execute("SELECT set_config('standard_conforming_strings', 'on', true),"
                 " set_config('backslash_quote', 'safe_encoding', true)")
    before = _session(conn)
    try:
        run_text(conn, text)
    except psycopg.Error as exc:
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.IDLE:
            raise _transaction_ended(where) from None
        if status != psycopg.pq.TransactionStatus.INERROR:
            raise  # the connection is gone: _with_lock_retries says so
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            raise _lock_not_granted(where, exc, dsn, list(tables), lock_timeout) from None
        if isinstance(exc, psycopg.errors.DeadlockDetected):
            raise _deadlocked(where, exc) from None
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise _canceled(where, exc, statement_timeout, text) from None
        raise _db_error(where, exc, text) from None
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.INTRANS:
        raise _transaction_ended(where)
    after = _session(conn)
    if after[2] != before[2]:
        raise _transaction_ended(where)
    if after[:2] != before[:2]:
        raise MigrationFailed(
            where, f"changed the role it runs as (current_user {before[0]} -> {after[0]}, "
                   f"session_user {before[1]} -> {after[1]}) in a way no parser sees (set_config, a SET inside DO)",
            "remove that from the file: keyshift runs every migration as the role it connects as; "
            "nothing was committed")


def _lock_plans_before_drift_check(conn, locks: OrderedDict[str, list[tuple[str, str]]], dsn: str,
                                   lock_timeout: str, statement_timeout: str) -> None:
    """Lock each pending plan's tables (its manifest's lock list, parents first: the order of
    its step 01) before the drift check reads the catalog, so the catalog it checks is the
    one the migrations meet. Step 01 takes the same locks again (a no-op then)."""
    for pid, tables in locks.items():
        if not tables:
            continue
        try:
            with conn.transaction():  # a savepoint: a table that is gone is for the drift check to name
                _lock_within(conn, _lock_statement(tables), lock_timeout, statement_timeout)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            continue
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            raise _lock_not_granted(f"plan {pid}", exc, dsn, tables, lock_timeout) from None
        except psycopg.errors.DeadlockDetected as exc:
            raise _deadlocked(f"plan {pid}", exc) from None


def _lock_statement(tables: list[tuple[str, str]]) -> psycopg.sql.Composed:
    return psycopg.sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
        psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(schema, table) for schema, table in tables))


def _lock_within(conn, statement, lock_timeout: str, statement_timeout: str) -> None:
    """Run one LOCK TABLE a, b, c … statement so that it waits at most lock_timeout IN ALL.

    lock_timeout bounds each table's wait on its own, so a statement that queues for three
    tables in turn could hold the first (and every application query behind it) for three
    times as long. statement_timeout bounds the whole statement; it is set to lock_timeout
    for this statement only, then put back. The caller treats the cancel like a lock timeout."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (lock_timeout,))
    conn.execute(statement)
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (statement_timeout,))


def _lock_not_granted(where: str, exc, dsn: str, tables: list[tuple[str, str]],
                      lock_timeout: str) -> LockNotGranted:
    """The one wording of 'a lock waited out lock_timeout', naming who holds it."""
    detail = (exc.diag.message_primary if isinstance(exc, psycopg.errors.LockNotAvailable)
              else "the tables were not all locked within it, counted over all of them")
    return LockNotGranted(
        where,
        f"a table lock was not granted within lock_timeout {lock_timeout} ({detail}); {_blockers(dsn, tables)}",
        "nothing was committed; retry when that transaction has finished, or raise --lock-timeout",
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


def _refuse_partial_plans(pending, applied_ids: set[str]) -> None:
    for m in pending:
        pid = plan_id_of(m.id)
        if pid and any(plan_id_of(a) == pid for a in applied_ids):
            raise MigrationFailed(
                f"plan {pid}", f"is partly applied already, and {m.id} is pending",
                "a plan's migrations share a per-transaction key and must be applied together; "
                "roll back the applied part (keyshift rollback) and migrate again",
            )


def rollback(dsn: str, migrations_dir: Path, progress=None, lock_timeout: str = "5s",
             statement_timeout: str = "0", lock_retries: int = 3, lock_retry_delay: float = 1.0,
             notice=None, accept_edited: bool = False) -> Outcome:
    """Undo the most recent applied plan, all of its migrations, in one transaction: each
    .rollback.sql file runs whole, as its plan's manifest records it (``accept_edited``: as
    it is now, recorded in the manifest after COMMIT)."""
    started = time.monotonic()
    migrations = load(migrations_dir)
    backend = backend_for(dsn)
    outcome = Outcome()
    try:
        _start_run(backend, dsn, "rollback", lock_timeout, notice, statement_timeout)
        applied = list(backend.to_rollback(migrations))  # newest first
        if not applied:
            outcome.nothing_to_do = True
            return outcome
        last_plan = plan_id_of(applied[0].id)
        batch = [m for m in applied if plan_id_of(m.id) == last_plan] if last_plan else applied[:1]
        where = f"rollback of plan {last_plan}" if last_plan else f"rollback of {batch[0].id}"
        # Files edited since they were applied first (their checksums in the database), then
        # undo files that differ from the plan's manifest.
        accepted = drift.guard_rollback(backend.connection, list(migrations), batch, accept_edited)
        manifests = _manifests(migrations_dir, batch)
        _refuse_unplanned(manifests, "restore it as plan wrote it (e.g. git checkout) and roll back again; "
                                     "nothing was changed")
        to_record = _refuse_edited(
            manifests, [(last_plan, m.rollback_path, m.rollback_sha256) for m in batch if last_plan], accept_edited,
            "restore it as planned (e.g. git checkout), or pass --accept-edited to run it as it is now; "
            "nothing was changed")
        undo = [(m, m.rollback_source()) for m in batch]
        _validate([(m.rollback_path, text) for m, text in undo])
        tables = manifests[last_plan].locks if last_plan else []
        # What the rollback kept for a user (orchestrator/ownership.py): said once it committed.
        kept: list[str] = []
        backend.connection.add_notice_handler(lambda diag: _keep_notice(kept, diag))

        def work(conn):
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (statement_timeout,))
            outcome.applied.clear()  # a retry starts the list again
            kept.clear()
            try:
                _lock_up_front(conn, tables, lock_timeout, statement_timeout)
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
                raise _lock_not_granted(where, exc, dsn, tables, lock_timeout) from None
            except psycopg.Error as exc:
                raise _db_error(where, exc) from None
            drift.record_checksums(conn, accepted)
            _refuse_rollback_without_mappings(conn, last_plan)
            for m, text in undo:
                t0 = time.monotonic()
                if progress:
                    progress(f"rolling back {m.id}")
                step = f"rollback of {m.id}"
                if text is not None:
                    run_file(conn, step, text, dsn, tables, lock_timeout, statement_timeout)
                _bookkeeping(step, lambda m=m: (backend.log_migration(m, "rollback"),
                                                backend.unmark_one(m, log=False)))
                outcome.applied.append((m.id, time.monotonic() - t0))

        _with_lock_retries(backend, work, lock_retries, lock_retry_delay, notice)
        for line in kept:
            (notice or _to_stderr)(line)
    finally:
        _end_run(backend)
        backend.connection.close()
    _record_accepted(to_record, notice)
    outcome.seconds = time.monotonic() - started
    return outcome


def _keep_notice(kept: list[str], diag) -> None:
    """A NOTICE the rollback's own SQL raised ('keyshift: kept ...'), as one line with its hint."""
    message = diag.message_primary or ""
    if diag.severity_nonlocalized == "NOTICE" and message.startswith("keyshift: "):
        hint = f"; {diag.message_hint}" if diag.message_hint else ""
        kept.append(message[len("keyshift: "):] + hint)


def lost_mappings(conn, plan_id: str, lock: bool = False) -> list[str]:
    """The tables of plan ``plan_id`` whose mapping table is gone (retired by drop-map, or
    dropped by hand), each as 'schema.table (its mapping keyshift.map_… was …)'."""
    if not conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]:
        return []
    query = ("SELECT table_schema, table_name, map_table, map_dropped_at,"
             " to_regclass(format('keyshift.%%I', map_table)) IS NULL AS missing"
             " FROM keyshift.converted_table WHERE plan_id = %s AND mode = 'replace'"
             " ORDER BY table_schema, table_name" + (" FOR SHARE" if lock else ""))
    from orchestrator.names import qualname

    lost = []
    for schema, table, map_table, dropped_at, missing in conn.execute(query, (plan_id,)).fetchall():
        if not missing:
            continue
        how = (f"retired with keyshift drop-map at {dropped_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()
               if dropped_at is not None else "dropped by hand")
        lost.append(f"{qualname(schema, table)} (its mapping {qualname('keyshift', map_table)} was {how})")
    return lost


def _refuse_rollback_without_mappings(conn, plan_id: str | None) -> None:
    """Rollback turns every uuid back into its old id through the plan's mapping tables: refuse,
    before any statement of the rollback runs, when one of them was retired (drop-map) or lost.

    Runs under the rollback's table locks; FOR SHARE keeps a concurrent drop-map waiting."""
    lost = lost_mappings(conn, plan_id, lock=True) if plan_id is not None else []
    if lost:
        raise MigrationFailed(
            f"rollback of plan {plan_id}",
            "cannot turn the uuid keys back into the old ids of " + ", ".join(lost),
            "nothing was changed; restore each mapping table from a backup taken before it was dropped "
            "(after drop-map also set keyshift.converted_table.map_dropped_at back to NULL), then roll back "
            "again; without it the plan stays applied",
        )


def status(dsn: str, migrations_dir: Path) -> OrderedDict[str, bool]:
    """Migration id -> applied?, in file order."""
    migrations = load(migrations_dir)
    backend = backend_for(dsn)
    try:
        applied = set(backend.get_applied_migration_hashes())
        return OrderedDict((m.id, m.hash in applied) for m in migrations)
    finally:
        backend.connection.close()


# --- One run at a time, crash-safe locking, lock retries (issue #7) ---------------------------


class LockNotGranted(MigrationFailed):
    """A table lock was not granted within lock_timeout: nothing changed, the run may retry."""


def _to_stderr(line: str) -> None:
    print(f"keyshift: {line}", file=sys.stderr, flush=True)


def _deadlocked(where: str, exc: psycopg.Error) -> LockNotGranted:
    """PostgreSQL broke a lock cycle with an application transaction (one that took a child
    table before the parent) by cancelling us: nothing changed, so this is retried like a timeout."""
    detail = " ".join((exc.diag.message_detail or "").split())
    return LockNotGranted(where, f"deadlocked with an application transaction ({detail or exc.diag.message_primary})",
                          "nothing was committed; retry when that transaction has finished")


def _canceled(where: str, exc: psycopg.Error, statement_timeout: str, text: str | None = None) -> MigrationFailed:
    message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
    if "statement timeout" in message:
        return MigrationFailed(
            where, f"a statement ran longer than statement_timeout {statement_timeout} ({message})",
            "nothing was committed; raise --statement-timeout (0 turns it off) and migrate again",
        )
    return _db_error(where, exc, text)


def _start_run(backend, dsn: str, command: str, lock_timeout: str, notice=None,
               statement_timeout: str = "0") -> None:
    """Make this run the only keyshift run on the database, and clear a dead run's yoyo lock.

    Holds the session-level advisory lock RUN_KEY until the connection closes, waiting for it
    at most lock_timeout. yoyo's own lock is a row in yoyo_lock that a killed process never
    deletes; a row found while we hold RUN_KEY belongs to a run that no longer exists.
    """
    notice = notice or _to_stderr
    conn = backend.connection
    try:
        conn.execute("SELECT set_config('application_name', %s, false)", (f"{APPLICATION_NAME} {command}",))
        if conn.info.server_version >= 140000:
            conn.execute("SELECT set_config('client_connection_check_interval', %s, false)",
                         (CLIENT_CHECK_INTERVAL,))
    except psycopg.Error as exc:
        raise _db_error("keyshift session settings", exc) from None
    for option, value in (("--statement-timeout", statement_timeout), ("--lock-timeout", lock_timeout)):
        try:  # validated here, before anything: lock_timeout then stays set for the wait below
            conn.execute("SELECT set_config(%s, %s, false)", (option[2:].replace("-", "_"), value))
        except psycopg.errors.InvalidParameterValue as exc:
            raise MigrationFailed(f"{option} {value!r}", f"is not a valid duration ({exc.diag.message_primary})",
                                  "give a PostgreSQL duration such as 5s, 300ms or 1min (0 turns it off)") from None
    conn.execute("RESET statement_timeout")
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (RUN_KEY,))
    except psycopg.errors.LockNotAvailable:
        raise MigrationFailed(
            "keyshift run", f"another keyshift run is working on this database ({_run_holder(conn)})",
            "nothing was changed; wait for it to finish and run this again, or, if that run is hung, "
            "end its session with SELECT pg_terminate_backend(<pid>) (its transaction rolls back)",
        ) from None
    finally:
        conn.execute("RESET lock_timeout")
    table = psycopg.sql.Identifier(backend.lock_table)
    if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (backend.lock_table,)).fetchone()[0]:
        for pid, ctime in conn.execute(psycopg.sql.SQL("DELETE FROM {} RETURNING pid, ctime").format(table)):
            notice(f"removed a stale yoyo lock left by process {pid} at {ctime:%Y-%m-%d %H:%M:%S} UTC "
                   "(no keyshift run holds the database, so that process is gone)")
    lock = backend.lock(timeout=10)
    try:
        lock.__enter__()
    except LockTimeout as exc:  # a live process other than keyshift (plain yoyo) holds it
        raise MigrationFailed("yoyo lock", str(exc), "wait for that yoyo process to finish; nothing was changed") from None
    backend._keyshift_lock = lock


def _run_holder(conn) -> str:
    """Who holds RUN_KEY: pid, application, state, since when (from pg_locks)."""
    row = conn.execute(
        "SELECT a.pid, a.application_name, a.state, a.xact_start, left(a.query, 80) FROM pg_locks l"
        " JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database()) AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1",
        (RUN_KEY,),
    ).fetchone()
    if not row:
        return "it has finished since"
    pid, app, state, since, query = row
    return f"pid {pid} ({app or 'no application_name'}, {state}, transaction since {since or '-'}, query {query!r})"


def _end_run(backend) -> None:
    """Delete our yoyo lock row; closing the connection then frees RUN_KEY."""
    lock = getattr(backend, "_keyshift_lock", None)
    if lock is None:
        return
    backend._keyshift_lock = None
    try:
        lock.__exit__(None, None, None)
    except psycopg.Error:
        pass  # connection lost: the row stays, and the next run clears it (see _start_run)


def _with_lock_retries(backend, work, retries: int, delay: float, notice=None) -> None:
    """_run_in_transaction, again in a fresh transaction after a lock timeout, up to ``retries``
    times, waiting delay * 2**n seconds (times a random 0.5-1.5, so that runs do not collide)."""
    notice = notice or _to_stderr
    committing = False

    def tracked(conn):
        nonlocal committing
        work(conn)
        committing = True  # everything ran: what is left is COMMIT

    attempt = 0
    while True:
        try:
            _run_in_transaction(backend, tracked)
            return
        except LockNotGranted as exc:
            if attempt >= retries:
                if retries:
                    exc.reason += f"; gave up after {attempt + 1} attempts"
                raise
            wait = delay * 2 ** attempt * random.uniform(0.5, 1.5)
            attempt += 1
            notice(f"{exc.obj}: {exc.reason}; nothing was changed; retry {attempt} of {retries} in {wait:.1f} s")
            time.sleep(wait)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not (backend.connection.closed or backend.connection.broken):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if committing:
                raise MigrationFailed(
                    "database connection", f"was lost during COMMIT ({reason})",
                    "whether the transaction committed is unknown: run keyshift status before anything else",
                ) from None
            raise MigrationFailed(
                "database connection", f"was lost before COMMIT ({reason})",
                "the server rolled the transaction back, so nothing was committed; run the same command again",
            ) from None


def _lock_up_front(conn, tables: list[tuple[str, str]], lock_timeout: str, statement_timeout: str) -> None:
    """LOCK TABLE every table of the manifest's lock list, in its order (parents before
    children), in one statement, so rollback waits (at most lock_timeout) before it changes
    anything, not halfway through."""
    if tables:
        _lock_within(conn, _lock_statement(tables), lock_timeout, statement_timeout)
