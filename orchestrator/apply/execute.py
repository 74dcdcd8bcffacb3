"""Execute: apply or roll back migrations with yoyo's bookkeeping, all in ONE transaction.

yoyo's own ``apply_migrations`` commits each migration alone, and its own file reader does not
follow PostgreSQL's quoting (DESIGN.md §5). Instead keyshift reads the files itself
(apply/source.py), take yoyo's lock (apply/run_lock.py), compute the pending list BEFORE opening
the transaction, check every file that will run (its sha256 against the plan's manifest,
apply/planned.py, and its statements with PostgreSQL's parser), then inside one
``backend.transaction()`` (apply/locks.py) send each file's whole text to the server in one piece
(apply/runner.py: the simple query protocol, standard_conforming_strings pinned on, and
afterwards the same transaction, current_user and session_user, or the file is named), log and
mark it with yoyo's backend, and run every check on the same connection before COMMIT (with the
plans being applied set again; with a plan pending, a skipped check that proves it fails the run).
Any error or any check row rolls back everything: data, catalog and yoyo's bookkeeping. The
tables to lock come from the manifest, never from SQL text.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from orchestrator.apply import drift, planned, preflight, source, yoyo_tables
from orchestrator.apply.locks import take_every_lock, with_lock_retries
from orchestrator.apply.lost_mappings import refuse_rollback_without_mappings
from orchestrator.apply.messages import db_error, to_stderr
from orchestrator.apply.run_lock import end_run, start_run
from orchestrator.apply.runner import bookkeeping, run_file
from orchestrator.apply.source import plan_id_of
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import MigrationFailed
from orchestrator.plan.ownership import MIGRATION_TABLE
from orchestrator.resources import CHECKS_DIR
from orchestrator.verify import checks


@dataclass
class Outcome:
    applied: list[tuple[str, float]] = field(default_factory=list)
    checks: list[checks.CheckResult] = field(default_factory=list)
    nothing_to_do: bool = False
    seconds: float = 0.0
    #: how many tables, sequences and views were locked, in how many rounds (locks.take_every_lock),
    #: and for how long: from the last lock granted to COMMIT
    locked_objects: int = 0
    lock_rounds: int = 0
    locked_seconds: float | None = None


class ChecksFailed(MigrationFailed):
    def __init__(self, results: list[checks.CheckResult]):
        self.results = results
        bad = [r.name for r in results if not r.ok]
        super().__init__(
            "migrate",
            f"{len(bad)} check(s) failed inside the transaction: {', '.join(bad)}",
            "nothing was committed; read the rows above, fix the cause and run migrate again",
        )


class ChecksSkipped(ChecksFailed):
    """A plan is being applied and a check that proves it was skipped: it proved nothing."""

    def __init__(self, results: list[checks.CheckResult], skipped: list[str], plans: str):
        MigrationFailed.__init__(
            self,
            "migrate",
            (
                f"{len(skipped)} check(s) that prove plan(s) {plans} were skipped: {', '.join(skipped)}"
                if skipped
                else f"every one of the {len(results)} checks was skipped while plan(s) {plans} "
                "were applied, so nothing was proven"
            ),
            "nothing was committed; a migration file reset what the checks read (keyshift.checking_plans, "
            "the registry): remove that from the file, or plan again",
        )
        self.results = results


@dataclass
class _Run:
    """One migrate or rollback run: where it connects, its timeouts, and what it reports."""

    dsn: str
    backend: object
    lock_timeout: str
    statement_timeout: str
    progress: object = None
    outcome: Outcome = field(default_factory=Outcome)
    _locked_at: float | None = None

    def begin(self, conn) -> None:
        """The transaction's own timeouts: never sit in the lock queue behind a long application
        transaction while every application query queues behind us: give up after lock_timeout."""
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (self.lock_timeout,))
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (self.statement_timeout,))
        self.outcome.applied.clear()  # a retry starts the list again

    def lock(self, conn, where: str, objects: list[tuple[str, str]]) -> None:
        """Every lock of the run, up front (apply/locks.take_every_lock); the lock window starts."""
        self.outcome.lock_rounds, self.outcome.locked_objects = take_every_lock(
            conn, where, objects, self.dsn, self.lock_timeout
        )
        self._locked_at = time.monotonic()

    def done(self, started: float) -> Outcome:
        """After COMMIT: the run's time and how long its locks were held."""
        now = time.monotonic()
        self.outcome.seconds = now - started
        if self._locked_at is not None:
            self.outcome.locked_seconds = now - self._locked_at
        return self.outcome


def backend_for(dsn: str):
    try:
        return yoyo_tables.backend(dsnmod.yoyo_uri(dsn))
    except psycopg.Error as exc:
        raise dsnmod.connection_failed(dsn, exc) from None


def load(migrations_dir: Path):
    """Every migration of the directory, read whole (never split): see apply/source.py."""
    return source.load_dir(migrations_dir)


def migrate(
    dsn: str,
    migrations_dir: Path,
    checks_dir: Path = CHECKS_DIR,
    progress=None,
    lock_timeout: str = "5s",
    statement_timeout: str = "0",
    lock_retries: int = 3,
    lock_retry_delay: float = 1.0,
    notice=None,
    before_commit=None,
    accept_edited: bool = False,
    target=None,
) -> Outcome:
    """Apply every pending migration, then every check, in one transaction. ``before_commit(conn)``
    runs last, inside it: whatever it raises rolls everything back. ``accept_edited`` runs a
    pending file that differs from its plan's manifest as it is, and records it there after COMMIT.
    ``target(line)`` hears where it connected, before anything is created (apply/preflight.py)."""
    started = time.monotonic()
    migrations = load(migrations_dir)
    backend = _ready_backend(dsn, migrations_dir, migrations, target, lock_timeout)
    run = _Run(dsn, backend, lock_timeout, statement_timeout, progress)
    try:
        start_run(backend, dsn, "migrate", lock_timeout, notice, statement_timeout)
        pending = list(backend.to_apply(migrations))
        if not pending:
            run.outcome.nothing_to_do = True
            return run.outcome
        manifests, to_record = _check_pending(migrations_dir, migrations, pending, accept_edited)
        locks = OrderedDict((pid, found.locks) for pid, found in manifests.items())
        every_lock = [o for found in manifests.values() for o in (*found.locks, *found.sequences_and_views)]
        loaded_checks = checks.load(checks_dir)
        pending_plan_checks = planned.plan_checks(migrations_dir, manifests)
        plans = ",".join(sorted({plan_id_of(m.id) or m.id for m in pending}))

        def work(conn):
            run.begin(conn)
            _create_yoyo_tables(backend)
            conn.execute("SELECT set_config('keyshift.checking_plans', %s, true)", (plans,))
            schemas = checks.session_schemas(conn)  # the checks' search path, read before any file runs
            run.lock(conn, f"plan(s) {plans}", every_lock)  # before the drift check: no DDL lands after it
            drift.guard_migrate(conn, migrations, pending, manifests)  # edited applied files, catalog drift: refuse
            _apply_files(conn, run, pending, locks)
            # The plans' own checks join the registry; of earlier plans', those that hold at any
            # time are read back from it (their conversion-time ones ran in their own migrate).
            checks.record_plan_checks(conn, pending_plan_checks)
            earlier = [
                c for c in checks.recorded_plan_checks(conn) if c.plan_id not in manifests and not checks.plan_gated(c)
            ]
            every_check = loaded_checks + pending_plan_checks + earlier
            _run_checks(conn, run, every_check, schemas, plans, plans_pending=bool(manifests))
            if before_commit is not None:
                before_commit(conn)  # raises to roll everything back

        with_lock_retries(backend, work, lock_retries, lock_retry_delay, notice)
    finally:
        end_run(backend)
        backend.connection.close()
    planned.record_accepted(to_record, notice)
    return run.done(started)


def _ready_backend(dsn: str, migrations_dir: Path, migrations, target, lock_timeout: str):
    """The preflight (apply/preflight.py: nothing exists of this run before it refuses), then
    yoyo's backend, which creates nothing: its tables come inside the transaction, or never."""
    preflight.ready(dsn, "migrate", migrations_dir, migrations, target, lock_timeout=lock_timeout)
    backend = backend_for(dsn)
    yoyo_tables.defer(backend)
    return backend


def _create_yoyo_tables(backend) -> None:
    """yoyo's tables that do not exist yet, inside the transaction (apply/yoyo_tables.py)."""
    try:
        yoyo_tables.create_inside(backend)
    except psycopg.Error as exc:
        raise db_error("yoyo's bookkeeping tables", exc) from None


def _check_pending(migrations_dir: Path, migrations, pending: list, accept_edited: bool) -> tuple:
    """Before the transaction opens, every pending file against its plan and PostgreSQL's parser.
    Returns (the manifest of each pending plan by plan id, the files to record after COMMIT)."""
    applied_ids = {m.id for m in migrations} - {m.id for m in pending}
    planned.refuse_partial_plans(pending, applied_ids)
    _refuse_non_transactional(pending)
    manifests = planned.manifests_of(migrations_dir, pending)
    planned.refuse_unplanned(
        manifests, "plan it again: delete its unapplied files and run keyshift plan; nothing was changed"
    )
    planned.refuse_unplanned_files(pending, manifests)
    to_record = planned.refuse_edited(
        manifests,
        planned.pending_files(migrations_dir, pending, manifests),
        accept_edited,
        "plan again (delete the unapplied files of the plan and run keyshift plan), or pass "
        "--accept-edited to run it as it is now; nothing was changed",
    )
    source.validate_files([(Path(m.path), m.source) for m in pending])
    return manifests, to_record


def _refuse_non_transactional(pending: list) -> None:
    for m in pending:
        if not m.use_transactions:
            raise MigrationFailed(
                f"migration {m.id}",
                "is marked '-- transactional: false' and would commit on its own",
                "keyshift applies every pending migration in one transaction; remove the directive",
            )


def _apply_files(conn, run: _Run, pending: list, locks: OrderedDict) -> None:
    """Each pending migration whole, then yoyo's log and mark of it, each timed."""
    for m in pending:
        t0 = time.monotonic()
        if run.progress:
            run.progress(f"applying {m.id}")
        where = f"migration {m.id}"
        run_file(
            conn, where, m.source, run.dsn, locks.get(plan_id_of(m.id), []), run.lock_timeout, run.statement_timeout
        )
        bookkeeping(where, lambda m=m: (run.backend.log_migration(m, "apply"), run.backend.mark_one(m, log=False)))
        run.outcome.applied.append((m.id, time.monotonic() - t0))


def _run_checks(conn, run: _Run, loaded_checks: list, schemas, plans: str, plans_pending: bool) -> None:
    """Every check, in the same transaction, after the migrations: a failed one, or (with a plan
    pending) a skipped one that proves it, rolls everything back."""
    t0 = time.monotonic()
    # The checks run in keyshift's session state, not in what the migrations left:
    # the plans being applied (the files may have reset it), and the search path read
    # before the files ran (checks.run_checks puts the catalog first, pg_temp last).
    conn.execute("SELECT set_config('keyshift.checking_plans', %s, true)", (plans,))
    run.outcome.checks = checks.run_checks(conn, loaded_checks, schemas)
    run.outcome.applied.append(("checks", time.monotonic() - t0))
    if not all(r.ok for r in run.outcome.checks):
        raise ChecksFailed(run.outcome.checks)
    if plans_pending:
        _refuse_skipped_checks(loaded_checks, run.outcome.checks, plans)


def _refuse_skipped_checks(loaded: list, results: list, plans: str) -> None:
    """With a plan being applied, every check gated on keyshift.checking_plans must run, and
    at least one check must run: a skip there means the registry or the setting was tampered with."""
    skipped = [r.name for c, r in zip(loaded, results) if r.skipped is not None and checks.plan_gated(c)]
    if skipped or not checks.proved_anything(results):
        raise ChecksSkipped(results, skipped, plans)


def rollback(
    dsn: str,
    migrations_dir: Path,
    progress=None,
    lock_timeout: str = "5s",
    statement_timeout: str = "0",
    lock_retries: int = 3,
    lock_retry_delay: float = 1.0,
    notice=None,
    accept_edited: bool = False,
    target=None,
) -> Outcome:
    """Undo the most recent applied plan, all of its migrations, in one transaction: each
    .rollback.sql file runs whole, as its plan's manifest records it (``accept_edited``: as
    it is now, recorded in the manifest after COMMIT)."""
    started = time.monotonic()
    migrations = load(migrations_dir)
    ready = preflight.ready(dsn, "rollback", migrations_dir, migrations, target, lock_timeout=lock_timeout)
    if ready[MIGRATION_TABLE] is None:
        return Outcome(nothing_to_do=True)  # yoyo never recorded anything here
    backend = backend_for(dsn)
    run = _Run(dsn, backend, lock_timeout, statement_timeout, progress)
    try:
        start_run(backend, dsn, "rollback", lock_timeout, notice, statement_timeout)
        applied = list(backend.to_rollback(migrations))  # newest first
        if not applied:
            run.outcome.nothing_to_do = True
            return run.outcome
        last_plan = plan_id_of(applied[0].id)
        batch = [m for m in applied if plan_id_of(m.id) == last_plan] if last_plan else applied[:1]
        where = f"rollback of plan {last_plan}" if last_plan else f"rollback of {batch[0].id}"
        accepted, to_record, undo, tables = _check_undo(
            backend, migrations_dir, migrations, batch, last_plan, accept_edited
        )
        # What the rollback kept for a user (render/ownership.py): said once it committed.
        kept: list[str] = []
        backend.connection.add_notice_handler(lambda diag: keep_notice(kept, diag))

        def work(conn):
            run.begin(conn)
            _create_yoyo_tables(backend)
            kept.clear()
            run.lock(conn, where, tables)
            drift.record_checksums(conn, accepted)
            refuse_rollback_without_mappings(conn, last_plan)
            _undo_files(conn, run, undo, tables)

        with_lock_retries(backend, work, lock_retries, lock_retry_delay, notice)
        for line in kept:
            (notice or to_stderr)(line)
    finally:
        end_run(backend)
        backend.connection.close()
    planned.record_accepted(to_record, notice)
    return run.done(started)


def _check_undo(
    backend, migrations_dir: Path, migrations, batch: list, last_plan: str | None, accept_edited: bool
) -> tuple:
    """Before the transaction opens: files edited since they were applied first (their checksums
    in the database), then undo files that differ from the plan's manifest, then PostgreSQL's
    parser over each. Returns (the migrations whose edited files are accepted, the files to record
    after COMMIT, (migration, undo text) newest first, the tables to lock)."""
    accepted = drift.guard_rollback(backend.connection, list(migrations), batch, accept_edited)
    manifests = planned.manifests_of(migrations_dir, batch)
    planned.refuse_unplanned(
        manifests, "restore it as plan wrote it (e.g. git checkout) and roll back again; nothing was changed"
    )
    to_record = planned.refuse_edited(
        manifests,
        [(last_plan, m.rollback_path, m.rollback_sha256) for m in batch if last_plan],
        accept_edited,
        "restore it as planned (e.g. git checkout), or pass --accept-edited to run it as it is now; "
        "nothing was changed",
    )
    undo = [(m, m.rollback_source()) for m in batch]
    source.validate_files([(m.rollback_path, text) for m, text in undo])
    found = manifests.get(last_plan) if last_plan else None
    tables = [*found.locks, *found.sequences_and_views] if found else []
    return accepted, to_record, undo, tables


def _undo_files(conn, run: _Run, undo: list, tables: list[tuple[str, str]]) -> None:
    """Each .rollback.sql file whole, newest first, then yoyo's log and unmark of its migration."""
    for m, text in undo:
        t0 = time.monotonic()
        if run.progress:
            run.progress(f"rolling back {m.id}")
        step = f"rollback of {m.id}"
        if text is not None:
            run_file(conn, step, text, run.dsn, tables, run.lock_timeout, run.statement_timeout)
        bookkeeping(step, lambda m=m: (run.backend.log_migration(m, "rollback"), run.backend.unmark_one(m, log=False)))
        run.outcome.applied.append((m.id, time.monotonic() - t0))


def keep_notice(kept: list[str], diag) -> None:
    """A NOTICE the rollback's own SQL raised ('keyshift: kept ...'), as one line with its hint."""
    message = diag.message_primary or ""
    if diag.severity_nonlocalized == "NOTICE" and message.startswith("keyshift: "):
        hint = f"; {diag.message_hint}" if diag.message_hint else ""
        kept.append(message[len("keyshift: ") :] + hint)


def status(dsn: str, migrations_dir: Path) -> OrderedDict[str, bool]:
    """Migration id -> applied?, in file order; read without creating yoyo's tables."""
    migrations = load(migrations_dir)
    with dsnmod.connect(dsn, autocommit=True) as conn:
        applied = preflight.applied_hashes(conn)
    return OrderedDict((m.id, m.hash in applied) for m in migrations)
