-- no_orphan_references.sql, plan 0001
--
-- Claim: no row references a parent that does not exist, counted in the data (MATCH SIMPLE:
-- a row whose referencing columns are all non-null and that no parent row matches), for every
-- foreign key the plan moved to the new keys, even one dropped since, and every --reference:
--   child_parent\u000aid_fkey on public.child
-- Why: a validated foreign key is only the catalog's word: triggers can be disabled
-- (session_replication_role = replica), constraints dropped and re-added NOT VALID.
--
-- Scope: at any time while plan 0001 is applied: keyshift migrate runs it before COMMIT and
-- records it in keyshift.plan_check, from where keyshift check runs it later.
--
-- One row: one reference with orphans; `orphan_rows` counts them, `sample_value` shows one.
--
-- applies-to: keyshift.converted_table where plan_id = 0001
-- skip-reason: plan 0001 is not applied in this database
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'child' AS table_name,
    'parent
id' AS column_names,
    'public."t""; DROP TABLE victim; --"' AS referenced_table,
    'child_parent
id_fkey' AS constraint_name,
    count(*) AS orphan_rows,
    min(concat_ws(', ', c."parent
id"::text)) AS sample_value
FROM "public"."child" AS c
WHERE
    c."parent
id" IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM "public"."t""; DROP TABLE victim; --" AS p
        WHERE p."id" = c."parent
id"
    )
HAVING count(*) > 0;
