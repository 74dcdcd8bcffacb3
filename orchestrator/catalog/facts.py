"""The snapshot a plan is made from, and the facts its refusals are decided on: pure data.

``Snapshot`` holds what the plan converts (targets, the columns and foreign keys that follow
them, views and carried objects); ``Facts`` holds what plan/safety.py and plan/external.py
refuse on (owners, privileges, publications, shared sequences, orphan rows, id ranges, what
schema keyshift holds, the names a plan would create). ``Request`` says which of those facts
one plan needs. catalog/survey.py and catalog/gather.py read them; nothing here reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.catalog.model import Carried, Dependent, ForeignKey, Index, KeyColumn, Table, View


@dataclass(frozen=True)
class Relation:
    """A relation the conversion alters (ownership.sql): its owner and whether the role may alter it."""

    rel_schema: str
    rel_name: str
    relkind: str
    owner: str
    current_role_name: str
    can_alter: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.rel_schema, self.rel_name)


@dataclass(frozen=True)
class CreatePrivileges:
    """What migrate must be allowed to create (create_privileges.sql, on yoyo's search_path)."""

    current_role_name: str
    database_name: str
    bookkeeping_schema: str | None
    keyshift_exists: bool
    keyshift_owned: bool
    can_create_schema: bool
    can_create_tables: bool
    yoyo_exists: bool


@dataclass(frozen=True)
class Publication:
    """A publication that publishes a touched table (publications.sql)."""

    pubname: str
    all_tables: bool
    table_schema: str
    table_name: str


@dataclass(frozen=True)
class SequenceUser:
    """A column whose default draws from a sequence (sequence_users.sql)."""

    table_schema: str
    table_name: str
    column_name: str


@dataclass(frozen=True)
class FunctionUse:
    """One thing a function body does with a converted key (function_bodies.sql, read by
    catalog/function_uses.py): ``strong`` when the function fails on uuid keys as it runs,
    else it may (a variable of the key's type whose uses the body does not show)."""

    signature: str
    finding: str
    strong: bool = True


@dataclass(frozen=True)
class KeyshiftFunction:
    """A routine in schema keyshift (keyshift_functions.sql): name, input argument types, kind."""

    name: str
    args: str
    prokind: str


@dataclass(frozen=True)
class KeyshiftSchema:
    """Schema keyshift: whether it exists and is keyshift's (keyshift_schema.sql), and what it holds."""

    schema_exists: bool = False
    marker_ok: bool = False
    registry_ok: bool = False
    #: relation name -> pg_class.relkind
    relations: dict[str, str] = field(default_factory=dict)
    #: types that are no row type and no array type
    types: frozenset[str] = frozenset()
    functions: tuple[KeyshiftFunction, ...] = ()
    #: mapping table a rollback kept -> (plan id, table schema, table name, rolled back at, UTC)
    kept_mappings: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionTable:
    """An --invalidate-sessions table: the table (None: no such relation), the foreign keys that
    reference it (shown "name on table"), its rows."""

    table: Table | None
    referencing: tuple[str, ...] = ()
    rows: int = 0


@dataclass(frozen=True)
class ReferenceColumn:
    """A --reference column as the catalog found it: its table (None: no such relation) and its
    type (None: no such column, or the relation is no table)."""

    table: Table | None
    data_type: str | None = None


@dataclass(frozen=True)
class PolymorphicColumns:
    """A type/id pair of a generic relation as the catalog found it (--polymorphic, or Django's
    django_admin_log found beside django_content_type): its table (None: no such relation), the
    types of its two columns (None: no such column), and per distinct type value (as text, None
    for NULL) the rows whose id is not NULL. ``content_types``: Django's (id as text, app_label,
    model) rows when the pair is the admin log's; ``detected``: found by keyshift, not named; ``relation``: whether the role may alter it."""

    table: Table | None
    type_type: str | None = None
    id_type: str | None = None
    type_counts: tuple[tuple[str | None, int], ...] = ()
    content_types: tuple[tuple[str, str, str], ...] = ()
    detected: bool = False
    #: the table's owner and whether the role may alter it (ownership.sql); None: no table
    relation: Relation | None = None


@dataclass(frozen=True)
class Request:
    """What one plan asks the catalog besides the snapshot: the mode and the names it would create."""

    #: yoyo's bookkeeping table (its existence spares the CREATE privilege on the schema)
    migration_table: str
    mode: str = "replace"
    keyshift: KeyshiftSchema = field(default_factory=KeyshiftSchema)
    #: (schema, name) of relations whose name the plan would take
    relations: tuple[tuple[str, str], ...] = ()
    #: (schema, table, name) of constraints the plan would add to a target
    constraints: tuple[tuple[str, str, str], ...] = ()
    #: targets whose key sequence's position is read (--restart-sequence)
    sequence_positions: tuple[tuple[str, str], ...] = ()
    #: --invalidate-sessions tables
    sessions: tuple[tuple[str, str], ...] = ()
    #: --polymorphic pairs: (schema, table, type column, id column)
    polymorphic: tuple[tuple[str, str, str, str], ...] = ()
    #: whether Django's django_admin_log beside django_content_type in a target's schema is read
    django_admin_log: bool = False


@dataclass(frozen=True)
class Facts:
    """What the refusals of one plan are decided on, read with its snapshot (catalog/gather.py)."""

    keyshift: KeyshiftSchema = field(default_factory=KeyshiftSchema)
    #: touched tables, dependent views and the targets' key sequences, in ownership.sql's order
    relations: tuple[Relation, ...] = ()
    #: False when a table the plan locks is not the role's to alter: rows were not read then
    rows_read: bool = True
    create: CreatePrivileges | None = None
    #: publications of touched tables, in publications.sql's order
    publications: tuple[Publication, ...] = ()
    #: (sequence schema, name) of a target's key sequence -> the columns whose default uses it
    sequence_users: dict[tuple[str, str], tuple[SequenceUser, ...]] = field(default_factory=dict)
    #: NOT VALID foreign key's oid -> rows that reference no row of its parent
    orphans: dict[int, int] = field(default_factory=dict)
    #: target -> (min, max) of its key; (None, None) when it has no rows
    id_ranges: dict[tuple[str, str], tuple] = field(default_factory=dict)
    #: of Request.relations and Request.constraints, those that exist
    taken_relations: frozenset[tuple[str, str]] = frozenset()
    taken_constraints: frozenset[tuple[str, str, str]] = frozenset()
    #: target -> (last_value, is_called) of its key sequence
    sequence_positions: dict[tuple[str, str], tuple] = field(default_factory=dict)
    sessions: dict[tuple[str, str], SessionTable] = field(default_factory=dict)


@dataclass(frozen=True)
class ValueCount:
    """An integer column's non-null values, read whole or sampled, and how many of them are keys
    of each converted table (catalog/measure.py). ``skipped`` says why a column was not measured."""

    column: tuple[str, str, str]
    values: int = 0
    distinct: int = 0
    #: ((target schema, target table), how many of the values are its keys), one per target
    found: tuple = ()
    #: TABLESAMPLE SYSTEM's percent when the table was sampled; None when read from the start
    sample_percent: float | None = None
    #: the values read stopped at the bound (catalog/measure.ROW_LIMIT)
    bounded: bool = False
    skipped: str = ""


@dataclass(frozen=True)
class TypeValues:
    """A type/id pair found by its names (``<x>_type`` beside ``<x>_id``, no --polymorphic) and
    its type values (catalog/measure.py): per distinct value (as text, None for NULL) the rows
    whose id is not NULL, the first ``measure.TYPE_LIMIT`` in value order; ``more``: it holds more
    distinct values than those; ``skipped`` says why its values were not read."""

    pair: tuple[str, str, str, str]
    type_counts: tuple[tuple[str | None, int], ...] = ()
    more: bool = False
    skipped: str = ""


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
    #: reference_candidates.sql rows: columns that may hold ids of a target with no FK saying so
    reference_candidates: list[dict] = field(default_factory=list)
    #: each integer candidate measured against the targets' keys (catalog/measure.py)
    value_counts: list[ValueCount] = field(default_factory=list)
    #: each type/id pair found by name (no --polymorphic) with its type values (catalog/measure.py)
    type_values: list[TypeValues] = field(default_factory=list)
    #: django_sessions.sql rows: Django's database session tables
    django_sessions: list[tuple[str, str]] = field(default_factory=list)
    #: dependent views, in creation order (a view after every view it reads)
    views: list[View] = field(default_factory=list)
    #: constraints, indexes, triggers and policies carried across (column_carried.sql)
    carried: list[Carried] = field(default_factory=list)
    #: carried object's oid -> the converted columns it uses, displayed (schema.table.column)
    carried_columns: dict[int, list[str]] = field(default_factory=dict)
    #: key_functions.sql rows: functions with integer key parameters or a target's row type
    key_functions: list[dict] = field(default_factory=list)
    #: what function bodies do with a converted key (function_bodies.sql, catalog/function_uses.py)
    function_uses: list[FunctionUse] = field(default_factory=list)
    #: id_text_columns.sql rows: text/json columns named like ids of a target
    id_text_columns: list[dict] = field(default_factory=list)
    #: --reference: (schema, table, column) -> target, declared by the user (no FK)
    references: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    #: every --reference column, in the order given -> what the catalog found
    reference_columns: dict[tuple[str, str, str], ReferenceColumn] = field(default_factory=dict)
    #: --reference column that a foreign key converts already -> that foreign key's name
    reference_conflicts: dict[tuple[str, str, str], str] = field(default_factory=dict)
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
    #: table_columns.sql rows of every touched table: the columns the drift fingerprint covers
    shape_columns: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    #: (schema, table, type column, id column) -> that generic relation's columns and type values
    polymorphic: dict[tuple[str, str, str, str], PolymorphicColumns] = field(default_factory=dict)
    #: what the plan-time refusals are decided on (read only when a Request asks)
    facts: Facts = field(default_factory=Facts)
