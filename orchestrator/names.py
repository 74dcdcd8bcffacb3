"""Names: the one place where text that a database name can reach is written into SQL.

Three things leave keyshift as text: statements, comments and names shown to a person.

- A statement is a ``psycopg.sql.Composable`` (``Identifier`` for names, ``Literal`` for
  values) and stays one until it is written to a file (:class:`Statement`).
- A comment line is prose that may quote a name. :func:`comment` is the only way such text
  gets into a ``--`` comment: it escapes every character that could end the comment, or that
  an editor, a terminal or another tool could show as a line break, so whatever a name holds,
  the comment stays one line and SQL never resumes inside it.
- A name shown in a message or a plan line is :func:`qualname` (``schema.table``, each part
  quoted only where PostgreSQL needs it); a ``schema.table`` argument is read back into its
  parts by :func:`parse_qualified`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from psycopg import sql

from orchestrator.errors import Refused

#: Characters that are not printable categories become ``\\uXXXX``: controls (Cc, which holds
#: LF, CR, VT, FF and NEL), format characters (Cf: zero-width joiners, bidirectional
#: overrides), line and paragraph separators (Zl, Zp), surrogates (Cs), private use (Co) and
#: unassigned code points (Cn).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escape_char(ch: str) -> str:
    if ch == "\\":
        return "\\\\"  # so that every \\uXXXX in a comment is one we wrote
    if unicodedata.category(ch) in _ESCAPED_CATEGORIES:
        code = ord(ch)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return ch


def visible(text: str) -> str:
    """``text`` for a terminal: the invisible and line-breaking characters of :func:`comment`
    (zero-width joiners, bidirectional overrides, controls, separators) as ``\\uXXXX`` escapes,
    so a name can neither hide a character nor reorder or break the line it is shown in.
    Everything else, the backslash included, is kept as it is."""
    return "".join(_escape_char(ch) if ch != "\\" else ch for ch in str(text))


def comment(text: str) -> str:
    """``text`` made safe for one ``--`` comment line (without the ``--``).

    Every line break PostgreSQL, an editor or a terminal knows (LF, CR, VT, FF, NEL, U+2028,
    U+2029), every other control or invisible character, and the backslash itself are written
    as visible escapes; ``*/`` and ``/*`` are split with a backslash so the line can also sit
    inside a block comment. The result holds no character that can end a comment.
    """
    escaped = "".join(_escape_char(ch) for ch in str(text))
    return escaped.replace("*/", "*\\/").replace("/*", "/\\*")


def comment_block(lines: list[str] | tuple[str, ...] | str) -> str:
    """Lines of prose as ``-- `` comment lines (an empty line becomes a bare ``--``).

    A string is split on LF first: that is the prose's own line structure. Each line then goes
    through :func:`comment`, so a line break inside a name is escaped, never taken as a break."""
    if isinstance(lines, str):
        lines = lines.split("\n")
    return "\n".join(f"-- {comment(line)}".rstrip() for line in lines)


@dataclass(frozen=True)
class Statement:
    """One SQL statement as structure: its composed body and the prose comment above it.

    ``body`` is written with ``as_string`` only when the migration file is written; nothing
    reads the text back. ``verbatim`` marks a body that is a file shipped with keyshift
    (``sql/registry.sql``, ``sql/functions/*.sql``): its text carries its own comments and may
    hold several statements, none of which a database name can reach. ``subject`` names the
    dependent object (view, foreign key, trigger, policy) the statement re-creates, as plan shows
    it: the rehearsal runs each such statement under its own savepoint and names the object when
    PostgreSQL refuses it. It is never written into the file."""

    body: sql.Composable
    comment: tuple[str, ...] = ()
    verbatim: bool = False
    subject: str | None = None

    def text(self) -> str:
        body = self.body.as_string(None).strip()
        if not self.verbatim and not body.endswith(";"):
            body += ";"
        if not self.comment:
            return body
        return comment_block(self.comment) + "\n" + body


class Literal(sql.Literal):
    """A SQL literal for generated migrations: psycopg's quoting, without its leading space.

    Without a connection psycopg cannot know standard_conforming_strings, so a string holding a
    backslash (a name such as ``back\\slash``) is written as an escape string, `` E'back\\\\slash'``,
    with a space in front so that it can never glue onto the token before it. In a generated
    statement that space becomes a double space, or a space after ``(``, and sqlfluff refuses the
    file. Every place a literal goes in the templates is already separated (a space, ``(``, ``,``
    or a new line), so the space is dropped; the escape string itself is kept, because it means
    the same text whatever standard_conforming_strings is on the server that runs the file."""

    def as_bytes(self, context=None) -> bytes:
        return super().as_bytes(context).lstrip(b" ")


def qualname(schema: str, name: str) -> str:
    """Display name: schema.table, each part quoted only when PostgreSQL would need it."""
    return f"{quote_part(schema)}.{quote_part(name)}"


def quote_part(part: str) -> str:
    """One name part as PostgreSQL would need it written: bare when it can be, else quoted."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", part) and part.upper() not in _RESERVED:
        return part
    return '"' + part.replace('"', '""') + '"'


_RESERVED = {
    "ALL",
    "ANALYSE",
    "ANALYZE",
    "AND",
    "ANY",
    "ARRAY",
    "AS",
    "ASC",
    "ASYMMETRIC",
    "BOTH",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "CONSTRAINT",
    "CREATE",
    "CURRENT_CATALOG",
    "CURRENT_DATE",
    "CURRENT_ROLE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "DEFAULT",
    "DEFERRABLE",
    "DESC",
    "DISTINCT",
    "DO",
    "ELSE",
    "END",
    "EXCEPT",
    "FALSE",
    "FETCH",
    "FOR",
    "FOREIGN",
    "FROM",
    "GRANT",
    "GROUP",
    "HAVING",
    "IN",
    "INITIALLY",
    "INTERSECT",
    "INTO",
    "LATERAL",
    "LEADING",
    "LIMIT",
    "LOCALTIME",
    "LOCALTIMESTAMP",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "ONLY",
    "OR",
    "ORDER",
    "PLACING",
    "PRIMARY",
    "REFERENCES",
    "RETURNING",
    "SELECT",
    "SESSION_USER",
    "SOME",
    "SYMMETRIC",
    "TABLE",
    "THEN",
    "TO",
    "TRAILING",
    "TRUE",
    "UNION",
    "UNIQUE",
    "USER",
    "USING",
    "VARIADIC",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
}


def parse_qualified(text: str, what: str = "--table", parts: int = 2) -> tuple[str, ...]:
    """Split ``schema.table`` (each part optionally "double-quoted") into its parts."""
    token = r'(?:"((?:[^"]|"")+)"|([^."]+))'
    m = re.fullmatch(r"\.".join([token] * parts), text.strip())
    if not m:
        shape = "SCHEMA.TABLE" if parts == 2 else "SCHEMA.TABLE.COLUMN"
        raise Refused(
            f"{what} {text!r}",
            f"is not a qualified name of the form {shape}",
            'always name the schema; quote parts with double quotes, e.g. public."Order"',
        )
    out = []
    for i in range(parts):
        quoted, bare = m.group(2 * i + 1), m.group(2 * i + 2)
        out.append(quoted.replace('""', '"') if quoted is not None else bare)
    return tuple(out)
