-- django_sessions.sql: Django's database session tables (django_session: session_key and
-- session_data, which encodes the logged-in user's id as _auth_user_id), in any schema.
SELECT
    n.nspname AS table_schema,
    c.relname AS table_name
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.relkind IN ('r', 'p')
    AND c.relname = 'django_session'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift')
    AND EXISTS (
        SELECT 1 FROM pg_attribute AS a
        WHERE a.attrelid = c.oid AND a.attname = 'session_data' AND NOT a.attisdropped
    )
ORDER BY n.nspname;
