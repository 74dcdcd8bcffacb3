"""drop-map: retire the old -> new mapping of converted tables, in one transaction."""

from __future__ import annotations

import psycopg

from orchestrator.catalog import mappings
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import Refused
from orchestrator.names import qualname


def drop_maps(dsn: str, names: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Drop the mapping table of each named converted table and record when, all or nothing.
    Returns (table shown, mapping table, plan id) per table dropped."""
    Ident, SQL = psycopg.sql.Identifier, psycopg.sql.SQL
    with dsnmod.connect(dsn) as conn, conn.transaction():
        if conn.execute("SELECT to_regclass('keyshift.converted_table') IS NULL").fetchone()[0]:
            raise Refused("keyshift registry", "does not exist: nothing was converted in this database", "check --dsn")
        conn.execute("ALTER TABLE keyshift.converted_table ADD COLUMN IF NOT EXISTS map_dropped_at timestamptz")
        dropped = []
        for schema, table in names:
            row = conn.execute(
                "SELECT plan_id, map_table, map_dropped_at, mode, key_column, external_column"
                " FROM keyshift.converted_table WHERE table_schema = %s AND table_name = %s FOR UPDATE",
                (schema, table),
            ).fetchone()
            shown = qualname(schema, table)
            if row is None:
                raise Refused(
                    f"table {shown}",
                    "was not converted by keyshift, so it has no mapping",
                    "name a table that keyshift status lists as converted",
                )
            plan_id, map_table, dropped_at, mode, key_column, external_column = row
            if mode == "external" or map_table is None:
                raise mappings.no_mapping(shown, plan_id, key_column, external_column, "drop")
            if dropped_at is not None:
                raise Refused(
                    f"mapping keyshift.{map_table} of {shown}", f"was retired already at {dropped_at}", "nothing to do"
                )
            conn.execute(SQL("DROP TABLE IF EXISTS {}").format(Ident("keyshift", map_table)))
            conn.execute(
                "UPDATE keyshift.converted_table SET map_dropped_at = now() "
                "WHERE table_schema = %s AND table_name = %s",
                (schema, table),
            )
            dropped.append((shown, map_table, plan_id))
    return dropped
