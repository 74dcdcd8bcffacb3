"""The plan: targets, the columns that move with them, and the names keyshift will create."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from orchestrator.catalog.model import ForeignKey, KeyColumn, Table
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.plan.options import NAME_LIMIT, SLUG_DEFAULT, Options


@dataclass(frozen=True)
class Target:
    table: Table
    key: KeyColumn
    map_table: str
    rows: int
    uuid_version: str = "v4"
    timestamp_column: str | None = None
    timestamp_type: str | None = None
    slug_column: str | None = None
    slug_length: int = SLUG_DEFAULT

    @property
    def time_ordered(self) -> bool:
        return self.uuid_version in ("v7", "v6")

    @property
    def salt(self) -> str:
        """Distinguishes tables under one per-transaction key: equal ids of two tables differ."""
        return f"{self.table.table_schema}.{self.table.table_name}:"


@dataclass(frozen=True)
class Column:
    table_schema: str
    table_name: str
    column_name: str
    old_type: str
    root: tuple[str, str]
    map_table: str
    is_key: bool
    #: a non-key column's DEFAULT, an integer constant (an id of its target): dropped before
    #: the type change, set to that id's new uuid after it, restored on rollback
    default_expr: str | None = None
    default_value: int | None = None

    @property
    def table(self) -> tuple[str, str]:
        return (self.table_schema, self.table_name)

    @property
    def display(self) -> str:
        return f"{qualname(self.table_schema, self.table_name)}.{self.column_name}"


@dataclass
class Plan:
    plan_id: str
    options: Options
    targets: list[Target]
    columns: list[Column]
    tables: list[Table]  # every touched table, parents before children (lock order)
    fks: list[ForeignKey]
    row_counts: dict[tuple[str, str], int]
    indexes: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    views: list = field(default_factory=list)  # catalog.View, in creation order
    carried: list = field(default_factory=list)  # catalog.Carried: constraints, indexes, triggers, policies
    #: carried object's oid -> the converted columns it uses, displayed (schema.table.column)
    carried_columns: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)  # --reference column -> target, no FK behind it
    # Filled by orchestrator.plan.external.validate: external.ExternalColumn, Restart, Session.
    external_columns: list = field(default_factory=list)
    restarts: list = field(default_factory=list)
    sessions: list = field(default_factory=list)
    #: plan/polymorphic.py's Polymorphic: generic relations whose ids follow the targets
    polymorphic: list = field(default_factory=list)

    def target_of(self, root: tuple[str, str]) -> Target:
        return next(t for t in self.targets if t.table.key == root)

    def columns_of(self, table: tuple[str, str]) -> list[Column]:
        return [c for c in self.columns if c.table == table]


def lock_order(plan: Plan) -> list[tuple[str, str]]:
    """Every table the plan locks, in the one order it locks them: parents before children
    (replace mode: every touched table, then the tables of generic relations it remaps; external
    mode: the targets, then the session tables).
    The LOCK TABLE statement, the migrate and rollback lock-up-front, and the manifest all read
    this list, never the text of a LOCK TABLE statement."""
    if plan.options.mode == "external":
        keys = [t.table.key for t in plan.targets] + [s.key for s in plan.sessions]
    else:
        keys = [t.key for t in plan.tables] + [p.table for p in plan.polymorphic]
    return list(dict.fromkeys(keys))


def sequences_and_views(plan: Plan) -> list[tuple[str, str]]:
    """The key sequences and the views the plan locks after its tables (lock_order), in this
    order: each target's key sequence, then the views and materialized views it drops and
    creates again, in creation order. migrate takes these locks with the tables', before it
    changes anything, so that an application transaction holding one (a nextval() not yet
    committed, a query on the view) is waited for before the rewrite, never after it."""
    keys = [(t.key.seq_schema, t.key.seq_name) for t in plan.targets if t.key.seq_schema and t.key.seq_name]
    keys += [(v.view_schema, v.view_name) for v in plan.views]
    return list(dict.fromkeys(keys))


def short_name(prefix: str, *parts: str) -> str:
    """A deterministic identifier within 63 bytes; a hash keeps truncated names unique."""
    raw = prefix + "__".join(parts)
    if len(raw.encode()) <= NAME_LIMIT:
        return raw
    digest = hashlib.md5(raw.encode()).hexdigest()[:8]
    cut = raw.encode()[: NAME_LIMIT - 9].decode("utf-8", errors="ignore")
    return f"{cut}_{digest}"


def map_table_name(schema: str, table: str) -> str:
    """keyshift.map_SCHEMA__TABLE, unique for every (schema, table).

    The plain name is kept when it can be read back one way only; when a part holds ``__`` or
    an underscore touches the separator ("a__b"."c" and "a"."b__c" both read map_a__b__c), a
    hash of the exact pair is appended, so no two tables ever share a mapping table.
    """
    if "__" in schema or "__" in table or schema.endswith("_") or table.startswith("_"):
        raw = f"map_{schema}__{table}"
        digest = hashlib.md5(f"{schema}\0{table}".encode()).hexdigest()[:8]
        cut = raw.encode()[: NAME_LIMIT - 9].decode("utf-8", errors="ignore")
        return f"{cut}_{digest}"
    return short_name("map_", schema, table)


def slug_constraint_name(table: str, column: str) -> str:
    """PostgreSQL's own naming of a UNIQUE constraint (table_column_key), within 63 bytes."""
    return short_name(f"{table}_{column}_key")


def check_generated_names(plan: Plan, taken: set) -> None:
    """Refuse a name keyshift would create that exists already, or that two objects would share.

    ``taken``: (schema, name) pairs in use, read at plan time (external.read_facts): relations
    in the schema, or constraints of the table that would get the name.
    """
    seen: dict[tuple[str, str], str] = {}
    wanted = [("keyshift", t.map_table, f"mapping table of {t.table.display}", "") for t in plan.targets]
    wanted += [
        (
            t.table.table_schema,
            slug_constraint_name(t.table.table_name, t.slug_column),
            f"UNIQUE constraint of slug column {t.table.display}.{t.slug_column}",
            "choose another --slug-column name, or rename that object",
        )
        for t in plan.targets
        if t.slug_column
    ]
    for schema, name, what, fix in wanted:
        shown = qualname(schema, name)
        if (schema, name) in taken:
            raise Refused(
                shown,
                f"the name keyshift would give the {what} is taken",
                fix or "rename or drop that object (an old keyshift table?), then plan again",
            )
        if (schema, name) in seen:
            raise Refused(
                shown,
                f"keyshift would give this name to both the {seen[(schema, name)]} and the {what}",
                fix or "convert these tables in separate plans",
            )
        seen[(schema, name)] = what
