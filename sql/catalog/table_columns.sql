-- table_columns.sql: every live column of one table with its type, for the options that
-- name a column of a target (--timestamp-column, --slug-column).
-- Parameters: %(relid)s (table oid). Zero rows: the table has no columns.
SELECT
    a.attname AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type
FROM pg_attribute AS a
WHERE
    a.attrelid = %(relid)s
    AND a.attnum > 0
    AND NOT a.attisdropped
ORDER BY a.attnum;
