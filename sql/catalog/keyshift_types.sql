-- keyshift_types.sql: the types in schema keyshift that are no relation's row type and no
-- array type (enums, domains, ranges, base types): CREATE TABLE needs their names too.
-- Parameters: %(schema)s (the schema name). One row per type; none when it is absent.
SELECT t.typname::text AS typname
FROM pg_type AS t
WHERE
    t.typnamespace = to_regnamespace(%(schema)s)
    AND t.typrelid = 0
    AND t.typelem = 0
ORDER BY t.typname;
