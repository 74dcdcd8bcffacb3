-- column_dependents.sql: objects that use one column and that ALTER COLUMN ... TYPE
-- cannot carry across by itself and that keyshift does not move yet: RLS policies, CHECK
-- constraints, triggers with column lists, and indexes with an expression or predicate
-- on the column, generated columns computed from it, and rules (other than a view's own
-- _RETURN rule) that use it. Views and materialized views are in dependent_views.sql: they move.
-- Plain indexes and UNIQUE/PK constraints are rebuilt by the ALTER itself.
-- Parameters: %(relid)s (table oid), %(column)s (column name).
WITH col AS (
    SELECT a.attrelid, a.attnum
    FROM pg_attribute AS a
    WHERE a.attrelid = %(relid)s AND a.attname = %(column)s
)

SELECT
    'policy' AS kind,
    format('%%I on %%s', p.polname, p.polrelid::regclass) AS object_name
FROM col
INNER JOIN pg_depend AS d
    ON
        col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
        AND d.classid = 'pg_policy'::regclass
INNER JOIN pg_policy AS p ON d.objid = p.oid
UNION ALL
SELECT
    'check constraint' AS kind,
    format('%%I on %%s', c.conname, c.conrelid::regclass) AS object_name
FROM col
INNER JOIN pg_constraint AS c
    ON col.attrelid = c.conrelid AND col.attnum = any(c.conkey) AND c.contype IN ('c', 'x')
UNION ALL
SELECT
    'index with expression or predicate' AS kind,
    format('%%s', i.indexrelid::regclass) AS object_name
FROM col
INNER JOIN pg_index AS i ON col.attrelid = i.indrelid
INNER JOIN pg_depend AS d
    ON
        i.indexrelid = d.objid AND d.classid = 'pg_class'::regclass
        AND col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
WHERE i.indexprs IS NOT NULL OR i.indpred IS NOT NULL
UNION ALL
SELECT
    'trigger' AS kind,
    format('%%I on %%s', t.tgname, t.tgrelid::regclass) AS object_name
FROM col
INNER JOIN pg_trigger AS t ON col.attrelid = t.tgrelid AND col.attnum = any(t.tgattr::int2[])
WHERE NOT t.tgisinternal
UNION ALL
SELECT
    'generated column' AS kind,
    format('%%I on %%s', g.attname, g.attrelid::regclass) AS object_name
FROM col
INNER JOIN pg_depend AS d
    ON
        col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
        AND d.classid = 'pg_attrdef'::regclass
INNER JOIN pg_attrdef AS ad ON d.objid = ad.oid
INNER JOIN pg_attribute AS g ON ad.adrelid = g.attrelid AND ad.adnum = g.attnum
WHERE g.attgenerated <> ''
UNION ALL
-- PostgreSQL 14 records a generated column's dependency from the column itself.
SELECT
    'generated column' AS kind,
    format('%%I on %%s', g.attname, g.attrelid::regclass) AS object_name
FROM col
INNER JOIN pg_depend AS d
    ON
        col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
        AND d.classid = 'pg_class'::regclass AND col.attrelid = d.objid
INNER JOIN pg_attribute AS g ON d.objid = g.attrelid AND d.objsubid = g.attnum
WHERE g.attgenerated <> ''
UNION ALL
SELECT
    'rule' AS kind,
    format('%%I on %%s', r.rulename, r.ev_class::regclass) AS object_name
FROM col
INNER JOIN pg_depend AS d
    ON
        col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
        AND d.classid = 'pg_rewrite'::regclass
INNER JOIN pg_rewrite AS r ON d.objid = r.oid
WHERE r.rulename <> '_RETURN'
ORDER BY kind, object_name;
