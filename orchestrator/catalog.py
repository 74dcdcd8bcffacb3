"""Catalog: run sql/catalog/*.sql against the live database and return small dataclasses.

Queries run with ``search_path = pg_catalog`` so that every definition PostgreSQL prints
(pg_get_constraintdef, pg_get_viewdef) names user objects schema-qualified.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
import re

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator import SQL_DIR
from orchestrator.errors import Refused
from orchestrator.names import qualname, quote_part

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
    triggers: tuple = ()
    #: {"name", "comment"} of the view's indexes and triggers that have a comment
    index_comments: tuple = ()
    trigger_comments: tuple = ()

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

    def retargeted(self, table_ident: str) -> str:
        """The statement that creates this object on another table (the scratch copy)."""
        if self.kind == "index":
            return _replace_table(self.definition, " ON ", " USING ", self.table_ident, table_ident)
        if self.kind == "trigger":
            return _replace_table(self.definition, " ON ", " ", self.table_ident, table_ident)
        if self.kind == "policy":
            return policy_sql(self, table_ident)
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.SQL(table_ident), sql.Identifier(self.name), sql.SQL(self.definition)).as_string(None)


def _replace_table(definition: str, before: str, after: str, old: str, new: str) -> str:
    for only in ("", "ONLY "):
        needle = f"{before}{only}{old}{after}"
        if needle in definition:
            return definition.replace(needle, f"{before}{only}{new}{after}", 1)
    raise ValueError(f"cannot find table {old} in {definition!r}")


_POLICY_CMDS = {"ALL": "ALL", "SELECT": "SELECT", "INSERT": "INSERT", "UPDATE": "UPDATE", "DELETE": "DELETE"}


def policy_sql(p: Carried, table_ident: str) -> str:
    """CREATE POLICY from pg_policies' deparse: name, AS PERMISSIVE/RESTRICTIVE, FOR, TO, USING, WITH CHECK.

    Identifiers are quoted with psycopg; USING and WITH CHECK are PostgreSQL's own deparse.
    """
    roles = sql.SQL(", ").join(
        sql.SQL("PUBLIC") if r == "public" else sql.Identifier(r) for r in (p.roles or ("public",))
    )
    text = sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {}").format(
        sql.Identifier(p.name), sql.SQL(table_ident), sql.SQL("PERMISSIVE" if p.permissive else "RESTRICTIVE"),
        sql.SQL(_POLICY_CMDS[p.cmd]), roles,
    ).as_string(None)
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

    def carried(self, relid: int, column: str) -> list[Carried]:
        return [_build(Carried, r) for r in self._rows("column_carried", {"relid": relid, "column": column})]

    def key_functions(self, names: list[str], rowtypes: list[int]) -> list[dict]:
        return self._rows("key_functions", {"names": names, "rowtypes": rowtypes})

    def column_type(self, relid: int, column: str) -> str | None:
        rows = self._rows("column_type", {"relid": relid, "column": column})
        return rows[0]["data_type"] if rows else None

    def reference_orphans(self, column: tuple[str, str, str], target: tuple[str, str], key: str) -> int:
        """Rows whose value in ``column`` is no key of ``target``: they have no new key to become."""
        q = sql.SQL(
            "SELECT count(*) FROM {} AS c WHERE c.{} IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM {} AS t WHERE t.{} = c.{})"
        ).format(sql.Identifier(*column[:2]), sql.Identifier(column[2]), sql.Identifier(*target),
                 sql.Identifier(key), sql.Identifier(column[2]))
        return self.conn.execute(q).fetchone()[0]

    def column_defaults(self, relid: int, column: str) -> list[dict]:
        """The column's DEFAULT on the table and on each partition that has one (column_defaults.sql)."""
        return self._rows("column_defaults", {"relid": relid, "column": column})

    def rowtype_columns(self, relids: list[int]) -> list[dict]:
        """Columns anywhere that store rows of these tables (rowtype_columns.sql)."""
        return self._rows("rowtype_columns", {"relids": relids})

    def key_exists(self, target: tuple[str, str], key: str, value) -> bool:
        q = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s)").format(sql.Identifier(*target),
                                                                         sql.Identifier(key))
        return self.conn.execute(q, (value,)).fetchone()[0]

    def id_text_columns(self, names: list[str]) -> list[dict]:
        return self._rows("id_text_columns", {"names": names})

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
    #: constraints, indexes, triggers and policies carried across (column_carried.sql)
    carried: list[Carried] = field(default_factory=list)
    #: (carried object, PostgreSQL's error) for each one that does not accept uuid columns
    carried_failures: list[tuple[Carried, str]] = field(default_factory=list)
    #: carried object's oid -> the converted columns it uses, displayed (schema.table.column)
    carried_columns: dict[int, list[str]] = field(default_factory=dict)
    #: partition -> the converted columns of its root, for the scratch copies of the probe
    partition_columns: dict[tuple[str, str], set] = field(default_factory=dict)
    #: key_functions.sql rows: functions with integer key parameters or a target's row type
    key_functions: list[dict] = field(default_factory=list)
    #: id_text_columns.sql rows: text/json columns named like ids of a target
    id_text_columns: list[dict] = field(default_factory=list)
    #: --reference: (schema, table, column) -> target, declared by the user (no FK)
    references: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    #: --reference column -> rows whose value is no id of the target (counted at plan time)
    reference_orphans: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (schema, table) of each target -> {column name: type}; for options naming a column
    target_columns: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    #: converted column that is no target's key -> column_defaults.sql rows (table, partitions)
    column_defaults: dict[tuple[str, str, str], list[dict]] = field(default_factory=dict)
    #: converted column with an integer constant default -> whether its target has that key
    default_targets_exist: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    #: rowtype_columns.sql rows: columns that store rows of a table whose columns change type
    rowtype_columns: list[dict] = field(default_factory=list)


def snapshot(cat: Catalog, targets: list[tuple[Table, KeyColumn]], references=()) -> Snapshot:
    """Follow foreign keys from the targets' keys to every column that must convert with them.

    ``references`` are ((schema, table, column), (target schema, target table)) pairs the user
    declared with --reference: integer columns without an FK that hold a target's ids. They
    convert like FK columns; each is refused at plan time when it is not an integer column of
    an ordinary or partitioned table, or when FKs already convert it.
    """
    snap = Snapshot(targets=list(targets))
    queue: list[Table] = []
    for table, key in targets:
        snap.tables[table.key] = table
        col = (table.table_schema, table.table_name, key.column_name)
        snap.columns[col] = table.key
        snap.column_types[col] = key.data_type
        snap.target_columns[table.key] = cat.table_columns(table.relid)
        queue.append(table)
    keys = {t.key: k.column_name for t, k in targets}
    for col, target in references:
        shown = f"{qualname(*col[:2])}.{quote_part(col[2])}"
        table = snap.tables.get(col[:2]) or cat.table(*col[:2])
        if table is None or table.relkind not in ("r", "p"):
            raise Refused(f"--reference {shown}", f"{qualname(*col[:2])} is no table",
                          "name an ordinary or partitioned table (SCHEMA.TABLE.COLUMN)")
        if table.is_partition:
            raise Refused(f"--reference {shown}", "is a column of a partition",
                          "name the column of the partitioned table it belongs to")
        data_type = cat.column_type(table.relid, col[2])
        if data_type is None:
            raise Refused(f"--reference {shown}", "no such column", "check the column name (case-sensitive)")
        if data_type not in INTEGER_TYPES:
            raise Refused(f"--reference {shown}", f"is {data_type}, not an integer column",
                          "only integer columns can follow an integer key to uuid")
        if col in snap.columns:
            raise Refused(f"--reference {shown}", "is a key keyshift converts already",
                          "leave it out of --reference")
        snap.tables[table.key] = table
        snap.columns[col] = target
        snap.column_types[col] = data_type
        snap.references[col] = target
        if target in keys:  # else plan.build refuses: the target is not converted by this plan
            snap.reference_orphans[col] = cat.reference_orphans(col, target, keys[target])
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
                    if child_key in snap.references and parent_key in snap.columns:
                        raise Refused(f"--reference {qualname(*child_key[:2])}.{quote_part(child_key[2])}",
                                      f"foreign key {fk.name} converts it already",
                                      "leave it out of --reference")
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
    target_cols = {(*t.key, k.column_name) for t, k in targets}
    for col, root in snap.columns.items():
        if col in target_cols:
            continue  # a key's own default is the key's (KeyColumn.default_expr)
        rows = cat.column_defaults(snap.tables[col[:2]].relid, col[2])
        if rows:
            snap.column_defaults[col] = rows
            value = rows[0]["constant_value"]
            if rows[0]["level"] == 0 and value is not None and root in keys:
                snap.default_targets_exist[col] = cat.key_exists(root, keys[root], value)
    with_columns = sorted({(s, t) for (s, t, _c) in snap.columns})
    snap.rowtype_columns = cat.rowtype_columns([snap.tables[k].relid for k in with_columns])
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
    carried: dict[int, Carried] = {}
    for (schema, name, column) in snap.columns:
        for obj in cat.carried(snap.tables[(schema, name)].relid, column):
            carried.setdefault(obj.oid, obj)
            snap.carried_columns.setdefault(obj.oid, []).append(f"{qualname(schema, name)}.{quote_part(column)}")
            if obj.on_partition:
                snap.partition_columns.setdefault(obj.table, set()).add(column)
    snap.carried = sorted(carried.values(), key=lambda o: (o.table_schema, o.table_name, o.kind, o.name))
    snap.carried_failures = probe_carried(cat.conn, snap)
    rowtypes = [r[0] for r in (
        cat.conn.execute("SELECT reltype FROM pg_class WHERE oid = %s", (t.relid,)).fetchone() for t, _k in targets
    )]
    snap.key_functions = cat.key_functions(names, rowtypes)
    doc_names = sorted({n for t, _k in targets for n in _document_names(t.table_name)})
    snap.id_text_columns = cat.id_text_columns(doc_names)
    return snap


def _document_names(table_name: str) -> list[str]:
    """Names a text or json column holding ids of this table might have: user_id, user_ids, users."""
    last = table_name.split("_")[-1]
    out = set(_lookalike_names(table_name))
    out |= {f"{n}s" for n in out} | {table_name, last, f"{table_name}s", f"{last}s"}
    return sorted(out)


def probe_carried(conn: psycopg.Connection, snap: Snapshot) -> list[tuple[Carried, str]]:
    """Try every carried object against uuid columns, on empty scratch copies, and roll back.

    For each table that owns a carried object: ``CREATE TEMP TABLE copy (LIKE table)`` (no rows,
    no constraints), its converted columns altered to uuid, then each object created on the copy
    from its own definition, each in a savepoint. An object that PostgreSQL refuses there (CHECK
    (id > 0), WHERE id > 100, a policy comparing the key with an integer, an opclass without uuid
    support) would fail the real migration the same way, so plan refuses it first. Nothing
    persists: the whole probe is one transaction that is rolled back.
    """
    failures: list[tuple[Carried, str]] = []
    if not snap.carried:
        return failures
    with conn.transaction(force_rollback=True):
        # One empty copy per table that holds a converted column or a carried object.
        copies: dict[tuple[str, str], str] = {}
        idents: dict[str, str] = {}  # the table as PostgreSQL prints it -> its copy
        wanted = sorted({(s, t) for (s, t, _c) in snap.columns} | {o.table for o in snap.carried})
        for table in wanted:
            copy = sql.Identifier("pg_temp", f"keyshift_probe_{len(copies)}")
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(copy, sql.Identifier(*table)))
            except psycopg.Error as exc:
                raise Refused(
                    f"table {qualname(*table)}",
                    "plan could not make an empty scratch copy of it to try its constraints, indexes, triggers "
                    f"and policies on uuid ({exc.diag.message_primary or exc})",
                    "plan as a role that may create temporary tables (GRANT TEMP ON DATABASE ...) and read it",
                ) from None
            converted = {c for (s, t, c) in snap.columns if (s, t) == table} | snap.partition_columns.get(table, set())
            for column in sorted(converted):
                conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE uuid USING NULL").format(
                    copy, sql.Identifier(column)))
            copies[table] = copy.as_string(conn)
            idents[conn.execute("SELECT format('%%I.%%I', %s::text, %s::text)", table).fetchone()[0]] = copies[table]
        for obj in snap.carried:
            text = obj.retargeted(copies[obj.table])
            # A subquery on another converted table must see that table's uuid columns too.
            for ident, copy in idents.items():
                text = re.sub(rf'(?<![\w$."]){re.escape(ident)}(?![\w$"])', lambda _m, c=copy: c, text)
            try:
                with conn.transaction():
                    conn.execute(text.encode())
            except psycopg.Error as exc:
                message = exc.diag.message_primary or str(exc).splitlines()[0]
                failures.append((obj, message))
    return failures


def _lookalike_names(table_name: str) -> list[str]:
    last = table_name.split("_")[-1]
    names = {f"{table_name}_id", f"{last}_id"}
    if last.endswith("s") and len(last) > 1:  # users -> user_id
        names.add(f"{last[:-1]}_id")
    return sorted(names)
