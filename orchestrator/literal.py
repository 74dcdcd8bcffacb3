"""SQL literals for generated migrations: psycopg's quoting, without its leading space.

Without a connection psycopg cannot know standard_conforming_strings, so a string holding a
backslash (a name such as ``back\\slash``) is written as an escape string, `` E'back\\\\slash'``,
with a space in front so that it can never glue onto the token before it. In a generated
statement that space becomes a double space, or a space after ``(``, and sqlfluff refuses the
file. Every place a literal goes in the templates is already separated (a space, ``(``, ``,``
or a new line), so the space is dropped; the escape string itself is kept, because it means
the same text whatever standard_conforming_strings is on the server that runs the file.
"""

from __future__ import annotations

from psycopg import sql


class Literal(sql.Literal):
    def as_bytes(self, context=None) -> bytes:
        return super().as_bytes(context).lstrip(b" ")
