-- mapping_tables_exist.sql
--
-- Claim: every table converted in replace mode keeps its mapping table keyshift.<map_table>
-- (old_id bigint -> new_id uuid) until it is retired on purpose with `keyshift drop-map`
-- (keyshift.converted_table.map_dropped_at is then set).
--
-- Why: the mapping is the permanent record of old -> new that rollback, audits, caches and
-- old URLs rely on. One that vanished any other way leaves old ids that resolve to nothing,
-- and a conversion that can no longer be rolled back.
--
-- External mode keeps the integer key and no mapping: the table itself is the record of
-- id -> external id (checks/external_ids_are_unique_not_null_with_default.sql).
--
-- One row: one converted table whose mapping table does not exist.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table where mode <> external and map_dropped_at is null
-- skip-reason: no mapping table is kept: external mode keeps none, keyshift drop-map retired the others
SELECT
    ct.plan_id,
    ct.table_schema,
    ct.table_name,
    format('keyshift.%I', ct.map_table) AS map_table,
    'mapping table no longer exists (retire it with keyshift drop-map, not by dropping it)' AS problem
FROM keyshift.converted_table AS ct
WHERE
    ct.mode <> 'external'
    AND ct.map_dropped_at IS NULL
    AND to_regclass(format('keyshift.%I', ct.map_table)) IS NULL
ORDER BY ct.table_schema, ct.table_name;
