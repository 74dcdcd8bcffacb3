-- sequence_users.sql: every column whose default draws from a sequence (nextval), so that a
-- sequence keyshift would drop is not pulled from under another table.
-- Parameters: %(relid)s (sequence oid). One row per column.
SELECT
    n.nspname AS table_schema,
    c.relname AS table_name,
    a.attname::text AS column_name
FROM pg_depend AS d
INNER JOIN pg_attrdef AS ad ON d.objid = ad.oid
INNER JOIN pg_class AS c ON ad.adrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_attribute AS a ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE
    d.classid = 'pg_attrdef'::regclass
    AND d.refclassid = 'pg_class'::regclass
    AND d.refobjid = %(relid)s
ORDER BY n.nspname, c.relname, a.attname;
