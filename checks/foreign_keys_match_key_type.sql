-- foreign_keys_match_key_type.sql
--
-- Claim: every foreign key that references a converted table, or whose columns include a
-- converted column, is VALIDATED, and each of its columns has exactly the type (with
-- typmod) of the column it references.
--
-- Why: the catalog half of "no reference was lost". A foreign key left NOT VALID was never
-- checked against the converted data, and a uuid key referenced by an integer (or an integer
-- key by a uuid) means one side missed the conversion. An FK that was already NOT VALID
-- before the conversion (keyshift.converted_constraint records it so) keeps that state on
-- purpose and is not reported for it; the plan's own check <plan_id>.checks/no_orphan_references.sql
-- proves its data.
--
-- One row: one column pair of one such foreign key that is not validated, or whose
-- referencing column's type differs from the referenced column's type; `problem` says which.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table
-- skip-reason: no table was converted
WITH converted_attribute AS (
    -- The converted columns as they stand in the catalog now.
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

converted_relation AS (
    SELECT to_regclass(format('%I.%I', ct.table_schema, ct.table_name)) AS relid
    FROM keyshift.converted_table AS ct
),

foreign_key AS (
    SELECT
        con.oid,
        con.conname,
        con.conrelid,
        con.confrelid,
        con.conkey,
        con.confkey,
        con.convalidated
    FROM pg_constraint AS con
    WHERE
        con.contype = 'f'
        AND (
            con.confrelid IN (SELECT cr.relid FROM converted_relation AS cr)
            OR EXISTS (
                SELECT 1
                FROM converted_attribute AS ca
                WHERE
                    ca.attrelid = con.conrelid
                    AND ca.attnum = any(con.conkey)
            )
        )
),

column_pair AS (
    SELECT
        cn.nspname AS table_schema,
        c.relname AS table_name,
        fk.conname AS constraint_name,
        child.attname AS column_name,
        format_type(child.atttypid, child.atttypmod) AS column_type,
        format('%I.%I', pn.nspname, p.relname) AS referenced_table,
        parent.attname AS referenced_column,
        format_type(parent.atttypid, parent.atttypmod) AS referenced_type,
        fk.convalidated AS validated,
        coalesce(rec.definition LIKE '% NOT VALID', FALSE) AS was_not_valid_before
    FROM foreign_key AS fk
    CROSS JOIN LATERAL unnest(fk.conkey, fk.confkey) AS k (child_attnum, parent_attnum)
    INNER JOIN pg_class AS c ON fk.conrelid = c.oid
    INNER JOIN pg_namespace AS cn ON c.relnamespace = cn.oid
    INNER JOIN pg_class AS p ON fk.confrelid = p.oid
    INNER JOIN pg_namespace AS pn ON p.relnamespace = pn.oid
    INNER JOIN pg_attribute AS child ON fk.conrelid = child.attrelid AND k.child_attnum = child.attnum
    INNER JOIN pg_attribute AS parent ON fk.confrelid = parent.attrelid AND k.parent_attnum = parent.attnum
    LEFT JOIN (
        -- The newest plan's record of each foreign key (several plans can record one).
        SELECT DISTINCT ON (r.table_schema, r.table_name, r.constraint_name)
            r.table_schema,
            r.table_name,
            r.constraint_name,
            r.definition
        FROM keyshift.converted_constraint AS r
        ORDER BY r.table_schema ASC, r.table_name ASC, r.constraint_name ASC, length(r.plan_id) DESC, r.plan_id DESC
    ) AS rec
        ON
            cn.nspname = rec.table_schema
            AND c.relname = rec.table_name
            AND fk.conname = rec.constraint_name
)

SELECT
    cp.table_schema,
    cp.table_name,
    cp.constraint_name,
    cp.column_name,
    cp.column_type,
    cp.referenced_table,
    cp.referenced_column,
    cp.referenced_type,
    cp.validated,
    concat_ws(
        '; ',
        CASE WHEN NOT cp.validated AND NOT cp.was_not_valid_before THEN 'foreign key is NOT VALID' END,
        CASE WHEN cp.column_type <> cp.referenced_type THEN 'column type differs from referenced type' END
    ) AS problem
FROM column_pair AS cp
WHERE
    (NOT cp.validated AND NOT cp.was_not_valid_before)
    OR cp.column_type <> cp.referenced_type
ORDER BY cp.table_schema, cp.table_name, cp.constraint_name, cp.column_name;
