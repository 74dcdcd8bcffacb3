"""Refusals of what the snapshot could not read as the user asked: --reference columns that are no
integer column of a table, or that a foreign key converts already. Pure: decided on the snapshot
(catalog/survey.py records what it found)."""

from __future__ import annotations

from orchestrator.catalog import INTEGER_TYPES, Snapshot
from orchestrator.errors import Refused
from orchestrator.names import qualname, quote_part


def refuse_references(snap: Snapshot) -> None:
    """Each --reference, in the order given: an integer column of an ordinary or partitioned table
    (not a partition), no target's key; then none that a foreign key converts already."""
    keys = {(*t.key, k.column_name) for t, k in snap.targets}
    for col, found in snap.reference_columns.items():
        shown = f"--reference {qualname(*col[:2])}.{quote_part(col[2])}"
        table = found.table
        if table is None or table.relkind not in ("r", "p"):
            raise Refused(
                shown,
                f"{qualname(*col[:2])} is no table",
                "name an ordinary or partitioned table (SCHEMA.TABLE.COLUMN)",
            )
        if table.is_partition:
            raise Refused(shown, "is a column of a partition", "name the column of the partitioned table it belongs to")
        if found.data_type is None:
            raise Refused(shown, "no such column", "check the column name (case-sensitive)")
        if found.data_type not in INTEGER_TYPES:
            raise Refused(
                shown,
                f"is {found.data_type}, not an integer column",
                "only integer columns can follow an integer key to uuid",
            )
        if col in keys:
            raise Refused(shown, "is a key keyshift converts already", "leave it out of --reference")
    for col, fk_name in snap.reference_conflicts.items():
        raise Refused(
            f"--reference {qualname(*col[:2])}.{quote_part(col[2])}",
            f"foreign key {fk_name} converts it already",
            "leave it out of --reference",
        )
