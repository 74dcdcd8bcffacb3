-- 0001_02_detach_foreign_keys: detach foreign keys from converted columns
--
-- What: drops every foreign key that involves a converted column:
--     public.social_account(user_id) -> public.custom_user(id) [social_account_user_id_5e6e9a7d_fk_custom_user_id] (200 rows)
--     public.user_profile(user_id) -> public.custom_user(id) [user_profile_user_id_8fdce8e2_fk_custom_user_id] (300 rows)
--     public.verification_token(user_id) -> public.custom_user(id) [verification_token_user_id_dfb9f3f2_fk_custom_user_id] (600 rows)
--   and every view that reads one, dependents first:
--     (none)
--   and every trigger and RLS policy that uses one:
--     (none)
-- Why: a key and the columns that reference it cannot change type while an FK or a view ties them.
--   0001_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,
--   DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).
-- Proven by: checks/foreign_keys_restored.sql
-- depends: 0001_01_map_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."social_account" DROP CONSTRAINT "social_account_user_id_5e6e9a7d_fk_custom_user_id";

ALTER TABLE "public"."user_profile" DROP CONSTRAINT "user_profile_user_id_8fdce8e2_fk_custom_user_id";

ALTER TABLE "public"."verification_token" DROP CONSTRAINT "verification_token_user_id_dfb9f3f2_fk_custom_user_id";
