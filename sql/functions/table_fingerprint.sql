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
-- 64-bit hash collisions: each row's hash is mixed non-linearly before the sum, so rows
-- that exchange values, such as two children swapping parents, change it). Which columns are converted comes from keyshift.converted_column.
--
-- How a row is hashed: hash_record_extended(ROW(...), 0) over the columns in their binary
-- form, which is several times cheaper than the text of the row it replaces (make bench),
-- but only for types whose hash sees every stored difference, that is whose equality is
-- identity: the integers, oid, bool, "char", uuid, bytea, date, time, timestamp and
-- timestamptz; text, varchar and name hashed COLLATE "C" (a nondeterministic collation
-- would hash 'a' and 'A' alike); numeric as its value AND its scale (1.0 = 1.00 as values).
-- Every other column enters through the text of ROW(those columns) (each type's output
-- function, as the whole row did before; not ::text, which trims bpchar): its hash or equality
-- may be coarser than its value (float8 0 and -0, interval '1 day' and '24 hours', jsonb
-- 1.0 and 1.00, citext 'A' and 'a', bpchar trailing spaces, array bounds), or it has no
-- hash at all (json, point). tests/test_perf.py changes one value of each kind and expects
-- the fingerprint to change.
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
    text_cols text := '';  -- hashed as the text of ROW(...) (record_out: each type's output function)
    joins text := '';
    r record;
BEGIN
    FOR r IN
        SELECT
            a.attnum, a.attname, cc.map_table, cc.column_name IS NOT NULL AS converted,
            a.atttypid = 'uuid'::regtype AS is_uuid,
            CASE
                WHEN a.atttypid IN (
                    'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'oid'::regtype, 'bool'::regtype,
                    '"char"'::regtype, 'uuid'::regtype, 'bytea'::regtype, 'date'::regtype,
                    'time'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype
                ) THEN 'binary'
                WHEN a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'name'::regtype) THEN 'collated'
                WHEN a.atttypid = 'numeric'::regtype THEN 'numeric'
                ELSE 'text'
            END AS hashed_as
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
            IF r.hashed_as = 'text' THEN
                text_cols := text_cols || format(', t.%I', r.attname);
            ELSE
                cols := cols || CASE r.hashed_as
                    WHEN 'binary' THEN format(', t.%I', r.attname)
                    WHEN 'collated' THEN format(', t.%I COLLATE "C"', r.attname)
                    ELSE format(', t.%I, scale(t.%I)', r.attname, r.attname)  -- numeric
                END;
            END IF;
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
    IF text_cols <> '' THEN
        cols := cols || format(', hashtextextended(ROW(%s)::text, 0)', substr(text_cols, 3));
    END IF;
    -- hash_record_extended is linear in its columns' hashes (31 * h + h(col)), so a plain sum
    -- over rows cannot see two rows exchanging values (children swapping parents). Each row's
    -- hash h is therefore mixed non-linearly first: hashint8extended folds its 64-bit input
    -- to 32 bits (lo XOR hi), so h and h >> 32 are hashed apart and XORed: together they
    -- determine all 64 bits of h.
    EXECUTE format(
        'SELECT count(*), coalesce(sum(hashint8extended(r.h, 1) # hashint8extended(r.h >> 32, 2)), 0)'
        ' FROM (SELECT hash_record_extended(ROW(%s), 0) AS h FROM %I.%I AS t%s) AS r',
        substr(cols, 3), p_schema, p_table, joins
    ) INTO row_count, fingerprint;
END
$fn$;

COMMENT ON FUNCTION keyshift.table_fingerprint(name, name, boolean) IS
'Row count and order-independent hash of a table with converted columns read as their old integer ids.';
