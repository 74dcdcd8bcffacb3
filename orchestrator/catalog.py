"""Catalog: run sql/catalog/*.sql against the live database and return small dataclasses.

Queries run with ``search_path = pg_catalog`` so that every definition PostgreSQL prints
(pg_get_constraintdef, pg_get_viewdef) names user objects schema-qualified.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator import SQL_DIR

INTEGER_TYPES = ("smallint", "integer", "bigint")


@lru_cache(maxsize=None)
def query(name: str) -> str:
    return (SQL_DIR / "catalog" / f"{name}.sql").read_text()


def _build(cls, row: dict):
    names = {f.name for f in fields(cls)}
    values = {}
    for k, v in row.items():
        if k in names:
            values[k] = tuple(v) if isinstance(v, list) else v
    return cls(**values)


def qualname(schema: str, name: str) -> str:
    """Display name: schema.table, each part quoted only when PostgreSQL would need it."""
    return f"{_quote(schema)}.{_quote(name)}"


def _quote(part: str) -> str:
    import re

    if re.fullmatch(r"[a-z_][a-z0-9_$]*", part) and part.upper() not in _RESERVED:
        return part
    return '"' + part.replace('"', '""') + '"'


_RESERVED = {
    "ALL", "ANALYSE", "ANALYZE", "AND", "ANY", "ARRAY", "AS", "ASC", "ASYMMETRIC", "BOTH", "CASE",
    "CAST", "CHECK", "COLLATE", "COLUMN", "CONSTRAINT", "CREATE", "CURRENT_CATALOG", "CURRENT_DATE",
    "CURRENT_ROLE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER", "DEFAULT", "DEFERRABLE",
    "DESC", "DISTINCT", "DO", "ELSE", "END", "EXCEPT", "FALSE", "FETCH", "FOR", "FOREIGN", "FROM",
    "GRANT", "GROUP", "HAVING", "IN", "INITIALLY", "INTERSECT", "INTO", "LATERAL", "LEADING",
    "LIMIT", "LOCALTIME", "LOCALTIMESTAMP", "NOT", "NULL", "OFFSET", "ON", "ONLY", "OR", "ORDER",
    "PLACING", "PRIMARY", "REFERENCES", "RETURNING", "SELECT", "SESSION_USER", "SOME", "SYMMETRIC",
    "TABLE", "THEN", "TO", "TRAILING", "TRUE", "UNION", "UNIQUE", "USER", "USING", "VARIADIC",
    "WHEN", "WHERE", "WINDOW", "WITH",
}


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
    seq_grants: tuple = ()
    seq_owner: str | None = None

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
    triggers: tuple = ()

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


class Catalog:
    """Reads the live catalog. Every method is one query file, or one composed count."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        conn.execute("SELECT set_config('search_path', 'pg_catalog', false)")

    def _rows(self, name: str, params: dict) -> list[dict]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query(name), params)
            return cur.fetchall()

    def table(self, schema: str, name: str) -> Table | None:
        rows = self._rows("tables", {"schema": schema, "table": name})
        return _build(Table, rows[0]) if rows else None

    def key_column(self, relid: int, column: str) -> KeyColumn:
        rows = self._rows("key_column", {"relid": relid, "column": column})
        return _build(KeyColumn, rows[0])

    def foreign_keys(self, relid: int) -> list[ForeignKey]:
        return [_build(ForeignKey, r) for r in self._rows("foreign_keys", {"relid": relid})]

    def dependents(self, relid: int, column: str) -> list[Dependent]:
        return [_build(Dependent, r) for r in self._rows("column_dependents", {"relid": relid, "column": column})]

    def dependent_views(self, relid: int, column: str) -> list[View]:
        return [_build(View, r) for r in self._rows("dependent_views", {"relid": relid, "column": column})]

    def indexes(self, relid: int, columns: list[str]) -> list[Index]:
        return [_build(Index, r) for r in self._rows("indexes", {"relid": relid, "columns": columns})]

    def table_columns(self, relid: int) -> dict[str, str]:
        """column name -> type (format_type) of every live column of one table."""
        return {r["column_name"]: r["data_type"] for r in self._rows("table_columns", {"relid": relid})}

    def server_facts(self) -> dict:
        """server_version_num and has_native_uuidv7 (PostgreSQL 18's uuidv7())."""
        return self._rows("server_facts", {})[0]

    def key_lookalikes(self, names: list[str]) -> list[dict]:
        return self._rows("key_lookalikes", {"names": names})

    def row_count(self, schema: str, name: str) -> int:
        q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
        return self.conn.execute(q).fetchone()[0]

    def converted(self, schema: str, name: str) -> Converted | None:
        exists = self.conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]
        if not exists:
            return None
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT plan_id, table_schema, table_name, key_column, mode FROM keyshift.converted_table"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, name),
            )
            row = cur.fetchone()
        return _build(Converted, row) if row else None


@dataclass
class Snapshot:
    """Everything the planner needs, read in one pass: pure data, no connection."""

    targets: list[tuple[Table, KeyColumn]] = field(default_factory=list)
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    #: (schema, table, column) -> (root schema, root table); targets' keys map to themselves
    columns: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    column_types: dict[tuple[str, str, str], str] = field(default_factory=dict)
    fks: list[ForeignKey] = field(default_factory=list)
    dependents: dict[tuple[str, str, str], list[Dependent]] = field(default_factory=dict)
    indexes: dict[tuple[str, str], list[Index]] = field(default_factory=dict)
    row_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    lookalikes: list[dict] = field(default_factory=list)
    #: dependent views, in creation order (a view after every view it reads)
    views: list[View] = field(default_factory=list)
    #: (schema, table) of each target -> {column name: type}; for options naming a column
    target_columns: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


def snapshot(cat: Catalog, targets: list[tuple[Table, KeyColumn]]) -> Snapshot:
    """Follow foreign keys from the targets' keys to every column that must convert with them."""
    snap = Snapshot(targets=list(targets))
    queue: list[Table] = []
    for table, key in targets:
        snap.tables[table.key] = table
        col = (table.table_schema, table.table_name, key.column_name)
        snap.columns[col] = table.key
        snap.column_types[col] = key.data_type
        snap.target_columns[table.key] = cat.table_columns(table.relid)
        queue.append(table)
    seen_fk: set[int] = set()
    fk_cache: dict[int, list[ForeignKey]] = {}
    changed = True
    # Iterate to a fixed point: a column joins the set when an FK ties it to a converted column.
    while changed:
        changed = False
        for table in list(snap.tables.values()):
            if table.relid not in fk_cache:
                fk_cache[table.relid] = cat.foreign_keys(table.relid)
            for fk in fk_cache[table.relid]:
                for child_col, parent_col in zip(fk.child_columns, fk.parent_columns):
                    parent_key = (fk.parent_schema, fk.parent_table, parent_col)
                    child_key = (fk.child_schema, fk.child_table, child_col)
                    if parent_key in snap.columns and fk.child_relkind == "r":
                        # A column of a partition changes type only through the partitioned root.
                        child_table = snap.tables.get(fk.child) or cat.table(*fk.child)
                        if child_table is not None and child_table.root_table:
                            root = (child_table.root_schema, child_table.root_table)
                            child_key = (*root, child_col)
                            if root not in snap.tables:
                                snap.tables[root] = cat.table(*root)
                                changed = True
                    if parent_key in snap.columns and child_key not in snap.columns:
                        snap.columns[child_key] = snap.columns[parent_key]
                        snap.column_types[child_key] = fk.child_types[fk.child_columns.index(child_col)]
                        changed = True
                    if (parent_key in snap.columns or child_key in snap.columns) and fk.oid not in seen_fk:
                        seen_fk.add(fk.oid)
                        snap.fks.append(fk)
                        changed = True
                    for key in (fk.child, fk.parent):
                        if key not in snap.tables:
                            t = cat.table(*key)
                            if t is not None:
                                snap.tables[key] = t
                                changed = True
    # Only keep tables that actually hold a converted column or an FK we touch.
    touched = {(s, t) for (s, t, _c) in snap.columns} | {fk.child for fk in snap.fks} | {fk.parent for fk in snap.fks}
    snap.tables = {k: v for k, v in snap.tables.items() if k in touched}
    views: dict[int, View] = {}
    for (schema, name, column) in snap.columns:
        table = snap.tables[(schema, name)]
        snap.dependents[(schema, name, column)] = cat.dependents(table.relid, column)
        for view in cat.dependent_views(table.relid, column):
            views[view.oid] = view if view.oid not in views or views[view.oid].depth < view.depth else views[view.oid]
    snap.views = sorted(views.values(), key=lambda v: (v.depth, v.view_schema, v.view_name))
    for key, table in snap.tables.items():
        snap.row_counts[key] = cat.row_count(*key)
        cols = [c for (s, t, c) in snap.columns if (s, t) == key]
        snap.indexes[key] = cat.indexes(table.relid, cols) if cols else []
    names = sorted({n for t, _k in targets for n in _lookalike_names(t.table_name)})
    snap.lookalikes = [
        r for r in cat.key_lookalikes(names)
        if (r["table_schema"], r["table_name"], r["column_name"]) not in snap.columns
    ]
    return snap


def _lookalike_names(table_name: str) -> list[str]:
    last = table_name.split("_")[-1]
    return sorted({f"{table_name}_id", f"{last}_id"})
