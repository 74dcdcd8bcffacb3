-- 0001_05_set_uuid_defaults.rollback: undo of uuid defaults; old sequences dropped
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."custom_user" ALTER COLUMN "id" DROP DEFAULT;
