-- table_sizes.sql: the size on disk of each of the given tables as pg_total_relation_size counts
-- it (heap, TOAST, every index), plus that of every partition below it: converting a
-- partitioned table rewrites its partitions. Parameters: %(schemas)s, %(names)s (text arrays
-- of equal length, the tables' schemas and names pairwise). One row per table found.
WITH wanted AS (
    SELECT
        w.table_schema,
        w.table_name
    FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS w (table_schema, table_name)
)

SELECT
    wanted.table_schema,
    wanted.table_name,
    (
        pg_total_relation_size(c.oid)
        + coalesce((
            SELECT sum(pg_total_relation_size(p.relid))
            FROM pg_partition_tree(c.oid) AS p
            WHERE p.relid <> c.oid
        ), 0)
    )::bigint AS total_bytes
FROM wanted
INNER JOIN pg_namespace AS n ON wanted.table_schema = n.nspname
INNER JOIN pg_class AS c ON n.oid = c.relnamespace AND wanted.table_name = c.relname
ORDER BY wanted.table_schema, wanted.table_name;
