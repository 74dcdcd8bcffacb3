-- mapping_is_enforced_one_to_one.sql
--
-- Claim: PostgreSQL itself keeps every mapping table one-to-one on every row at every
-- statement: in keyshift.<map_table>, old_id and new_id are each NOT NULL and each the single
-- key column of a unique index that is valid, ready, live and IMMEDIATE, with no predicate
-- and no expression, of the type's default operator class; and the mapping table has no
-- inheritance children (rows an index of the parent does not cover).
--
-- Why: the mapping is the record of old -> new that rollback, audits and old URLs read. A
-- NULL, or a duplicate either way, makes an old id resolve to no row or to two. Step 01
-- creates the mapping with PRIMARY KEY (old_id) and UNIQUE (new_id); while those hold,
-- PostgreSQL refuses every row that would break the claim, so the catalog proves it for
-- every row. A deferrable constraint (duplicates allowed until commit), a partial or invalid
-- index, or a NOT NULL ... NOT VALID (PostgreSQL 18) would let such a row in, and is reported.
-- The conversion-time data claims (every row has its mapping row and every mapping row its
-- row) are written per plan into <plan_id>.checks/ by keyshift plan.
--
-- One row: one column of one mapping table that PostgreSQL does not keep NOT NULL and unique,
-- or a mapping table with inheritance children; `problem` says which.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_table where mode <> external and map_dropped_at is null
-- skip-reason: no mapping table is kept: external mode keeps none, keyshift drop-map retired the others
WITH mapping AS (
    SELECT
        ct.plan_id,
        ct.table_schema,
        ct.table_name,
        ct.map_table,
        to_regclass(format('keyshift.%I', ct.map_table)) AS map_oid
    FROM keyshift.converted_table AS ct
    WHERE ct.mode <> 'external' AND ct.map_dropped_at IS NULL
),

mapping_column AS (
    SELECT
        m.*,
        c.col,
        a.attnum,
        a.atttypid,
        coalesce(a.attnotnull, FALSE) AND NOT EXISTS (
            -- PostgreSQL 18: attnotnull is also set by a NOT NULL ... NOT VALID constraint
            SELECT 1 FROM pg_constraint AS nn
            WHERE
                nn.conrelid = m.map_oid AND nn.contype = 'n' AND NOT nn.convalidated
                AND a.attnum = any(nn.conkey)
        ) AS not_null
    FROM mapping AS m
    CROSS JOIN (VALUES ('old_id'), ('new_id')) AS c (col)
    LEFT JOIN pg_attribute AS a
        ON m.map_oid = a.attrelid AND c.col = a.attname AND NOT a.attisdropped
    -- a missing mapping table is mapping_tables_exist.sql's claim
    WHERE m.map_oid IS NOT NULL
),

judged AS (
    SELECT
        mc.*,
        exists(
            SELECT 1
            FROM pg_index AS i
            INNER JOIN pg_opclass AS oc ON i.indclass[0] = oc.oid
            WHERE
                i.indrelid = mc.map_oid AND i.indkey[0] = mc.attnum AND i.indnkeyatts = 1
                AND i.indisunique AND i.indisvalid AND i.indisready AND i.indislive AND i.indimmediate
                AND i.indpred IS NULL AND i.indexprs IS NULL
                AND oc.opcdefault AND oc.opcintype = mc.atttypid
        ) AS enforced_unique
    FROM mapping_column AS mc
)

SELECT
    j.plan_id,
    j.table_schema,
    j.table_name,
    format('keyshift.%I', j.map_table) AS map_table,
    j.col AS map_column,
    CASE
        WHEN j.attnum IS NULL THEN 'column is missing'
        WHEN NOT j.not_null AND NOT j.enforced_unique THEN 'neither NOT NULL nor under an enforced unique index'
        WHEN NOT j.not_null THEN 'not NOT NULL (a validated NOT NULL is missing)'
        ELSE 'not under an enforced unique index (valid, immediate, not partial, on the column alone)'
    END AS problem
FROM judged AS j
WHERE j.attnum IS NULL OR NOT j.not_null OR NOT j.enforced_unique
UNION ALL
SELECT
    m.plan_id,
    m.table_schema,
    m.table_name,
    format('keyshift.%I', m.map_table) AS map_table,
    NULL AS map_column,
    'has inheritance children, whose rows its unique indexes do not cover' AS problem
FROM mapping AS m
WHERE
    EXISTS (
        SELECT 1 FROM pg_inherits AS inh
        WHERE inh.inhparent = m.map_oid
    )
ORDER BY table_schema, table_name, map_column;
