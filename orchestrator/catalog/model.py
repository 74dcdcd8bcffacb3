"""The catalog model: one small frozen dataclass per object kind that sql/catalog/*.sql returns."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from orchestrator.names import qualname, quote_part

INTEGER_TYPES = ("smallint", "integer", "bigint")


@dataclass(frozen=True)
class Table:
    relid: int
    table_schema: str
    table_name: str
    relkind: str
    persistence: str
    is_partition: bool
    owner: str
    pk_name: str | None
    has_parent: bool
    has_children: bool
    root_schema: str | None = None
    root_table: str | None = None
    pk_columns: tuple = ()
    pk_types: tuple = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.table_schema, self.table_name)

    @property
    def display(self) -> str:
        return qualname(self.table_schema, self.table_name)


@dataclass(frozen=True)
class KeyColumn:
    column_name: str
    data_type: str
    not_null: bool
    default_expr: str | None
    identity: str
    seq_schema: str | None
    seq_name: str | None
    seq_type: str | None
    seq_start: int | None
    seq_increment: int | None
    seq_min: int | None
    seq_max: int | None
    seq_cache: int | None
    seq_cycle: bool | None
    seq_dependency: str
    #: JSON list of [privilege, grantee or null for PUBLIC, grantable], in stored ACL order
    seq_grants: str = "[]"
    seq_acl_is_set: bool = False
    seq_comment: str | None = None
    seq_owner: str | None = None
    #: 'u' for the unlogged sequence of an unlogged table (PostgreSQL 15+), else 'p'
    seq_persistence: str | None = None
    seq_used_elsewhere: bool = False

    @property
    def sequence_kind(self) -> str:
        """'identity_always', 'identity_by_default', 'serial' (owned), 'default' (shared) or ''."""
        if self.identity == "a":
            return "identity_always"
        if self.identity == "d":
            return "identity_by_default"
        if self.seq_name and self.seq_dependency == "a":
            return "serial"
        if self.seq_name:
            return "default"
        return ""


@dataclass(frozen=True)
class ForeignKey:
    oid: int
    name: str
    child_relid: int
    child_schema: str
    child_table: str
    child_relkind: str
    parent_relid: int
    parent_schema: str
    parent_table: str
    is_deferrable: bool
    is_deferred: bool
    is_validated: bool
    definition: str
    child_columns: tuple = ()
    child_types: tuple = ()
    parent_columns: tuple = ()
    #: COMMENT ON CONSTRAINT, re-applied wherever the FK is created again
    comment: str | None = None

    @property
    def child(self) -> tuple[str, str]:
        return (self.child_schema, self.child_table)

    @property
    def parent(self) -> tuple[str, str]:
        return (self.parent_schema, self.parent_table)

    @property
    def display(self) -> str:
        return (
            f"{qualname(*self.child)}({', '.join(self.child_columns)}) -> "
            f"{qualname(*self.parent)}({', '.join(self.parent_columns)}) [{self.name}]"
        )


@dataclass(frozen=True)
class Dependent:
    kind: str
    object_name: str


@dataclass(frozen=True)
class View:
    """A view or materialized view that uses a converted column: dropped and created again."""

    oid: int
    view_schema: str
    view_name: str
    relkind: str
    depth: int
    definition: str
    owner: str
    comment: str | None
    acl_is_set: bool = False
    options: tuple = ()
    #: {"privilege", "column" (None: the whole view), "grantee" (None: PUBLIC), "grantable"}
    grants: tuple = ()
    #: {"column", "comment"}
    column_comments: tuple = ()
    indexes: tuple = ()
    #: the index a materialized view is CLUSTERed ON, if any
    clustered_index: str | None = None
    triggers: tuple = ()
    #: {"name", "comment"} of the view's indexes and triggers that have a comment
    index_comments: tuple = ()
    trigger_comments: tuple = ()
    #: the tablespace of a materialized view (None: the database's default)
    tablespace: str | None = None
    #: {"column", "statistics" (target or None), "storage" (letter or None: the type's)} when either is set
    column_settings: tuple = ()
    #: {"name", "tablespace" (None: the default), "statistics" ([[attnum, target], ...] or None)}
    index_settings: tuple = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.view_schema, self.view_name)

    @property
    def is_materialized(self) -> bool:
        return self.relkind == "m"

    @property
    def display(self) -> str:
        kind = "materialized view" if self.is_materialized else "view"
        return f"{kind} {qualname(self.view_schema, self.view_name)}"


@dataclass(frozen=True)
class Carried:
    """An object that uses a converted column and is carried across the type change.

    ``carry`` is 'alter' (CHECK/exclusion constraints, expression or partial indexes: the
    ALTER ... TYPE rebuilds them itself) or 'recreate' (triggers, RLS policies: dropped in
    step 02, created again in step 04 with the same name and definition).
    """

    kind: str
    carry: str
    oid: int
    table_schema: str
    table_name: str
    table_ident: str
    name: str
    definition: str
    enabled: str = ""
    comment: str | None = None
    permissive: bool = True
    roles: tuple = ()
    cmd: str = ""
    qual: str | None = None
    with_check: str | None = None
    #: on a partition of the table whose column it uses (the same column, by name)
    on_partition: bool = False

    @property
    def table(self) -> tuple[str, str]:
        return (self.table_schema, self.table_name)

    @property
    def display(self) -> str:
        return f"{self.kind} {quote_part(self.name)} on {qualname(self.table_schema, self.table_name)}"

    @property
    def shown_definition(self) -> str:
        if self.kind != "policy":
            return self.definition
        return policy_sql(self, self.table_ident)


_POLICY_CMDS = {"ALL": "ALL", "SELECT": "SELECT", "INSERT": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}


def policy_sql(p: Carried, table_ident: str) -> str:
    """CREATE POLICY from pg_policies' deparse: name, AS PERMISSIVE/RESTRICTIVE, FOR, TO, USING, WITH CHECK.

    Identifiers are quoted with psycopg; USING and WITH CHECK are PostgreSQL's own deparse.
    """
    roles = sql.SQL(", ").join(
        sql.SQL("PUBLIC") if r == "public" else sql.Identifier(r) for r in (p.roles or ("public",))
    )
    text = (
        sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}")
        .format(
            sql.Identifier(p.name),
            sql.SQL(table_ident),
            sql.SQL("PERMISSIVE" if p.permissive else "RESTRICTIVE"),
            sql.SQL(_POLICY_CMDS[p.cmd]),
            roles,
        )
        .as_string(None)
    )
    if p.qual is not None:
        text += f"\nUSING ({p.qual})"
    if p.with_check is not None:
        text += f"\nWITH CHECK ({p.with_check})"
    return text + ";"


@dataclass(frozen=True)
class Index:
    index_name: str
    definition: str
    constraint_name: str
    constraint_type: str


@dataclass(frozen=True)
class Converted:
    """A registry row: a table keyshift already converted."""

    plan_id: str
    table_schema: str
    table_name: str
    key_column: str
    mode: str
