-- keyshift.table_fingerprint(p_schema name, p_table name, p_through_map boolean,
--                            OUT row_count bigint, OUT fingerprint numeric)
--
-- A count and an order-independent hash of every row of a table, with each converted
-- column read in its OLD integer terms: while it is still an integer, the column itself;
-- once it is a uuid, the old_id found in the column's mapping table (or, when that mapping
-- was retired with keyshift drop-map, the uuid itself). Deciding by the
-- column's current type (not by p_through_map, kept for callers) makes a fingerprint taken
-- before a second plan agree with one taken after it, when an earlier plan already
-- converted other columns of the same table. Columns keyshift does
-- not convert enter the hash as they are, except an external id column added in external
-- mode (keyshift.converted_table.external_column), which is left out.
-- Equal results before and after therefore mean:
-- same number of rows, and every row still refers to the same parent as before (up to
-- 64-bit hash collisions). Which columns are converted comes from keyshift.converted_column.
--
-- STABLE: reads only. Dynamic SQL composes identifiers with format('%I').
CREATE OR REPLACE FUNCTION keyshift.table_fingerprint(
    p_schema name,
    p_table name,
    p_through_map boolean,
    OUT row_count bigint,
    OUT fingerprint numeric
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $fn$
DECLARE
    cols text := '';
    joins text := '';
    r record;
BEGIN
    FOR r IN
        SELECT
            a.attnum, a.attname, cc.map_table, cc.column_name IS NOT NULL AS converted,
            a.atttypid = 'uuid'::regtype AS is_uuid
        FROM pg_attribute AS a
        LEFT JOIN keyshift.converted_column AS cc
            ON cc.table_schema = p_schema AND cc.table_name = p_table AND cc.column_name = a.attname
        WHERE a.attrelid = format('%I.%I', p_schema, p_table)::regclass
          AND a.attnum > 0 AND NOT a.attisdropped
          -- An external id added by external mode is new by design: rows are compared without it.
          AND NOT EXISTS (
              SELECT 1 FROM keyshift.converted_table AS ct
              WHERE ct.table_schema = p_schema AND ct.table_name = p_table AND ct.external_column = a.attname
          )
          -- a slug column keyshift added (--slug-column) did not exist before: not part of the row
          AND NOT EXISTS (
              SELECT 1 FROM keyshift.converted_slug AS s
              WHERE s.table_schema = p_schema AND s.table_name = p_table AND s.column_name = a.attname
          )
        ORDER BY a.attnum
    LOOP
        IF NOT r.converted THEN
            cols := cols || format(', t.%I', r.attname);
        ELSIF r.is_uuid AND to_regclass(format('keyshift.%I', r.map_table)) IS NULL THEN
            -- Converted by an earlier plan whose mapping was retired (keyshift drop-map): the
            -- uuid itself stands for the row's reference, before and after a later plan alike.
            cols := cols || format(', t.%I', r.attname);
        ELSIF r.is_uuid THEN
            joins := joins || format(
                ' LEFT JOIN keyshift.%I AS m%s ON m%s.new_id = t.%I', r.map_table, r.attnum, r.attnum, r.attname
            );
            cols := cols || format(', m%s.old_id', r.attnum);
        ELSE
            cols := cols || format(', t.%I::bigint', r.attname);
        END IF;
    END LOOP;
    EXECUTE format(
        'SELECT count(*), coalesce(sum(hashtextextended(ROW(%s)::text, 0)), 0) FROM %I.%I AS t%s',
        substr(cols, 3), p_schema, p_table, joins
    ) INTO row_count, fingerprint;
END
$fn$;

COMMENT ON FUNCTION keyshift.table_fingerprint(name, name, boolean) IS
'Row count and order-independent hash of a table with converted columns read as their old integer ids.';
