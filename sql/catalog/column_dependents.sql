-- column_dependents.sql: objects that use one column and that keyshift cannot carry across
-- the type change, so plan refuses the column by name: generated columns computed from it,
-- and rewrite rules (other than a view's own) that read it.
-- Carried instead (column_carried.sql): CHECK and exclusion constraints, indexes with an
-- expression or predicate, triggers and RLS policies. Views and materialized views are in
-- dependent_views.sql. Plain indexes and UNIQUE/PK constraints are rebuilt by the ALTER.
-- Parameters: %(relid)s (table oid), %(column)s (column name).
WITH col AS (
    SELECT a.attrelid, a.attnum
    FROM pg_attribute AS a
    WHERE a.attrelid = %(relid)s AND a.attname = %(column)s
)

SELECT
    'generated column' AS kind,
    format('%%s.%%I', ad.adrelid::regclass, g.attname) AS object_name
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
