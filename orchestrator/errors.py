"""Typed errors. Every message names the object, the reason and the fix.

A user's mistake ends in one line on stderr (``keyshift: OBJECT: REASON; FIX``) and the exit
code of its class; a Python traceback is printed only with ``--debug``.
"""

from __future__ import annotations

#: Exit codes of the command contract (DESIGN.md §2).
EXIT_OK = 0
#: Failed (or refused by migrate/rollback before anything ran): nothing was committed.
EXIT_FAILED = 1
#: The command line is malformed or an argument value is invalid: found before any connection.
EXIT_USAGE = 2
EXIT_REFUSED = 3
#: keyshift check: no check file was found, or one cannot be run as a check.
EXIT_NO_CHECKS = 4


class KeyshiftError(Exception):
    """Base class: ``obj`` is what the error is about, ``reason`` why, ``fix`` what to do."""

    exit_code = EXIT_FAILED

    def __init__(self, obj: str, reason: str, fix: str = ""):
        self.obj = obj
        self.reason = reason
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.obj}: {self.reason}"
        if self.fix:
            text += f"; {self.fix}"
        return text


class Refused(KeyshiftError):
    """The plan cannot be made: nothing was written."""

    exit_code = EXIT_REFUSED


class UsageError(KeyshiftError):
    """An argument value is invalid (a duration, a path, a DSN): found before any connection."""

    exit_code = EXIT_USAGE


class ConnectionFailed(KeyshiftError):
    """The database cannot be reached (the message never holds a password)."""

    exit_code = EXIT_FAILED


class MigrationFailed(KeyshiftError):
    """A migration or a check failed inside the transaction: nothing was committed."""

    exit_code = EXIT_FAILED
