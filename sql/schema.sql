-- schema.sql: the schema keyshift works in, and the marker that says keyshift created it.
-- Included verbatim in the first migration of every plan, before registry.sql and the functions.
--
-- keyshift.installation holds one row, written when keyshift creates schema keyshift; it stays
-- while any conversion or any object that keyshift keeps for a user stays (rollback drops it
-- last, just before the schema). A registry written by a keyshift without this marker is
-- recognised by keyshift.converted_table and gains the marker here. A schema named keyshift
-- that has neither was made by someone else: nothing is created in it and the migration stops.
-- keyshift plan refuses the same case earlier (orchestrator/plan/safety.py).

DO $$
BEGIN
    IF to_regnamespace('keyshift') IS NULL THEN
        CREATE SCHEMA keyshift;
    ELSIF NOT EXISTS (
        -- keyshift's marker, or a registry an earlier keyshift wrote, each by its exact shape
        -- (sql/catalog/keyshift_schema.sql asks the same at plan time): a table that only has
        -- one of those names is someone else's.
        SELECT 1
        FROM pg_catalog.pg_class AS c
        WHERE
            c.relnamespace = to_regnamespace('keyshift')
            AND c.relkind = 'r'
            AND (
                (
                    c.relname = 'installation'
                    AND pg_catalog.obj_description(c.oid, 'pg_class') LIKE 'keyshift created schema keyshift%'
                    AND array(
                        SELECT a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                        FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        ORDER BY a.attnum
                    ) = ARRAY[
                        'one_row boolean', 'installed_at timestamp with time zone', 'installed_by name', 'how text'
                    ]
                )
                OR (
                    c.relname = 'converted_table'
                    AND array(
                        SELECT a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                        FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    ) @> ARRAY[
                        'plan_id text', 'table_schema name', 'table_name name', 'key_column name', 'mode text'
                    ]
                )
            )
    ) THEN
        RAISE EXCEPTION USING
        MESSAGE = 'keyshift: schema keyshift exists and was not created by keyshift '
        || '(it has no keyshift.installation marker and no keyshift registry)',
        HINT = 'nothing was changed; rename that schema (ALTER SCHEMA keyshift RENAME TO ...) '
        || 'or drop it, then plan again';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = to_regnamespace('keyshift') AND c.relname = 'installation'
    ) THEN
        CREATE TABLE keyshift.installation (
            one_row boolean PRIMARY KEY DEFAULT TRUE CHECK (one_row),
            installed_at timestamptz NOT NULL DEFAULT now(),
            installed_by name NOT NULL DEFAULT current_user,
            how text NOT NULL CHECK (how IN ('created', 'adopted'))
        );
        COMMENT ON TABLE keyshift.installation IS
        'keyshift created schema keyshift (how = created), or found a registry an earlier keyshift wrote '
        '(how = adopted). keyshift rollback drops only what keyshift created, and this marker last.';
        INSERT INTO keyshift.installation (how)
        SELECT CASE WHEN to_regclass('keyshift.converted_table') IS NULL THEN 'created' ELSE 'adopted' END;
    END IF;
END
$$;
