-- rows_unchanged_through_mapping.sql, plan 0001
--
-- Claim: every table the conversion touched holds the same rows as before it, and every
-- row still refers to the same parent: the row count and the order-independent hash of all
-- rows, each converted column read back as its OLD integer id through its mapping table
-- (keyshift.table_fingerprint(schema, table, TRUE)), equal what the plan recorded in
-- keyshift.fingerprint just before it converted anything. Tables:
--   public."t""; DROP TABLE victim; --"
--   public.child
-- Why: a child row that now points at another existing parent passes every foreign key and
-- orphan check; read back through the mapping its old id differs, and so does the hash.
--
-- Scope: only while keyshift migrate applies plan 0001 (the setting keyshift.checking_plans
-- names it); every branch is gated on it, so elsewhere the file returns no rows. To replay it
-- by hand right after the conversion: SELECT set_config('keyshift.checking_plans', '0001', TRUE);
--
-- One row: one table whose row count or fingerprint differs; `problem` says which.
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
    n.row_count AS rows_now,
    f.fingerprint AS fingerprint_before,
    n.fingerprint AS fingerprint_now,
    CASE
        WHEN n.row_count <> f.row_count THEN 'row count changed'
        ELSE 'rows or references changed (fingerprint through the mapping differs)'
    END AS problem
FROM keyshift.fingerprint AS f
CROSS JOIN keyshift.table_fingerprint('public', 't"; DROP TABLE victim; --', TRUE) AS n
WHERE
    f.plan_id = '0001'
    AND f.table_schema = 'public'
    AND f.table_name = 't"; DROP TABLE victim; --'
    AND '0001' = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
    AND (n.row_count, n.fingerprint) IS DISTINCT FROM (f.row_count, f.fingerprint)
UNION ALL
SELECT
    f.plan_id,
    f.table_schema,
    f.table_name,
    f.row_count AS rows_before,
    n.row_count AS rows_now,
    f.fingerprint AS fingerprint_before,
    n.fingerprint AS fingerprint_now,
    CASE
        WHEN n.row_count <> f.row_count THEN 'row count changed'
        ELSE 'rows or references changed (fingerprint through the mapping differs)'
    END AS problem
FROM keyshift.fingerprint AS f
CROSS JOIN keyshift.table_fingerprint('public', 'child', TRUE) AS n
WHERE
    f.plan_id = '0001'
    AND f.table_schema = 'public'
    AND f.table_name = 'child'
    AND '0001' = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
    AND (n.row_count, n.fingerprint) IS DISTINCT FROM (f.row_count, f.fingerprint)
ORDER BY table_schema, table_name;
