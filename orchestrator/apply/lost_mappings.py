"""The mapping tables a rollback needs: rollback turns every uuid back into its old id through
them, so a plan whose mapping table was retired (drop-map) or dropped cannot be rolled back."""

from __future__ import annotations

from orchestrator.errors import MigrationFailed
from orchestrator.names import qualname


def lost_mappings(conn, plan_id: str, lock: bool = False) -> list[str]:
    """The tables of plan ``plan_id`` whose mapping table is gone (retired by drop-map, or
    dropped by hand), each as 'schema.table (its mapping keyshift.map_… was …)'."""
    if not conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]:
        return []
    query = (
        "SELECT table_schema, table_name, map_table, map_dropped_at,"
        " to_regclass(format('keyshift.%%I', map_table)) IS NULL AS missing"
        " FROM keyshift.converted_table WHERE plan_id = %s AND mode = 'replace'"
        " ORDER BY table_schema, table_name" + (" FOR SHARE" if lock else "")
    )
    lost = []
    for schema, table, map_table, dropped_at, missing in conn.execute(query, (plan_id,)).fetchall():
        if not missing:
            continue
        how = (
            f"retired with keyshift drop-map at {dropped_at:%Y-%m-%d %H:%M:%S %Z}".rstrip()
            if dropped_at is not None
            else "dropped by hand"
        )
        lost.append(f"{qualname(schema, table)} (its mapping {qualname('keyshift', map_table)} was {how})")
    return lost


def refuse_rollback_without_mappings(conn, plan_id: str | None) -> None:
    """Rollback turns every uuid back into its old id through the plan's mapping tables: refuse,
    before any statement of the rollback runs, when one of them was retired (drop-map) or lost.

    Runs under the rollback's table locks; FOR SHARE keeps a concurrent drop-map waiting."""
    lost = lost_mappings(conn, plan_id, lock=True) if plan_id is not None else []
    if lost:
        raise MigrationFailed(
            f"rollback of plan {plan_id}",
            "cannot turn the uuid keys back into the old ids of " + ", ".join(lost),
            "nothing was changed; restore each mapping table from a backup taken before it was dropped, "
            "with its PRIMARY KEY (old_id), UNIQUE (new_id) and NOT NULL (after drop-map also set "
            "keyshift.converted_table.map_dropped_at back to NULL), then roll back "
            "again; without it the plan stays applied",
        )
