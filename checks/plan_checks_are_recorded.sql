-- plan_checks_are_recorded.sql
--
-- Claim: every plan the registry records as applied has its own checks recorded in
-- keyshift.plan_check, each one keyshift plan writes for such a plan: row_counts_unchanged,
-- rows_unchanged_through_mapping and uuid_version_matches for every plan; in replace mode also
-- every_row_has_a_mapping_row and every_mapping_row_names_a_row, no_orphan_references when it
-- converted a referencing column, and slugs_are_base62 when it added a slug column.
--
-- Why: keyshift check runs the claims that read a plan's tables from keyshift.plan_check. A
-- row deleted there, or a database converted before keyshift recorded them, would take those
-- claims away without a word, and the run would pass with fewer proofs than it names.
--
-- One row: one applied plan and one of its checks that is not recorded.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table
-- skip-reason: no table was converted
WITH applied AS (
    SELECT
        ct.plan_id,
        bool_or(ct.mode <> 'external') AS replaces_keys
    FROM keyshift.converted_table AS ct
    GROUP BY ct.plan_id
),

expected AS (
    SELECT
        a.plan_id,
        c.check_name
    FROM applied AS a
    CROSS JOIN (
        VALUES
        ('row_counts_unchanged.sql'),
        ('rows_unchanged_through_mapping.sql'),
        ('uuid_version_matches.sql')
    ) AS c (check_name)
    UNION ALL
    SELECT
        a.plan_id,
        c.check_name
    FROM applied AS a
    CROSS JOIN (VALUES ('every_row_has_a_mapping_row.sql'), ('every_mapping_row_names_a_row.sql')) AS c (check_name)
    WHERE a.replaces_keys
    UNION ALL
    SELECT DISTINCT
        cc.plan_id,
        'no_orphan_references.sql' AS check_name
    FROM keyshift.converted_column AS cc
    WHERE NOT cc.is_key
    UNION ALL
    SELECT DISTINCT
        s.plan_id,
        'slugs_are_base62.sql' AS check_name
    FROM keyshift.converted_slug AS s
)

SELECT
    e.plan_id,
    e.check_name,
    'not recorded in keyshift.plan_check: restore it from a backup, or insert migrations/'
    || e.plan_id || '.checks/' || e.check_name || ' there with its sha256' AS problem
FROM expected AS e
WHERE
    NOT EXISTS (
        SELECT 1
        FROM keyshift.plan_check AS pc
        WHERE pc.plan_id = e.plan_id AND pc.check_name = e.check_name
    )
ORDER BY e.plan_id, e.check_name;
