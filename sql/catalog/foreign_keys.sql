-- foreign_keys.sql: every foreign key that references a table, or is declared on it.
-- Parameters: %(relid)s (table oid). FKs cloned onto partitions (conparentid <> 0) are
-- left out: they follow the constraint declared on the partitioned parent.
-- definition is pg_get_constraintdef with search_path = pg_catalog, so names are qualified.
SELECT
    con.oid::bigint AS oid,
    con.conname AS name,
    con.conrelid::bigint AS child_relid,
    cn.nspname AS child_schema,
    cc.relname AS child_table,
    cc.relkind::text AS child_relkind,
    con.confrelid::bigint AS parent_relid,
    pn.nspname AS parent_schema,
    pc.relname AS parent_table,
    con.condeferrable AS is_deferrable,
    con.condeferred AS is_deferred,
    con.convalidated AS is_validated,
    pg_get_constraintdef(con.oid) AS definition,
    obj_description(con.oid, 'pg_constraint') AS comment,
    (
        SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM unnest(con.conkey) WITH ORDINALITY AS k (attnum, ord)
        INNER JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND k.attnum = a.attnum
    ) AS child_columns,
    (
        SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
        FROM unnest(con.conkey) WITH ORDINALITY AS k (attnum, ord)
        INNER JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND k.attnum = a.attnum
    ) AS child_types,
    (
        SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM unnest(con.confkey) WITH ORDINALITY AS k (attnum, ord)
        INNER JOIN pg_attribute AS a ON a.attrelid = con.confrelid AND k.attnum = a.attnum
    ) AS parent_columns
FROM pg_constraint AS con
INNER JOIN pg_class AS cc ON con.conrelid = cc.oid
INNER JOIN pg_namespace AS cn ON cc.relnamespace = cn.oid
INNER JOIN pg_class AS pc ON con.confrelid = pc.oid
INNER JOIN pg_namespace AS pn ON pc.relnamespace = pn.oid
WHERE
    con.contype = 'f'
    AND con.conparentid = 0
    AND (con.confrelid = %(relid)s OR con.conrelid = %(relid)s)
ORDER BY cn.nspname, cc.relname, con.conname;
