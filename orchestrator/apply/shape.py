"""The shape of what a plan relies on, as digests: pure, a catalog snapshot in, one sha256 per
object out (no oids, row counts or sequence values), and the plan's fingerprint over them.
plan records them in its manifest; migrate and status compare them with the live catalog
(orchestrator/apply/drift.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from orchestrator.catalog import Snapshot
from orchestrator.names import qualname


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=list, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def objects(snap: Snapshot, columns: dict[tuple[str, str], list[dict]], generic=()) -> dict[str, str]:
    """Object name -> sha256 of its shape. Pure and deterministic; no oids, counts or values.
    ``generic``: the tables (catalog Table) of the generic relations the plan remaps, whose
    columns it relies on too."""
    out: dict[str, dict | list] = {}
    tables = {**{t.key: t for t in generic}, **snap.tables}
    for key, table in tables.items():
        out[f"columns of {qualname(*key)}"] = {
            "relkind": table.relkind,
            "persistence": table.persistence,
            "owner": table.owner,
            "is_partition": table.is_partition,
            "has_parent": table.has_parent,
            "has_children": table.has_children,
            "pk_name": table.pk_name,
            "pk_columns": list(table.pk_columns),
            "pk_types": list(table.pk_types),
            "columns": columns.get(key, []),
        }
    for table, key in snap.targets:
        out[f"key {qualname(*table.key)}.{key.column_name}"] = {
            "data_type": key.data_type,
            "not_null": key.not_null,
            "default": key.default_expr,
            "identity": key.identity,
            "sequence": [key.seq_schema, key.seq_name, key.seq_type],
            "kind": key.sequence_kind,
            "owner": key.seq_owner,
            "grants": json.loads(key.seq_grants),
        }
    for fk in snap.fks:
        out[f"foreign key {fk.name} on {qualname(*fk.child)}"] = {
            "definition": fk.definition,
            "deferrable": fk.is_deferrable,
            "deferred": fk.is_deferred,
            "validated": fk.is_validated,
            "child_columns": list(fk.child_columns),
            "child_types": list(fk.child_types),
            "parent": list(fk.parent),
            "parent_columns": list(fk.parent_columns),
        }
    for key, indexes in snap.indexes.items():
        for ix in indexes:
            out[f"index {ix.index_name} on {qualname(*key)}"] = dataclasses.asdict(ix)
    for view in snap.views:
        facts = dataclasses.asdict(view)
        facts.pop("oid")
        out[view.display] = facts
    for obj in snap.carried:  # CHECK/exclusion constraints, indexes, triggers, policies on a converted column
        facts = dataclasses.asdict(obj)
        facts.pop("oid")
        out[f"carried {obj.display}"] = facts
    for (schema, name, column), deps in snap.dependents.items():
        if deps:
            out[f"dependents of {qualname(schema, name)}.{column}"] = sorted([d.kind, d.object_name] for d in deps)
    return {name: _digest(facts)[:16] for name, facts in out.items()}


def fingerprint(targets: list[tuple[str, str]], objs: dict[str, str], references=()) -> str:
    facts = {"targets": [list(t) for t in targets], "objects": objs}
    if references:  # --reference columns (plan reads them as part of the catalog it relies on)
        facts["references"] = [[list(c), list(t)] for c, t in references]
    return "sha256:" + _digest(facts)


def differences(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """Human lines: what appeared, what went, what changed."""
    lines = [f"{name} changed" for name in sorted(recorded) if name in now and now[name] != recorded[name]]
    lines += [f"{name} is gone" for name in sorted(recorded) if name not in now]
    lines += [f"{name} is new" for name in sorted(now) if name not in recorded]
    return lines
