-- 0001_05_set_uuid_defaults: uuid defaults; old sequences dropped
--
-- What: new rows get their key from the default of the chosen uuid version; the serial sequences
--   of the old keys are dropped (identity sequences went with DROP IDENTITY in step 03):
--     public.custom_user.id: uuid v7, default keyshift.uuid_v7() (chosen at plan time: server 150018 lacks uuidv7(); rechecked at migrate time); existing keys timed by date_joined (timestamp with time zone), rows where it is NULL (or out of range) in old-id order at the conversion time; slug public_id (22 chars)
-- Proven by: checks/keys_are_uuid_primary_keys_with_default.sql, checks/no_integer_key_left.sql
-- depends: 0001_04_reattach_foreign_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- PostgreSQL 18 has uuidv7() built in; older servers use keyshift.uuid_v7().
DO $$
BEGIN
    IF to_regprocedure('pg_catalog.uuidv7()') IS NOT NULL THEN
        ALTER TABLE "public"."custom_user" ALTER COLUMN "id" SET DEFAULT uuidv7();
    ELSE
        ALTER TABLE "public"."custom_user" ALTER COLUMN "id" SET DEFAULT keyshift.uuid_v7();
    END IF;
END
$$;
