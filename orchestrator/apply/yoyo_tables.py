"""yoyo's bookkeeping tables: the ones a migrate or rollback created do not outlive it unless it committed.

yoyo creates its lock table when its backend connects and its migration, log and version tables
the first time it reads what is applied, each in a transaction of its own. A run that then
refuses or fails would leave them behind, owned by its role (and another role's status or
migrate would then fail on them). ``existing`` records each table's oid before the backend
exists; ``drop_created`` drops, by oid, each one that appeared since, when the run did not
commit. It drops nothing else, never with CASCADE: a table something else came to depend on
meanwhile is kept and named.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from orchestrator.plan.ownership import MIGRATION_TABLE

#: yoyo's tables, as its backend names them (resolved on the connection's search_path).
TABLES = (MIGRATION_TABLE, "_yoyo_log", "_yoyo_version", "yoyo_lock")


def existing(conn: psycopg.Connection) -> dict[str, int | None]:
    """Each of yoyo's tables -> its oid, or None when it does not exist (on the search path)."""
    return {name: conn.execute("SELECT to_regclass(%s)::oid", (name,)).fetchone()[0] for name in TABLES}


def drop_created(conn: psycopg.Connection, before: dict[str, int | None], notice) -> None:
    """Drop each of yoyo's tables that did not exist in ``before`` (same search path), in one
    transaction; a table that cannot be dropped is named with ``notice``."""
    now = existing(conn)
    created = [oid for name, oid in now.items() if oid is not None and before.get(name) is None]
    if not created:
        return
    try:
        with conn.transaction():
            for oid in created:
                schema, name = conn.execute(
                    "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class AS c"
                    " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = %s",
                    (oid,),
                ).fetchone()
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, name)))
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        notice(f"yoyo's bookkeeping tables this run created were kept ({message}); drop them by hand")
