"""Plan: a catalog snapshot in, an ordered conversion out. Pure: no I/O, easy to test.

``make_plan`` is the whole of it: the refusals of plan/safety.py, ``build`` and external
mode's ``validate``, all decided on the snapshot and its facts. ``build`` validates every
target and everything that must move with it. Each raises ``Refused`` (exit 3) naming the
object, the reason and the fix before anything is written.
"""

from __future__ import annotations

from orchestrator.catalog import INTEGER_TYPES, ForeignKey, Snapshot, Table
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.plan import evidence, external, functions, polymorphic, references, safety
from orchestrator.plan.key_options import resolve_key_options
from orchestrator.plan.model import Column, Plan, Target, map_table_name
from orchestrator.plan.options import (
    MODES,
    NAME_LIMIT,
    UUID_VERSIONS,
    Options,
    validate_options,
)

#: What a relation that is no ordinary table is, by pg_class.relkind.
_RELKINDS = {
    "v": "a view",
    "m": "a materialized view",
    "f": "a foreign table",
    "p": "a partitioned table",
    "S": "a sequence",
    "c": "a composite type",
    "i": "an index",
}


def validate_target(name: tuple[str, str], table: Table | None, converted_plan: str | None) -> str | None:
    """Refuse a target keyshift cannot convert. Returns 'done' when it was converted already."""
    shown = qualname(*name)
    if table is None:
        too_long = [p for p in name if len(p.encode()) > NAME_LIMIT]
        raise Refused(
            f"table {shown}",
            "does not exist"
            + (
                f" (PostgreSQL names hold at most {NAME_LIMIT} bytes; {too_long[0][:20]}... has "
                f"{len(too_long[0].encode())} bytes)"
                if too_long
                else ""
            ),
            "check the schema-qualified name (names are case-sensitive; quote mixed case)",
        )
    if table.relkind != "r":
        raise Refused(
            f"table {shown}",
            f"is {_RELKINDS.get(table.relkind, 'not a table')}",
            "name the ordinary table that owns the primary key",
        )
    if table.persistence == "t":
        raise Refused(f"table {shown}", "is a temporary table", "convert a permanent table")
    if table.is_partition or table.has_parent:
        raise Refused(
            f"table {shown}",
            "inherits from another table (partition or inheritance child)",
            "convert the parent table instead",
        )
    if table.has_children:
        raise Refused(
            f"table {shown}",
            "has inheritance children, whose keys would change type with it",
            "detach the children first, or convert them separately",
        )
    return _validate_key(shown, table, converted_plan)


def _validate_key(shown: str, table: Table, converted_plan: str | None) -> str | None:
    """Refuse a table whose primary key is not one integer column; 'done' when it is a converted uuid."""
    if not table.pk_columns:
        raise Refused(
            f"table {shown}",
            "has no primary key",
            "add a primary key on an integer column first; keyshift converts primary keys",
        )
    if len(table.pk_columns) > 1:
        raise Refused(
            f"table {shown}",
            f"has a composite primary key ({', '.join(table.pk_columns)})",
            "keyshift converts single-column integer keys; convert the tables it references instead",
        )
    pk_type = table.pk_types[0]
    if pk_type == "uuid":
        if converted_plan:
            return "done"
        raise Refused(
            f"table {shown}",
            f"its primary key {table.pk_columns[0]} is already a uuid",
            "nothing to convert; leave it out of --table",
        )
    if pk_type not in INTEGER_TYPES:
        raise Refused(
            f"table {shown}",
            f"its primary key {table.pk_columns[0]} is {pk_type}, not an integer",
            "keyshift converts smallint, integer and bigint keys",
        )
    return None


def make_plan(snap: Snapshot, options: Options, plan_id: str) -> Plan:
    """The plan for ``snap`` (read with a catalog.Request) and ``options``, or Refused: the
    --reference columns, the tables the role cannot alter, the safety refusals, then the
    conversion's, then external mode's and v6's."""
    mode_snap = external.targets_only(snap) if options.mode == "external" else snap
    references.refuse_references(snap)
    safety.not_owned(mode_snap)
    safety.refuse_unsafe(mode_snap, options.mode)
    the_plan = build(mode_snap, options, plan_id)
    external.validate(the_plan, external.facts_of(snap, options))
    # uuid versions are known only now, per table (--uuid, --uuid-for, yoyo.ini)
    safety.v6_id_range(snap.facts, [t for t in the_plan.targets if t.uuid_version == "v6"])
    return the_plan


def _refuse_shared_key_sequence(targets: list[Target]) -> None:
    """Two targets drawing their keys from one sequence: one plan would drop it while the other
    still needs it, and rollback could not restore it for both. Separate plans can."""
    seen: dict[tuple[str, str], Target] = {}
    for t in targets:
        if not t.key.seq_name:
            continue
        seq = (t.key.seq_schema, t.key.seq_name)
        if seq in seen:
            first = seen[seq]
            raise Refused(
                f"sequence {qualname(*seq)}",
                f"gives the keys of both {first.table.display} and {t.table.display}, which this plan converts together",
                f"convert them in separate plans: plan and migrate --table {first.table.display}, "
                f"then plan --table {t.table.display}",
            )
        seen[seq] = t


def build(snap: Snapshot, options: Options, plan_id: str) -> Plan:
    """Validate the snapshot and order the conversion. Raises Refused; never touches a database."""
    if options.mode not in MODES:
        raise Refused("--mode", f"unknown mode {options.mode!r}", f"choose one of {', '.join(MODES)}")
    if options.uuid not in UUID_VERSIONS:
        raise Refused("--uuid", f"unknown version {options.uuid!r}", f"choose one of {', '.join(UUID_VERSIONS)}")
    validate_options(options)

    targets = [
        Target(table=t, key=k, map_table=map_table_name(*t.key), rows=snap.row_counts[t.key]) for t, k in snap.targets
    ]
    targets = resolve_key_options(snap, options, targets)
    if options.mode != "external":
        _refuse_shared_key_sequence(targets)
    target_keys = {t.table.key for t in targets}
    _refuse_columns(snap)
    _refuse_blockers(snap, targets, target_keys)
    functions.refuse(snap)
    defaults = {
        col: _checked_default(snap, col, root, target_keys)
        for col, root in snap.columns.items()
        if col in snap.column_defaults
    }
    order = _parents_first(list(snap.tables.values()), snap.fks, target_keys)
    columns = _columns(snap, targets, order, defaults)
    generic = polymorphic.resolve(snap, options, targets)
    remapped = {(*p.table, p.id_column) for p in generic}
    warnings = _warnings(snap, targets, options, remapped) + functions.warnings(snap)
    return Plan(
        plan_id=plan_id,
        options=options,
        targets=targets,
        columns=columns,
        tables=order,
        fks=list(snap.fks),
        row_counts=dict(snap.row_counts),
        indexes=dict(snap.indexes),
        warnings=warnings,
        views=list(snap.views),
        carried=list(snap.carried),
        carried_columns=dict(snap.carried_columns),
        references=dict(snap.references),
        polymorphic=generic,
    )


def _refuse_columns(snap: Snapshot) -> None:
    """Every converted column must be an integer, follow exactly one target, and have no dependent
    object this version cannot carry."""
    for (schema, name, column), old_type in snap.column_types.items():
        if old_type not in INTEGER_TYPES:
            raise Refused(
                f"column {qualname(schema, name)}.{column}",
                f"is {old_type}, and a foreign key ties it to a converted key",
                "only integer columns can follow an integer key to uuid",
            )
    for fk in snap.fks:
        roots = set()
        for child_col, parent_col in zip(fk.child_columns, fk.parent_columns):
            child_key = (fk.child_schema, fk.child_table, child_col)
            parent_key = (fk.parent_schema, fk.parent_table, parent_col)
            if child_key in snap.columns and parent_key not in snap.columns:
                raise Refused(
                    f"foreign key {fk.name} on {qualname(*fk.child)}",
                    f"column {child_col} would become uuid but references "
                    f"{qualname(*fk.parent)}.{parent_col}, which stays {_type_of(snap, parent_key)}",
                    f"add --table {qualname(*fk.parent)} so that both sides convert together",
                )
            if parent_key in snap.columns:
                roots.add(snap.columns[parent_key])
    for (schema, name, column), deps in snap.dependents.items():
        if deps:
            listed = "; ".join(f"{d.kind} {d.object_name}" for d in deps)
            raise Refused(
                f"column {qualname(schema, name)}.{column}",
                f"is used by objects this version cannot carry across the type change: {listed}",
                "drop and recreate them around the conversion, or wait for support of these object kinds",
            )


def _refuse_blockers(snap: Snapshot, targets: list[Target], target_keys: set) -> None:
    """Stored row types and --reference columns that cannot convert."""
    for row in snap.rowtype_columns:
        kind = "attribute of type" if row["relkind"] == "c" else "column"
        raise Refused(
            f"{kind} {qualname(row['table_schema'], row['table_name'])}.{row['column_name']} ({row['data_type']})",
            f"stores rows of {qualname(row['rowtype_schema'], row['rowtype_table'])}, whose columns change type, "
            "and PostgreSQL cannot alter a table whose row type is stored in another column",
            "drop that column or change its type (e.g. store the key instead), then plan again",
        )
    for col, target in snap.references.items():
        if target not in target_keys:
            raise Refused(
                f"--reference {qualname(*col[:2])}.{col[2]}",
                f"names {qualname(*target)}, which this plan does not convert",
                f"add --table {qualname(*target)}, or leave the --reference out",
            )
        orphans = snap.reference_orphans.get(col, 0)
        if orphans:
            key = next(t.key.column_name for t in targets if t.table.key == target)
            raise Refused(
                f"--reference {qualname(*col[:2])}.{col[2]}",
                f"{orphans} row(s) hold a value that is no {key} of {qualname(*target)}: there is no new key "
                "to convert them to, and keyshift never invents one",
                f"fix or delete those rows (or set them NULL), e.g. SELECT * FROM {qualname(*col[:2])} WHERE "
                f"{col[2]} NOT IN (SELECT {key} FROM {qualname(*target)}), then plan again",
            )


def _columns(snap: Snapshot, targets: list[Target], order: list[Table], defaults: dict) -> list[Column]:
    """Every converted column, parents' tables first, each with the mapping it converts through."""
    target_keys = {t.table.key for t in targets}
    maps = {t.table.key: t.map_table for t in targets}
    columns: list[Column] = []
    for table in order:
        for (schema, name, column), root in sorted(snap.columns.items(), key=lambda kv: kv[0]):
            if (schema, name) != table.key:
                continue
            columns.append(
                Column(
                    table_schema=schema,
                    table_name=name,
                    column_name=column,
                    old_type=snap.column_types[(schema, name, column)],
                    root=root,
                    map_table=maps[root],
                    is_key=(schema, name) in target_keys
                    and root == (schema, name)
                    and column == next(t.key.column_name for t in targets if t.table.key == root),
                    **defaults.get((schema, name, column), {}),
                )
            )
    return columns


def _warnings(snap: Snapshot, targets: list[Target], options: Options, remapped: set) -> list[str]:
    """What the catalog cannot prove: references without an FK, functions, ids in text (but the id
    columns of the generic relations the plan remaps), guessable keys."""
    warnings = evidence.reference_warnings(snap, targets, remapped) + evidence.polymorphic_warnings(
        snap, targets, options, remapped
    )
    warnings += [
        f"function {r['signature']} {r['reason']}: it may look up rows of a converted table by the old "
        f"integer key, or hand out its rows; review it for uuid keys"
        for r in snap.key_functions
    ]
    warnings += evidence.id_text_warnings(snap, remapped) + evidence.session_warnings(snap, targets, options)
    warnings += [
        f"{t.table.display}: {t.uuid_version} keys of existing rows without --timestamp-column carry their old "
        f"ids' order and differences in the time field: whoever knows one row's old id can compute every "
        f"other row's; use --timestamp-column {t.table.display}.<created column>, or v4, to hide the old ids"
        for t in targets
        if t.time_ordered and not t.timestamp_column and t.rows
    ]
    return warnings


def _checked_default(snap: Snapshot, col: tuple[str, str, str], root: tuple[str, str], target_keys: set) -> dict:
    """A converted column's DEFAULT: an integer id of its target converts with it; anything else is refused.

    ALTER ... TYPE uuid cannot cast an integer default, so plan decides here, not migrate.
    """
    rows = snap.column_defaults[col]
    shown = f"column {qualname(*col[:2])}.{col[2]}"
    top = rows[0] if rows[0]["level"] == 0 else None
    for row in rows:
        if row["level"] > 0 and (top is None or row["default_expr"] != top["default_expr"]):
            raise Refused(
                f"column {qualname(row['table_schema'], row['table_name'])}.{col[2]}",
                f"is a partition's copy of {qualname(*col[:2])}.{col[2]}, which becomes uuid, with a default of its "
                f"own ({row['default_expr']}) that cannot become uuid",
                "drop that default on the partition (ALTER TABLE ... ALTER COLUMN ... DROP DEFAULT), then plan again",
            )
    if top is None:
        return {}
    expr, value = top["default_expr"], top["constant_value"]
    drop = (
        f"drop the default (ALTER TABLE {qualname(*col[:2])} ALTER COLUMN {col[2]} DROP DEFAULT), plan and "
        "migrate, then set a uuid default if one is needed"
    )
    if not top["is_constant"] or value is None:
        raise Refused(
            shown,
            f"becomes uuid, and its default {expr} is not an integer constant that keyshift can "
            "turn into the matching uuid",
            drop,
        )
    if root not in target_keys or not snap.default_targets_exist.get(col, False):
        raise Refused(
            shown,
            f"becomes uuid, and its default {expr} is no key of {qualname(*root)}: it has no new uuid to become",
            drop,
        )
    return {"default_expr": expr, "default_value": int(value)}


def _type_of(snap: Snapshot, key: tuple[str, str, str]) -> str:
    return snap.column_types.get(key, "an integer")


def _parents_first(tables: list[Table], fks: list[ForeignKey], targets: set) -> list[Table]:
    """Topological order by FK (referenced before referencing); ties keep targets first."""
    by_key = {t.key: t for t in tables}
    deps = {t.key: set() for t in tables}
    for fk in fks:
        if fk.child != fk.parent and fk.child in deps and fk.parent in deps:
            deps[fk.child].add(fk.parent)
    ordered: list[Table] = []
    done: set = set()
    pending = sorted(by_key, key=lambda k: (k not in targets, k))
    while pending:
        ready = [k for k in pending if deps[k] <= done] or pending[:1]  # a cycle: take the first
        k = ready[0]
        ordered.append(by_key[k])
        done.add(k)
        pending.remove(k)
    return ordered
