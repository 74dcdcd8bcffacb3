-- id_text_columns.sql: text and JSON columns that may hold ids of a converted table where
-- no foreign key can say so: text columns named like a target's key (user_id text), the
-- object_id / object_pk of a generic relation (Django contenttypes), and json/jsonb columns
-- named like a key or like a target (user_ids, users). Found by name only: plan warns.
-- Parameter: %(names)s (text[] of key-like names: user_id, user_ids, users, ...).
SELECT
    n.nspname AS table_schema,
    c.relname AS table_name,
    a.attname AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type,
    CASE
        WHEN a.attname IN ('object_id', 'object_pk') THEN 'a generic relation''s object id'
        WHEN a.atttypid IN ('json'::regtype, 'jsonb'::regtype) THEN 'a document named like a key or a target'
        ELSE 'text named like a key of a target'
    END AS reason
FROM pg_attribute AS a
INNER JOIN pg_class AS c ON a.attrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.relkind IN ('r', 'p')
    AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift')
    AND n.nspname NOT LIKE 'pg\_%%'
    AND a.attnum > 0
    AND NOT a.attisdropped
    AND (
        (
            a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
            AND (a.attname::text = any(%(names)s::text[]) OR a.attname IN ('object_id', 'object_pk'))
        )
        OR (
            a.atttypid IN ('json'::regtype, 'jsonb'::regtype)
            AND a.attname::text = any(%(names)s::text[])
        )
    )
ORDER BY n.nspname, c.relname, a.attname;
