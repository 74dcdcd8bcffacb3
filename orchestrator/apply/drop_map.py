"""drop-map: retire the old -> new mapping of converted tables, or remove the mapping a rollback
kept, in one transaction.

A converted table's mapping table is dropped and the registry records when
(keyshift.converted_table.map_dropped_at): the checks stop asking for it. A mapping a rollback
kept (keyshift.rolled_back_mapping) is dropped with its registry row; once no conversion and no
kept mapping is left, what keyshift created goes too (render/ownership.forget_all). Only
keyshift's own objects are dropped, each by name and never with CASCADE: a mapping table that an
object keyshift did not create depends on is refused, nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from orchestrator.apply.execute import keep_notice
from orchestrator.catalog import mappings
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.render import ownership


@dataclass(frozen=True)
class Dropped:
    """One mapping table drop-map dropped: the table shown, the mapping table, its plan, and when
    that plan was rolled back (None: the plan is applied)."""

    shown: str
    map_table: str
    plan_id: str
    rolled_back_at: datetime | None = None


#: The objects outside the mapping table that depend on it the ordinary way (views, foreign keys,
#: functions with a SQL body), each "kind schema.name" (a view's rule shown as its view).
_USERS = """
SELECT string_agg(DISTINCT i.type || ' ' || i.identity, '; ')
FROM pg_catalog.pg_depend AS d
CROSS JOIN LATERAL pg_catalog.pg_identify_object(
    CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::regclass THEN 'pg_catalog.pg_class'::regclass ELSE d.classid END,
    CASE
        WHEN d.classid = 'pg_catalog.pg_rewrite'::regclass
            THEN (SELECT r.ev_class FROM pg_catalog.pg_rewrite AS r WHERE r.oid = d.objid)
        ELSE d.objid
    END,
    CASE WHEN d.classid = 'pg_catalog.pg_rewrite'::regclass THEN 0 ELSE d.objsubid END
) AS i
WHERE
    d.refclassid = 'pg_catalog.pg_class'::regclass
    AND d.refobjid = to_regclass(%s)
    AND d.deptype = 'n'
    AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = d.refobjid)
"""


def drop_maps(dsn: str, names: list[tuple[str, str]], notice=None) -> list[Dropped]:
    """Drop the mapping table of each named table, converted or rolled back, all or nothing.
    ``notice(line)`` hears what keyshift kept when it let go of its schema."""
    with dsnmod.connect(dsn) as conn:
        kept: list[str] = []
        conn.add_notice_handler(lambda diag: keep_notice(kept, diag))
        with conn.transaction():
            registered = conn.execute(
                "SELECT to_regclass('keyshift.converted_table') IS NOT NULL,"
                " to_regclass('keyshift.rolled_back_mapping') IS NOT NULL"
            ).fetchone()
            if not any(registered):
                raise Refused(
                    "keyshift registry", "does not exist: nothing was converted in this database", "check --dsn"
                )
            if registered[0]:
                conn.execute("ALTER TABLE keyshift.converted_table ADD COLUMN IF NOT EXISTS map_dropped_at timestamptz")
            dropped = [_drop_one(conn, schema, table, *registered) for schema, table in names]
            if any(d.rolled_back_at is not None for d in dropped):
                conn.execute(ownership.forget_all().body)
    for line in kept:
        (notice or print)(line)
    return dropped


def _drop_one(conn: psycopg.Connection, schema: str, table: str, converted: bool, kept: bool) -> Dropped:
    """``converted``, ``kept``: whether keyshift.converted_table and keyshift.rolled_back_mapping exist."""
    shown = qualname(schema, table)
    row = None
    if converted:
        row = conn.execute(
            "SELECT plan_id, map_table, map_dropped_at, mode, key_column, external_column"
            " FROM keyshift.converted_table WHERE table_schema = %s AND table_name = %s FOR UPDATE",
            (schema, table),
        ).fetchone()
    if row is None:
        return _drop_kept(conn, schema, table, kept)
    plan_id, map_table, dropped_at, mode, key_column, external_column = row
    if mode == "external" or map_table is None:
        if mappings.kept_of(conn, schema, table) is not None:  # an earlier plan's, kept by its rollback
            return _drop_kept(conn, schema, table, kept)
        raise mappings.no_mapping(shown, plan_id, key_column, external_column, "drop")
    if dropped_at is not None:
        raise Refused(
            f"mapping keyshift.{map_table} of {shown}", f"was retired already at {dropped_at}", "nothing to do"
        )
    _drop_table(conn, map_table, shown)
    conn.execute(
        "UPDATE keyshift.converted_table SET map_dropped_at = now() WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    )
    return Dropped(shown, map_table, plan_id)


def _drop_kept(conn: psycopg.Connection, schema: str, table: str, kept: bool) -> Dropped:
    """The mapping a rollback kept for ``table``, dropped with its registry row."""
    shown = qualname(schema, table)
    row = None
    if kept:
        row = conn.execute(
            "DELETE FROM keyshift.rolled_back_mapping WHERE table_schema = %s AND table_name = %s"
            " RETURNING plan_id, map_table, rolled_back_at",
            (schema, table),
        ).fetchone()
    if row is None:
        raise Refused(
            f"table {shown}",
            "was not converted by keyshift, and no rollback kept a mapping of it, so it has no mapping",
            "name a table that keyshift status lists as converted or with a kept mapping",
        )
    plan_id, map_table, rolled_back_at = row
    _drop_table(conn, map_table, shown)
    return Dropped(shown, map_table, plan_id, rolled_back_at)


def _drop_table(conn: psycopg.Connection, map_table: str, shown: str) -> None:
    """DROP TABLE keyshift.<map_table>, never with what depends on it: refuse while something does."""
    ident = sql.Identifier("keyshift", map_table)
    users = conn.execute(_USERS, (ident.as_string(conn),)).fetchone()[0]
    if users is not None:
        raise Refused(
            f"mapping table {qualname('keyshift', map_table)} of {shown}",
            f"is used by {users}, which keyshift did not create",
            "nothing was changed; drop those objects or make them stop reading the mapping (keyshift never "
            "drops them for you), then drop-map again",
        )
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
