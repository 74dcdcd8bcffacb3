-- 0001_04_reattach_foreign_keys.rollback: undo of re-create foreign keys on the uuid columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

DROP VIEW "public"."item_title";

DROP VIEW "public"."category_tree";

ALTER TABLE "public"."item" DROP CONSTRAINT "item_category_id_fkey";

ALTER TABLE "public"."category" DROP CONSTRAINT "category_parent_id_fkey";
