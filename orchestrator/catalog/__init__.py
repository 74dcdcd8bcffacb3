"""Catalog: what the live database holds, as small frozen dataclasses.

model      one dataclass per object kind that sql/catalog/*.sql returns
facts      Snapshot, and the Facts a plan's refusals are decided on (what a Request asks for)
read       Catalog: runs those queries (search_path = pg_catalog) and builds the dataclasses
survey     snapshot(): the part of the catalog one plan touches, read once
gather     the facts read with a snapshot: owners, privileges, publications, orphan rows, ...
serialize  a snapshot as JSON and back (the planner's unit tests run on stored snapshots)
throughput measure_throughput(): how fast the server rewrites a key, on a temporary table of its own
measure    value_counts(): how many of a column's values are keys of each target, one bounded query each;
           type_values(): the type values of each type/id pair found by name

This face names the stage's interface; modules inside the stage import each other directly.
"""

from orchestrator.catalog.facts import (
    CreatePrivileges,
    Facts,
    FunctionUse,
    KeyshiftFunction,
    KeyshiftSchema,
    Publication,
    ReferenceColumn,
    Relation,
    Request,
    SequenceUser,
    SessionTable,
    Snapshot,
    TypeValues,
    ValueCount,
)
from orchestrator.catalog.model import (
    INTEGER_TYPES,
    Carried,
    Converted,
    Dependent,
    ForeignKey,
    Index,
    KeyColumn,
    Table,
    View,
    policy_sql,
)
from orchestrator.catalog.read import Catalog
from orchestrator.catalog.serialize import snapshot_from_json, snapshot_to_json
from orchestrator.catalog.survey import snapshot
from orchestrator.catalog.throughput import measure as measure_throughput

__all__ = [
    "INTEGER_TYPES",
    "Carried",
    "Catalog",
    "Converted",
    "CreatePrivileges",
    "Dependent",
    "Facts",
    "ForeignKey",
    "FunctionUse",
    "Index",
    "KeyColumn",
    "KeyshiftFunction",
    "KeyshiftSchema",
    "Publication",
    "ReferenceColumn",
    "Relation",
    "Request",
    "SequenceUser",
    "SessionTable",
    "Snapshot",
    "Table",
    "TypeValues",
    "ValueCount",
    "View",
    "measure_throughput",
    "policy_sql",
    "snapshot",
    "snapshot_from_json",
    "snapshot_to_json",
]
