-- 0001_02_detach_foreign_keys.rollback: undo of detach foreign keys from converted columns
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."item" ADD CONSTRAINT "item_category_id_fkey" FOREIGN KEY (category_id) REFERENCES public.category(id) ON DELETE CASCADE;

ALTER TABLE "public"."category" ADD CONSTRAINT "category_parent_id_fkey" FOREIGN KEY (parent_id) REFERENCES public.category(id);

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
