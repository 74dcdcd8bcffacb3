-- 0001_03_convert_key_columns: convert keys and references to uuid
--
-- What: converts every key and every column that references one, each table in ONE rewrite:
--     public.custom_user: id
--     public.social_account: user_id
--     public.user_profile: user_id
--     public.verification_token: user_id
--   Old sequences/identities are detached from the keys first. Keys:
--     public.custom_user.id: uuid v4, default gen_random_uuid()
-- Why: the same keyed function of the old id gives a key and all its references the same
--   uuid, so no join and no UPDATE is needed, and row triggers never fire. Columns referencing
--   a table keyed by a timestamp column cannot see that timestamp: they read the mapping.
--   The rewrite rebuilds the indexes on these columns, the primary key's included, under their names,
--   in their tablespaces, with their comments, CLUSTER ON and replica identity.
-- Proven by: 0001.checks/rows_unchanged_through_mapping.sql, checks/no_integer_key_left.sql,
--   checks/indexes_restored.sql, checks/table_properties_restored.sql
-- depends: 0001_02_detach_foreign_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- Refuse to run outside the transaction that drew the key in step 01 (keyshift migrate).
DO $$
BEGIN
    IF coalesce(current_setting('keyshift.key', TRUE), '') = '' THEN
        RAISE EXCEPTION 'keyshift: the conversion key is not set'
        USING HINT = 'apply all migrations of a plan in one transaction: keyshift migrate';
    END IF;
END
$$;

ALTER TABLE "public"."custom_user" ALTER COLUMN "id" DROP IDENTITY;

-- public.custom_user: 300 rows, one rewrite.
ALTER TABLE "public"."custom_user"
ALTER COLUMN "id" TYPE uuid USING keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.custom_user:', "id"::bigint);

-- public.social_account: 200 rows, one rewrite.
ALTER TABLE "public"."social_account"
ALTER COLUMN "user_id" TYPE uuid USING keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.custom_user:', "user_id"::bigint);

-- public.user_profile: 300 rows, one rewrite.
ALTER TABLE "public"."user_profile"
ALTER COLUMN "user_id" TYPE uuid USING keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.custom_user:', "user_id"::bigint);

-- public.verification_token: 600 rows, one rewrite.
ALTER TABLE "public"."verification_token"
ALTER COLUMN "user_id" TYPE uuid USING keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.custom_user:', "user_id"::bigint);
