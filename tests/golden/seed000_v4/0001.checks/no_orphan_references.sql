-- no_orphan_references.sql, plan 0001
--
-- Claim: no row references a parent that does not exist, counted in the data (MATCH SIMPLE:
-- a row whose referencing columns are all non-null and that no parent row matches), for every
-- foreign key the plan moved to the new keys, even one dropped since, and every --reference:
--   social_account_user_id_5e6e9a7d_fk_custom_user_id on public.social_account
--   user_profile_user_id_8fdce8e2_fk_custom_user_id on public.user_profile
--   verification_token_user_id_dfb9f3f2_fk_custom_user_id on public.verification_token
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
    'social_account' AS table_name,
    'user_id' AS column_names,
    'public.custom_user' AS referenced_table,
    'social_account_user_id_5e6e9a7d_fk_custom_user_id' AS constraint_name,
    count(*) AS orphan_rows,
    min(concat_ws(', ', c."user_id"::text)) AS sample_value
FROM "public"."social_account" AS c
WHERE
    c."user_id" IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM "public"."custom_user" AS p
        WHERE p."id" = c."user_id"
    )
HAVING count(*) > 0
UNION ALL
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'user_profile' AS table_name,
    'user_id' AS column_names,
    'public.custom_user' AS referenced_table,
    'user_profile_user_id_8fdce8e2_fk_custom_user_id' AS constraint_name,
    count(*) AS orphan_rows,
    min(concat_ws(', ', c."user_id"::text)) AS sample_value
FROM "public"."user_profile" AS c
WHERE
    c."user_id" IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM "public"."custom_user" AS p
        WHERE p."id" = c."user_id"
    )
HAVING count(*) > 0
UNION ALL
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'verification_token' AS table_name,
    'user_id' AS column_names,
    'public.custom_user' AS referenced_table,
    'verification_token_user_id_dfb9f3f2_fk_custom_user_id' AS constraint_name,
    count(*) AS orphan_rows,
    min(concat_ws(', ', c."user_id"::text)) AS sample_value
FROM "public"."verification_token" AS c
WHERE
    c."user_id" IS NOT NULL
    AND NOT EXISTS (
        SELECT 1 FROM "public"."custom_user" AS p
        WHERE p."id" = c."user_id"
    )
HAVING count(*) > 0
ORDER BY table_schema, table_name, constraint_name;
