"""Step 01's registry rows for what a converted table keeps beside its rows and keys: replica
identity, CLUSTER ON, storage parameters, tablespace, and each converted column's statistics
target, storage and comment (keyshift.converted_table_property, proven by
checks/table_properties_restored.sql). Read by the migration from the catalog as it is then."""

from __future__ import annotations

from orchestrator.names import Statement
from orchestrator.plan.model import Plan
from orchestrator.render.common import L, regclass, stmt, tables_with_columns

_RECORD = (
    "INSERT INTO keyshift.converted_table_property\n"
    "(plan_id, table_schema, table_name, replica_identity, identity_index, clustered_index, options, tablespace,\n"
    "column_settings)\n"
    "SELECT\n    {pid} AS plan_id,\n    {schema} AS table_schema,\n    {table} AS table_name,\n"
    "    c.relreplident AS replica_identity,\n"
    "    (\n        SELECT ic.relname\n        FROM pg_index AS i\n"
    "        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid\n"
    "        WHERE i.indrelid = c.oid AND i.indisreplident\n    ) AS identity_index,\n"
    "    (\n        SELECT ic.relname\n        FROM pg_index AS i\n"
    "        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid\n"
    "        WHERE i.indrelid = c.oid AND i.indisclustered\n    ) AS clustered_index,\n"
    "    c.reloptions AS options,\n"
    "    (SELECT s.spcname FROM pg_tablespace AS s WHERE s.oid = c.reltablespace) AS tablespace,\n"
    "    (\n        SELECT\n            jsonb_agg(\n                jsonb_build_object(\n"
    "                    'column_name', a.attname,\n                    'statistics', nullif(a.attstattarget, -1),\n"
    "                    'storage', a.attstorage,\n                    'comment', col_description(c.oid, a.attnum)\n"
    "                ) ORDER BY a.attnum\n            )\n        FROM pg_attribute AS a\n"
    "        WHERE a.attrelid = c.oid AND a.attname = ANY({columns}::name[])\n    ) AS column_settings\n"
    "FROM pg_class AS c\nWHERE c.oid = to_regclass({relation})"
)


def record_table_properties(plan: Plan) -> list[Statement]:
    """One keyshift.converted_table_property row per table with a converted column."""
    pid = L(plan.plan_id)
    out = []
    for table in tables_with_columns(plan):
        columns = [c.column_name for c in plan.columns if c.table == table]
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
