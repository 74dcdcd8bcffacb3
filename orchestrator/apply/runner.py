"""Run one migration or rollback file whole inside keyshift's transaction, and yoyo's
bookkeeping of it; whatever goes wrong is one line naming the file."""

from __future__ import annotations

import psycopg

from orchestrator.apply.locks import deadlocked, lock_not_granted
from orchestrator.apply.messages import canceled, db_error
from orchestrator.errors import MigrationFailed


def run_text(conn, text: str) -> None:
    """Send ``text`` to the server in ONE piece with the simple query protocol (psycopg 3 uses
    it for a query without parameters): PostgreSQL itself finds the statements in it. Never
    prepared (a prepared statement holds one statement only)."""
    conn.execute(text, prepare=False)


def run_file(
    conn,
    where: str,
    text: str,
    dsn: str = "",
    tables: list[tuple[str, str]] = (),
    lock_timeout: str = "",
    statement_timeout: str = "0",
) -> None:
    """Run one migration or rollback file whole (``run_text``) inside keyshift's transaction.

    Before it: standard_conforming_strings on and backslash_quote at its default for this
    transaction, so the server reads quotes as pglast read them (source.validate). After it:
    the connection must still be inside the same transaction, as the same current_user and
    session_user; otherwise the file is named, and the error says whether anything may have
    been committed. Server errors are one line naming the file and its line. A file that
    committed and then began a new transaction that failed is beyond what can be seen after
    the error; validate() refuses every such statement, and the server reads the file as pglast does."""
    conn.execute(
        "SELECT set_config('standard_conforming_strings', 'on', true),"
        " set_config('backslash_quote', 'safe_encoding', true)"
    )
    before = _session(conn)
    try:
        run_text(conn, text)
    except psycopg.Error as exc:
        status = conn.info.transaction_status
        if status == psycopg.pq.TransactionStatus.IDLE:
            raise transaction_ended(where) from None
        if status != psycopg.pq.TransactionStatus.INERROR:
            raise  # the connection is gone: with_lock_retries says so
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            raise lock_not_granted(where, exc, dsn, list(tables), lock_timeout) from None
        if isinstance(exc, psycopg.errors.DeadlockDetected):
            raise deadlocked(where, exc) from None
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise canceled(where, exc, statement_timeout, text) from None
        raise db_error(where, exc, text) from None
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.INTRANS:
        raise transaction_ended(where)
    after = _session(conn)
    if after[2] != before[2]:
        raise transaction_ended(where)
    if after[:2] != before[:2]:
        raise MigrationFailed(
            where,
            f"changed the role it runs as (current_user {before[0]} -> {after[0]}, "
            f"session_user {before[1]} -> {after[1]}) in a way no parser sees (set_config, a SET inside DO)",
            "remove that from the file: keyshift runs every migration as the role it connects as; "
            "nothing was committed",
        )


def _session(conn) -> tuple:
    """(current_user, session_user, top-level transaction id) of keyshift's session."""
    return tuple(conn.execute("SELECT current_user::text, session_user::text, txid_current()").fetchone())


def transaction_ended(where: str) -> MigrationFailed:
    return MigrationFailed(
        where,
        "ended keyshift's transaction while it ran (the server read a COMMIT or ROLLBACK that "
        "PostgreSQL's parser did not see), so part of the work may have been committed",
        "run keyshift status before anything else",
    )


def bookkeeping(where: str, step) -> None:
    """yoyo's log and mark (or unmark) of one migration; a database error is one line."""
    try:
        step()
    except psycopg.Error as exc:
        raise db_error(f"{where} (yoyo's bookkeeping)", exc) from None
