-- uuid_version_matches.sql, plan 0001
--
-- Claim: every key value (in external mode, every external id) of each table of the plan is
-- an RFC 9562 UUID of the version the plan chose: the version nibble (the high 4 bits of
-- byte 6 of uuid_send) is that version and the variant (the top 2 bits of byte 8) is 10.
-- Rows inserted after the conversion count too: the default must keep producing that kind.
--   public."t""; DROP TABLE victim; --".id: version 4
-- Why: the version is a promise downstream: v7/v6 keys are time-ordered, v4 keys reveal
-- nothing. A key of another version was produced neither by the conversion nor by the default.
--
-- Scope: at any time while plan 0001 is applied: keyshift migrate runs it before COMMIT and
-- records it in keyshift.plan_check, from where keyshift check runs it later.
--
-- One row: one table with keys of the wrong version or variant; `sample_key` shows the smallest.
--
-- applies-to: keyshift.converted_table where plan_id = 0001
-- skip-reason: plan 0001 is not applied in this database
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    't"; DROP TABLE victim; --' AS table_name,
    'id' AS key_column,
    4 AS expected_version,
    count(*) AS bad_keys,
    min(t."id"::text) AS sample_key
FROM "public"."t""; DROP TABLE victim; --" AS t
WHERE
    t."id" IS NOT NULL
    AND ((get_byte(uuid_send(t."id"), 6) >> 4) <> 4 OR (get_byte(uuid_send(t."id"), 8) >> 6) <> 2)
HAVING count(*) > 0;
