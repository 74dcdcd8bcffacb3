"""Before migrate or rollback creates anything: the server, the session and the role.

``ready`` connects once, says where (database, host, port, user; never the password), and
refuses in one line, before yoyo's backend exists: a server below MIN_SERVER_VERSION, a standby (``pg_is_in_recovery()``), a session whose
transactions are read-only by default, and a role that cannot do the whole job: it must own (or
hold the owner's role of) every table, sequence and view the pending plans touch (rollback: the
plan's tables, the views it recreates, schema keyshift), and may create schema keyshift and
yoyo's tables where they are missing. The refusal lists everything that is missing at once.

It returns which of yoyo's bookkeeping tables exist (``yoyo_tables.existing``): rollback has
nothing to do, and creates nothing, where yoyo never recorded anything.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from orchestrator.apply import drift, planned, run_lock, yoyo_tables
from orchestrator.apply.manifest import Manifest
from orchestrator.apply.source import plan_id_of
from orchestrator.catalog import Catalog, snapshot
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import MigrationFailed
from orchestrator.names import qualname
from orchestrator.plan.ownership import MIGRATION_TABLE, SCHEMA

#: The oldest PostgreSQL keyshift runs against (the oldest major the test matrix covers).
MIN_SERVER_VERSION = 140000
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "S": "sequence"}


def ready(
    dsn: str,
    command: str,
    migrations_dir,
    migrations,
    target=None,
    minimum: int = MIN_SERVER_VERSION,
    lock_timeout: str = "5s",
) -> dict:
    """Say where (``target(line)``), refuse what cannot work, and return yoyo's tables as they are."""
    with dsnmod.connect(dsn, autocommit=True) as conn:
        if target is not None:
            target(dsnmod.target(conn))
        server_ready(conn, command, minimum)
        run_lock.wait_for_other_run(conn, lock_timeout)  # its locks would hold the reads below
        before = yoyo_tables.existing(conn)
        yoyo_missing = _yoyo_missing(conn, before)
        if yoyo_missing:  # what yoyo recorded cannot be read: judge every plan of the directory
            applied = set() if command == "migrate" else {m.hash for m in migrations}
        else:
            applied = applied_hashes(conn)
        if command == "migrate":
            batch = [m for m in migrations if m.hash not in applied]
        else:
            done = [m for m in migrations if m.hash in applied]
            batch = [m for m in done if plan_id_of(m.id) == plan_id_of(done[-1].id)] if done else []
        manifests = [found for found in planned.manifests_of(migrations_dir, batch).values() if found is not None]
        if batch:  # with nothing to do, nothing is created or changed
            yoyo_missing += _create_missing(conn, command, before) + _owner_missing(conn, command, manifests)
        _refuse(conn, command, yoyo_missing)
        return before


def _refuse(conn: psycopg.Connection, command: str, missing: list[str]) -> None:
    if missing:
        raise MigrationFailed(
            f"role {conn.info.user}",
            f"cannot do the whole {command}: {'; '.join(missing)}",
            "run keyshift as the owner of those objects (or a role granted it), or grant what is "
            "missing; nothing was created or changed",
        )


def _yoyo_missing(conn: psycopg.Connection, before: dict) -> list[str]:
    """yoyo's existing tables the role cannot read and write (its record, log and lock row)."""
    out = []
    for oid in before.values():
        if oid is None:
            continue
        shown, owner, ok = conn.execute(
            "SELECT %s::regclass::text, pg_get_userbyid(relowner),"
            " has_table_privilege(%s::oid, 'SELECT, INSERT, UPDATE, DELETE') FROM pg_catalog.pg_class WHERE oid = %s",
            (oid, oid, oid),
        ).fetchone()
        if not ok:
            out.append(f"SELECT, INSERT, UPDATE and DELETE on yoyo's table {shown} (owned by {owner})")
    return out


def server_ready(conn: psycopg.Connection, command: str, minimum: int = MIN_SERVER_VERSION) -> None:
    """Refuse a server too old, a standby, or read-only transactions by default: one line each."""
    version, shown, standby, read_only = conn.execute(
        "SELECT current_setting('server_version_num')::int, current_setting('server_version'),"
        " pg_is_in_recovery(), current_setting('default_transaction_read_only')::boolean"
    ).fetchone()
    where = f"server {conn.info.host}:{conn.info.port}"
    if version < minimum:
        raise MigrationFailed(
            where,
            f"runs PostgreSQL {shown}, below the oldest keyshift supports ({minimum // 10000})",
            f"upgrade the server to PostgreSQL {minimum // 10000} or later; nothing was attempted",
        )
    if standby:
        raise MigrationFailed(
            where,
            f"is a standby (in recovery), where {command} cannot change anything",
            "connect to the primary; nothing was attempted",
        )
    if read_only:
        raise MigrationFailed(
            f"database {conn.info.dbname}",
            f"starts every transaction read-only (default_transaction_read_only is on for role {conn.info.user})",
            "connect to a writable primary, or turn it off for this role or database "
            "(ALTER ROLE ... SET default_transaction_read_only = off); nothing was attempted",
        )


def applied_hashes(conn: psycopg.Connection) -> set[str]:
    """yoyo's record of applied migrations, read without creating its tables."""
    if conn.execute("SELECT to_regclass(%s)", (MIGRATION_TABLE,)).fetchone()[0] is None:
        return set()
    query = sql.SQL("SELECT migration_hash FROM {}").format(sql.Identifier(MIGRATION_TABLE))
    try:
        return {row[0] for row in conn.execute(query)}
    except psycopg.errors.InsufficientPrivilege:
        owner = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_catalog.pg_class WHERE oid = to_regclass(%s)", (MIGRATION_TABLE,)
        ).fetchone()[0]
        raise MigrationFailed(
            f"yoyo's table {MIGRATION_TABLE}",
            f"cannot be read by role {conn.info.user} (it is owned by {owner})",
            f"run keyshift as {owner}, or GRANT SELECT, INSERT, UPDATE, DELETE on yoyo's tables to {conn.info.user}",
        ) from None


def _owner_missing(conn: psycopg.Connection, command: str, manifests: list[Manifest]) -> list[str]:
    """Each relation the plans change that the role cannot alter (it must own it)."""
    out = []
    relids: set[int] = set()
    for found in manifests:
        relids |= _relations(conn, found, command)
    cat = Catalog(conn)  # sets search_path = pg_catalog: after the create checks above
    for r in cat.ownership(sorted(relids)):
        if not r.can_alter:
            kind = _KINDS.get(r.relkind, "relation")
            out.append(f"owner of {kind} {qualname(r.rel_schema, r.rel_name)} (owned by {r.owner})")
    return out


def _create_missing(conn: psycopg.Connection, command: str, yoyo_before: dict) -> list[str]:
    """Schema keyshift (CREATE on the database unless it exists and is ours) and yoyo's tables
    (CREATE on the first schema of the search path unless they exist)."""
    row = conn.execute(
        "SELECT current_database()::text, current_schema()::text, to_regnamespace(%s) IS NOT NULL,"
        " coalesce((SELECT pg_has_role(nspowner, 'USAGE') FROM pg_namespace WHERE nspname = %s), false),"
        " has_database_privilege(current_database(), 'CREATE'),"
        " coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)",
        (SCHEMA, SCHEMA),
    ).fetchone()
    database, first_schema, keyshift_exists, keyshift_owned, can_create_schema, can_create_tables = row
    out = []
    if keyshift_exists and not keyshift_owned:
        out.append(f"owner of schema {SCHEMA}")
    if not keyshift_exists and command == "migrate" and not can_create_schema:
        out.append(f"CREATE on database {database} (for schema {SCHEMA})")
    if not all(yoyo_before.values()) and not can_create_tables:
        out.append(f"CREATE on schema {first_schema or '(none on the search_path)'} (for yoyo's bookkeeping tables)")
    return out


def _relations(conn: psycopg.Connection, found: Manifest, command: str) -> set[int]:
    """The oids of what the plan changes: its tables, and (migrate) what plan's snapshot reads
    with them (views, key sequences), or (rollback) the views it recreates."""
    oids = {_oid(conn, schema, name) for schema, name in [*found.locks, *found.sessions]}
    if command == "migrate":
        oids |= _snapshot_relations(conn, found)
    elif conn.execute(
        "SELECT to_regclass('keyshift.converted_view') IS NOT NULL"
        " AND has_table_privilege('keyshift.converted_view', 'SELECT')"
    ).fetchone()[0]:
        rows = conn.execute(
            "SELECT view_schema::text, view_name::text FROM keyshift.converted_view WHERE plan_id = %s",
            (found.plan_id,),
        )
        oids |= {_oid(conn, schema, name) for schema, name in rows.fetchall()}
    return oids - {None}


def _snapshot_relations(conn: psycopg.Connection, found: Manifest) -> set[int]:
    """Views and key sequences of the plan's targets, read as plan read them; nothing when the
    catalog no longer holds the targets as planned (the drift check names that)."""
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    try:
        cat = drift._ShapeCatalog(conn)
        targets = []
        for schema, name in found.targets:
            table = cat.table(schema, name)
            if table is not None and len(table.pk_columns) == 1:
                targets.append((table, cat.key_column(table.relid, table.pk_columns[0])))
        snap = snapshot(cat, targets, found.references)
    except psycopg.Error:
        return set()
    finally:
        conn.execute("SELECT set_config('search_path', %s, false)", (path,))
    oids = {t.relid for t in snap.tables.values()} | {v.oid for v in snap.views}
    oids |= {_oid(conn, k.seq_schema, k.seq_name) for _t, k in snap.targets if k.seq_name}
    return oids


def _oid(conn: psycopg.Connection, schema: str, name: str) -> int | None:
    row = conn.execute(
        "SELECT c.oid FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid"
        " WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return row[0] if row else None
