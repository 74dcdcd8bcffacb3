"""Catalog: what the live database holds, as small frozen dataclasses.

model   one dataclass per object kind that sql/catalog/*.sql returns
read    Catalog: runs those queries (search_path = pg_catalog) and builds the dataclasses
survey  Snapshot: the part of the catalog one plan touches, read once; the plan-time probe

This face names the stage's interface; modules inside the stage import each other directly.
"""

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
from orchestrator.catalog.survey import Snapshot, snapshot

__all__ = [
    "INTEGER_TYPES",
    "Carried",
    "Catalog",
    "Converted",
    "Dependent",
    "ForeignKey",
    "Index",
    "KeyColumn",
    "Snapshot",
    "Table",
    "View",
    "policy_sql",
    "snapshot",
]
