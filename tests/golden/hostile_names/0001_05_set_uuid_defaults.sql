-- 0001_05_set_uuid_defaults: uuid defaults; old sequences dropped
--
-- What: new rows get their key from the default of the chosen uuid version; the serial sequences
--   of the old keys are dropped (identity sequences went with DROP IDENTITY in step 03):
--     public."t""; DROP TABLE victim; --".id: uuid v4, default gen_random_uuid()
-- Proven by: checks/keys_are_uuid_primary_keys_with_default.sql, checks/no_integer_key_left.sql
-- depends: 0001_04_reattach_foreign_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."t""; DROP TABLE victim; --" ALTER COLUMN "id" SET DEFAULT gen_random_uuid();
