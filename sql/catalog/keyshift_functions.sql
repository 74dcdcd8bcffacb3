-- keyshift_functions.sql: every function and procedure in schema keyshift, with its input
-- argument types as PostgreSQL prints them and its kind (f function, p procedure, a
-- aggregate, w window), to tell keyshift's functions from others of the same name.
-- Parameters: %(schema)s (the schema name). One row per routine; none when it is absent.
SELECT
    p.proname::text AS name,
    oidvectortypes(p.proargtypes) AS args,
    p.prokind::text AS prokind
FROM pg_proc AS p
WHERE p.pronamespace = to_regnamespace(%(schema)s)
ORDER BY 1, 2;
