"""The facts a plan's refusals are decided on, read with its snapshot (catalog/facts.py).

``survey.snapshot`` calls ``relations`` before it reads any row: when a table the plan locks is
not the role's to alter, no row is read (counting it could need a privilege the role lacks) and
plan refuses that table by name. ``facts`` reads the rest once the snapshot is complete.
"""

from __future__ import annotations

import dataclasses

from orchestrator.catalog.facts import Facts, PolymorphicColumns, Relation, Request, SessionTable, Snapshot
from orchestrator.catalog.read import Catalog
from orchestrator.names import qualname


def relations(cat: Catalog, snap: Snapshot) -> tuple[Relation, ...]:
    """Owner and alterability of every touched table, dependent view and target key sequence."""
    relids = [t.relid for t in snap.tables.values()] + [v.oid for v in snap.views]
    for _t, key in snap.targets:
        if key.seq_name:
            relid = cat.relation_oid(key.seq_schema, key.seq_name)
            if relid is not None:
                relids.append(relid)
    return tuple(cat.ownership(relids))


def locked_tables(snap: Snapshot, mode: str) -> list[tuple[str, str]]:
    """The tables whose rows plan reads: in external mode the targets, else every touched table."""
    if mode == "external":
        return [t.key for t, _k in snap.targets]
    return list(snap.tables)


def rows_readable(snap: Snapshot, found: tuple[Relation, ...], mode: str) -> bool:
    """Whether the role may alter every table whose rows plan reads (else plan refuses the first)."""
    not_alterable = {r.key for r in found if not r.can_alter}
    return not any(key in not_alterable for key in locked_tables(snap, mode))


def facts(cat: Catalog, snap: Snapshot, request: Request, found: tuple[Relation, ...]) -> Facts:
    """Everything plan/safety.py and plan/external.py decide on, for this snapshot and request."""
    relids = {t.key: t.relid for t in snap.tables.values()}
    relids.update({t.key: t.relid for t, _k in snap.targets})
    keys = {t.key: k for t, k in snap.targets}
    return Facts(
        keyshift=request.keyshift,
        relations=found,
        create=cat.create_privileges(request.migration_table),
        publications=tuple(cat.publications(list(relids.values()))),
        sequence_users=_sequence_users(cat, snap),
        orphans=(
            {fk.oid: cat.fk_orphans(fk) for fk in snap.fks if not fk.is_validated} if request.mode != "external" else {}
        ),
        id_ranges={t: cat.id_range(t, k.column_name) for t, k in keys.items()},
        taken_relations=frozenset(r for r in request.relations if cat.relation_oid(*r) is not None),
        taken_constraints=frozenset(
            c for c in request.constraints if c[:2] in relids and cat.has_constraint(relids[c[:2]], c[2])
        ),
        sequence_positions={
            t: cat.sequence_position((keys[t].seq_schema, keys[t].seq_name))
            for t in request.sequence_positions
            if t in keys and keys[t].seq_name
        },
        sessions={s: _session(cat, s) for s in request.sessions},
    )


def unread(request: Request, found: tuple[Relation, ...]) -> Facts:
    """The facts of a snapshot whose rows were not read: enough for plan to refuse its owner."""
    return Facts(keyshift=request.keyshift, relations=found, rows_read=False)


def _sequence_users(cat: Catalog, snap: Snapshot) -> dict:
    out = {}
    for _t, key in snap.targets:
        if key.seq_name:
            relid = cat.relation_oid(key.seq_schema, key.seq_name)
            out[(key.seq_schema, key.seq_name)] = tuple(cat.sequence_users(relid)) if relid is not None else ()
    return out


def _session(cat: Catalog, name: tuple[str, str]) -> SessionTable:
    table = cat.table(*name)
    if table is None or table.relkind not in ("r", "p"):
        return SessionTable(table)
    return SessionTable(table, tuple(cat.referencing_foreign_keys(table.relid)), cat.row_count(*name))


#: Django's generic relation of the admin: (table, type column, id column), and its content types' table.
DJANGO_ADMIN_LOG = ("django_admin_log", "content_type_id", "object_id")
DJANGO_CONTENT_TYPE = "django_content_type"


def polymorphic(cat: Catalog, snap: Snapshot, request: Request) -> dict:
    """Every --polymorphic pair, and Django's admin log in a target's schema when asked: its
    columns' types and the rows per type value (``PolymorphicColumns``)."""
    out = {pair: _pair(cat, pair) for pair in request.polymorphic}
    if not request.django_admin_log:
        return out
    for schema in sorted({t.table_schema for t, _k in snap.targets}):
        pair = (schema, *DJANGO_ADMIN_LOG)
        if pair in out or cat.table(schema, DJANGO_CONTENT_TYPE) is None:
            continue
        found = _pair(cat, pair)
        if found.table is not None and found.type_type and found.id_type:
            out[pair] = dataclasses.replace(found, detected=True)
    return out


def _pair(cat: Catalog, pair: tuple[str, str, str, str]) -> PolymorphicColumns:
    table = cat.table(*pair[:2])
    if table is None or table.relkind not in ("r", "p"):
        return PolymorphicColumns(table)
    type_type, id_type = cat.column_type(table.relid, pair[2]), cat.column_type(table.relid, pair[3])
    if type_type is None or id_type is None:
        return PolymorphicColumns(table, type_type, id_type)
    relation = next(iter(cat.ownership([table.relid])), None)
    if relation is not None and not relation.can_alter:  # its rows are not read: plan refuses it
        return PolymorphicColumns(table, type_type, id_type, relation=relation)
    with cat.reading_rows(f"{qualname(*pair[:2])} ({pair[2]}, {pair[3]})", "count its rows per type value"):
        counts = tuple(cat.type_counts(pair[:2], pair[2], pair[3]))
    content_types = ()
    if pair[1:] == DJANGO_ADMIN_LOG and cat.table(pair[0], DJANGO_CONTENT_TYPE) is not None:
        with cat.reading_rows(qualname(pair[0], DJANGO_CONTENT_TYPE), "read Django's content types"):
            content_types = tuple(cat.content_types(pair[0]))
    return PolymorphicColumns(table, type_type, id_type, counts, content_types, relation=relation)
