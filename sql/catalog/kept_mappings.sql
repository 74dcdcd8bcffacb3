-- kept_mappings.sql: the mapping tables that rollbacks kept in schema keyshift
-- (keyshift.rolled_back_mapping), so plan can refuse to create a mapping table over one.
-- Read only when that registry table exists. No parameters. One row per kept mapping table.
SELECT
    k.map_table::text AS map_table,
    k.plan_id,
    k.table_schema::text AS table_schema,
    k.table_name::text AS table_name,
    pg_catalog.to_char(k.rolled_back_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') AS rolled_back_at
FROM keyshift.rolled_back_mapping AS k
ORDER BY k.map_table;
