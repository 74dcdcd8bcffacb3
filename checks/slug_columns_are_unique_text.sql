-- slug_columns_are_unique_text.sql
--
-- Claim: every slug column keyshift added (keyshift.converted_slug, from --slug-column)
-- still exists, is text, and is on its own the column of a UNIQUE (or PRIMARY KEY)
-- constraint that is not deferrable, so PostgreSQL itself refuses a slug used twice, on every
-- row at every statement. That every row holds a Base62 slug of the recorded length is the
-- plan's own check <plan_id>.checks/slugs_are_base62.sql, which reads the rows.
--
-- Why: a slug is a public identifier (URLs, support tickets): two rows with one slug send
-- a reader to the wrong record.
--
-- One row: one slug column and one way it falls short (`problem`); `detail` shows what the
-- catalog holds instead.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_slug
-- skip-reason: no slug column was converted
WITH slug AS (
    SELECT
        s.plan_id,
        s.table_schema,
        s.table_name,
        s.column_name,
        to_regclass(format('%I.%I', s.table_schema, s.table_name)) AS relid
    FROM keyshift.converted_slug AS s
),

col AS (
    SELECT
        sl.*,
        a.atttypid,
        exists(
            SELECT 1
            FROM pg_constraint AS c
            WHERE
                c.conrelid = sl.relid
                AND c.contype IN ('u', 'p')
                AND NOT c.condeferrable
                AND c.conkey = ARRAY[a.attnum]
        ) AS has_unique
    FROM slug AS sl
    LEFT JOIN pg_attribute AS a
        ON
            sl.relid = a.attrelid
            AND sl.column_name = a.attname
            AND NOT a.attisdropped
)

SELECT
    c.plan_id,
    c.table_schema,
    c.table_name,
    c.column_name,
    p.problem,
    p.detail
FROM col AS c
CROSS JOIN
    LATERAL (
        VALUES
        (c.relid IS NULL, 'table no longer exists', NULL::text),
        (c.relid IS NOT NULL AND c.atttypid IS NULL, 'slug column no longer exists', NULL),
        (c.atttypid <> 'text'::regtype, 'slug column is not text', format_type(c.atttypid, NULL)),
        (
            c.atttypid IS NOT NULL AND NOT c.has_unique,
            'no UNIQUE constraint, not deferrable, on the slug column alone',
            NULL
        )
    ) AS p (failed, problem, detail)
WHERE p.failed
ORDER BY c.table_schema, c.table_name, c.column_name, p.problem;
