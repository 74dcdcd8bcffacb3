-- 0001_03_convert_key_columns.rollback: undo of convert keys and references to uuid
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- Rows inserted after the conversion have no old id yet: give them the next ones.
INSERT INTO "keyshift"."map_public__category" (old_id, new_id)
SELECT
    (SELECT coalesce(max(x.old_id), 0) FROM "keyshift"."map_public__category" AS x)
    + row_number() OVER (ORDER BY t."id") AS old_id,
    t."id" AS new_id
FROM "public"."category" AS t
WHERE NOT EXISTS (
    SELECT 1 FROM "keyshift"."map_public__category" AS m
    WHERE m.new_id = t."id"
);

CREATE FUNCTION "pg_temp"."keyshift_old_id_map_public__category"(uuid) RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT old_id FROM "keyshift"."map_public__category" WHERE new_id = $1 $$;

-- Rows inserted after the conversion have no old id yet: give them the next ones.
INSERT INTO "keyshift"."map_public__item" (old_id, new_id)
SELECT
    (SELECT coalesce(max(x.old_id), 0) FROM "keyshift"."map_public__item" AS x)
    + row_number() OVER (ORDER BY t."id") AS old_id,
    t."id" AS new_id
FROM "public"."item" AS t
WHERE NOT EXISTS (
    SELECT 1 FROM "keyshift"."map_public__item" AS m
    WHERE m.new_id = t."id"
);

CREATE FUNCTION "pg_temp"."keyshift_old_id_map_public__item"(uuid) RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT old_id FROM "keyshift"."map_public__item" WHERE new_id = $1 $$;

ALTER TABLE "public"."item"
ALTER COLUMN "category_id" TYPE bigint USING "pg_temp"."keyshift_old_id_map_public__category"("category_id"),
ALTER COLUMN "id" TYPE integer USING "pg_temp"."keyshift_old_id_map_public__item"("id");

ALTER TABLE "public"."category"
ALTER COLUMN "id" TYPE bigint USING "pg_temp"."keyshift_old_id_map_public__category"("id"),
ALTER COLUMN "parent_id" TYPE bigint USING "pg_temp"."keyshift_old_id_map_public__category"("parent_id");

ALTER TABLE "public"."category" ALTER COLUMN "id" ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME "public"."category_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO CYCLE
);

-- Privileges it was created with go; the ACL the plan read is granted below.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = '"public"."category_id_seq"'::regclass AND (false OR a.grantee <> c.relowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE %s FROM %s', '"public"."category_id_seq"'::regclass, grantee);
    END LOOP;
END
$$;

-- The sequence continues where it was, or after the rows added since.
DO $$
BEGIN
    PERFORM setval(
        '"public"."category_id_seq"',
        greatest(s.last_value, coalesce((SELECT max(t."id") FROM "public"."category" AS t), s.last_value)),
        s.is_called OR coalesce((SELECT max(t."id") FROM "public"."category" AS t), s.last_value) > s.last_value
    )
    FROM keyshift.saved_sequence AS s
    WHERE s.table_schema = 'public' AND s.table_name = 'category' AND s.column_name = 'id';
END
$$;

ALTER TABLE "public"."item" ALTER COLUMN "id" SET DEFAULT nextval('public.item_id_seq'::regclass);

-- The sequence continues where it was, or after the rows added since.
DO $$
BEGIN
    PERFORM setval(
        '"public"."item_id_seq"',
        greatest(s.last_value, coalesce((SELECT max(t."id") FROM "public"."item" AS t), s.last_value)),
        s.is_called OR coalesce((SELECT max(t."id") FROM "public"."item" AS t), s.last_value) > s.last_value
    )
    FROM keyshift.saved_sequence AS s
    WHERE s.table_schema = 'public' AND s.table_name = 'item' AND s.column_name = 'id';
END
$$;

DROP FUNCTION "pg_temp"."keyshift_old_id_map_public__category"(uuid);

DROP FUNCTION "pg_temp"."keyshift_old_id_map_public__item"(uuid);
