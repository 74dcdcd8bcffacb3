-- row_counts_unchanged.sql
--
-- Claim: every table the conversion touched (each converted table and each table whose
-- columns reference one) has exactly as many rows as the plan counted just before it
-- converted anything (keyshift.fingerprint.row_count).
--
-- Scope: only the plans being applied in this transaction, named by the setting
-- keyshift.checking_plans that `keyshift migrate` sets before it applies them. Outside
-- migrate (`keyshift check`, psql) the setting is empty and this check returns no rows by
-- design: after COMMIT the application adds and deletes rows, so the counts from before the
-- conversion are history, not an invariant. To replay it by hand right after a conversion:
--   SELECT set_config('keyshift.checking_plans', '0001', TRUE);  then  \i this file.
--
-- Why: the simplest statement that no row was lost or duplicated, readable before the
-- stronger fingerprint proof in rows_unchanged_through_mapping.sql.
--
-- One row: one table of a plan being applied whose row count differs from the recorded one,
-- or which no longer exists (rows_now is then NULL).
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
        to_regclass(format('%I.%I', f.table_schema, f.table_name)) IS NOT NULL AS table_exists
    FROM keyshift.fingerprint AS f
    WHERE f.plan_id = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))
),

counted AS (
    SELECT
        r.plan_id,
        r.table_schema,
        r.table_name,
        r.row_count AS rows_before,
        CASE
            WHEN r.table_exists
                THEN (xpath(
                    '/row/n/text()',
                    query_to_xml(
                        format('SELECT count(*) AS n FROM %I.%I', r.table_schema, r.table_name), FALSE, TRUE, ''
                    )
                ))[1]::text::bigint
        END AS rows_now
    FROM recorded AS r
)

SELECT
    c.plan_id,
    c.table_schema,
    c.table_name,
    c.rows_before,
    c.rows_now,
    c.rows_now - c.rows_before AS difference
FROM counted AS c
WHERE c.rows_now IS DISTINCT FROM c.rows_before
ORDER BY c.plan_id, c.table_schema, c.table_name;
