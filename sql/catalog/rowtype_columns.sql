-- rowtype_columns.sql: columns that store rows of a table whose columns change type.
-- PostgreSQL cannot alter a column of a table whose row type is stored elsewhere ("cannot
-- alter table ... because column ... uses its row type"), so plan refuses them by name.
-- Parameters: %(relids)s (oid[] of the tables with converted columns; their partitions
-- are included). A column counts when its type is such a row type, or an array, domain or
-- composite type (a table's row type included) built on one, at any depth.
WITH RECURSIVE used (type_oid, table_oid) AS (
    SELECT
        c.reltype AS type_oid,
        c.oid AS table_oid
    FROM pg_class AS c
    WHERE
        c.oid = any(%(relids)s::oid[])
        OR c.oid IN (
            SELECT pt.relid
            FROM unnest(%(relids)s::oid[]) AS r (relid)
            CROSS JOIN LATERAL pg_partition_tree(r.relid::regclass) AS pt
        )
    UNION
    SELECT
        t.oid AS type_oid,
        used.table_oid
    FROM used
    INNER JOIN pg_type AS t
        ON
            used.type_oid = t.typelem
            OR used.type_oid = t.typbasetype
            OR (
                t.typtype = 'c'
                AND EXISTS (
                    SELECT 1
                    FROM pg_attribute AS ta
                    WHERE
                        ta.attrelid = t.typrelid AND ta.atttypid = used.type_oid
                        AND ta.attnum > 0 AND NOT ta.attisdropped
                )
            )
)

SELECT DISTINCT
    n.nspname AS table_schema,
    c.relname AS table_name,
    c.relkind::text AS relkind,
    a.attname::text AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type,
    tn.nspname AS rowtype_schema,
    tc.relname AS rowtype_table
FROM used
INNER JOIN pg_attribute AS a ON used.type_oid = a.atttypid
INNER JOIN pg_class AS c ON a.attrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_class AS tc ON used.table_oid = tc.oid
INNER JOIN pg_namespace AS tn ON tc.relnamespace = tn.oid
WHERE
    a.attnum > 0 AND NOT a.attisdropped
    AND c.relkind IN ('r', 'p', 'f', 'c')
ORDER BY n.nspname, c.relname, a.attname::text, tn.nspname, tc.relname;
