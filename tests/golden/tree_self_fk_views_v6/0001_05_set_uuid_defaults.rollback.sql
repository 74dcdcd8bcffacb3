-- 0001_05_set_uuid_defaults.rollback: undo of uuid defaults; old sequences dropped
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

ALTER TABLE "public"."item" ALTER COLUMN "id" DROP DEFAULT;

CREATE SEQUENCE "public"."item_id_seq" AS integer
INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1 NO CYCLE;

ALTER SEQUENCE "public"."item_id_seq" OWNER TO "postgres";

ALTER SEQUENCE "public"."item_id_seq" OWNED BY "public"."item"."id";

-- Privileges it was created with go; the ACL the plan read is granted below.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = '"public"."item_id_seq"'::regclass AND (false OR a.grantee <> c.relowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE %s FROM %s', '"public"."item_id_seq"'::regclass, grantee);
    END LOOP;
END
$$;

ALTER TABLE "public"."category" ALTER COLUMN "id" DROP DEFAULT;
