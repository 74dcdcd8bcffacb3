-- uuid_version_matches.sql
--
-- Claim: every key value of every converted table is an RFC 9562 UUID of the version the
-- plan chose (keyshift.converted_table.uuid_version): its version nibble, the 13th hex digit
-- (the high 4 bits of byte 6 of uuid_send), is that version, and its variant, the 17th hex
-- digit, is one of 8, 9, a, b (the top 2 bits of byte 8 are 10). The bytes are read, not the
-- text, which costs a text conversion per row. Rows inserted after the conversion count
-- too: the key default must keep producing the same kind of key. In external mode the
-- values checked are those of the external id column (keyshift.converted_table.external_column).
--
-- Why: the version is a promise to everything downstream: v7 keys are time-ordered (index
-- locality, sorting by creation), v4 keys reveal nothing. A key of another version or
-- variant means it was not produced by the conversion or by the planned default.
--
-- One row: one converted table with keys of the wrong version or variant; `bad_keys` counts
-- them and `sample_key` shows the smallest.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table
-- skip-reason: no table was converted
WITH target AS (
    SELECT
        ct.plan_id,
        ct.table_schema,
        ct.table_name,
        CASE WHEN ct.mode = 'external' THEN ct.external_column ELSE ct.key_column END AS key_column,
        ct.uuid_version
    FROM keyshift.converted_table AS ct
    WHERE EXISTS (
        -- Only a uuid key can be read this way; keys_are_uuid_primary_keys_with_default.sql
        -- reports one that is missing or of another type.
        SELECT 1
        FROM pg_attribute AS a
        WHERE
            a.attrelid = to_regclass(format('%I.%I', ct.table_schema, ct.table_name))
            AND a.attname = CASE WHEN ct.mode = 'external' THEN ct.external_column ELSE ct.key_column END
            AND NOT a.attisdropped
            AND a.atttypid = 'uuid'::regtype
    )
),

measured AS (
    SELECT
        t.*,
        query_to_xml(
            format(
                'SELECT count(*) AS n, min(t.%1$I::text) AS sample FROM %2$I.%3$I AS t'
                ' WHERE t.%1$I IS NOT NULL'
                ' AND ((get_byte(uuid_send(t.%1$I), 6) >> 4) <> %4$s OR (get_byte(uuid_send(t.%1$I), 8) >> 6) <> 2)',
                t.key_column, t.table_schema, t.table_name, t.uuid_version::integer
            ),
            FALSE, TRUE, ''
        ) AS result
    FROM target AS t
)

SELECT
    m.plan_id,
    m.table_schema,
    m.table_name,
    m.key_column,
    m.uuid_version AS expected_version,
    (xpath('/row/n/text()', m.result))[1]::text::bigint AS bad_keys,
    (xpath('/row/sample/text()', m.result))[1]::text AS sample_key
FROM measured AS m
WHERE (xpath('/row/n/text()', m.result))[1]::text::bigint > 0
ORDER BY m.table_schema, m.table_name;
