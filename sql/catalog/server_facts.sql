-- server_facts.sql: what the server offers that changes how keys are generated.
-- has_native_uuidv7: PostgreSQL 18 has pg_catalog.uuidv7() built in (no parameters).
SELECT
    current_setting('server_version_num')::integer AS server_version_num,
    to_regprocedure('pg_catalog.uuidv7()') IS NOT NULL AS has_native_uuidv7;
