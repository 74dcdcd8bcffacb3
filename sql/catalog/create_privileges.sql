-- create_privileges.sql: what migrate must be allowed to create: schema keyshift (CREATE on
-- the database, unless it exists and we own it) and yoyo's bookkeeping tables (CREATE on the
-- first schema of the search path, unless they exist).
-- Run with the role's default search_path (yoyo's), not pg_catalog.
-- Parameters: %(migration_table)s (yoyo's bookkeeping table, unqualified). One row.
SELECT
    current_user::text AS current_role_name,
    current_database()::text AS database_name,
    current_schema()::text AS bookkeeping_schema,
    to_regnamespace('keyshift') IS NOT NULL AS keyshift_exists,
    coalesce(
        (
            SELECT pg_has_role(ns.nspowner, 'USAGE')
            FROM pg_namespace AS ns
            WHERE ns.nspname = 'keyshift'
        ),
        FALSE
    ) AS keyshift_owned,
    has_database_privilege(current_database(), 'CREATE') AS can_create_schema,
    coalesce(has_schema_privilege(current_schema(), 'CREATE'), FALSE) AS can_create_tables,
    to_regclass(%(migration_table)s) IS NOT NULL AS yoyo_exists;
