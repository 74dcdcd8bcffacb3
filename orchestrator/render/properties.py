"""Step 01's registry rows for what a converted table keeps beside its rows and keys: replica
identity, CLUSTER ON, storage parameters, tablespace, and each converted column's statistics
target, storage and comment; and the same of each materialized view the conversion drops and
creates again, every column of it (keyshift.converted_table_property, proven by
checks/table_properties_restored.sql). Read by the migration from the catalog as it is then."""

from __future__ import annotations

from orchestrator.names import Statement
from orchestrator.plan.model import Plan
from orchestrator.render.common import L, regclass, stmt, tables_with_columns

_RECORD = (
    "INSERT INTO keyshift.converted_table_property\n"
    "(\n    plan_id, table_schema, table_name, replica_identity, identity_index, clustered_index, options, tablespace,\n"
    "    column_settings\n)\n"
    "SELECT\n    {pid} AS plan_id,\n    {schema} AS table_schema,\n    {table} AS table_name,\n"
    "    c.relreplident AS replica_identity,\n"
    "    (\n        SELECT ic.relname\n        FROM pg_index AS i\n"
    "        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid\n"
    "        WHERE i.indrelid = c.oid AND i.indisreplident\n    ) AS identity_index,\n"
    "    (\n        SELECT ic.relname\n        FROM pg_index AS i\n"
    "        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid\n"
    "        WHERE i.indrelid = c.oid AND i.indisclustered\n    ) AS clustered_index,\n"
    "    c.reloptions AS options,\n"
    "    (\n        SELECT s.spcname FROM pg_tablespace AS s\n        WHERE s.oid = c.reltablespace\n    ) AS tablespace,\n"
    "    coalesce((\n        SELECT\n            jsonb_agg(\n                jsonb_build_object(\n"
    "                    'column_name', a.attname,\n                    'statistics', nullif(a.attstattarget, -1),\n"
    "                    'storage', a.attstorage,\n                    'comment', col_description(c.oid, a.attnum)\n"
    "                ) ORDER BY a.attnum\n            )\n        FROM pg_attribute AS a\n"
    "        WHERE\n            a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
    "            AND ({columns}::name[] IS NULL OR a.attname = any({columns}::name[]))\n"
    "    ), '[]') AS column_settings\n"
    "FROM pg_class AS c\nWHERE c.oid = to_regclass({relation})"
)


def record_table_properties(plan: Plan) -> list[Statement]:
    """One keyshift.converted_table_property row per table with a converted column (its
    converted columns) and per materialized view the plan rebuilds (all its columns: None)."""
    pid = L(plan.plan_id)
    out = []
    relations: list[tuple[tuple[str, str], list[str] | None]] = [
        (table, [c.column_name for c in plan.columns if c.table == table]) for table in tables_with_columns(plan)
    ]
    relations += [(v.key, None) for v in plan.views if v.is_materialized]
    for table, columns in relations:
        out.append(
            stmt(
                _RECORD,
                pid=pid,
                schema=L(table[0]),
                table=L(table[1]),
                columns=L(columns),
                relation=regclass(*table),
            )
        )
    return out
