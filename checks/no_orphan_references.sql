-- no_orphan_references.sql
--
-- Claim: no row references a parent that does not exist. Proven in the DATA, by counting,
-- for every reference that involves a converted column:
--   * each foreign key in the catalog now whose referencing or referenced columns include a
--     converted column (composite keys included);
--   * each reference the conversion itself created, read from the registry: a converted
--     column (keyshift.converted_column, not the key) and the key of the converted table that
--     shares its mapping. This covers the foreign keys listed in keyshift.converted_constraint
--     even when one of them has since been dropped from the catalog.
-- A row counts as an orphan when all its referencing columns are non-null and no parent row
-- has those values (MATCH SIMPLE, what PostgreSQL enforces by default).
--
-- Why: a validated foreign key is only the catalog's word. Triggers can be disabled
-- (session_replication_role = replica), constraints dropped and re-added NOT VALID; the
-- rows themselves are the proof that every reference still leads somewhere.
--
-- One row: one reference (constraint, or mapping when no constraint names it) with at least
-- one orphan; `orphan_rows` counts them and `sample_value` shows the smallest orphan value.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_column
-- skip-reason: no column was converted to uuid: every converted table is in external mode
WITH converted_attribute AS (
    SELECT
        a.attrelid,
        a.attnum
    FROM keyshift.converted_column AS cc
    INNER JOIN pg_attribute AS a
        ON
            a.attrelid = to_regclass(format('%I.%I', cc.table_schema, cc.table_name))
            AND cc.column_name = a.attname
            AND NOT a.attisdropped
),

catalog_reference AS (
    -- Every foreign key now in the catalog that touches a converted column, on either side.
    SELECT
        'catalog' AS source,
        cn.nspname AS table_schema,
        c.relname AS table_name,
        pn.nspname AS referenced_schema,
        p.relname AS referenced_table,
        con.conname AS constraint_name,
        string_agg(format('%I', child.attname), ', ' ORDER BY k.ord) AS column_names,
        string_agg(format('c.%I', child.attname), ', ' ORDER BY k.ord) AS column_list,
        string_agg(format('p.%I = c.%I', parent.attname, child.attname), ' AND ' ORDER BY k.ord) AS join_condition,
        string_agg(format('c.%I IS NOT NULL', child.attname), ' AND ' ORDER BY k.ord) AS not_null
    FROM pg_constraint AS con
    CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k (child_attnum, parent_attnum, ord)
    INNER JOIN pg_class AS c ON con.conrelid = c.oid
    INNER JOIN pg_namespace AS cn ON c.relnamespace = cn.oid
    INNER JOIN pg_class AS p ON con.confrelid = p.oid
    INNER JOIN pg_namespace AS pn ON p.relnamespace = pn.oid
    INNER JOIN pg_attribute AS child ON con.conrelid = child.attrelid AND k.child_attnum = child.attnum
    INNER JOIN pg_attribute AS parent ON con.confrelid = parent.attrelid AND k.parent_attnum = parent.attnum
    WHERE
        con.contype = 'f'
        AND (
            EXISTS (
                SELECT 1
                FROM converted_attribute AS ca
                WHERE ca.attrelid = con.conrelid AND ca.attnum = any(con.conkey)
            )
            OR EXISTS (
                SELECT 1
                FROM converted_attribute AS ca
                WHERE ca.attrelid = con.confrelid AND ca.attnum = any(con.confkey)
            )
        )
    GROUP BY cn.nspname, c.relname, pn.nspname, p.relname, con.conname
),

registry_reference AS (
    -- Every reference the conversion created: a converted column and the key converted
    -- through the same mapping table. Named after the recorded constraint when there is one.
    SELECT
        'registry' AS source,
        cc.table_schema,
        cc.table_name,
        ct.table_schema AS referenced_schema,
        ct.table_name AS referenced_table,
        coalesce(rec.constraint_name, format('keyshift.%I', cc.map_table)) AS constraint_name,
        format('%I', cc.column_name) AS column_names,
        format('c.%I', cc.column_name) AS column_list,
        -- Compared as text when a column's type has drifted, so the data is still counted
        -- (no_integer_key_left.sql reports the type itself).
        CASE
            WHEN child.atttypid = parent.atttypid THEN format('p.%I = c.%I', ct.key_column, cc.column_name)
            ELSE format('p.%I::text = c.%I::text', ct.key_column, cc.column_name)
        END AS join_condition,
        format('c.%I IS NOT NULL', cc.column_name) AS not_null
    FROM keyshift.converted_column AS cc
    INNER JOIN keyshift.converted_table AS ct ON cc.map_table = ct.map_table
    -- Only columns that still exist can be counted; no_integer_key_left.sql reports the rest.
    INNER JOIN pg_attribute AS child
        ON
            child.attrelid = to_regclass(format('%I.%I', cc.table_schema, cc.table_name))
            AND cc.column_name = child.attname
            AND NOT child.attisdropped
    INNER JOIN pg_attribute AS parent
        ON
            parent.attrelid = to_regclass(format('%I.%I', ct.table_schema, ct.table_name))
            AND ct.key_column = parent.attname
            AND NOT parent.attisdropped
    LEFT JOIN keyshift.converted_constraint AS rec
        ON
            cc.table_schema = rec.table_schema
            AND cc.table_name = rec.table_name
            AND starts_with(
                rec.definition,
                format('FOREIGN KEY (%I) REFERENCES %I.%I(%I)', cc.column_name, ct.table_schema, ct.table_name, ct.key_column)
            )
    WHERE NOT cc.is_key
),

reference AS (
    SELECT * FROM catalog_reference
    UNION ALL
    -- A registry reference that a catalog foreign key already covers is counted once.
    SELECT * FROM registry_reference AS rr
    WHERE NOT EXISTS (
        SELECT 1
        FROM catalog_reference AS cr
        WHERE
            cr.table_schema = rr.table_schema
            AND cr.table_name = rr.table_name
            AND cr.referenced_schema = rr.referenced_schema
            AND cr.referenced_table = rr.referenced_table
            AND cr.join_condition = rr.join_condition
    )
),

counted AS (
    SELECT
        r.*,
        query_to_xml(
            format(
                'SELECT count(*) AS n, min(concat_ws('', '', %s)) AS sample FROM %I.%I AS c'
                ' WHERE %s AND NOT EXISTS (SELECT 1 FROM %I.%I AS p WHERE %s)',
                r.column_list, r.table_schema, r.table_name,
                r.not_null, r.referenced_schema, r.referenced_table, r.join_condition
            ),
            FALSE, TRUE, ''
        ) AS result
    FROM reference AS r
)

SELECT
    ct.table_schema,
    ct.table_name,
    ct.column_names,
    format('%I.%I', ct.referenced_schema, ct.referenced_table) AS referenced_table,
    ct.constraint_name,
    ct.source,
    (xpath('/row/n/text()', ct.result))[1]::text::bigint AS orphan_rows,
    (xpath('/row/sample/text()', ct.result))[1]::text AS sample_value
FROM counted AS ct
WHERE (xpath('/row/n/text()', ct.result))[1]::text::bigint > 0
ORDER BY ct.table_schema, ct.table_name, ct.constraint_name;
