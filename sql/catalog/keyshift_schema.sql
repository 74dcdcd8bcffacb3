-- keyshift_schema.sql: is schema keyshift there, and is it keyshift's?
-- It is keyshift's when it holds the marker keyshift writes (keyshift.installation with exactly
-- its columns and its comment), or a registry an earlier keyshift wrote (keyshift.converted_table
-- with the registry's columns). A table that only has one of those names is someone else's.
-- Read from pg_class and pg_attribute, which need no privilege on the schema.
-- Parameters: %(schema)s (the schema name).
WITH ns AS (
    SELECT n.oid
    FROM pg_catalog.pg_namespace AS n
    WHERE n.nspname = %(schema)s
),

rel AS (
    SELECT
        c.oid,
        c.relname,
        c.relkind
    FROM pg_catalog.pg_class AS c
    INNER JOIN ns ON c.relnamespace = ns.oid
    WHERE c.relname IN ('installation', 'converted_table')
),

shape AS (
    SELECT
        rel.relname,
        rel.relkind,
        array_agg(
            a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum
        ) AS columns,
        pg_catalog.obj_description(rel.oid, 'pg_class') AS comment
    FROM rel
    INNER JOIN pg_catalog.pg_attribute AS a ON rel.oid = a.attrelid
    WHERE a.attnum > 0 AND NOT a.attisdropped
    GROUP BY rel.relname, rel.relkind, rel.oid
)

SELECT
    (SELECT count(*) FROM ns) > 0 AS schema_exists,
    (
        SELECT count(*)
        FROM shape AS s
        WHERE
            s.relname = 'installation'
            AND s.relkind = 'r'
            AND s.columns = ARRAY[
                'one_row boolean', 'installed_at timestamp with time zone', 'installed_by name', 'how text'
            ]
            AND s.comment LIKE 'keyshift created schema keyshift%%'
    ) > 0 AS marker_ok,
    (
        SELECT count(*)
        FROM shape AS s
        WHERE
            s.relname = 'converted_table'
            AND s.relkind = 'r'
            AND s.columns @> ARRAY[
                'plan_id text', 'table_schema name', 'table_name name', 'key_column name', 'mode text'
            ]
    ) > 0 AS registry_ok
