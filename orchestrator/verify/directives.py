"""The directives of a check file: which rows of the keyshift registry it proves.

A check never passes without looking. Each file declares, in its leading comment block (the
``--`` lines before the first other line, where yoyo reads its directives too), which rows
of the keyshift registry it proves, and what to say when there are none::

    -- applies-to: keyshift.converted_slug
    -- skip-reason: no slug column was converted

``applies-to`` names one table of the schema ``keyshift``, optionally followed by
``where`` and conditions joined by ``and``, each one of::

    COLUMN = VALUE          COLUMN <> VALUE          COLUMN is null
    COLUMN in setting NAME  (VALUE is one of the comma-separated values of current_setting(NAME))

Words are separated by spaces; names and values are bare words, never quoted. Before a check
runs, the matching registry rows are counted (names as identifiers, values as bound
parameters). None: the check is skipped with its reason and does not run. So each check
reports ok (it looked and found nothing wrong), not ok (rows or an error) or skipped (there
was nothing for it to look at). A file without both directives cannot be run: a new check
cannot skip silently. A registry table that does not exist skips the check only while there
is no registry at all; once keyshift.converted_table exists, it is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from pglast import ast, parser
from psycopg import sql

from orchestrator.errors import KeyshiftError

#: The directives of a check file's leading comment block.
APPLIES_TO = "-- applies-to:"
SKIP_REASON = "-- skip-reason:"
#: The only schema a check may declare it proves rows of.
REGISTRY_SCHEMA = "keyshift"

FIX_DIRECTIVES = (
    f"declare in its leading comment block which registry rows it proves, e.g. "
    f"'{APPLIES_TO} keyshift.converted_table where mode = external' and "
    f"'{SKIP_REASON} no table was given external ids' (orchestrator/verify/checks.py describes the form)"
)


class ChecksUnusable(KeyshiftError):
    """No check file was found, or one cannot be run as a check: nothing was checked."""


@dataclass(frozen=True)
class Condition:
    """One condition of an ``applies-to`` directive: ``column op value``."""

    column: str
    op: str  # "=", "<>", "is null", "in setting"
    value: str | None = None

    def composed(self) -> tuple[sql.Composable, tuple]:
        col = sql.Identifier(self.column)
        if self.op == "=":
            return sql.SQL("{} = %s").format(col), (self.value,)
        if self.op == "<>":
            return sql.SQL("{} <> %s").format(col), (self.value,)
        if self.op == "is null":
            return sql.SQL("{} IS NULL").format(col), ()
        # The same reading of the setting as the checks that filter on it.
        return (
            sql.SQL("{} = any(string_to_array(coalesce(current_setting(%s, TRUE), ''), ','))").format(col),
            (self.value,),
        )


@dataclass(frozen=True)
class AppliesTo:
    """The registry rows a check proves: rows of keyshift.<table> meeting every condition."""

    table: str
    conditions: tuple[Condition, ...] = ()
    text: str = ""  # as the file writes it

    def count(self, conn: psycopg.Connection) -> int | None:
        """How many registry rows the check proves; None when the registry table does not exist."""
        exists = conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (REGISTRY_SCHEMA, self.table)
        ).fetchone()[0]
        if not exists:
            return None
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(REGISTRY_SCHEMA, self.table))
        params: tuple = ()
        if self.conditions:
            parts = [c.composed() for c in self.conditions]
            query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(p for p, _ in parts))
            params = tuple(v for _, values in parts for v in values)
        return conn.execute(query, params).fetchone()[0]


def leading_comments(text: str) -> list[str]:
    """The ``--`` lines a file starts with, up to its first other line."""
    block = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        block.append(line.rstrip())
    return block


def _unreadable(name: str, line: str, why: str) -> ChecksUnusable:
    return ChecksUnusable(f"check file {name}", f"cannot read {line.strip()!r}: {why}", FIX_DIRECTIVES)


def parse_applies_to(name: str, line: str) -> AppliesTo:
    """``-- applies-to: keyshift.TABLE [where COND [and COND ...]]`` -> AppliesTo."""
    words = line[len(APPLIES_TO) :].split()
    if not words:
        raise _unreadable(name, line, "it names no registry table")
    schema, dot, table = words[0].partition(".")
    if not dot or schema != REGISTRY_SCHEMA or not table or "." in table:
        raise _unreadable(name, line, f"{words[0]!r} is not a table of the schema {REGISTRY_SCHEMA} (keyshift.TABLE)")
    rest = words[1:]
    if not rest:
        return AppliesTo(table, (), " ".join(words))
    if rest[0] != "where" or len(rest) == 1:
        raise _unreadable(name, line, "after the table comes nothing, or 'where' and conditions")
    groups: list[list[str]] = [[]]
    for word in rest[1:]:
        if word == "and":
            groups.append([])
        else:
            groups[-1].append(word)
    conditions = []
    for g in groups:
        if len(g) == 3 and g[1] in ("=", "<>"):
            conditions.append(Condition(g[0], g[1], g[2]))
        elif len(g) == 3 and g[1:] == ["is", "null"]:
            conditions.append(Condition(g[0], "is null"))
        elif len(g) == 4 and g[1:3] == ["in", "setting"]:
            conditions.append(Condition(g[0], "in setting", g[3]))
        else:
            raise _unreadable(
                name,
                line,
                f"the condition {' '.join(g)!r} is none of 'COLUMN = VALUE', "
                "'COLUMN <> VALUE', 'COLUMN is null', 'COLUMN in setting NAME'",
            )
    return AppliesTo(table, tuple(conditions), " ".join(words))


def refuse_unless_one_select(name: str, text: str) -> None:
    """A check is one plain SELECT: PostgreSQL's own parser (pglast, standard_conforming_strings
    on, as the checks run) must find exactly one statement, a SELECT that writes nothing (no INTO,
    no data-modifying WITH). A second statement could end the transaction the check runs in."""
    try:
        statements = parser.parse_sql(text)
    except parser.ParseError as exc:
        raise ChecksUnusable(
            f"check file {name}", f"does not parse as PostgreSQL ({exc.args[0]})", FIX_ONE_SELECT
        ) from None
    if len(statements) != 1:
        raise ChecksUnusable(
            f"check file {name}", f"holds {len(statements)} statements, not one SELECT", FIX_ONE_SELECT
        )
    stmt = statements[0].stmt
    ctes = stmt.withClause.ctes if isinstance(stmt, ast.SelectStmt) and stmt.withClause else ()
    if (
        not isinstance(stmt, ast.SelectStmt)
        or stmt.intoClause is not None
        or any(not isinstance(c.ctequery, ast.SelectStmt) for c in ctes)
    ):
        raise ChecksUnusable(
            f"check file {name}", f"holds a {type(stmt).__name__}, not one plain SELECT", FIX_ONE_SELECT
        )


FIX_ONE_SELECT = "a check is one SELECT returning the offending rows: restore the file as keyshift wrote it"
