-- 0001_03_convert_key_columns: convert keys and references to uuid
--
-- What: converts every key and every column that references one, each table in ONE rewrite:
--     public.category: id, parent_id
--     public.item: category_id, id
--   Old sequences/identities are detached from the keys first. Keys:
--     public.category.id: uuid v6, default keyshift.uuid_v6(); existing keys in old-id order, 1 ms apart, ending at the conversion time
--     public.item.id: uuid v6, default keyshift.uuid_v6(); existing keys in old-id order, 1 ms apart, ending at the conversion time
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

ALTER TABLE "public"."category" ALTER COLUMN "id" DROP IDENTITY;

-- public.category: 7 rows, one rewrite.
ALTER TABLE "public"."category"
ALTER COLUMN "id" TYPE uuid USING keyshift.keyed_uuid_v6_at(keyshift.statement_setting('keyshift.time_base_805320106e19')::bigint + ("id"::bigint - keyshift.statement_setting('keyshift.max_id_805320106e19')::bigint) * 10000, keyshift.statement_setting('keyshift.key') || 'public.category:', "id"::bigint),
ALTER COLUMN "parent_id" TYPE uuid USING keyshift.keyed_uuid_v6_at(keyshift.statement_setting('keyshift.time_base_805320106e19')::bigint + ("parent_id"::bigint - keyshift.statement_setting('keyshift.max_id_805320106e19')::bigint) * 10000, keyshift.statement_setting('keyshift.key') || 'public.category:', "parent_id"::bigint);

-- public.item: 20 rows, one rewrite.
ALTER TABLE "public"."item"
ALTER COLUMN "category_id" TYPE uuid USING keyshift.keyed_uuid_v6_at(keyshift.statement_setting('keyshift.time_base_805320106e19')::bigint + ("category_id"::bigint - keyshift.statement_setting('keyshift.max_id_805320106e19')::bigint) * 10000, keyshift.statement_setting('keyshift.key') || 'public.category:', "category_id"::bigint),
ALTER COLUMN "id" DROP DEFAULT,
ALTER COLUMN "id" TYPE uuid USING keyshift.keyed_uuid_v6_at(keyshift.statement_setting('keyshift.time_base_c77dd4a2b3c4')::bigint + ("id"::bigint - keyshift.statement_setting('keyshift.max_id_c77dd4a2b3c4')::bigint) * 10000, keyshift.statement_setting('keyshift.key') || 'public.item:', "id"::bigint);
