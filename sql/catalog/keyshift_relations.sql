-- keyshift_relations.sql: every relation in schema keyshift (tables, views, sequences,
-- indexes, composite types), to tell keyshift's own names from names another object holds.
-- Parameters: %(schema)s (the schema name). One row per relation; none when it is absent.
SELECT
    c.relname::text AS relname,
    c.relkind::text AS relkind
FROM pg_class AS c
WHERE c.relnamespace = to_regnamespace(%(schema)s)
ORDER BY c.relname;
