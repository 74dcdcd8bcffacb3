-- column_defaults.sql: the DEFAULT of one column that follows a key to uuid, on the table
-- and on each of its partitions (a partition may have a default of its own).
-- Parameters: %(relid)s (table oid), %(column)s (column name).
-- is_constant: the default is a plain constant (pg_node_tree CONST). constant_value: that
-- constant when it is an integer (as pg_get_expr prints it: 7, or '-7'::integer), else NULL.
-- pg_partition_tree lists nothing for a table that is not partitioned: the table is added.
WITH tree AS (
    SELECT
        %(relid)s::oid AS relid,
        0 AS level
    UNION
    SELECT
        pt.relid,
        pt.level
    FROM pg_partition_tree(%(relid)s::regclass) AS pt
)

SELECT
    n.nspname AS table_schema,
    c.relname AS table_name,
    tree.level,
    pg_get_expr(d.adbin, d.adrelid) AS default_expr,
    d.adbin::text LIKE '{CONST %%' AS is_constant,
    substring(pg_get_expr(d.adbin, d.adrelid) FROM '^''?(-?[0-9]+)''?(?:::[a-z ]+)?$')::numeric AS constant_value
FROM tree
INNER JOIN pg_class AS c ON tree.relid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_attribute AS a ON c.oid = a.attrelid AND a.attname = %(column)s AND NOT a.attisdropped
INNER JOIN pg_attrdef AS d ON c.oid = d.adrelid AND a.attnum = d.adnum
ORDER BY tree.level, n.nspname, c.relname;
