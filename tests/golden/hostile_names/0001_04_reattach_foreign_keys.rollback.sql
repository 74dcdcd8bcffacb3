-- 0001_04_reattach_foreign_keys.rollback: undo of re-create foreign keys on the uuid columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

DROP TRIGGER "touch DROP TABLE victim; --" ON "public"."t""; DROP TABLE victim; --";

ALTER TABLE "public"."child" DROP CONSTRAINT "child_parent
id_fkey";
