-- reference_candidates.sql: columns that may hold ids of a converted table where no foreign
-- key says so. Integer columns that no foreign key covers and that draw no value of their own
-- (no identity, no nextval default); integer content_type_id columns (Django's generic relation,
-- whose foreign key points at django_content_type); and text columns named like an id or a type
-- (object_id, subject_type). plan/evidence.py decides which of them look like references, by
-- name and by the values measured (catalog/measure.py). est_rows is the planner's estimate.
WITH fk_columns AS (
    SELECT DISTINCT
        con.conrelid AS relid,
        k.attnum
    FROM pg_constraint AS con
    CROSS JOIN LATERAL unnest(con.conkey) AS k (attnum)
    WHERE con.contype = 'f'
)

SELECT
    n.nspname AS table_schema,
    c.relname AS table_name,
    a.attname AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type,
    a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) AS is_integer,
    greatest(c.reltuples, -1)::bigint AS est_rows,
    f.relid IS NOT NULL AS has_fk
FROM pg_attribute AS a
INNER JOIN pg_class AS c ON a.attrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
LEFT JOIN pg_attrdef AS d ON a.attrelid = d.adrelid AND a.attnum = d.adnum
LEFT JOIN fk_columns AS f ON a.attrelid = f.relid AND a.attnum = f.attnum
WHERE
    c.relkind IN ('r', 'p')
    AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift')
    AND n.nspname NOT LIKE 'pg\_%%'
    AND a.attnum > 0
    AND NOT a.attisdropped
    AND (
        (
            a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
            AND a.attidentity = ''
            AND a.attgenerated = ''
            AND coalesce(pg_get_expr(d.adbin, d.adrelid), '') NOT LIKE 'nextval(%%'
            AND (f.relid IS NULL OR a.attname = 'content_type_id')
        )
        OR (
            a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
            AND (a.attname LIKE '%%\_type' OR a.attname LIKE '%%\_id' OR a.attname IN ('object_id', 'object_pk'))
        )
    )
ORDER BY n.nspname, c.relname, a.attnum;
