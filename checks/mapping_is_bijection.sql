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
-- How, in as few scans as the proof allows:
--   * the three conversion-time parts (a mapping row without a table row, a table row without
--     a mapping row, both row counts) come from the mapping and the table joined on
--     new_id = key. When both join columns are proven unique (below), an INNER join's count
--     and the two row counts settle all three, since each row meets at most one partner:
--     unmatched mapping rows = mapping rows - matched, unmatched table rows = table rows -
--     matched; one offending row is then looked up only when a difference is not 0. Those
--     three counts run in parallel workers, where a FULL join cannot before PostgreSQL 16
--     (measured by hand on make bench's N=300,000 data after conversion: 2.6 s -> 1.5 s
--     for 3 million orders). Otherwise ONE full join counts both
--     kinds of unmatched rows and the rows are counted apart;
--   * the catalog stands in for a scan only where PostgreSQL itself enforces the property on
--     every row at every statement: "no NULL" when the column is NOT NULL, "no duplicate" when
--     a unique index on exactly that column (default btree operator class, no expression) is
--     valid, ready, IMMEDIATE and not partial, the column is NOT NULL, and the table has no
--     inheritance children (whose rows a scan reads but the index does not cover; partitions
--     of a partitioned table are covered). A deferrable
--     constraint (duplicates allowed until commit, which is when we look), a partial or an
--     invalid index, or a missing NOT NULL, and the data are scanned as before.
--
-- One row: one converted table and one broken part of the claim (`problem`); `rows` counts
-- the offending mapping rows, duplicated ids or table rows, and `sample` shows one of them.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table where mode <> external and map_dropped_at is null
-- skip-reason: no mapping table is kept: external mode keeps none, keyshift drop-map retired the others
WITH target AS (
    SELECT
        ct.plan_id,
        ct.table_schema,
        ct.table_name,
        ct.key_column,
        ct.map_table,
        ct.map_dropped_at IS NOT NULL AS map_retired,
        to_regclass(format('keyshift.%I', ct.map_table)) AS map_oid,
        to_regclass(format('%I.%I', ct.table_schema, ct.table_name)) AS table_oid,
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

-- Columns PostgreSQL keeps unique and not NULL on every row after every statement.
enforced_unique AS (
    SELECT
        i.indrelid AS rel,
        a.attname AS col
    FROM pg_index AS i
    INNER JOIN pg_attribute AS a ON i.indrelid = a.attrelid AND i.indkey[0] = a.attnum
    INNER JOIN pg_opclass AS oc ON i.indclass[0] = oc.oid
    WHERE
        i.indisunique AND i.indisvalid AND i.indisready AND i.indislive AND i.indimmediate
        AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1
        AND a.attnotnull AND NOT a.attisdropped
        -- PostgreSQL 18: attnotnull is also set by a NOT NULL ... NOT VALID constraint
        AND NOT EXISTS (
            SELECT 1 FROM pg_constraint AS nn
            WHERE
                nn.conrelid = a.attrelid AND nn.contype = 'n' AND NOT nn.convalidated
                AND a.attnum = any(nn.conkey)
        )
        AND oc.opcdefault AND oc.opcintype = a.atttypid
        -- An index covers its own table only, not inheritance children, which a scan of the
        -- table reads too (a partitioned table's index covers every partition).
        AND NOT EXISTS (
            SELECT 1
            FROM pg_inherits AS inh
            INNER JOIN pg_class AS parent ON inh.inhparent = parent.oid
            WHERE inh.inhparent = i.indrelid AND parent.relkind <> 'p'
        )
        AND i.indrelid IN (
            SELECT t.map_oid FROM target AS t
            UNION ALL
            SELECT t.table_oid FROM target AS t
        )
),

facts AS (
    SELECT
        t.*,
        t.map_oid IS NOT NULL AS map_exists,
        exists(
            SELECT 1 FROM enforced_unique AS u
            WHERE u.rel = t.map_oid AND u.col = 'old_id'
        ) AS old_id_unique,
        exists(
            SELECT 1 FROM enforced_unique AS u
            WHERE u.rel = t.map_oid AND u.col = 'new_id'
        ) AS new_id_unique,
        exists(
            SELECT 1 FROM enforced_unique AS u
            WHERE u.rel = t.table_oid AND u.col = t.key_column
        ) AS key_unique,
        coalesce(
            (
                SELECT bool_and(a.attnotnull) AND count(*) = 2
                FROM pg_attribute AS a
                WHERE
                    a.attrelid = t.map_oid AND a.attname IN ('old_id', 'new_id') AND NOT a.attisdropped
                    AND NOT EXISTS (
                        SELECT 1 FROM pg_constraint AS nn
                        WHERE
                            nn.conrelid = a.attrelid AND nn.contype = 'n' AND NOT nn.convalidated
                            AND a.attnum = any(nn.conkey)
                    )
            ),
            FALSE
        ) AS map_not_null
    FROM target AS t
),

probe AS (
    -- Each probe is one query returning n (how many offend) and sample (one of them); the
    -- 'joined' probe returns the three conversion-time parts at once.
    SELECT
        f.*,
        'mapping row with a NULL old_id or new_id' AS problem,
        format(
            'SELECT count(*) AS n, min(coalesce(m.old_id::text, ''NULL'') || '' -> '' || coalesce(m.new_id::text, ''NULL''))'
            ' AS sample'
            ' FROM keyshift.%I AS m WHERE m.old_id IS NULL OR m.new_id IS NULL',
            f.map_table
        ) AS probe_sql
    FROM facts AS f
    WHERE f.map_exists AND NOT f.map_not_null
    UNION ALL
    SELECT
        f.*,
        'old_id mapped more than once' AS problem,
        format(
            'SELECT count(*) AS n, min(d.old_id) AS sample FROM ('
            'SELECT m.old_id FROM keyshift.%I AS m WHERE m.old_id IS NOT NULL'
            ' GROUP BY m.old_id HAVING count(*) > 1) AS d',
            f.map_table
        ) AS probe_sql
    FROM facts AS f
    WHERE f.map_exists AND NOT f.old_id_unique
    UNION ALL
    SELECT
        f.*,
        'new_id mapped more than once' AS problem,
        format(
            'SELECT count(*) AS n, min(d.new_id::text) AS sample FROM ('
            'SELECT m.new_id FROM keyshift.%I AS m WHERE m.new_id IS NOT NULL'
            ' GROUP BY m.new_id HAVING count(*) > 1) AS d',
            f.map_table
        ) AS probe_sql
    FROM facts AS f
    WHERE f.map_exists AND NOT f.new_id_unique
    UNION ALL
    SELECT
        f.*,
        'joined' AS problem,
        CASE
            -- Both join columns proven unique: each row meets at most one partner, so
            -- mapping rows without a table row = mrows - matched and table rows without a
            -- mapping row = trows - matched. The sample queries run only when one is not 0.
            WHEN f.new_id_unique AND f.key_unique
                THEN
                    format(
                        'SELECT'
                        ' c.mrows - c.matched AS n1,'
                        ' CASE WHEN c.mrows > c.matched THEN (SELECT min(m.new_id::text) FROM keyshift.%2$I AS m'
                        ' WHERE NOT EXISTS (SELECT 1 FROM %3$I.%4$I AS t WHERE t.%1$I = m.new_id)) END AS s1,'
                        ' c.trows - c.matched AS n2,'
                        ' CASE WHEN c.trows > c.matched THEN (SELECT min(t.%1$I::text) FROM %3$I.%4$I AS t'
                        ' WHERE NOT EXISTS (SELECT 1 FROM keyshift.%2$I AS m WHERE m.new_id = t.%1$I)) END AS s2,'
                        ' c.mrows, c.trows'
                        ' FROM (SELECT'
                        ' (SELECT count(*) FROM keyshift.%2$I) AS mrows,'
                        ' (SELECT count(*) FROM %3$I.%4$I) AS trows,'
                        ' (SELECT count(*) FROM keyshift.%2$I AS m INNER JOIN %3$I.%4$I AS t ON m.new_id = t.%1$I) AS matched'
                        ' OFFSET 0) AS c',
                        f.key_column, f.map_table, f.table_schema, f.table_name
                    )
            ELSE format(
                'SELECT'
                ' count(*) FILTER (WHERE t.ctid IS NULL AND m.new_id IS NOT NULL) AS n1,'
                ' min(m.new_id::text) FILTER (WHERE t.ctid IS NULL AND m.new_id IS NOT NULL) AS s1,'
                ' count(*) FILTER (WHERE m.ctid IS NULL) AS n2,'
                ' min(t.%1$I::text) FILTER (WHERE m.ctid IS NULL) AS s2,'
                ' (SELECT count(*) FROM keyshift.%2$I) AS mrows, (SELECT count(*) FROM %3$I.%4$I) AS trows'
                ' FROM keyshift.%2$I AS m FULL JOIN %3$I.%4$I AS t ON m.new_id = t.%1$I',
                f.key_column, f.map_table, f.table_schema, f.table_name
            )
        END AS probe_sql
    FROM facts AS f
    WHERE f.map_exists AND f.key_is_uuid AND f.inside_migrate
    UNION ALL
    SELECT
        f.*,
        'mapping table no longer exists (retire it with keyshift drop-map, not by dropping it)' AS problem,
        'SELECT 1 AS n, NULL AS sample' AS probe_sql
    FROM facts AS f
    WHERE NOT f.map_exists AND NOT f.map_retired
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
),

expanded AS (
    SELECT
        m.plan_id,
        m.table_schema,
        m.table_name,
        m.map_table,
        x.problem,
        x.n,
        x.sample
    FROM measured AS m
    CROSS JOIN LATERAL (
        SELECT
            m.problem,
            (xpath('/row/n/text()', m.result))[1]::text::bigint AS n,
            (xpath('/row/sample/text()', m.result))[1]::text AS sample
        WHERE m.problem <> 'joined'
        UNION ALL
        SELECT
            'new_id that is no key of the table' AS problem,
            (xpath('/row/n1/text()', m.result))[1]::text::bigint AS n,
            (xpath('/row/s1/text()', m.result))[1]::text AS sample
        WHERE m.problem = 'joined'
        UNION ALL
        SELECT
            'table row without a mapping row' AS problem,
            (xpath('/row/n2/text()', m.result))[1]::text::bigint AS n,
            (xpath('/row/s2/text()', m.result))[1]::text AS sample
        WHERE m.problem = 'joined'
        UNION ALL
        SELECT
            'mapping row count differs from table row count' AS problem,
            abs(c.mrows - c.trows) AS n,
            c.mrows || ' mapping rows, ' || c.trows || ' table rows' AS sample
        FROM (
            SELECT
                (xpath('/row/mrows/text()', m.result))[1]::text::bigint AS mrows,
                (xpath('/row/trows/text()', m.result))[1]::text::bigint AS trows
        ) AS c
        WHERE m.problem = 'joined'
    ) AS x
)

SELECT
    e.plan_id,
    e.table_schema,
    e.table_name,
    format('keyshift.%I', e.map_table) AS map_table,
    e.problem,
    e.n AS rows,
    e.sample
FROM expanded AS e
WHERE e.n > 0
ORDER BY e.table_schema, e.table_name, e.problem;
