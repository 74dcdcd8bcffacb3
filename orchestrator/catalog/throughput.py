"""How fast this server rewrites a table's key: measured at plan time on a temporary table of
the probe's own, in a transaction that is rolled back. No user table is read or locked.

The probe fills ``PROBE_ROWS`` rows of an integer key and a short text (a few MB with the key's
index), then times one ``ALTER TABLE ... ALTER COLUMN id TYPE uuid USING`` a keyed mix of the
old id: the statement step 03 runs on every converted table (a heap rewrite and a rebuild of
each index). The new key is keyshift.keyed_uuid_v4's arithmetic written out, since schema
keyshift need not exist at plan time. Each statement may run at most ``_TIMEOUT``; a probe that
cannot run (no TEMP privilege, a read-only transaction, a timeout) says why and measures nothing.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import psycopg
from psycopg import sql

PROBE_ROWS = 50_000
_TIMEOUT = "2s"
_NAME = ("pg_temp", "keyshift_throughput_probe")
_TABLE = sql.Identifier(*_NAME)
_CREATE = sql.SQL("CREATE TEMPORARY TABLE {} (id integer PRIMARY KEY, note text NOT NULL) ON COMMIT DROP")
_FILL = sql.SQL(
    "INSERT INTO {} (id, note) SELECT g, pg_catalog.repeat(pg_catalog.md5(g::text), 2)"
    " FROM pg_catalog.generate_series(1, %s) AS g"
)
#: keyed_uuid_v4(k, id) with its two seeds (hashtextextended(k, 1) and (k, 2), one value per
#: statement in step 03) as constants: the same three hashes and bit operations per row.
_MIXED = sql.SQL("pg_catalog.hashint8extended(id::bigint, 7046029254386353131) & -61444")
_REWRITE = sql.SQL(
    "ALTER TABLE {table} ALTER COLUMN id TYPE uuid USING pg_catalog.encode("
    "pg_catalog.int8send((({mixed}) | 16384) | ((id::bigint >> 62) & 3))"
    " || pg_catalog.int8send(((id::bigint # pg_catalog.hashint8extended({mixed}, 5340003592410958283))"
    " & 4611686018427387903) | '-9223372036854775808'::bigint), 'hex')::uuid"
).format(table=_TABLE, mixed=_MIXED)


class Probe(NamedTuple):
    """The bytes the probe rewrote (pg_total_relation_size before), the seconds it took, and why
    nothing was measured (None when it was)."""

    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None


def measure(conn: psycopg.Connection) -> Probe:
    """Time the probe's key rewrite on ``conn`` (an autocommit connection, in no transaction)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT pg_catalog.set_config('statement_timeout', %s, true)", (_TIMEOUT,))
            conn.execute(_CREATE.format(_TABLE))
            conn.execute(_FILL.format(_TABLE), (PROBE_ROWS,))
            size = conn.execute("SELECT pg_catalog.pg_total_relation_size(%s::regclass)", (".".join(_NAME),))
            size = size.fetchone()[0]
            start = time.perf_counter()
            conn.execute(_REWRITE)
            seconds = time.perf_counter() - start
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc) or type(exc).__name__
        return Probe(error=" ".join(reason.split()))
    return Probe(int(size), seconds)
