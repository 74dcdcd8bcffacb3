-- external_ids_are_unique_not_null_with_default.sql
--
-- Claim: every table given external ids (keyshift.converted_table rows with mode
-- 'external') has its external column (external_column): it exists, is of type uuid, is
-- NOT NULL (validated), has exactly the planned default (pg_get_expr equals key_default, e.g.
-- gen_random_uuid()), and is on its own the column of a UNIQUE constraint, not deferrable,
-- under the recorded name (external_constraint), so PostgreSQL itself refuses a NULL or a
-- duplicate external id on every row at every statement; and the integer key (key_column) is
-- still, alone, the table's PRIMARY KEY, of its old type (old_type).
--
-- Why: clients address rows by the external id only. A NULL gives a row no address, a
-- duplicate gives two rows one address, a missing default makes every INSERT that relies on
-- it fail or store NULL, and a lost or deferrable UNIQUE constraint lets duplicates in. The
-- version of every external id is the plan's own check <plan_id>.checks/uuid_version_matches.sql.
-- External mode keeps the integer key and every foreign key on purpose; a changed key means
-- something else converted it.
--
-- One row: one external-mode table and one way it falls short (`problem`); `detail` shows
-- what the catalog holds instead.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table where mode = external
-- skip-reason: no table was given external ids
WITH target AS (
    SELECT
        ct.plan_id,
        ct.table_schema,
        ct.table_name,
        ct.key_column,
        ct.old_type,
        ct.key_default,
        ct.external_column,
        ct.external_constraint,
        to_regclass(format('%I.%I', ct.table_schema, ct.table_name)) AS relid
    FROM keyshift.converted_table AS ct
    WHERE ct.mode = 'external'
),

column_state AS (
    SELECT
        t.*,
        a.attnum,
        a.atttypid,
        coalesce(a.attnotnull, TRUE) AND NOT EXISTS (
            -- PostgreSQL 18: attnotnull is also set by a NOT NULL ... NOT VALID constraint
            SELECT 1 FROM pg_constraint AS nn
            WHERE
                nn.conrelid = t.relid AND nn.contype = 'n' AND NOT nn.convalidated
                AND a.attnum = any(nn.conkey)
        ) AS attnotnull,
        pg_get_expr(ad.adbin, ad.adrelid) AS current_default,
        (
            SELECT count(*)
            FROM pg_constraint AS uc
            WHERE
                uc.conrelid = t.relid
                AND uc.conname = t.external_constraint
                AND uc.contype = 'u'
                -- deferrable: duplicates allowed until COMMIT, so not enforced on every row
                AND NOT uc.condeferrable
                AND uc.conkey = ARRAY[a.attnum]
        ) AS unique_constraints,
        (
            SELECT format_type(ka.atttypid, ka.atttypmod)
            FROM pg_attribute AS ka
            WHERE ka.attrelid = t.relid AND ka.attname = t.key_column AND NOT ka.attisdropped
        ) AS key_type,
        (
            SELECT string_agg(format('%I', pa.attname), ', ' ORDER BY k.ord)
            FROM pg_constraint AS pk
            CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY AS k (attnum, ord)
            INNER JOIN pg_attribute AS pa ON pk.conrelid = pa.attrelid AND k.attnum = pa.attnum
            WHERE pk.conrelid = t.relid AND pk.contype = 'p'
        ) AS pk_columns
    FROM target AS t
    LEFT JOIN pg_attribute AS a
        ON
            t.relid = a.attrelid
            AND t.external_column = a.attname
            AND NOT a.attisdropped
    LEFT JOIN pg_attrdef AS ad ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum
)

SELECT
    s.plan_id,
    s.table_schema,
    s.table_name,
    s.external_column,
    p.problem,
    p.detail
FROM column_state AS s
CROSS JOIN
    LATERAL (
        VALUES
        (s.relid IS NULL, 'table no longer exists', NULL),
        (s.relid IS NOT NULL AND s.attnum IS NULL, 'external column no longer exists', NULL),
        (s.atttypid <> 'uuid'::regtype, 'external column is not uuid', format_type(s.atttypid, NULL)),
        (NOT s.attnotnull, 'external column is nullable', NULL),
        (
            s.attnum IS NOT NULL AND s.current_default IS DISTINCT FROM s.key_default,
            'default differs from the planned default',
            format('expected %s, found %s', s.key_default, coalesce(s.current_default, 'no default'))
        ),
        (
            s.attnum IS NOT NULL AND s.unique_constraints = 0,
            'unique constraint (not deferrable) on the external column alone missing',
            format('expected constraint %I', s.external_constraint)
        ),
        (
            s.relid IS NOT NULL AND s.pk_columns IS DISTINCT FROM format('%I', s.key_column),
            'integer key is no longer the primary key alone',
            coalesce(s.pk_columns, 'no primary key')
        ),
        (
            s.relid IS NOT NULL AND s.key_type IS DISTINCT FROM s.old_type,
            'integer key changed type',
            format('expected %s, found %s', s.old_type, coalesce(s.key_type, 'no such column'))
        )
    ) AS p (failed, problem, detail)
WHERE p.failed
ORDER BY s.table_schema, s.table_name, p.problem;
