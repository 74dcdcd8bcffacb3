-- indexes.sql: every index of a table that contains one of the given columns, with its
-- definition and the constraint it backs (primary key, unique, exclusion), if any.
-- ALTER COLUMN ... TYPE rebuilds these itself, under the same names; the plan records them
-- so that a check can prove afterwards that each one still exists.
-- Parameters: %(relid)s (table oid), %(columns)s (text[] of column names).
SELECT
    ic.relname AS index_name,
    pg_get_indexdef(i.indexrelid) AS definition,
    coalesce(con.conname, '') AS constraint_name,
    coalesce(con.contype::text, '') AS constraint_type
FROM pg_index AS i
INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
LEFT JOIN pg_constraint AS con ON i.indexrelid = con.conindid AND con.contype IN ('p', 'u', 'x')
WHERE
    i.indrelid = %(relid)s
    AND EXISTS (
        SELECT 1
        FROM pg_attribute AS a
        WHERE
            a.attrelid = i.indrelid
            AND a.attname::text = any(%(columns)s::text[])
            AND a.attnum = any(i.indkey::int2[])
    )
ORDER BY ic.relname;
