-- key_lookalikes.sql: integer columns named like a target's key (user_id for custom_user)
-- that no foreign key covers. The catalog cannot prove they hold ids of the target, so
-- plan warns about each of them by name. Parameter: %(names)s (text[]).
SELECT
    n.nspname AS table_schema,
    c.relname AS table_name,
    a.attname AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type
FROM pg_attribute AS a
INNER JOIN pg_class AS c ON a.attrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.relkind IN ('r', 'p')
    AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift')
    AND n.nspname NOT LIKE 'pg\_%%'
    AND a.attnum > 0
    AND NOT a.attisdropped
    AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
    AND a.attname::text = any(%(names)s::text[])
    AND NOT EXISTS (
        SELECT 1
        FROM pg_constraint AS con
        WHERE con.conrelid = c.oid AND con.contype = 'f' AND a.attnum = any(con.conkey)
    )
ORDER BY n.nspname, c.relname, a.attname;
