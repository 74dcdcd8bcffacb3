-- 0001_04_reattach_foreign_keys: re-create foreign keys on the uuid columns
--
-- What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL
--   printed for it at plan time; each is validated here against the converted data:
--     public.child(parent\u000aid) -> public."t""; DROP TABLE victim; --"(id) [child_parent\u000aid_fkey] (8 rows)
--   then every view dropped in step 02, with its definition, owner, grants and comments
--   (materialized views refilled WITH DATA, their indexes rebuilt):
--     (none)
--   then every trigger and RLS policy dropped in step 02 (same name, definition, enabled state,
--   comment; row security settings of the tables are never touched):
--     trigger "touch\u2028DROP TABLE victim; --" on public."t""; DROP TABLE victim; --"
-- Proven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,
--   0001.checks/no_orphan_references.sql
-- depends: 0001_03_convert_key_columns
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."child" ADD CONSTRAINT "child_parent
id_fkey" FOREIGN KEY ("parent
id") REFERENCES public."t""; DROP TABLE victim; --"(id);

-- trigger "touch\u2028DROP TABLE victim; --" on public."t""; DROP TABLE victim; --"
-- noqa: disable=all
CREATE TRIGGER "touch DROP TABLE victim; --" BEFORE UPDATE OF id ON public."t""; DROP TABLE victim; --" FOR EACH ROW EXECUTE FUNCTION public.touch();
-- noqa: enable=all
