-- rowtype_columns.sql: columns that store rows of a table whose columns change type.
-- PostgreSQL cannot alter a column of a table whose row type is stored elsewhere ("cannot
-- alter table ... because column ... uses its row type"), so plan refuses them by name.
-- Parameters: %(relids)s (oid[] of the tables with converted columns; their partitions
-- are included). A column counts when its type is such a row type, or an array, domain or
-- composite type (a table's row type included) built on one, at any depth.
-- edges: type -> a type it is built on (array element, domain base, composite attribute).
WITH RECURSIVE edges AS MATERIALIZED (
    SELECT
        t.oid AS type_oid,
        t.typelem AS built_on
    FROM pg_type AS t
    WHERE t.typelem <> 0
    UNION ALL
    SELECT
        t.oid AS type_oid,
        t.typbasetype AS built_on
    FROM pg_type AS t
    WHERE t.typbasetype <> 0
    UNION ALL
    SELECT
        t.oid AS type_oid,
        a.atttypid AS built_on
    FROM pg_type AS t
    INNER JOIN pg_namespace AS tn ON t.typnamespace = tn.oid
    INNER JOIN pg_attribute AS a ON t.typrelid = a.attrelid
    WHERE
        t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped
        AND tn.nspname NOT IN ('pg_catalog', 'information_schema')
),

used (type_oid, table_oid) AS (
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
        edges.type_oid,
        used.table_oid
    FROM used
    INNER JOIN edges ON used.type_oid = edges.built_on
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
