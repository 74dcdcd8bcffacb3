-- 0001_02_detach_foreign_keys: detach foreign keys from converted columns
--
-- What: drops every foreign key that involves a converted column:
--     public.category(parent_id) -> public.category(id) [category_parent_id_fkey] (7 rows)
--     public.item(category_id) -> public.category(id) [item_category_id_fkey] (20 rows)
--   and every view that reads one, dependents first:
--     view public.category_tree (owner postgres)
--     view public.item_title (owner postgres)
--   and every trigger and RLS policy that uses one:
--     (none)
-- Why: a key and the columns that reference it cannot change type while an FK or a view ties them.
--   0001_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,
--   DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).
-- Proven by: checks/foreign_keys_restored.sql
-- depends: 0001_01_map_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

DROP VIEW "public"."item_title";

DROP VIEW "public"."category_tree";

ALTER TABLE "public"."category" DROP CONSTRAINT "category_parent_id_fkey";

ALTER TABLE "public"."item" DROP CONSTRAINT "item_category_id_fkey";
