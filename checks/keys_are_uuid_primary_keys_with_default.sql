-- keys_are_uuid_primary_keys_with_default.sql
--
-- Claim: the key column of every converted table (keyshift.converted_table.key_column)
-- exists, is of type uuid, is NOT NULL, is on its own the table's PRIMARY KEY, and has
-- exactly the default the plan chose for new rows (pg_get_expr of the column default equals
-- keyshift.converted_table.key_default, e.g. gen_random_uuid()).
-- Replace mode only: in external mode the integer key stays the primary key on purpose;
-- checks/external_ids_are_unique_not_null_with_default.sql states the external claim.
--
-- Why: the conversion must leave a key as strong as the one it replaced. Without the
-- PRIMARY KEY, duplicates and NULLs become possible and foreign keys cannot reference it;
-- without the default, every INSERT that relied on the old sequence fails; with another
-- default, new keys no longer have the version the plan (and its own check
-- <plan_id>.checks/uuid_version_matches.sql) promised.
--
-- One row: one converted table and one way its key falls short (`problem`); `detail`
-- shows what the catalog holds instead.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table where mode <> external
-- skip-reason: no key was replaced by a uuid: every converted table is in external mode
WITH target AS (
    SELECT
        ct.plan_id,
        ct.table_schema,
        ct.table_name,
        ct.key_column,
        ct.key_default,
        to_regclass(format('%I.%I', ct.table_schema, ct.table_name)) AS relid
    FROM keyshift.converted_table AS ct
    WHERE ct.mode <> 'external'
),

key_state AS (
    SELECT
        t.*,
        a.attnum,
        a.atttypid,
        a.attnotnull,
        pg_get_expr(ad.adbin, ad.adrelid) AS current_default,
        pk.conname AS pk_name,
        (
            SELECT string_agg(format('%I', pa.attname), ', ' ORDER BY k.ord)
            FROM unnest(pk.conkey) WITH ORDINALITY AS k (attnum, ord)
            INNER JOIN pg_attribute AS pa ON pa.attrelid = t.relid AND k.attnum = pa.attnum
        ) AS pk_columns
    FROM target AS t
    LEFT JOIN pg_attribute AS a
        ON
            t.relid = a.attrelid
            AND t.key_column = a.attname
            AND NOT a.attisdropped
    LEFT JOIN pg_attrdef AS ad ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
    LEFT JOIN pg_constraint AS pk ON t.relid = pk.conrelid AND pk.contype = 'p'
)

SELECT
    ks.plan_id,
    ks.table_schema,
    ks.table_name,
    ks.key_column,
    p.problem,
    p.detail
FROM key_state AS ks
CROSS JOIN
    LATERAL (
        VALUES
        (ks.relid IS NULL, 'table no longer exists', NULL),
        (ks.relid IS NOT NULL AND ks.attnum IS NULL, 'key column no longer exists', NULL),
        (ks.atttypid <> 'uuid'::regtype, 'key column is not uuid', format_type(ks.atttypid, NULL)),
        (NOT ks.attnotnull, 'key column is nullable', NULL),
        (ks.relid IS NOT NULL AND ks.pk_name IS NULL, 'table has no primary key', NULL),
        (
            ks.pk_name IS NOT NULL AND ks.pk_columns <> format('%I', ks.key_column),
            'primary key is not the key column alone',
            format('%s (%s)', ks.pk_name, ks.pk_columns)
        ),
        (
            ks.attnum IS NOT NULL AND ks.current_default IS DISTINCT FROM ks.key_default,
            'default differs from the planned key default',
            format('expected %s, found %s', ks.key_default, coalesce(ks.current_default, 'no default'))
        )
    ) AS p (failed, problem, detail)
WHERE p.failed
ORDER BY ks.table_schema, ks.table_name, p.problem;
