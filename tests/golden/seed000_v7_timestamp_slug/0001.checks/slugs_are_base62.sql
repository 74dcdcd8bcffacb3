-- slugs_are_base62.sql, plan 0001
--
-- Claim: every row of each table the plan gave a slug column holds a slug of exactly the
-- recorded length made only of the 62 characters 0-9, a-z, A-Z (never NULL). That no slug
-- is used twice is checks/slug_columns_are_unique_text.sql's claim (a UNIQUE constraint).
--   public.custom_user.public_id: 22 characters
-- Why: a slug is a public identifier; a character outside Base62 or a wrong length breaks
-- the URLs and parsers built on the promised shape.
--
-- Scope: at any time while plan 0001 is applied: keyshift migrate runs it before COMMIT and
-- records it in keyshift.plan_check, from where keyshift check runs it later.
--
-- One row: one slug column with malformed or missing slugs; `sample` shows one.
--
-- applies-to: keyshift.converted_slug where plan_id = 0001
-- skip-reason: plan 0001 added no slug column that is still recorded
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'custom_user' AS table_name,
    'public_id' AS column_name,
    22 AS expected_length,
    count(*) AS bad_rows,
    min(coalesce(t."public_id", 'NULL')) AS sample
FROM "public"."custom_user" AS t
WHERE
    t."public_id" IS NULL
    OR length(t."public_id") <> 22
    OR t."public_id" !~ '^[0-9A-Za-z]*$'
HAVING count(*) > 0;
