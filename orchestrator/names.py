"""Names: the one place where text that a database name can reach is written into SQL.

Two things leave keyshift as SQL text: statements and comments.

- A statement is a ``psycopg.sql.Composable`` (``Identifier`` for names, ``Literal`` for
  values) and stays one until it is written to a file (:class:`Statement`).
- A comment line is prose that may quote a name. :func:`comment` is the only way such text
  gets into a ``--`` comment: it escapes every character that could end the comment, or that
  an editor, a terminal or another tool could show as a line break, so whatever a name holds,
  the comment stays one line and SQL never resumes inside it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from psycopg import sql

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
    hold several statements, none of which a database name can reach."""

    body: sql.Composable
    comment: tuple[str, ...] = ()
    verbatim: bool = False

    def text(self) -> str:
        body = self.body.as_string(None).strip()
        if not self.verbatim and not body.endswith(";"):
            body += ";"
        if not self.comment:
            return body
        return comment_block(self.comment) + "\n" + body
