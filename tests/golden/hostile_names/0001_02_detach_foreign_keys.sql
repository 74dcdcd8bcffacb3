-- 0001_02_detach_foreign_keys: detach foreign keys from converted columns
--
-- What: drops every foreign key that involves a converted column:
--     public.child(parent\u000aid) -> public."t""; DROP TABLE victim; --"(id) [child_parent\u000aid_fkey] (8 rows)
--   and every view that reads one, dependents first:
--     (none)
--   and every trigger and RLS policy that uses one:
--     trigger "touch\u2028DROP TABLE victim; --" on public."t""; DROP TABLE victim; --"
-- Why: a key and the columns that reference it cannot change type while an FK or a view ties them.
--   0001_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,
--   DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).
-- Proven by: checks/foreign_keys_restored.sql
-- depends: 0001_01_map_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

DROP TRIGGER "touch DROP TABLE victim; --" ON "public"."t""; DROP TABLE victim; --";

ALTER TABLE "public"."child" DROP CONSTRAINT "child_parent
id_fkey";
