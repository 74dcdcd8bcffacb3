-- rows_unchanged_through_mapping.sql
--
-- Claim: every table the conversion touched holds the same rows as before it, and every
-- row still refers to the same parent: the row count and the order-independent hash of all
-- rows, with each converted column read back as its OLD integer id through its mapping
-- table (keyshift.table_fingerprint(schema, table, TRUE)), equal what the plan recorded in
-- keyshift.fingerprint just before it converted anything.
--
-- Scope: only the plans being applied in this transaction, named by the setting
-- keyshift.checking_plans that `keyshift migrate` sets before it applies them. Outside
-- migrate (`keyshift check`, psql) the setting is empty and this check returns no rows by
-- design: once the transaction has committed, the application may legitimately insert,
-- update and delete rows, so the fingerprints from before the conversion no longer describe
-- the table. Inside migrate the tables are locked, so any difference is the conversion's
-- doing. To replay it by hand right after a conversion:
--   SELECT set_config('keyshift.checking_plans', '0001', TRUE);  then  \i this file.
--
-- Why: this is the data proof that no reference was misdirected: a child row that now
-- points at another (existing) parent passes every foreign key and orphan check, but its
-- old id, read back through the mapping, differs, and so does the hash.
--
-- One row: one table of a plan being applied whose row count or fingerprint differs from
-- the recorded one (or which no longer exists); `problem` says which.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.fingerprint where plan_id in setting keyshift.checking_plans
-- skip-reason: no plan is being applied; keyshift migrate checks this claim before COMMIT
WITH recorded AS (
    SELECT
        f.plan_id,
        f.table_schema,
        f.table_name,
        f.row_count,
        f.fingerprint,
        to_regclass(format('%I.%I', f.table_schema, f.table_name)) IS NOT NULL AS table_exists
    FROM keyshift.fingerprint AS f
    WHERE f.plan_id = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
),

measured AS (
    SELECT
        r.*,
        CASE
            WHEN r.table_exists
                THEN query_to_xml(
                    format(
                        'SELECT f.row_count AS n, f.fingerprint AS h'
                        ' FROM keyshift.table_fingerprint(%L, %L, TRUE) AS f',
                        r.table_schema, r.table_name
                    ),
                    FALSE, TRUE, ''
                )
        END AS result
    FROM recorded AS r
),

compared AS (
    SELECT
        m.plan_id,
        m.table_schema,
        m.table_name,
        m.table_exists,
        m.row_count AS rows_before,
        (xpath('/row/n/text()', m.result))[1]::text::bigint AS rows_now,
        m.fingerprint AS fingerprint_before,
        (xpath('/row/h/text()', m.result))[1]::text::numeric AS fingerprint_now
    FROM measured AS m
)

SELECT
    c.plan_id,
    c.table_schema,
    c.table_name,
    c.rows_before,
    c.rows_now,
    c.fingerprint_before,
    c.fingerprint_now,
    CASE
        WHEN NOT c.table_exists THEN 'table no longer exists'
        WHEN c.rows_now <> c.rows_before THEN 'row count changed'
        ELSE 'rows or references changed (fingerprint through the mapping differs)'
    END AS problem
FROM compared AS c
WHERE
    NOT c.table_exists
    OR c.rows_now IS DISTINCT FROM c.rows_before
    OR c.fingerprint_now IS DISTINCT FROM c.fingerprint_before
ORDER BY c.plan_id, c.table_schema, c.table_name;
