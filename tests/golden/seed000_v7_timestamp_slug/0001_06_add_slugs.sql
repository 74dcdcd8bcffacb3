-- 0001_06_add_slugs: add unique Base62 slug columns
--
-- What: adds a unique Base62 [0-9a-zA-Z] slug column to each table below and fills every row:
--     public.custom_user.public_id: 22 chars, default keyshift.unique_slug('"public"."custom_user"'::regclass, 'public_id', 22), UNIQUE custom_user_public_id_key
-- Why: short public identifiers that reveal neither the old id nor the key. Existing rows get a keyed
--   hash of the old id; any duplicate is redrawn before the UNIQUE constraint is added. New rows
--   draw a random slug, redrawn while a row already holds it (keyshift.unique_slug); the UNIQUE
--   constraint still refuses the one remaining race, two concurrent INSERTs drawing the same slug.
-- Proven by: checks/slug_columns_are_unique_text.sql, 0001.checks/slugs_are_base62.sql
-- depends: 0001_05_set_uuid_defaults
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- public.custom_user.public_id: 300 rows at plan time, 22 chars.
ALTER TABLE "public"."custom_user" ADD COLUMN "public_id" text;

CREATE TEMPORARY TABLE "pg_temp"."keyshift_slug_map_public__custom_user" ON COMMIT DROP AS
SELECT
    m.new_id,
    keyshift.base62(keyshift.keyed_uuid_v4(current_setting('keyshift.key') || 'public.custom_user:slug:', m.old_id), 22) AS slug
FROM "keyshift"."map_public__custom_user" AS m;

ALTER TABLE "pg_temp"."keyshift_slug_map_public__custom_user" ADD PRIMARY KEY (new_id);

-- Redraw duplicates until every slug is unique.
DO $$
BEGIN
    LOOP
        UPDATE "pg_temp"."keyshift_slug_map_public__custom_user" AS s SET slug = keyshift.random_slug(22)
        FROM (
            SELECT
                d.new_id,
                row_number() OVER (PARTITION BY d.slug ORDER BY d.new_id) AS n
            FROM "pg_temp"."keyshift_slug_map_public__custom_user" AS d
        ) AS dup
        WHERE dup.new_id = s.new_id AND dup.n > 1;
        EXIT WHEN NOT found;
    END LOOP;
END
$$;

CREATE FUNCTION "pg_temp"."keyshift_slug_of_map_public__custom_user"(uuid) RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT slug FROM "pg_temp"."keyshift_slug_map_public__custom_user" WHERE new_id = $1 $$;

-- One rewrite fills every row; no row trigger fires.
ALTER TABLE "public"."custom_user"
ALTER COLUMN "public_id" TYPE text USING "pg_temp"."keyshift_slug_of_map_public__custom_user"("id"),
ALTER COLUMN "public_id" SET NOT NULL,
ALTER COLUMN "public_id" SET DEFAULT keyshift.unique_slug('"public"."custom_user"'::regclass, 'public_id', 22),
ADD CONSTRAINT "custom_user_public_id_key" UNIQUE ("public_id");

COMMENT ON COLUMN "public"."custom_user"."public_id" IS 'keyshift plan 0001: unique Base62 slug of 22 characters; the default redraws a slug that a row already holds';

DROP FUNCTION "pg_temp"."keyshift_slug_of_map_public__custom_user"(uuid);

DROP TABLE "pg_temp"."keyshift_slug_map_public__custom_user";
