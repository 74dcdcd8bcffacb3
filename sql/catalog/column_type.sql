-- column_type.sql: the type of one column, for a column the user names (--reference).
-- Parameters: %(relid)s (table oid), %(column)s (column name). Zero rows: no such column.
SELECT format_type(a.atttypid, a.atttypmod) AS data_type
FROM pg_attribute AS a
WHERE a.attrelid = %(relid)s AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped;
