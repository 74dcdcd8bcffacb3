-- 0001_06_add_slugs.rollback: undo of add unique Base62 slug columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."custom_user" DROP COLUMN "public_id";
