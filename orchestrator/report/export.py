"""export-map: stream the old integer -> new uuid mapping of converted tables.

Applications keep caches, task queues and old URLs keyed by the old integer ids; after the
cutover they need the mapping keyshift kept in keyshift.<map_table> (old_id bigint, new_id uuid).

Memory stays constant whatever the size: PostgreSQL formats every line (COPY ... TO STDOUT) and
each chunk goes straight to the file. Every table is exported in one REPEATABLE READ, read-only
transaction, so a multi-table export is one consistent snapshot. A file is written to a temporary
name beside it and moved into place only when complete (os.replace), so a reader never sees half
an export and an interrupted export leaves the previous file as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import psycopg
from psycopg import sql

from orchestrator.catalog.mappings import Mapping, mapping
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import KeyshiftError, Refused
from orchestrator.names import qualname

FORMATS = ("csv", "jsonl")
CSV_HEADER = b"table,old_id,new_id\n"


def _copy_query(m: Mapping, fmt: str) -> sql.Composed:
    label = sql.Literal(m.display)
    if fmt == "csv":
        return sql.SQL(
            "COPY (SELECT {label} AS table_name, old_id, new_id FROM {map} ORDER BY old_id) TO STDOUT WITH (FORMAT csv)"
        ).format(label=label, map=m.ident)
    # One JSON object per line. json_build_object escapes every control character (\u0001, \n),
    # so with CSV format and control characters as delimiter and quote, COPY never quotes or
    # escapes anything and each line is the JSON text verbatim (text format would double every
    # backslash of an escaped quote).
    return sql.SQL(
        "COPY (SELECT json_build_object('table', {label}::text, 'old_id', old_id, 'new_id', new_id)::text"
        " FROM {map} ORDER BY old_id)"
        " TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
    ).format(label=label, map=m.ident)


def stream(conn: psycopg.Connection, mappings: list[Mapping], fmt: str, out: BinaryIO) -> dict[str, int]:
    """Write the mappings to ``out`` chunk by chunk; rows written per table."""
    if fmt == "csv":
        out.write(CSV_HEADER)
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for m in mappings:
            with cur.copy(_copy_query(m, fmt)) as copy:
                for chunk in copy:
                    out.write(chunk)
            counts[m.display] = cur.rowcount
    return counts


def check_output(output: str) -> None:
    """Refuse an output path that cannot be written, before anything is read."""
    if output == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise Refused(f"--output {output}", "is a directory", "name a file, e.g. --output mapping.csv")
    if not path.parent.is_dir():
        raise Refused(
            f"--output {output}",
            f"its directory {path.parent} does not exist",
            "create the directory first or choose another path",
        )


def export_map(
    dsn: str, tables: list[tuple[str, str]], fmt: str, output: str, stdout: BinaryIO | None = None, notice=None
) -> dict[str, int]:
    """Validate every table, then stream all their mappings to ``output`` ("-" = stdout).
    ``notice(line)`` hears, per mapping a rollback kept, which plan it comes from and when."""
    if fmt not in FORMATS:
        raise Refused(f"--format {fmt}", "is not a known format", f"use one of {', '.join(FORMATS)}")
    seen = set()
    for t in tables:
        if t in seen:
            raise Refused(f"table {qualname(*t)}", "is named twice", "name each table once")
        seen.add(t)
    check_output(output)
    with dsnmod.connect(dsn) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        mappings = [mapping(conn, *t) for t in tables]
        for m in mappings:
            if m.rolled_back_at is not None and notice is not None:
                notice(rolled_back_line(m))
        if output == "-":
            out = stdout if stdout is not None else os.fdopen(os.dup(1), "wb")
            try:
                counts = stream(conn, mappings, fmt, out)
                out.flush()
            except BrokenPipeError:
                raise KeyshiftError(
                    "stdout",
                    "was closed by its reader before the export ended",
                    "write to a file with --output FILE to get the whole mapping",
                ) from None
            finally:
                if stdout is None:
                    try:
                        out.close()
                    except BrokenPipeError:
                        pass
            return counts
        return _write_atomically(Path(output), lambda out: stream(conn, mappings, fmt, out))


def rolled_back_line(m: Mapping) -> str:
    """Where a kept mapping comes from: its old ids are the integer ids the rows have now."""
    return (
        f"the mapping of {m.display} comes from plan {m.plan_id}, rolled back at "
        f"{m.rolled_back_at:%Y-%m-%d %H:%M:%S %Z}: its old ids are the integer ids the rows have now"
    )


def _write_atomically(path: Path, write) -> dict[str, int]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            counts = write(out)
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file would be, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return counts
