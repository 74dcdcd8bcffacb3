-- row_counts_unchanged.sql, plan 0001
--
-- Claim: every table the conversion touched has exactly as many rows as the plan counted
-- just before it converted anything (keyshift.fingerprint.row_count). Tables:
--   public."t""; DROP TABLE victim; --"
--   public.child
-- Why: the simplest statement that no row was lost or duplicated.
--
-- Scope: only while keyshift migrate applies plan 0001 (the setting keyshift.checking_plans
-- names it); every branch is gated on it, so elsewhere the file returns no rows. To replay it
-- by hand right after the conversion: SELECT set_config('keyshift.checking_plans', '0001', TRUE);
--
-- One row: one table whose row count differs from the recorded one.
--
-- applies-to: keyshift.fingerprint where plan_id = 0001 and plan_id in setting keyshift.checking_plans
-- skip-reason: plan 0001 is not being applied; keyshift migrate checks this claim before COMMIT
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any
SELECT
    f.plan_id,
    f.table_schema,
    f.table_name,
    f.row_count AS rows_before,
    n.rows_now,
    n.rows_now - f.row_count AS difference
FROM keyshift.fingerprint AS f
CROSS JOIN (SELECT count(*) AS rows_now FROM "public"."t""; DROP TABLE victim; --") AS n
WHERE
    f.plan_id = '0001'
    AND f.table_schema = 'public'
    AND f.table_name = 't"; DROP TABLE victim; --'
    AND '0001' = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
    AND n.rows_now <> f.row_count
UNION ALL
SELECT
    f.plan_id,
    f.table_schema,
    f.table_name,
    f.row_count AS rows_before,
    n.rows_now,
    n.rows_now - f.row_count AS difference
FROM keyshift.fingerprint AS f
CROSS JOIN (SELECT count(*) AS rows_now FROM "public"."child") AS n
WHERE
    f.plan_id = '0001'
    AND f.table_schema = 'public'
    AND f.table_name = 'child'
    AND '0001' = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
    AND n.rows_now <> f.row_count
ORDER BY table_schema, table_name;
