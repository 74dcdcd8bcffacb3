-- 0001_04_reattach_foreign_keys.rollback: undo of re-create foreign keys on the uuid columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."verification_token" DROP CONSTRAINT "verification_token_user_id_dfb9f3f2_fk_custom_user_id";

ALTER TABLE "public"."user_profile" DROP CONSTRAINT "user_profile_user_id_8fdce8e2_fk_custom_user_id";

ALTER TABLE "public"."social_account" DROP CONSTRAINT "social_account_user_id_5e6e9a7d_fk_custom_user_id";
