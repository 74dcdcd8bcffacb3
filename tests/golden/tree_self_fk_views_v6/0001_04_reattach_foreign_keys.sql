-- 0001_04_reattach_foreign_keys: re-create foreign keys on the uuid columns
--
-- What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL
--   printed for it at plan time; each is validated here against the converted data:
--     public.category(parent_id) -> public.category(id) [category_parent_id_fkey] (7 rows)
--     public.item(category_id) -> public.category(id) [item_category_id_fkey] (20 rows)
--   then every view dropped in step 02, with its definition, owner, grants and comments
--   (materialized views refilled WITH DATA, their indexes rebuilt):
--     view public.category_tree (owner postgres)
--     view public.item_title (owner postgres)
--   then every trigger and RLS policy dropped in step 02 (same name, definition, enabled state,
--   comment; row security settings of the tables are never touched):
--     (none)
-- Proven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,
--   0001.checks/no_orphan_references.sql
-- depends: 0001_03_convert_key_columns
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."category" ADD CONSTRAINT "category_parent_id_fkey" FOREIGN KEY (parent_id) REFERENCES public.category(id);

ALTER TABLE "public"."item" ADD CONSTRAINT "item_category_id_fkey" FOREIGN KEY (category_id) REFERENCES public.category(id) ON DELETE CASCADE;

-- view public.category_tree: depth 1 from a converted column, owner postgres.
-- noqa: disable=all
CREATE VIEW "public"."category_tree" AS
 SELECT c.id,
    c.name,
    p.name AS parent_name
   FROM (public.category c
     LEFT JOIN public.category p ON ((p.id = c.parent_id)));
-- noqa: enable=all

ALTER VIEW "public"."category_tree" OWNER TO "postgres";

-- Privileges it was created with go; the ACL the plan read is granted below.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = '"public"."category_tree"'::regclass AND (false OR a.grantee <> c.relowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON TABLE %s FROM %s', '"public"."category_tree"'::regclass, grantee);
    END LOOP;
END
$$;

-- view public.item_title: depth 1 from a converted column, owner postgres.
-- noqa: disable=all
CREATE VIEW "public"."item_title" AS
 SELECT i.id,
    i.title,
    c.name AS category
   FROM (public.item i
     JOIN public.category c ON ((c.id = i.category_id)))
  WHERE (i.title <> ''::text);
-- noqa: enable=all

ALTER VIEW "public"."item_title" OWNER TO "postgres";

-- Privileges it was created with go; the ACL the plan read is granted below.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = '"public"."item_title"'::regclass AND (false OR a.grantee <> c.relowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON TABLE %s FROM %s', '"public"."item_title"'::regclass, grantee);
    END LOOP;
END
$$;
