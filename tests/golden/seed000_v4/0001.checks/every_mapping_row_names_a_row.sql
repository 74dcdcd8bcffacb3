-- every_mapping_row_names_a_row.sql, plan 0001
--
-- Claim: every row of each mapping table the plan fills names a row of its table
-- (mapping.new_id is the new key of a row), so no old id leads to a key that is not there.
-- Tables and mappings:
--   public.custom_user: keyshift.map_public__custom_user
--
-- Scope: only while keyshift migrate applies plan 0001 (the setting keyshift.checking_plans
-- names it); every branch is gated on it, so elsewhere the file returns no rows. To replay it
-- by hand right after the conversion: SELECT set_config('keyshift.checking_plans', '0001', TRUE);
--
-- One row: one mapping table with rows whose new_id is no key; `sample` shows one new_id.
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
    min(m.new_id::text) AS sample
FROM "keyshift"."map_public__custom_user" AS m
WHERE
    '0001' = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
    AND NOT EXISTS (
        SELECT 1 FROM "public"."custom_user" AS t
        WHERE t."id" = m.new_id
    )
HAVING count(*) > 0;
