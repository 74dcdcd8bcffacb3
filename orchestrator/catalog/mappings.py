"""Mapping tables: where the old -> new mapping of a converted table lives, found from keyshift's registry
and checked before anything reads it; a table of external mode has none. A table whose plan was rolled
back has the mapping its rollback kept (keyshift.rolled_back_mapping), until drop-map removes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from orchestrator.errors import Refused
from orchestrator.names import qualname


@dataclass(frozen=True)
class Mapping:
    """Where the mapping of one converted table lives."""

    table_schema: str
    table_name: str
    map_table: str
    plan_id: str
    #: when the plan was rolled back and rollback kept this mapping (keyshift.rolled_back_mapping)
    rolled_back_at: datetime | None = None

    @property
    def display(self) -> str:
        return qualname(self.table_schema, self.table_name)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier("keyshift", self.map_table)


def mapping(conn: psycopg.Connection, schema: str, name: str) -> Mapping:
    """The mapping table of a converted table, or Refused naming the fix."""
    display = qualname(schema, name)
    registered = conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]
    row = None
    if registered:
        # Read-only here: columns a registry of an older version may lack are read through jsonb.
        row = conn.execute(
            "SELECT map_table, plan_id, mode, key_column, to_jsonb(ct) ->> 'external_column',"
            " (to_jsonb(ct) ->> 'map_dropped_at')::timestamptz"
            " FROM keyshift.converted_table AS ct WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        ).fetchone()
    if row is None:
        found = kept_of(conn, schema, name)
        if found is not None:
            _verify_columns(conn, found, display)
            return found
        raise Refused(
            f"table {display}",
            "was not converted by keyshift (no row in keyshift.converted_table), so it has no old -> new mapping",
            f"convert it first (keyshift plan --table {display}, then keyshift migrate), or name a converted table",
        )
    map_table, plan_id, mode, key_column, external_column, dropped_at = row
    if mode == "external" or map_table is None:
        found = kept_of(conn, schema, name)  # an earlier plan's, kept by its rollback
        if found is not None:
            _verify_columns(conn, found, display)
            return found
        raise no_mapping(display, plan_id, key_column, external_column, "export")
    if dropped_at is not None:
        raise Refused(
            f"mapping table {qualname('keyshift', map_table)} of {display}",
            f"was retired with keyshift drop-map at {dropped_at:%Y-%m-%d %H:%M:%S %Z}".rstrip(),
            "restore it from a backup taken before the drop-map; without it old ids cannot be translated",
        )
    found = Mapping(schema, name, map_table, plan_id)
    _verify_columns(conn, found, display)
    return found


def kept(conn: psycopg.Connection) -> list[Mapping]:
    """Every mapping table a rollback kept (keyshift.rolled_back_mapping), oldest rollback first."""
    return _kept(conn)


def kept_of(conn: psycopg.Connection, schema: str, name: str) -> Mapping | None:
    """The mapping a rollback kept of one table, or None."""
    found = _kept(conn, schema, name)
    return found[0] if found else None


def _kept(conn: psycopg.Connection, schema: str | None = None, name: str | None = None) -> list[Mapping]:
    if conn.execute("SELECT to_regclass('keyshift.rolled_back_mapping') IS NULL").fetchone()[0]:
        return []
    rows = conn.execute(
        "SELECT table_schema::text, table_name::text, map_table::text, plan_id, rolled_back_at"
        " FROM keyshift.rolled_back_mapping"
        " WHERE (%(s)s::name IS NULL OR (table_schema, table_name) = (%(s)s::name, %(t)s::name))"
        " ORDER BY rolled_back_at, table_schema, table_name",
        {"s": schema, "t": name},
    ).fetchall()
    return [Mapping(*r) for r in rows]


def _verify_columns(conn: psycopg.Connection, m: Mapping, display: str) -> None:
    """Refuse a mapping table that is gone or does not have the columns old_id bigint, new_id uuid."""
    map_table, plan_id = m.map_table, m.plan_id
    columns = conn.execute(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)"
        " FROM pg_catalog.pg_attribute AS a"
        " WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        (sql.Identifier("keyshift", map_table).as_string(conn),),
    ).fetchall()
    if not columns:
        raise Refused(
            f"mapping table {qualname('keyshift', map_table)} of {display}",
            f"does not exist (plan {plan_id} wrote it; it was dropped since)",
            "restore it from a backup taken after the migrate; without it old ids cannot be translated",
        )
    types = dict(columns)
    if types.get("old_id") != "bigint" or types.get("new_id") != "uuid":
        raise Refused(
            f"mapping table {qualname('keyshift', map_table)} of {display}",
            f"does not have the columns old_id bigint, new_id uuid (found {', '.join(f'{c} {t}' for c, t in columns)})",
            "restore it from a backup taken after the migrate",
        )


def no_mapping(shown: str, plan_id: str, key_column: str, external_column: str, action: str) -> Refused:
    """drop-map / export-map on a table of external mode: there is no mapping table to act on."""
    fix = {
        "drop": "nothing to retire: the external ids live in the table itself; keyshift rollback removes them",
        "export": "export the pairs from the table itself, e.g. "
        f"COPY (SELECT {sql.Identifier(key_column).as_string(None)}, "
        f"{sql.Identifier(external_column).as_string(None)} FROM {shown}) TO STDOUT WITH (FORMAT csv)",
    }[action]
    return Refused(
        f"table {shown}",
        f"was converted in external mode by plan {plan_id}: its integer key {key_column} stays and "
        f"{external_column} holds its uuid, so it has no old -> new mapping table",
        fix,
    )


@dataclass(frozen=True)
class ConvertedKey:
    """What keyshift's registry says about a converted table's key, and the key column's type now."""

    plan_id: str
    key_column: str
    mode: str
    uuid_version: int
    key_type: str | None


def converted_key(conn: psycopg.Connection, schema: str, name: str) -> ConvertedKey | None:
    """The registry's row of ``schema.name`` and its key column's type today; None when keyshift never converted it."""
    if not conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]:
        return None
    row = conn.execute(
        "SELECT ct.plan_id, ct.key_column::text, ct.mode, ct.uuid_version,"
        " (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute AS a"
        "   JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid"
        "   JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        "   WHERE n.nspname = ct.table_schema AND c.relname = ct.table_name"
        "   AND a.attname = ct.key_column AND NOT a.attisdropped)"
        " FROM keyshift.converted_table AS ct WHERE ct.table_schema = %s AND ct.table_name = %s",
        (schema, name),
    ).fetchone()
    return None if row is None else ConvertedKey(*row)
