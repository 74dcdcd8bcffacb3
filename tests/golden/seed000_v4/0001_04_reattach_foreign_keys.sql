-- 0001_04_reattach_foreign_keys: re-create foreign keys on the uuid columns
--
-- What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL
--   printed for it at plan time; each is validated here against the converted data:
--     public.social_account(user_id) -> public.custom_user(id) [social_account_user_id_5e6e9a7d_fk_custom_user_id] (200 rows)
--     public.user_profile(user_id) -> public.custom_user(id) [user_profile_user_id_8fdce8e2_fk_custom_user_id] (300 rows)
--     public.verification_token(user_id) -> public.custom_user(id) [verification_token_user_id_dfb9f3f2_fk_custom_user_id] (600 rows)
--   then every view dropped in step 02, with its definition, owner, grants and comments
--   (materialized views refilled WITH DATA, their indexes rebuilt):
--     (none)
--   then every trigger and RLS policy dropped in step 02 (same name, definition, enabled state,
--   comment; row security settings of the tables are never touched):
--     (none)
-- Proven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,
--   0001.checks/no_orphan_references.sql
-- depends: 0001_03_convert_key_columns
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."social_account" ADD CONSTRAINT "social_account_user_id_5e6e9a7d_fk_custom_user_id" FOREIGN KEY (user_id) REFERENCES public.custom_user(id) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE "public"."user_profile" ADD CONSTRAINT "user_profile_user_id_8fdce8e2_fk_custom_user_id" FOREIGN KEY (user_id) REFERENCES public.custom_user(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE "public"."verification_token" ADD CONSTRAINT "verification_token_user_id_dfb9f3f2_fk_custom_user_id" FOREIGN KEY (user_id) REFERENCES public.custom_user(id) DEFERRABLE INITIALLY DEFERRED;
