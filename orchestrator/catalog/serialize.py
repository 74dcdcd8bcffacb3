"""A snapshot as JSON and back, losslessly: the planner's tests run on stored snapshots.

JSON has objects with string keys, lists and scalars; a snapshot also holds dataclasses,
tuples, sets and dicts keyed by tuples. Each of those is written as an object with one
marker key, ``snapshot_from_json(snapshot_to_json(s)) == s`` for every snapshot:

- a dataclass: ``{"$type": "Table", <field>: <value>, ...}`` (only the classes listed here);
- a tuple: ``{"$tuple": [...]}``; a set or frozenset: ``{"$set": [...]}`` / ``{"$frozenset": [...]}``;
- a dict whose keys are all strings (none starting with ``$``): a JSON object; any other
  dict: ``{"$map": [[key, value], ...]}``.
"""

from __future__ import annotations

import dataclasses
import json

from orchestrator.catalog import facts, model

#: Every dataclass a snapshot may hold, by name.
CLASSES = {
    cls.__name__: cls
    for cls in (
        model.Table,
        model.KeyColumn,
        model.ForeignKey,
        model.Dependent,
        model.View,
        model.Carried,
        model.Index,
        facts.Snapshot,
        facts.Facts,
        facts.Relation,
        facts.CreatePrivileges,
        facts.Publication,
        facts.SequenceUser,
        facts.KeyshiftFunction,
        facts.FunctionUse,
        facts.KeyshiftSchema,
        facts.SessionTable,
        facts.ReferenceColumn,
        facts.PolymorphicColumns,
        facts.ValueCount,
        facts.TypeValues,
    )
}


def _encode(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if CLASSES.get(name) is not type(value):
            raise TypeError(f"{name} is not a snapshot dataclass")
        return {"$type": name, **{f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        kind = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {kind: sorted((_encode(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v) for k, v in value.items()}
        return {"$map": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a snapshot: {value!r}")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$type" in value:
        cls = CLASSES[value["$type"]]
        return cls(**{k: _decode(v) for k, v in value.items() if k != "$type"})
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$set" in value:
        return {_decode(v) for v in value["$set"]}
    if "$frozenset" in value:
        return frozenset(_decode(v) for v in value["$frozenset"])
    if "$map" in value:
        return {_decode(k): _decode(v) for k, v in value["$map"]}
    return {k: _decode(v) for k, v in value.items()}


def snapshot_to_json(snap: facts.Snapshot) -> str:
    """The snapshot as JSON text (indented, one stable form for the same snapshot)."""
    return json.dumps(_encode(snap), indent=1, ensure_ascii=False) + "\n"


def snapshot_from_json(text: str) -> facts.Snapshot:
    snap = _decode(json.loads(text))
    if not isinstance(snap, facts.Snapshot):
        raise ValueError("the JSON does not hold a snapshot")
    return snap
