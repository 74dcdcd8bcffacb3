"""What keyshift owns in the database, and how rollback lets go of it.

keyshift creates schema ``keyshift`` when it is absent and records that it did in the marker
table ``keyshift.installation`` (``sql/schema.sql``; a registry written by an earlier keyshift,
recognised by ``keyshift.converted_table``, gains the marker). In that schema it creates the
registry tables (``sql/registry.sql``), its functions (``sql/functions/*.sql``) and one
mapping table per converted table. Those names, with their exact signatures, are listed here
once; ``keyshift plan`` refuses a schema of that name that keyshift did not create, and a name
keyshift needs that another object holds (``orchestrator/plan/safety.py``).

Rollback keeps the plan's mapping tables (every row's old integer id and its uuid, rows written
since migrate with the ids rollback gave them) and records each in ``keyshift.rolled_back_mapping``;
``keyshift drop-map`` removes one. The other objects are dropped only once the last conversion is
gone and no mapping is kept (by rollback, or by the drop-map that removes the last kept mapping),
each by its name and never together with what depends on them (no cascading drop). An object that
something outside keyshift still uses (a column default calling ``keyshift.uuid_v7()``, a view over
a registry table) is kept, with the functions it calls, and so are the schema and its marker while
anything is left in it: a NOTICE names the user and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from orchestrator.names import Literal

I = sql.Identifier
L = Literal

SCHEMA = "keyshift"

#: The marker table: one row, written when keyshift creates the schema (sql/schema.sql).
MARKER = "installation"

#: Every table sql/registry.sql creates (tests/test_ownership.py compares with the file).
REGISTRY_TABLES = (
    "converted_table",
    "converted_column",
    "converted_constraint",
    "saved_sequence",
    "fingerprint",
    "converted_index",
    "converted_view",
    "invalidated_session",
    "converted_slug",
    "plan_check",
    "rolled_back_mapping",
    "converted_table_property",
)


@dataclass(frozen=True)
class Function:
    """One function keyshift creates: its name, its argument types as PostgreSQL prints them
    (``oidvectortypes(proargtypes)``: input arguments only, without their names), and the
    keyshift functions its body calls (kept with it when a user's object still uses it)."""

    name: str
    args: tuple[str, ...] = ()
    calls: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def signature(self) -> str:
        """``keyshift.name(type, ...)``: for messages."""
        return f"{SCHEMA}.{self.name}({', '.join(self.args)})"

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return (self.name, self.args)

    def composed(self) -> sql.Composed:
        """``"keyshift"."name"(type, ...)``: the exact function, for DROP and to_regprocedure."""
        return sql.SQL("{}({})").format(I(SCHEMA, self.name), sql.SQL(", ").join(sql.SQL(a) for a in self.args))

    def drop(self) -> sql.Composed:
        return sql.SQL("DROP FUNCTION {}").format(self.composed())


#: Every function sql/functions/*.sql creates, callers before the functions they call
#: (tests/test_ownership.py compares the list with the files, and runs each function with only
#: what it calls left beside it).
FUNCTIONS = (
    Function("uuid_v7", (), (("uuid_v7", ("timestamp with time zone",)),)),
    Function("uuid_v7", ("timestamp with time zone",)),
    Function("uuid_v6", (), (("uuid_v6", ("timestamp with time zone",)),)),
    Function("uuid_v6", ("timestamp with time zone",)),
    Function(
        "keyed_uuid_v7",
        ("timestamp with time zone", "text", "bigint"),
        (("keyed_uuid_v7_at", ("bigint", "text", "bigint")),),
    ),
    Function("keyed_uuid_v7_at", ("bigint", "text", "bigint")),
    Function(
        "keyed_uuid_v6",
        ("timestamp with time zone", "text", "bigint"),
        (("keyed_uuid_v6_at", ("bigint", "text", "bigint")),),
    ),
    Function("keyed_uuid_v6_at", ("bigint", "text", "bigint")),
    Function("keyed_uuid_v4", ("text", "bigint")),
    Function("unique_slug", ("regclass", "name", "integer"), (("random_slug", ("integer",)),)),
    Function("random_slug", ("integer",), (("base62", ("uuid", "integer")),)),
    Function("base62", ("uuid", "integer")),
    Function("statement_setting", ("text",)),
    Function("table_fingerprint", ("name", "name", "boolean")),
    Function("rollback_ids", ("name", "name", "bigint")),
    Function("index_definition", ("oid",)),
    Function("view_definition", ("oid",)),
)

FUNCTION_NAMES = tuple(dict.fromkeys(f.name for f in FUNCTIONS))


#: yoyo's bookkeeping table: created by the first migrate, read by plan and status.
MIGRATION_TABLE = "_yoyo_migration"
