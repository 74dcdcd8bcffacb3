-- 0001_02_detach_foreign_keys.rollback: undo of detach foreign keys from converted columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."verification_token" ADD CONSTRAINT "verification_token_user_id_dfb9f3f2_fk_custom_user_id" FOREIGN KEY (user_id) REFERENCES public.custom_user(id) DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE "public"."user_profile" ADD CONSTRAINT "user_profile_user_id_8fdce8e2_fk_custom_user_id" FOREIGN KEY (user_id) REFERENCES public.custom_user(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;

ALTER TABLE "public"."social_account" ADD CONSTRAINT "social_account_user_id_5e6e9a7d_fk_custom_user_id" FOREIGN KEY (user_id) REFERENCES public.custom_user(id) DEFERRABLE INITIALLY DEFERRED;
