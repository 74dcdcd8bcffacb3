"""yoyo's bookkeeping tables: created inside keyshift's one transaction, or not at all.

yoyo creates its lock table when its backend connects (``get_backend`` → ``init_database``) and
its migration, log and version tables the first time it reads what is applied, each in a
transaction of its own: a run that then refused or failed (or was killed) would leave them
behind, owned by its role. keyshift therefore builds the backend without ``init_database``
(``backend``), reads an absent record as empty without creating it (``defer``), and creates
whatever is missing inside the one transaction (``create_inside``): a run that does not commit
leaves no yoyo table, and one that commits leaves them as yoyo would.
"""

from __future__ import annotations

import psycopg
from yoyo import internalmigrations
from yoyo.backends import get_backend_class
from yoyo.connections import parse_uri

from orchestrator.plan.ownership import MIGRATION_TABLE

#: yoyo's tables, as its backend names them (resolved on the connection's search_path).
LOCK_TABLE = "yoyo_lock"
TABLES = (MIGRATION_TABLE, "_yoyo_log", "_yoyo_version", LOCK_TABLE)


def existing(conn: psycopg.Connection) -> dict[str, int | None]:
    """Each of yoyo's tables -> its oid, or None when it does not exist (on the search path)."""
    return {name: conn.execute("SELECT to_regclass(%s)::oid", (name,)).fetchone()[0] for name in TABLES}


def backend(uri: str):
    """yoyo's backend for ``uri``, connected, without creating anything (no ``init_database``)."""
    parsed = parse_uri(uri)
    return get_backend_class(parsed.scheme.lower())(parsed, MIGRATION_TABLE)


def defer(backend) -> None:
    """Until ``create_inside`` ran in a transaction that committed, an absent record reads as
    empty: yoyo's ``to_apply`` and ``to_rollback`` then create nothing."""
    if _missing(backend.connection):
        backend.get_applied_migration_hashes = list  # an instance attribute: yoyo's method stays


def create_inside(backend) -> None:
    """Inside keyshift's open transaction: yoyo's tables that do not exist yet, as yoyo creates
    them (its internal schema migrations, its lock table). Rolled back with the transaction."""
    missing = _missing(backend.connection)
    if MIGRATION_TABLE in missing or "_yoyo_log" in missing or "_yoyo_version" in missing:
        internalmigrations.upgrade(backend)  # savepoints inside our transaction
    if LOCK_TABLE in missing:
        backend.execute(backend.format_sql(backend.create_lock_table_sql))
    # yoyo would look again before each mark, on the search path a migration file may have
    # changed (and refuse to upgrade inside a transaction): they exist, at yoyo's version.
    backend._internal_schema_updated = True


def _missing(conn: psycopg.Connection) -> list[str]:
    return [name for name, oid in existing(conn).items() if oid is None]
