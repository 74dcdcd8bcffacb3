-- column_carried.sql: objects that use one column and that keyshift carries across the type
-- change with the same name and definition. `carry` says how:
--   'alter'    CHECK and exclusion constraints, indexes with an expression or predicate:
--              ALTER COLUMN ... TYPE rebuilds them itself from their stored definition;
--   'recreate' triggers and RLS policies (ALTER refuses them): dropped before the type
--              change and created again after it, enabled state and comment included.
-- plan's rehearsal names each one PostgreSQL refuses on uuid (rehearse/blockers.py).
-- Parameters: %(relid)s (table oid), %(column)s (column name).
WITH col AS (
    -- The column, and the same column of every partition when the table is partitioned: an
    -- object on a partition that uses it blocks the ALTER on the root just the same.
    SELECT a.attrelid, a.attnum
    FROM pg_attribute AS a
    WHERE
        a.attname = %(column)s
        AND (
            a.attrelid = %(relid)s
            OR a.attrelid IN (SELECT pt.relid FROM pg_partition_tree(%(relid)s::oid::regclass) AS pt)
        )
),

obj AS (
    SELECT
        CASE c.contype WHEN 'c' THEN 'check constraint' ELSE 'exclusion constraint' END AS kind,
        'alter' AS carry,
        c.oid,
        c.conrelid AS relid,
        c.conname AS name,
        pg_get_constraintdef(c.oid) AS definition,
        '' AS enabled,
        obj_description(c.oid, 'pg_constraint') AS comment
    FROM col
    INNER JOIN pg_constraint AS c ON col.attrelid = c.conrelid AND c.contype IN ('c', 'x')
    WHERE
        col.attnum = any(c.conkey)
        -- an exclusion constraint over an expression lists the column only in its index's
        -- dependencies
        OR EXISTS (
            SELECT 1
            FROM pg_depend AS d
            WHERE
                d.classid = 'pg_class'::regclass
                AND d.objid = c.conindid
                AND d.refobjid = col.attrelid
                AND d.refobjsubid = col.attnum
        )
    UNION
    SELECT
        'index' AS kind,
        'alter' AS carry,
        i.indexrelid AS oid,
        i.indrelid AS relid,
        ic.relname AS name,
        pg_get_indexdef(i.indexrelid) AS definition,
        '' AS enabled,
        NULL AS comment
    FROM col
    INNER JOIN pg_depend AS d
        ON
            col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
            AND d.classid = 'pg_class'::regclass
    INNER JOIN pg_index AS i ON d.objid = i.indexrelid
    INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
    WHERE
        (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL)
        AND NOT EXISTS (
            SELECT 1
            FROM pg_constraint AS x
            WHERE x.conindid = i.indexrelid AND x.contype = 'x'
        )
    UNION
    SELECT
        'trigger' AS kind,
        'recreate' AS carry,
        t.oid,
        t.tgrelid AS relid,
        t.tgname AS name,
        pg_get_triggerdef(t.oid) AS definition,
        t.tgenabled::text AS enabled,
        obj_description(t.oid, 'pg_trigger') AS comment
    FROM col
    INNER JOIN pg_depend AS d
        ON
            col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
            AND d.classid = 'pg_trigger'::regclass
    INNER JOIN pg_trigger AS t ON d.objid = t.oid
    WHERE NOT t.tgisinternal AND t.tgparentid = 0
    UNION
    SELECT
        'policy' AS kind,
        'recreate' AS carry,
        p.oid,
        p.polrelid AS relid,
        p.polname AS name,
        '' AS definition,
        '' AS enabled,
        obj_description(p.oid, 'pg_policy') AS comment
    FROM col
    INNER JOIN pg_depend AS d
        ON
            col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
            AND d.classid = 'pg_policy'::regclass
    INNER JOIN pg_policy AS p ON d.objid = p.oid
)

SELECT
    o.kind,
    o.carry,
    o.oid,
    n.nspname AS table_schema,
    r.relname AS table_name,
    format('%%I.%%I', n.nspname, r.relname) AS table_ident,
    o.name,
    o.definition,
    o.enabled,
    o.comment,
    coalesce(pol.permissive = 'PERMISSIVE', TRUE) AS permissive,
    coalesce(pol.roles::text[], '{}') AS roles,
    coalesce(pol.cmd, '') AS cmd,
    pol.qual,
    pol.with_check,
    o.relid <> %(relid)s AND o.relid IN (
        SELECT pt.relid FROM pg_partition_tree(%(relid)s::oid::regclass) AS pt
    ) AS on_partition
FROM obj AS o
INNER JOIN pg_class AS r ON o.relid = r.oid
INNER JOIN pg_namespace AS n ON r.relnamespace = n.oid
LEFT JOIN pg_policies AS pol
    ON o.kind = 'policy' AND n.nspname = pol.schemaname AND r.relname = pol.tablename AND o.name = pol.policyname
ORDER BY o.kind, n.nspname, r.relname, o.name;
