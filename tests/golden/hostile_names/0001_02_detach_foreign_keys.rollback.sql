-- 0001_02_detach_foreign_keys.rollback: undo of detach foreign keys from converted columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."child" ADD CONSTRAINT "child_parent
id_fkey" FOREIGN KEY ("parent
id") REFERENCES public."t""; DROP TABLE victim; --"(id);

-- trigger "touch\u2028DROP TABLE victim; --" on public."t""; DROP TABLE victim; --"
-- noqa: disable=all
CREATE TRIGGER "touch DROP TABLE victim; --" BEFORE UPDATE OF id ON public."t""; DROP TABLE victim; --" FOR EACH ROW EXECUTE FUNCTION public.touch();
-- noqa: enable=all
