"""One keyshift run at a time on a database, and yoyo's lock row that a dead run left behind.

A run holds the session-level advisory lock RUN_KEY from before it reads yoyo's state until it
ends (``start_run`` … ``end_run``). Whoever holds it is a live keyshift run (a dead run's session
is gone, and its lock with it), so a yoyo_lock row found while we hold it was left by a dead run.
"""

from __future__ import annotations

import psycopg
import psycopg.sql
from yoyo.exceptions import LockTimeout

from orchestrator.apply.messages import db_error, to_stderr
from orchestrator.errors import MigrationFailed

#: Session-level advisory lock held by a keyshift run from before it reads yoyo's state until it ends.
RUN_KEY = 0x6B657972  # 'keyr'
#: application_name of keyshift's session, so a DBA (and the tests) can find it.
APPLICATION_NAME = "keyshift"
#: How soon an orphaned server session notices that keyshift's process died (PostgreSQL 14+),
#: so it rolls back and frees its locks within about this long, not when its statement ends.
CLIENT_CHECK_INTERVAL = "1s"


def start_run(backend, dsn: str, command: str, lock_timeout: str, notice=None, statement_timeout: str = "0") -> None:
    """Make this run the only keyshift run on the database, and clear a dead run's yoyo lock.

    Holds the session-level advisory lock RUN_KEY until the connection closes, waiting for it
    at most lock_timeout. yoyo's own lock is a row in yoyo_lock that a killed process never
    deletes; a row found while we hold RUN_KEY belongs to a run that no longer exists.
    """
    notice = notice or to_stderr
    conn = backend.connection
    try:
        conn.execute("SELECT set_config('application_name', %s, false)", (f"{APPLICATION_NAME} {command}",))
        if conn.info.server_version >= 140000:
            conn.execute("SELECT set_config('client_connection_check_interval', %s, false)", (CLIENT_CHECK_INTERVAL,))
    except psycopg.Error as exc:
        raise db_error("keyshift session settings", exc) from None
    for option, value in (("--statement-timeout", statement_timeout), ("--lock-timeout", lock_timeout)):
        try:  # validated here, before anything: lock_timeout then stays set for the wait below
            conn.execute("SELECT set_config(%s, %s, false)", (option[2:].replace("-", "_"), value))
        except psycopg.errors.InvalidParameterValue as exc:
            raise MigrationFailed(
                f"{option} {value!r}",
                f"is not a valid duration ({exc.diag.message_primary})",
                "give a PostgreSQL duration such as 5s, 300ms or 1min (0 turns it off)",
            ) from None
    conn.execute("RESET statement_timeout")
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (RUN_KEY,))
    except psycopg.errors.LockNotAvailable:
        raise another_run(conn) from None
    finally:
        conn.execute("RESET lock_timeout")
    table = psycopg.sql.Identifier(backend.lock_table)
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (backend.lock_table,)).fetchone()[0]:
        # No yoyo lock table yet: RUN_KEY alone guards the run, and the table is created inside
        # its transaction (apply/yoyo_tables.py); yoyo's lock() is then a no-op for this backend.
        backend._is_locked = True
        return
    for pid, ctime in conn.execute(psycopg.sql.SQL("DELETE FROM {} RETURNING pid, ctime").format(table)):
        notice(
            f"removed a stale yoyo lock left by process {pid} at {ctime:%Y-%m-%d %H:%M:%S} UTC "
            "(no keyshift run holds the database, so that process is gone)"
        )
    lock = backend.lock(timeout=10)
    try:
        lock.__enter__()
    except LockTimeout as exc:  # a live process other than keyshift (plain yoyo) holds it
        raise MigrationFailed(
            "yoyo lock", str(exc), "wait for that yoyo process to finish; nothing was changed"
        ) from None
    backend._keyshift_lock = lock


def another_run(conn) -> MigrationFailed:
    """The refusal when another keyshift run holds RUN_KEY on this database."""
    return MigrationFailed(
        "keyshift run",
        f"another keyshift run is working on this database ({_run_holder(conn)})",
        "nothing was changed; wait for it to finish and run this again, or, if that run is hung, "
        "end its session with SELECT pg_terminate_backend(<pid>) (its transaction rolls back)",
    )


def wait_for_other_run(conn, lock_timeout: str) -> None:
    """Before anything reads the tables a run may hold locked: wait for another keyshift run
    holding RUN_KEY at most lock_timeout, as start_run does, then let go of RUN_KEY at once (the
    run takes it again on its own connection). Refuses naming that run when it is still there."""
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (RUN_KEY,))
        conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_KEY,))
    except psycopg.errors.LockNotAvailable:
        raise another_run(conn) from None
    finally:
        conn.execute("RESET lock_timeout")


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


def end_run(backend) -> None:
    """Delete our yoyo lock row; closing the connection then frees RUN_KEY."""
    lock = getattr(backend, "_keyshift_lock", None)
    if lock is None:
        return
    backend._keyshift_lock = None
    try:
        lock.__exit__(None, None, None)
    except psycopg.Error:
        pass  # connection lost: the row stays, and the next run clears it (see start_run)
