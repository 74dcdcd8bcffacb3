-- every_row_has_a_mapping_row.sql, plan 0001
--
-- Claim: every row of each table the plan converts has a row in its mapping table
-- (mapping.new_id = the row's new key), so its old id is recorded for rollback, audits
-- and old URLs. Tables and mappings:
--   public.custom_user: keyshift.map_public__custom_user
--
-- Scope: only while keyshift migrate applies plan 0001 (the setting keyshift.checking_plans
-- names it); every branch is gated on it, so elsewhere the file returns no rows. To replay it
-- by hand right after the conversion: SELECT set_config('keyshift.checking_plans', '0001', TRUE);
--
-- One row: one converted table with rows that have no mapping row; `sample` shows one key.
--
-- applies-to: keyshift.converted_table where plan_id = 0001 and plan_id in setting keyshift.checking_plans
-- skip-reason: plan 0001 is not being applied; keyshift migrate checks this claim before COMMIT
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'custom_user' AS table_name,
    'keyshift.map_public__custom_user' AS map_table,
    count(*) AS rows,
    min(t."id"::text) AS sample
FROM "public"."custom_user" AS t
WHERE
    '0001' = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
    AND NOT EXISTS (
        SELECT 1 FROM "keyshift"."map_public__custom_user" AS m
        WHERE m.new_id = t."id"
    )
HAVING count(*) > 0;
