-- tables.sql: the facts keyshift needs about one table named by the user.
-- Parameters: %(schema)s, %(table)s (names, not quoted). Zero rows: no such relation.
-- One row per relation; pk_* columns are NULL when the table has no primary key.
-- root_* name the top partitioned table of a partition (NULL otherwise): a partition's
-- columns can only change type through it.
SELECT
    c.oid::bigint AS relid,
    n.nspname AS table_schema,
    c.relname AS table_name,
    c.relkind::text AS relkind,
    c.relpersistence::text AS persistence,
    c.relispartition AS is_partition,
    pg_get_userbyid(c.relowner) AS owner,
    pk.conname AS pk_name,
    exists(
        SELECT 1 FROM pg_inherits AS i
        WHERE i.inhrelid = c.oid
    ) AS has_parent,
    exists(
        SELECT 1 FROM pg_inherits AS i
        WHERE i.inhparent = c.oid
    ) AS has_children,
    rn.nspname AS root_schema,
    rc.relname AS root_table,
    coalesce(pk.columns, '{}') AS pk_columns,
    coalesce(pk.types, '{}') AS pk_types
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
LEFT JOIN pg_class AS rc ON c.relispartition AND pg_partition_root(c.oid) = rc.oid
LEFT JOIN pg_namespace AS rn ON rc.relnamespace = rn.oid
LEFT JOIN LATERAL (
    SELECT
        con.conname,
        array_agg(a.attname::text ORDER BY k.ord) AS columns,
        array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) AS types
    FROM pg_constraint AS con
    CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k (attnum, ord)
    INNER JOIN pg_attribute AS a ON con.conrelid = a.attrelid AND k.attnum = a.attnum
    WHERE con.conrelid = c.oid AND con.contype = 'p'
    GROUP BY con.conname
) AS pk ON TRUE
WHERE n.nspname = %(schema)s AND c.relname = %(table)s
ORDER BY c.oid;
