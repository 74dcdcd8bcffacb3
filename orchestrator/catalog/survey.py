"""The snapshot: what a plan needs to know about its tables, read once."""

from __future__ import annotations

from orchestrator.catalog import gather, measure
from orchestrator.catalog.facts import ReferenceColumn, Request, Snapshot
from orchestrator.catalog.function_uses import function_uses
from orchestrator.catalog.model import INTEGER_TYPES, Carried, ForeignKey, KeyColumn, Table, View
from orchestrator.catalog.read import Catalog
from orchestrator.names import qualname, quote_part


def snapshot(
    cat: Catalog, targets: list[tuple[Table, KeyColumn]], references=(), request: Request | None = None
) -> Snapshot:
    """Follow foreign keys from the targets' keys to every column that must convert with them.

    ``references`` are ((schema, table, column), (target schema, target table)) pairs the user
    declared with --reference: integer columns without an FK that hold a target's ids. They
    convert like FK columns; each is refused at plan time when it is not an integer column of
    an ordinary or partitioned table, or when FKs already convert it.

    With a ``request`` (keyshift plan), the snapshot also holds the facts its refusals are
    decided on (``Snapshot.facts``, catalog/gather.py) and the columns of every touched table
    (``shape_columns``, for the drift fingerprint); in external mode only the targets' rows are
    counted. In replace mode it also holds the columns that may hold a target's ids with no FK
    saying so, their values measured (catalog/measure.py), and Django's session tables. When a
    table whose rows plan reads is not the role's to alter, reading stops
    before the first row: plan refuses that table.
    """
    snap = Snapshot(targets=list(targets))
    for table, key in targets:
        snap.tables[table.key] = table
        col = (table.table_schema, table.table_name, key.column_name)
        snap.columns[col] = table.key
        snap.column_types[col] = key.data_type
        snap.target_columns[table.key] = cat.table_columns(table.relid)
    keys = {t.key: k.column_name for t, k in targets}
    _add_references(snap, cat, references, keys)
    _follow_foreign_keys(snap, cat)
    _keep_touched_and_defaults(snap, cat, targets, keys)
    _add_dependents(snap, cat)
    if request is not None:
        snap.shape_columns = {key: cat.column_rows(t.relid) for key, t in snap.tables.items()}
        found = gather.relations(cat, snap)
        if not gather.rows_readable(snap, found, request.mode):
            snap.facts = gather.unread(request, found)
            return snap
    counted = gather.locked_tables(snap, request.mode) if request is not None else list(snap.tables)
    snap.row_counts = {key: cat.row_count(*key) for key in counted}
    _add_lookalikes_and_carried(snap, cat, targets)
    if request is not None and request.mode != "external":
        _add_reference_candidates(snap, cat, targets, request)
    if request is not None:
        snap.facts = gather.facts(cat, snap, request, found)
        snap.polymorphic = gather.polymorphic(cat, snap, request)
        for found in snap.polymorphic.values():  # locked by the plan that remaps them: drift covers them
            if found.table is not None and found.table.key not in snap.shape_columns:
                snap.shape_columns[found.table.key] = cat.column_rows(found.table.relid)
    return snap


def _add_references(snap: Snapshot, cat: Catalog, references, keys: dict) -> None:
    """The --reference columns as found (``reference_columns``); each one that is an integer
    column of an ordinary or partitioned table, and no target's key, converts like an FK column.
    plan refuses the others (plan/references.py)."""
    for col, target in references:
        table = snap.tables.get(col[:2]) or cat.table(*col[:2])
        usable = table is not None and table.relkind in ("r", "p")
        data_type = cat.column_type(table.relid, col[2]) if usable else None
        snap.reference_columns[col] = ReferenceColumn(table, data_type)
        if not usable or table.is_partition or data_type not in INTEGER_TYPES or col in snap.columns:
            continue
        snap.tables[table.key] = table
        snap.columns[col] = target
        snap.column_types[col] = data_type
        snap.references[col] = target
        if target in keys:  # else plan.build refuses: the target is not converted by this plan
            snap.reference_orphans[col] = cat.reference_orphans(col, target, keys[target])


def _follow_foreign_keys(snap: Snapshot, cat: Catalog) -> None:
    """Every column an FK ties to a converted column joins it, to a fixed point."""
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
                        snap.reference_conflicts.setdefault(child_key, fk.name)
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


def _keep_touched_and_defaults(snap: Snapshot, cat: Catalog, targets, keys: dict) -> None:
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


def _add_dependents(snap: Snapshot, cat: Catalog) -> None:
    """Row types, dependent objects and views, and indexes of the touched tables."""
    with_columns = sorted({(s, t) for (s, t, _c) in snap.columns})
    snap.rowtype_columns = cat.rowtype_columns([snap.tables[k].relid for k in with_columns])
    views: dict[int, View] = {}
    for schema, name, column in snap.columns:
        table = snap.tables[(schema, name)]
        snap.dependents[(schema, name, column)] = cat.dependents(table.relid, column)
        for view in cat.dependent_views(table.relid, column):
            views[view.oid] = view if view.oid not in views or views[view.oid].depth < view.depth else views[view.oid]
    snap.views = sorted(views.values(), key=lambda v: (v.depth, v.view_schema, v.view_name))
    for key, table in snap.tables.items():
        cols = [c for (s, t, c) in snap.columns if (s, t) == key]
        snap.indexes[key] = cat.indexes(table.relid, cols) if cols else []


def _add_lookalikes_and_carried(snap: Snapshot, cat: Catalog, targets) -> None:
    """The objects carried across, functions over the targets' row types and text columns that
    may hold ids."""
    names = sorted({n for t, _k in targets for n in _lookalike_names(t.table_name)})
    carried: dict[int, Carried] = {}
    for schema, name, column in snap.columns:
        for obj in cat.carried(snap.tables[(schema, name)].relid, column):
            carried.setdefault(obj.oid, obj)
            snap.carried_columns.setdefault(obj.oid, []).append(f"{qualname(schema, name)}.{quote_part(column)}")
    snap.carried = sorted(carried.values(), key=lambda o: (o.table_schema, o.table_name, o.kind, o.name))
    rowtypes = [
        r[0]
        for r in (
            cat.conn.execute("SELECT reltype FROM pg_class WHERE oid = %s", (t.relid,)).fetchone() for t, _k in targets
        )
    ]
    snap.key_functions = cat.key_functions(names, rowtypes)
    converted: dict[tuple[str, str], set[str]] = {}
    for schema, name, column in snap.columns:
        converted.setdefault((schema, name), set()).add(column)
    relids = [snap.tables[t].relid for t in converted]
    bodies = cat.function_bodies(relids, sorted({t[1] for t in converted}))
    snap.function_uses = function_uses(bodies, converted)
    doc_names = sorted({n for t, _k in targets for n in _document_names(t.table_name)})
    snap.id_text_columns = cat.id_text_columns(doc_names)


def _add_reference_candidates(snap: Snapshot, cat: Catalog, targets, request: Request) -> None:
    """Columns that may hold a target's ids with no FK saying so, each integer one measured
    against the targets' keys, the type values of each Rails type/id pair no --polymorphic names
    (catalog/measure.py), and Django's session tables."""
    snap.reference_candidates = [
        r
        for r in cat.reference_candidates()
        if (r["table_schema"], r["table_name"], r["column_name"]) not in snap.columns
    ]
    measured = [r for r in snap.reference_candidates if r["is_integer"] and not r["has_fk"]]
    until = measure.deadline()
    snap.value_counts = measure.value_counts(cat.conn, measured, [(t.key, k.column_name) for t, k in targets], until)
    pairs = [
        (*table, kind, ident)
        for table, (kind, ident) in measure.type_id_pairs(snap.reference_candidates)
        if kind != measure.GENERIC_TYPE and (*table, kind, ident) not in request.polymorphic
    ]
    snap.type_values = measure.type_values(cat, pairs, until) if targets else []
    snap.django_sessions = cat.django_sessions()


def _document_names(table_name: str) -> list[str]:
    """Names a text or json column holding ids of this table might have: user_id, user_ids, users."""
    last = table_name.split("_")[-1]
    out = set(_lookalike_names(table_name))
    out |= {f"{n}s" for n in out} | {table_name, last, f"{table_name}s", f"{last}s"}
    return sorted(out)


def _lookalike_names(table_name: str) -> list[str]:
    last = table_name.split("_")[-1]
    names = {f"{table_name}_id", f"{last}_id"}
    if last.endswith("s") and len(last) > 1:  # users -> user_id
        names.add(f"{last[:-1]}_id")
    return sorted(names)
