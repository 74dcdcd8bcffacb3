-- foreign_keys_restored.sql
--
-- Claim: every foreign key that involved a converted column before the conversion, as the
-- plan recorded it in keyshift.converted_constraint, exists now on the same table, under the
-- same name, as a foreign key with the same definition: same columns, same referenced table
-- and columns, same ON DELETE / ON UPDATE, MATCH, DEFERRABLE / INITIALLY DEFERRED and
-- NOT VALID state. Column types do not appear in a definition, so the text from before the
-- conversion (integer columns) must equal the text now (uuid columns) word for word.
--
-- The plan recorded each definition with search_path = pg_catalog, so the referenced table
-- is always schema-qualified there; pg_get_constraintdef leaves it unqualified when it is
-- visible on the current search_path. The current text is therefore compared with the
-- referenced table written schema-qualified, exactly as recorded. That text is the
-- constraint's structure and no more: a foreign key's definition names only its columns (by
-- name, on this very table), the referenced table (qualified as above), the referenced
-- columns and keywords; no function, operator or operator class a search path could qualify.
--
-- Its comment is the same too (COMMENT ON CONSTRAINT: dropping the key drops it, step 04 sets it
-- again), for a row that recorded it (comment_recorded).
--
-- One strengthening is accepted: a foreign key recorded NOT VALID that has since been
-- validated (ALTER TABLE ... VALIDATE CONSTRAINT) matches its definition without NOT VALID.
--
-- Why: migration 02 drops these foreign keys and migration 04 re-creates them. A key that
-- was not re-created, or came back weaker (without ON DELETE CASCADE, not DEFERRABLE,
-- NOT VALID), changes what the database guarantees without any error.
--
-- One row: one recorded foreign key that is missing, or whose definition now differs;
-- `recorded_definition` and `current_definition` show both texts (current NULL = missing).
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_constraint
-- skip-reason: no foreign key on a converted column was recorded
WITH recorded AS (
    -- Plans that follow one another can each record the same foreign key: the newest record counts
    -- (plan ids are zero-padded numbers: the longest, then the greatest, is the newest).
    SELECT DISTINCT ON (rec.table_schema, rec.table_name, rec.constraint_name)
        rec.plan_id,
        rec.table_schema,
        rec.table_name,
        rec.constraint_name,
        rec.definition,
        rec.comment AS recorded_comment,
        rec.comment_recorded,
        to_regclass(format('%I.%I', rec.table_schema, rec.table_name)) AS relid
    FROM keyshift.converted_constraint AS rec
    ORDER BY rec.table_schema ASC, rec.table_name ASC, rec.constraint_name ASC, length(rec.plan_id) DESC, rec.plan_id DESC
),

current_fk AS (
    SELECT
        con.conrelid,
        con.conname,
        con.convalidated,
        obj_description(con.oid, 'pg_constraint') AS current_comment,
        replace(
            pg_get_constraintdef(con.oid),
            format('REFERENCES %s(', con.confrelid::regclass),
            format('REFERENCES %I.%I(', pn.nspname, p.relname)
        ) AS definition
    FROM pg_constraint AS con
    INNER JOIN pg_class AS p ON con.confrelid = p.oid
    INNER JOIN pg_namespace AS pn ON p.relnamespace = pn.oid
    WHERE con.contype = 'f'
)

SELECT
    r.plan_id,
    r.table_schema,
    r.table_name,
    r.constraint_name,
    CASE
        WHEN r.relid IS NULL THEN 'table no longer exists'
        WHEN c.conname IS NULL THEN 'foreign key missing'
        WHEN
            c.definition = r.definition OR (c.convalidated AND c.definition || ' NOT VALID' = r.definition)
            THEN 'comment differs'
        ELSE 'definition differs'
    END AS problem,
    r.definition AS recorded_definition,
    c.definition AS current_definition
FROM recorded AS r
LEFT JOIN current_fk AS c ON r.relid = c.conrelid AND r.constraint_name = c.conname
WHERE
    c.definition IS NULL
    OR NOT (
        c.definition = r.definition
        OR (c.convalidated AND c.definition || ' NOT VALID' = r.definition)
    )
    OR (r.comment_recorded AND c.current_comment IS DISTINCT FROM r.recorded_comment)
ORDER BY r.table_schema, r.table_name, r.constraint_name;
