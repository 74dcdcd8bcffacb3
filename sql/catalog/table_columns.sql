-- table_columns.sql: every live column of one table, for the drift fingerprint that plan
-- writes and migrate compares (orchestrator/apply/drift.py). Shape only: no statistics, no values.
-- Parameters: %(relid)s (table oid). One row per column, in column order.
SELECT
    a.attnum::integer AS position,
    a.attname::text AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type,
    a.attnotnull AS not_null,
    a.attidentity::text AS identity,
    a.attgenerated::text AS generated
FROM pg_attribute AS a
WHERE a.attrelid = %(relid)s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
