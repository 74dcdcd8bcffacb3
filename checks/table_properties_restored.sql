-- table_properties_restored.sql
--
-- Claim: every table that has a converted column, and every materialized view the conversion
-- dropped and created again, keeps what the plan recorded of it in
-- keyshift.converted_table_property when the conversion began: the same replica identity
-- (DEFAULT, NOTHING, FULL, or USING INDEX of the index of the same name), the same index it
-- is CLUSTERed ON (or none), the same storage parameters (reloptions: fillfactor,
-- autovacuum_*), the same tablespace, and each recorded column (a table's converted
-- columns, every column of a materialized view) the same statistics target, storage and
-- comment.
--
-- Why: the conversion rewrites the key and every column that references it, and with them
-- the indexes that contain them (the primary key's included). A table that comes back with
-- another replica identity stops replicating UPDATEs and DELETEs to a logical subscriber
-- (or floods it with whole rows); one that lost its CLUSTER ON, fillfactor or autovacuum
-- settings, or a column's statistics target, is maintained and planned differently from
-- what its owner chose, without any error. A materialized view is created anew, so none of
-- these would come back unless the conversion set each one again.
--
-- One row: one recorded table (or one of its converted columns) whose property differs;
-- `property` names it, `recorded` and `current` show both values.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table_property
-- skip-reason: no table property was recorded
WITH recorded AS (
    -- Plans that follow one another can each record the same table: the newest record counts
    -- (plan ids are zero-padded numbers: the longest, then the greatest, is the newest).
    SELECT DISTINCT ON (rec.table_schema, rec.table_name)
        rec.plan_id,
        rec.table_schema,
        rec.table_name,
        rec.replica_identity,
        rec.identity_index,
        rec.clustered_index,
        rec.options,
        rec.tablespace AS table_tablespace,
        rec.column_settings,
        to_regclass(format('%I.%I', rec.table_schema, rec.table_name)) AS relid
    FROM keyshift.converted_table_property AS rec
    ORDER BY rec.table_schema ASC, rec.table_name ASC, length(rec.plan_id) DESC, rec.plan_id DESC
),

current_state AS (
    SELECT
        r.*,
        c.relreplident,
        c.reloptions,
        (
            SELECT ts.spcname FROM pg_tablespace AS ts
            WHERE c.reltablespace = ts.oid
        ) AS current_tablespace,
        (
            SELECT ic.relname
            FROM pg_index AS i
            INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
            WHERE i.indrelid = c.oid AND i.indisreplident
        ) AS current_identity_index,
        (
            SELECT ic.relname
            FROM pg_index AS i
            INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
            WHERE i.indrelid = c.oid AND i.indisclustered
        ) AS current_clustered_index
    FROM recorded AS r
    LEFT JOIN pg_class AS c ON r.relid = c.oid
),

table_rows AS (
    SELECT
        s.plan_id,
        s.table_schema,
        s.table_name,
        NULL::name AS column_name,
        p.property,
        p.recorded,
        p.current_value
    FROM current_state AS s
    CROSS JOIN
        LATERAL (
            VALUES
            ('table exists', 'yes', CASE WHEN s.relid IS NULL THEN 'no' ELSE 'yes' END),
            ('replica identity', s.replica_identity::text, s.relreplident::text),
            ('replica identity index', s.identity_index::text, s.current_identity_index::text),
            ('CLUSTER ON', s.clustered_index::text, s.current_clustered_index::text),
            ('storage parameters', s.options::text, s.reloptions::text),
            ('tablespace', s.table_tablespace::text, s.current_tablespace::text)
        ) AS p (property, recorded, current_value)
    WHERE p.recorded IS DISTINCT FROM p.current_value AND (s.relid IS NOT NULL OR p.property = 'table exists')
),

column_rows AS (
    SELECT
        s.plan_id,
        s.table_schema,
        s.table_name,
        col.column_name,
        p.property,
        p.recorded,
        p.current_value
    FROM current_state AS s
    CROSS JOIN
        LATERAL jsonb_to_recordset(s.column_settings)
            AS col (column_name name, statistics integer, storage text, comment text)
    LEFT JOIN pg_attribute AS a ON s.relid = a.attrelid AND col.column_name = a.attname AND NOT a.attisdropped
    CROSS JOIN
        LATERAL (
            VALUES
            ('column exists', 'yes', CASE WHEN a.attnum IS NULL THEN 'no' ELSE 'yes' END),
            ('statistics target', col.statistics::text, nullif(a.attstattarget, -1)::text),
            ('storage', col.storage, a.attstorage::text),
            ('comment', col.comment, col_description(a.attrelid, a.attnum))
        ) AS p (property, recorded, current_value)
    WHERE
        s.relid IS NOT NULL
        AND p.recorded IS DISTINCT FROM p.current_value
        AND (a.attnum IS NOT NULL OR p.property = 'column exists')
)

SELECT
    t.plan_id,
    t.table_schema,
    t.table_name,
    t.column_name,
    t.property,
    t.recorded,
    t.current_value
FROM (
    SELECT * FROM table_rows
    UNION ALL
    SELECT * FROM column_rows
) AS t
ORDER BY t.table_schema, t.table_name, t.column_name NULLS FIRST, t.property;
