"""Argument values checked before any connection: a bad one is one line and exit 2.

``DebugParser`` turns argparse's own errors (a missing option, a wrong type, an unknown
choice) into that one line instead of a usage block; ``check_arguments`` checks what argparse
cannot: durations as PostgreSQL reads them (finite, at least 0, within its range), paths that
must be directories, and names that must parse as schema-qualified PostgreSQL identifiers.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from orchestrator.errors import Refused, UsageError
from orchestrator.names import parse_qualified

#: Milliseconds per unit of a PostgreSQL time setting (lock_timeout, statement_timeout).
_UNITS_MS = {"": 1.0, "us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60000.0, "h": 3600000.0, "d": 86400000.0}
_DURATION = re.compile(r"\s*((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(us|ms|s|min|h|d)?\s*")
#: The largest lock_timeout / statement_timeout PostgreSQL accepts, in milliseconds.
_MAX_MS = 2**31 - 1
#: Commands that read an existing migrations directory.
_READS_MIGRATIONS = ("migrate", "rollback", "status")


class DebugParser(argparse.ArgumentParser):
    """argparse whose errors are keyshift's one line (exit 2), never a usage block."""

    def error(self, message: str):
        command = self.prog.removeprefix("keyshift").strip() or "command line"
        raise UsageError(command, " ".join(message.split()), f"see {self.prog} --help")


def non_negative(kind):
    """An argparse type: a finite number of ``kind`` (int or float) that is at least 0."""
    return _finite(kind, "of at least 0", lambda value: value >= 0)


def positive(kind):
    """An argparse type: a finite number of ``kind`` (int or float) above 0."""
    return _finite(kind, "above 0", lambda value: value > 0)


def _finite(kind, bound: str, within):
    name = "whole number" if kind is int else "number"

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        if value is None or not math.isfinite(value) or not within(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite {name} {bound}")
        return value

    return parse


def duration_ms(text: str) -> float | None:
    """``text`` as PostgreSQL reads a time setting, in milliseconds; None when it is no duration."""
    m = _DURATION.fullmatch(text)
    if not m:
        return None
    value = float(m.group(1)) * _UNITS_MS[m.group(2) or ""]
    return value if math.isfinite(value) else None


def check_duration(option: str, text: str) -> None:
    value = duration_ms(text)
    if value is None:
        raise UsageError(
            f"{option} {text!r}",
            "is not a valid duration",
            "give a PostgreSQL duration such as 5s, 300ms or 1min (0 turns it off)",
        )
    if value > _MAX_MS:
        raise UsageError(
            f"{option} {text!r}", "is longer than PostgreSQL allows (about 24 days)", "give a shorter duration"
        )
    if 0 < value < 1:
        raise UsageError(
            f"{option} {text!r}",
            "is shorter than a millisecond, which PostgreSQL rounds to 0: no limit at all",
            "give at least 1ms, or 0 to turn it off",
        )


def check_directory(option: str, text: str, must_exist: bool) -> None:
    path = Path(text)
    if path.is_dir():
        return
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{option} {text}", "is a symbolic link to nothing", "point it at a directory")
    if path.exists():
        raise UsageError(f"{option} {text}", "is not a directory", f"pass a directory to {option}")
    if must_exist:
        raise UsageError(f"{option} {text}", "does not exist", "run keyshift plan first, or pass the right directory")


def check_arguments(args) -> None:
    """Every argument value that needs no database, before any connection."""
    for option in ("lock_timeout", "statement_timeout"):
        value = getattr(args, option, None)
        if value is not None:
            check_duration("--" + option.replace("_", "-"), str(value))
    if getattr(args, "migrations", None) is not None:
        check_directory("--migrations", args.migrations, args.command in _READS_MIGRATIONS)
    if getattr(args, "checks", None) is not None:
        check_directory("--checks", args.checks, False)  # an absent one: the checks' own exit 4
    tables = getattr(args, "table", None)
    for table in [tables] if isinstance(tables, str) else tables or []:
        parse_qualified(table)
    for text in getattr(args, "polymorphic", None) or []:
        parse_polymorphic(text)
    for text in getattr(args, "polymorphic_type", None) or []:
        parse_polymorphic_type(text)


def parse_polymorphic(text: str) -> tuple[str, str, str, str]:
    """``SCHEMA.TABLE.TYPE_COL,ID_COL`` -> (schema, table, type column, id column)."""
    head, sep, id_column = text.rpartition(",")
    id_column = id_column.strip()
    if not sep or not id_column:
        raise Refused(
            f"--polymorphic {text!r}",
            "is not of the form SCHEMA.TABLE.TYPE_COLUMN,ID_COLUMN",
            "e.g. --polymorphic public.comments.commentable_type,commentable_id",
        )
    schema, table, type_column = parse_qualified(head, "--polymorphic", parts=3)
    if id_column.startswith('"') and id_column.endswith('"') and len(id_column) > 1:
        id_column = id_column[1:-1].replace('""', '"')
    if id_column == type_column:
        raise Refused(f"--polymorphic {text!r}", "names one column as both type and id", "name two columns")
    return (schema, table, type_column, id_column)


def parse_polymorphic_type(text: str) -> tuple[str, str, str]:
    """``VALUE=SCHEMA.TABLE`` -> (value, schema, table): that type value names that table."""
    value, sep, table = text.rpartition("=")
    if not sep or not value:
        raise Refused(
            f"--polymorphic-type {text!r}",
            "is not of the form VALUE=SCHEMA.TABLE",
            "e.g. --polymorphic-type Post=public.posts",
        )
    return (value, *parse_qualified(table, "--polymorphic-type"))
