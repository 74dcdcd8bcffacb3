"""The schema-only copy a rehearsal runs on: a throwaway database on the target's server (or
the database ``--rehearse-dsn`` names), filled from ``pg_dump --schema-only`` of the target."""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
from collections.abc import Iterator

import psycopg
from psycopg import conninfo, sql

from orchestrator.connect import dsn as dsnmod
from orchestrator.connect import embedded
from orchestrator.errors import KeyshiftError, Refused

#: yoyo's bookkeeping tables: not copied (their rows would be missing, and yoyo refuses a
#: version table without them); migrate on the copy creates its own.
YOYO = ("--exclude-table=public._yoyo*", "--exclude-table=public.yoyo_lock")
#: What a schema comparison leaves out: keyshift's own schema and yoyo's bookkeeping tables.
EXCLUDED = ("--exclude-schema=keyshift", *YOYO)

_FIX = "pass --rehearse-dsn DSN (an empty staging database) or --no-rehearse"


def _tool(name: str) -> str:
    return str(embedded.bindir() / name)


def _run(argv: list[str], what: str, stdin: bytes | None = None) -> bytes:
    """Run a PostgreSQL client; its output as bytes. A dump is never decoded or re-split here:
    a name may hold any character, a line separator of some other convention included."""
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    except OSError as exc:
        raise Refused(f"rehearsal ({what})", f"cannot run {argv[0]}: {exc.strerror}", _FIX) from None
    if done.returncode != 0:
        first = done.stderr.strip().split(b"\n")[0].decode("utf-8", "replace") or "no message"
        raise Refused(f"rehearsal ({what})", f"{argv[0]} failed: {first!r}", _FIX)
    return done.stdout


def dump_schema(dsn: str, *extra: str) -> bytes:
    """``pg_dump --schema-only`` of ``dsn``, as pg_dump wrote it."""
    return _run([_tool("pg_dump"), "--schema-only", *extra, "-d", dsn], "pg_dump")


def schema_lines(dsn: str, *extra: str) -> list[bytes]:
    """The dump's lines (split at LF only, as psql reads them), pg_dump's random \\restrict
    token lines left out: two dumps of one schema give the same lines."""
    return [
        line for line in dump_schema(dsn, *extra).split(b"\n") if not line.startswith((b"\\restrict", b"\\unrestrict"))
    ]


def check_pg_dump(conn: psycopg.Connection) -> None:
    """pg_dump must be of the server's major version or newer, or it refuses to dump."""
    out = _run([_tool("pg_dump"), "--version"], "pg_dump --version").decode("ascii", "replace")
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    ours = int(found.group(1)) if found else 0
    server = conn.info.server_version // 10000
    if ours < server:
        raise Refused(
            f"rehearsal ({_tool('pg_dump')})",
            f"pg_dump {ours} cannot dump a PostgreSQL {server} server",
            f"point KEYSHIFT_PG_BINDIR at PostgreSQL {server} binaries, or {_FIX}",
        )


def is_superuser(conn: psycopg.Connection) -> bool:
    """Whether the copy's role is a superuser: then rows go into the copy with
    session_replication_role = replica (no trigger, no FK check fires), else triggers are handled by name."""
    row = conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def _may_create_database(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
    return bool(row.fetchone()[0])


def _free_name(conn: psycopg.Connection, plan_id: str) -> str:
    for _ in range(5):
        name = f"keyshift_rehearsal_{plan_id}_{secrets.token_hex(4)}"
        taken = conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (name,)).fetchone()
        if taken is None:
            return name
    raise Refused("rehearsal", "found no free database name keyshift_rehearsal_*", _FIX)


@contextlib.contextmanager
def schema_copy(dsn: str, plan_id: str, rehearse_dsn: str | None) -> Iterator[str]:
    """The DSN of a database holding the target's schema and no rows; a database created here
    is dropped when the block ends, however it ends. ``rehearse_dsn`` is used as it is given."""
    with dsnmod.connect(dsn, autocommit=True) as conn:
        check_pg_dump(conn)
        dump = dump_schema(dsn, *YOYO)
        if rehearse_dsn is not None:
            _restore(rehearse_dsn, dump)
            yield rehearse_dsn
            return
        if not _may_create_database(conn):
            raise Refused("rehearsal", "the role may not create the throwaway database it runs on", _FIX)
        name = _free_name(conn, plan_id)
        try:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise Refused(f"rehearsal (database {name})", f"cannot be created ({_first(exc)})", _FIX) from None
    try:
        copy = conninfo.make_conninfo(dsn, dbname=name)
        _restore(copy, dump)
        yield copy
    finally:
        _drop(dsn, name)


def _drop(dsn: str, name: str) -> None:
    """Drop the database ``schema_copy`` created (and only that one), or say how to."""
    try:
        with dsnmod.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    except (psycopg.Error, KeyshiftError) as exc:
        raise KeyshiftError(
            f"database {name}",
            f"the rehearsal's throwaway copy could not be dropped ({_first(exc)})",
            f"drop it yourself: DROP DATABASE {name}",
        ) from None


def _first(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _restore(dsn: str, dump: bytes) -> None:
    argv = [_tool("psql"), "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    _run(argv, "restoring the schema copy", stdin=dump)
