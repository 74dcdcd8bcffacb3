-- slugs_are_unique_base62.sql
--
-- Claim: every slug column keyshift added (keyshift.converted_slug, from --slug-column)
-- still exists as text, holds in every row a value of exactly the recorded length made only
-- of the 62 characters 0-9, a-z, A-Z, holds no value twice, and is guarded by a UNIQUE
-- constraint on that column alone (so new rows cannot break the claim later).
--
-- Why: a slug is a public identifier (URLs, support tickets): two rows with one slug send
-- a reader to the wrong record, and a character outside Base62 or a wrong length breaks
-- the URLs and parsers built on the promised shape.
--
-- One row: one slug column and one way it falls short (`problem`); `bad_rows` counts the
-- offending rows (or duplicate values) and `sample` shows one of them.
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
        s.length,
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
                AND c.conkey = ARRAY[a.attnum]
        ) AS has_unique
    FROM slug AS sl
    LEFT JOIN pg_attribute AS a
        ON
            sl.relid = a.attrelid
            AND sl.column_name = a.attname
            AND NOT a.attisdropped
),

measured AS (
    SELECT
        c.*,
        CASE
            WHEN c.atttypid = 'text'::regtype
                THEN query_to_xml(
                    format(
                        'SELECT'
                        ' count(*) FILTER (WHERE v.s IS NULL) AS nulls,'
                        ' count(*) FILTER (WHERE length(v.s) <> %s OR v.s !~ ''^[0-9A-Za-z]*$'') AS malformed,'
                        ' min(v.s) FILTER (WHERE length(v.s) <> %s OR v.s !~ ''^[0-9A-Za-z]*$'') AS bad_sample,'
                        ' count(v.s) - count(DISTINCT v.s) AS duplicates,'
                        ' (SELECT d.%I FROM %I.%I AS d GROUP BY d.%I HAVING count(*) > 1'
                        ' ORDER BY d.%I LIMIT 1) AS dup_sample'
                        ' FROM (SELECT t.%I COLLATE "C" AS s FROM %I.%I AS t) AS v',
                        c.length, c.length,
                        c.column_name, c.table_schema, c.table_name, c.column_name, c.column_name,
                        c.column_name, c.table_schema, c.table_name
                    ),
                    FALSE, TRUE, ''
                )
        END AS result
    FROM col AS c
),

found AS (
    SELECT
        m.*,
        (xpath('/row/nulls/text()', m.result))[1]::text::bigint AS nulls,
        (xpath('/row/malformed/text()', m.result))[1]::text::bigint AS malformed,
        (xpath('/row/bad_sample/text()', m.result))[1]::text AS bad_sample,
        (xpath('/row/duplicates/text()', m.result))[1]::text::bigint AS duplicates,
        (xpath('/row/dup_sample/text()', m.result))[1]::text AS dup_sample
    FROM measured AS m
)

SELECT
    f.plan_id,
    f.table_schema,
    f.table_name,
    f.column_name,
    f.length AS expected_length,
    p.problem,
    p.bad_rows,
    p.sample
FROM found AS f
CROSS JOIN
    LATERAL (
        VALUES
        (f.relid IS NULL, 'table no longer exists', NULL::bigint, NULL::text),
        (f.relid IS NOT NULL AND f.atttypid IS NULL, 'slug column no longer exists', NULL, NULL),
        (f.atttypid <> 'text'::regtype, 'slug column is not text', NULL, format_type(f.atttypid, NULL)),
        (f.nulls > 0, 'rows without a slug', f.nulls, NULL),
        (f.malformed > 0, 'slug of wrong length or with a character outside 0-9a-zA-Z', f.malformed, f.bad_sample),
        (f.duplicates > 0, 'slug used by more than one row', f.duplicates, f.dup_sample),
        (f.atttypid IS NOT NULL AND NOT f.has_unique, 'no UNIQUE constraint on the slug column alone', NULL, NULL)
    ) AS p (failed, problem, bad_rows, sample)
WHERE p.failed
ORDER BY f.table_schema, f.table_name, f.column_name, p.problem;
