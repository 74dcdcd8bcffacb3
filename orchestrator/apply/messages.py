"""One line for what goes wrong while applying: a server error (with the line of the file it
points at), a statement cancelled by statement_timeout; and a notice, said on stderr."""

from __future__ import annotations

import sys

import psycopg

from orchestrator.errors import MigrationFailed


def db_error(where: str, exc: psycopg.Error, text: str | None = None) -> MigrationFailed:
    """One line for a server error; with ``text`` (what was sent in one piece), the line of it
    that the server's error position points at."""
    diag = exc.diag
    if text is not None and (diag.statement_position or "").isdigit():
        where += f" line {_line_of(text, int(diag.statement_position))}"
    parts = [diag.message_primary or str(exc).strip().splitlines()[0]]
    for label, value in (
        ("table", diag.table_name),
        ("column", diag.column_name),
        ("constraint", diag.constraint_name),
        ("detail", diag.message_detail),
        ("hint", diag.message_hint),
    ):
        if value:
            parts.append(f"{label}: {value}")
    return MigrationFailed(where, "; ".join(parts), "nothing was committed; the database is as it was before")


def _line_of(text: str, position: int) -> int:
    """The line of ``text`` holding character ``position`` (1-based, as the server counts)."""
    return text.count("\n", 0, max(position - 1, 0)) + 1


def canceled(where: str, exc: psycopg.Error, statement_timeout: str, text: str | None = None) -> MigrationFailed:
    message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
    if "statement timeout" in message:
        return MigrationFailed(
            where,
            f"a statement ran longer than statement_timeout {statement_timeout} ({message})",
            "nothing was committed; raise --statement-timeout (0 turns it off) and migrate again",
        )
    return db_error(where, exc, text)


def to_stderr(line: str) -> None:
    print(f"keyshift: {line}", file=sys.stderr, flush=True)
