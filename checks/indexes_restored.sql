-- indexes_restored.sql
--
-- Claim: every index that contained a converted column before the conversion, as the plan
-- recorded it in keyshift.converted_index, exists now on the same table under the same name
-- with the same definition, in the same tablespace, with the same comment, and when it
-- backed a PRIMARY KEY, UNIQUE or EXCLUDE constraint, that constraint exists now on the same
-- table, under the same name, with the same comment, backed by this very index.
--
-- The definition compared is keyshift.index_definition (sql/functions/catalog_text.sql):
-- pg_get_indexdef deparsed under search_path = pg_catalog alone, whatever this session's path
-- is, so an operator class, function or operator from an extension (gin_trgm_ops in public)
-- reads the same at both ends. It holds every part of the index's structure but the
-- tablespace (compared beside it): method, uniqueness and NULLS NOT DISTINCT, each key column
-- or expression in order, a non-default operator class (schema-qualified: one opclass only;
-- a default one is the default of the column's type, int4_ops before and uuid_ops after),
-- a non-default collation, ASC/DESC and NULLS FIRST/LAST, INCLUDE columns, the storage
-- parameters and the predicate. Column types never appear, which is why the text from before
-- the conversion (integer columns) equals the text now (uuid columns). A row recorded by an
-- earlier keyshift, without fixed_definition, is compared by its session-path text.
--
-- Why: ALTER COLUMN ... TYPE rebuilds these indexes itself; this is the proof that it did,
-- and that nothing was lost in between. A missing unique index silently allows duplicate
-- keys; a missing index on a foreign key column turns every parent delete into a scan.
--
-- One row: one recorded index (or the constraint it backed) that is missing or different;
-- `problem` says which, `recorded_definition` and `current_definition` show both texts.
-- CLUSTER ON and replica identity are checks/table_properties_restored.sql's claim.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_index
-- skip-reason: no index on a converted column was recorded
WITH recorded AS (
    -- Plans that follow one another can each record the same index: the newest record counts
    -- (plan ids are zero-padded numbers: the longest, then the greatest, is the newest).
    SELECT DISTINCT ON (rec.table_schema, rec.table_name, rec.index_name)
        rec.plan_id,
        rec.table_schema,
        rec.table_name,
        rec.index_name,
        rec.constraint_name,
        coalesce(rec.fixed_definition, rec.definition) AS definition,
        rec.fixed_definition IS NOT NULL AS fixed,
        rec.tablespace AS index_tablespace,
        rec.comment AS index_comment,
        rec.constraint_comment,
        to_regclass(format('%I.%I', rec.table_schema, rec.table_name)) AS relid
    FROM keyshift.converted_index AS rec
    ORDER BY rec.table_schema ASC, rec.table_name ASC, rec.index_name ASC, length(rec.plan_id) DESC, rec.plan_id DESC
),

current_state AS (
    SELECT
        r.*,
        i.indexrelid,
        CASE
            WHEN r.fixed THEN keyshift.index_definition(i.indexrelid)
            ELSE pg_get_indexdef(i.indexrelid)
        END AS current_definition,
        (
            SELECT ts.spcname FROM pg_tablespace AS ts
            WHERE ic.reltablespace = ts.oid
        ) AS current_tablespace,
        obj_description(ic.oid, 'pg_class') AS current_comment,
        con.conname AS current_constraint,
        obj_description(con.oid, 'pg_constraint') AS current_constraint_comment
    FROM recorded AS r
    LEFT JOIN pg_namespace AS n ON r.table_schema = n.nspname
    LEFT JOIN pg_class AS ic ON n.oid = ic.relnamespace AND r.index_name = ic.relname
    LEFT JOIN pg_index AS i ON ic.oid = i.indexrelid AND r.relid = i.indrelid
    LEFT JOIN pg_constraint AS con
        ON
            r.relid = con.conrelid
            AND r.constraint_name = con.conname
            AND con.contype IN ('p', 'u', 'x')
            AND i.indexrelid = con.conindid
)

SELECT
    s.plan_id,
    s.table_schema,
    s.table_name,
    s.index_name,
    nullif(s.constraint_name, '') AS constraint_name,
    CASE
        WHEN s.relid IS NULL THEN 'table no longer exists'
        WHEN s.indexrelid IS NULL THEN 'index missing'
        WHEN s.current_definition <> s.definition THEN 'index definition differs'
        WHEN
            s.constraint_name <> '' AND s.current_constraint IS NULL
            THEN 'constraint backed by this index missing'
        WHEN (s.current_tablespace IS DISTINCT FROM s.index_tablespace) THEN 'tablespace differs'
        WHEN (s.current_comment IS DISTINCT FROM s.index_comment) THEN 'comment differs'
        ELSE 'constraint comment differs'
    END AS problem,
    s.definition AS recorded_definition,
    s.current_definition
FROM current_state AS s
WHERE
    s.indexrelid IS NULL
    OR s.current_definition <> s.definition
    OR (s.constraint_name <> '' AND s.current_constraint IS NULL)
    OR (s.fixed AND s.current_tablespace IS DISTINCT FROM s.index_tablespace)
    OR (s.fixed AND s.current_comment IS DISTINCT FROM s.index_comment)
    OR (s.fixed AND s.constraint_name <> '' AND s.current_constraint_comment IS DISTINCT FROM s.constraint_comment)
ORDER BY s.table_schema, s.table_name, s.index_name;
