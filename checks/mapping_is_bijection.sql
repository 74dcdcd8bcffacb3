-- mapping_is_bijection.sql
--
-- Claim: for every converted table, its retained mapping keyshift.<map_table>
-- (old_id bigint -> new_id uuid) is a bijection between the old and the new keys, proven in
-- the data (the mapping's own PRIMARY KEY / UNIQUE constraints may have been dropped):
--   * the mapping table exists and no mapping row has a NULL old_id or new_id;
--   * no old_id appears twice, and no new_id appears twice;
--   * inside `keyshift migrate` only (plans named by the setting keyshift.checking_plans):
--     every new_id is the key of a row of the converted table, every row of the converted
--     table has a mapping row, and there are exactly as many mapping rows as table rows.
--     Afterwards the application inserts rows with fresh uuids that never had an old id and
--     deletes rows whose mapping stays as history (an old URL of a deleted row must still
--     resolve to "gone", not to "unknown"), so these parts speak at conversion time only;
--     the row checks (rows_unchanged_through_mapping, row_counts_unchanged) speak then too.
-- A mapping table retired on purpose with `keyshift drop-map` (converted_table.map_dropped_at
-- is set) is no longer asked for; one that vanished otherwise is reported.
--
-- Replace mode only: external mode keeps the integer key, so the table itself is the record
-- of id -> external id (checks/external_ids_are_unique_not_null_with_default.sql).
--
-- Why: the mapping is the permanent record of old -> new that rollback, audits, caches and
-- old URLs rely on. A NULL, a duplicate either way, or a new key that leads nowhere means an
-- old id resolves to no row, or to two.
--
-- One row: one converted table and one broken part of the claim (`problem`); `rows` counts
-- the offending mapping rows, duplicated ids or table rows, and `sample` shows one of them.
WITH target AS (
    SELECT
        ct.plan_id,
        ct.table_schema,
        ct.table_name,
        ct.key_column,
        ct.map_table,
        ct.map_dropped_at IS NOT NULL AS map_retired,
        to_regclass(format('keyshift.%I', ct.map_table)) IS NOT NULL AS map_exists,
        coalesce(
            (
                SELECT a.atttypid = 'uuid'::regtype
                FROM pg_attribute AS a
                WHERE
                    a.attrelid = to_regclass(format('%I.%I', ct.table_schema, ct.table_name))
                    AND ct.key_column = a.attname
                    AND NOT a.attisdropped
            ),
            FALSE
        ) AS key_is_uuid,
        ct.plan_id = any(
            string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ',')
        ) AS inside_migrate
    FROM keyshift.converted_table AS ct
    WHERE ct.mode <> 'external'
),

probe AS (
    -- Each probe is one query returning n (how many offend) and sample (one of them).
    SELECT
        t.*,
        'mapping row with a NULL old_id or new_id' AS problem,
        format(
            'SELECT count(*) AS n, min(coalesce(m.old_id::text, ''NULL'') || '' -> '' || coalesce(m.new_id::text, ''NULL''))'
            ' AS sample'
            ' FROM keyshift.%I AS m WHERE m.old_id IS NULL OR m.new_id IS NULL',
            t.map_table
        ) AS probe_sql
    FROM target AS t
    WHERE t.map_exists
    UNION ALL
    SELECT
        t.*,
        'old_id mapped more than once' AS problem,
        format(
            'SELECT count(*) AS n, min(d.old_id) AS sample FROM ('
            'SELECT m.old_id FROM keyshift.%I AS m WHERE m.old_id IS NOT NULL'
            ' GROUP BY m.old_id HAVING count(*) > 1) AS d',
            t.map_table
        ) AS probe_sql
    FROM target AS t
    WHERE t.map_exists
    UNION ALL
    SELECT
        t.*,
        'new_id mapped more than once' AS problem,
        format(
            'SELECT count(*) AS n, min(d.new_id::text) AS sample FROM ('
            'SELECT m.new_id FROM keyshift.%I AS m WHERE m.new_id IS NOT NULL'
            ' GROUP BY m.new_id HAVING count(*) > 1) AS d',
            t.map_table
        ) AS probe_sql
    FROM target AS t
    WHERE t.map_exists
    UNION ALL
    SELECT
        t.*,
        'new_id that is no key of the table' AS problem,
        format(
            'SELECT count(*) AS n, min(m.new_id::text) AS sample FROM keyshift.%I AS m'
            ' WHERE m.new_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %I.%I AS t WHERE t.%I = m.new_id)',
            t.map_table, t.table_schema, t.table_name, t.key_column
        ) AS probe_sql
    FROM target AS t
    WHERE t.map_exists AND t.key_is_uuid AND t.inside_migrate
    UNION ALL
    SELECT
        t.*,
        'table row without a mapping row' AS problem,
        format(
            'SELECT count(*) AS n, min(t.%I::text) AS sample FROM %I.%I AS t'
            ' WHERE NOT EXISTS (SELECT 1 FROM keyshift.%I AS m WHERE m.new_id = t.%I)',
            t.key_column, t.table_schema, t.table_name, t.map_table, t.key_column
        ) AS probe_sql
    FROM target AS t
    WHERE t.map_exists AND t.key_is_uuid AND t.inside_migrate
    UNION ALL
    SELECT
        t.*,
        'mapping row count differs from table row count' AS problem,
        format(
            'SELECT abs(m.c - t.c) AS n, m.c || '' mapping rows, '' || t.c || '' table rows'' AS sample'
            ' FROM (SELECT count(*) AS c FROM keyshift.%I) AS m, (SELECT count(*) AS c FROM %I.%I) AS t',
            t.map_table, t.table_schema, t.table_name
        ) AS probe_sql
    FROM target AS t
    WHERE t.map_exists AND t.key_is_uuid AND t.inside_migrate
    UNION ALL
    SELECT
        t.*,
        'mapping table no longer exists (retire it with keyshift drop-map, not by dropping it)' AS problem,
        'SELECT 1 AS n, NULL AS sample' AS probe_sql
    FROM target AS t
    WHERE NOT t.map_exists AND NOT t.map_retired
),

measured AS (
    SELECT
        p.plan_id,
        p.table_schema,
        p.table_name,
        p.map_table,
        p.problem,
        query_to_xml(p.probe_sql, FALSE, TRUE, '') AS result
    FROM probe AS p
)

SELECT
    m.plan_id,
    m.table_schema,
    m.table_name,
    format('keyshift.%I', m.map_table) AS map_table,
    m.problem,
    (xpath('/row/n/text()', m.result))[1]::text::bigint AS rows,
    (xpath('/row/sample/text()', m.result))[1]::text AS sample
FROM measured AS m
WHERE (xpath('/row/n/text()', m.result))[1]::text::bigint > 0
ORDER BY m.table_schema, m.table_name, m.problem;
