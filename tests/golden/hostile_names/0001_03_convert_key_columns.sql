-- 0001_03_convert_key_columns: convert keys and references to uuid
--
-- What: converts every key and every column that references one, each table in ONE rewrite:
--     public."t""; DROP TABLE victim; --": id
--     public.child: "parent\u000aid"
--   Old sequences/identities are detached from the keys first. Keys:
--     public."t""; DROP TABLE victim; --".id: uuid v4, default gen_random_uuid()
-- Why: the same keyed function of the old id gives a key and all its references the same
--   uuid, so no join and no UPDATE is needed, and row triggers never fire. Columns referencing
--   a table keyed by a timestamp column cannot see that timestamp: they read the mapping.
--   The rewrite rebuilds the indexes on these columns, the primary key's included, under their names,
--   in their tablespaces, with their comments, CLUSTER ON and replica identity.
-- Proven by: 0001.checks/rows_unchanged_through_mapping.sql, checks/no_integer_key_left.sql,
--   checks/indexes_restored.sql, checks/table_properties_restored.sql
-- depends: 0001_02_detach_foreign_keys
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- Refuse to run outside the transaction that drew the key in step 01 (keyshift migrate).
DO $$
BEGIN
    IF coalesce(current_setting('keyshift.key', TRUE), '') = '' THEN
        RAISE EXCEPTION 'keyshift: the conversion key is not set'
        USING HINT = 'apply all migrations of a plan in one transaction: keyshift migrate';
    END IF;
END
$$;

ALTER TABLE "public"."t""; DROP TABLE victim; --" ALTER COLUMN "id" DROP IDENTITY;

-- public.t"; DROP TABLE victim; --: 5 rows, one rewrite.
ALTER TABLE "public"."t""; DROP TABLE victim; --"
ALTER COLUMN "id" TYPE uuid USING keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.t"; DROP TABLE victim; --:', "id"::bigint);

-- public.child: 8 rows, one rewrite.
ALTER TABLE "public"."child"
ALTER COLUMN "parent
id" TYPE uuid USING keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.t"; DROP TABLE victim; --:', "parent
id"::bigint);
