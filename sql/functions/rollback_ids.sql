-- keyshift.rollback_ids(p_schema name, p_table name, p_rows bigint)
--   RETURNS TABLE (first_id, last_id, step, ids_left, lowest, highest, start_value, start_called, sequence_next)
--
-- The integer ids rollback gives the p_rows rows of a converted table that its mapping lacks
-- (rows written since migrate): first_id, first_id + step, ..., last_id, on the grid of the key's
-- sequence as keyshift.saved_sequence recorded it at migrate (its last_value and is_called, its
-- increment, MINVALUE and MAXVALUE). The first id is the next value that sequence would have
-- issued (sequence_next), moved along the grid past every old id in the mapping (an id above the
-- sequence, inserted by hand, is never reused); so no id is one the sequence issued before
-- migrate. A sequence that exists now and stands further along (one kept for other columns) is
-- read as it is now (start_value, start_called). A key without a sequence continues after
-- max(old_id), step 1. lowest..highest is what the column type and MINVALUE/MAXVALUE allow, and
-- ids_left how many grid ids are left there from first_id: rollback refuses when p_rows >
-- ids_left (with CYCLE too: a cycled id would be one issued before). With p_rows = 0 the answer
-- says where the sequence must stand after rollback: it restores (start_value, start_called)
-- when first_id = sequence_next, else it stands at first_id - step, called.
--
-- No row: the table is not converted in replace mode, or its mapping was retired (drop-map).
-- STABLE: reads only. Dynamic SQL composes identifiers with format('%I').
CREATE OR REPLACE FUNCTION keyshift.rollback_ids(p_schema name, p_table name, p_rows bigint)
RETURNS TABLE (
    first_id numeric,
    last_id numeric,
    step bigint,
    ids_left numeric,
    lowest numeric,
    highest numeric,
    start_value bigint,
    start_called boolean,
    sequence_next numeric
)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog
AS $fn$
DECLARE
    ct record;
    ss record;
    seq regclass;
    live_value bigint;
    live_called boolean;
    max_old numeric;
    min_old numeric;
BEGIN
    SELECT c.key_column, c.old_type, c.map_table INTO ct
    FROM keyshift.converted_table AS c
    WHERE
        c.table_schema = p_schema AND c.table_name = p_table AND c.mode = 'replace'
        AND c.map_dropped_at IS NULL AND to_regclass(format('keyshift.%I', c.map_table)) IS NOT NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT max(m.old_id), min(m.old_id) FROM keyshift.%I AS m', ct.map_table) INTO max_old, min_old;
    lowest := CASE ct.old_type
        WHEN 'smallint' THEN -32768 WHEN 'integer' THEN -2147483648 ELSE -9223372036854775808
    END;
    highest := CASE ct.old_type WHEN 'smallint' THEN 32767 WHEN 'integer' THEN 2147483647 ELSE 9223372036854775807 END;
    SELECT s.* INTO ss
    FROM keyshift.saved_sequence AS s
    WHERE s.table_schema = p_schema AND s.table_name = p_table AND s.column_name = ct.key_column;
    IF FOUND THEN
        step := coalesce(ss.increment_by, 1);
        lowest := greatest(lowest, ss.min_value);
        highest := least(highest, ss.max_value);
        start_value := ss.last_value;
        start_called := ss.is_called;
        seq := to_regclass(format('%I.%I', ss.sequence_schema, ss.sequence_name));
        IF seq IS NOT NULL THEN
            EXECUTE format('SELECT s.last_value, s.is_called FROM %s AS s', seq) INTO live_value, live_called;
            IF
                sign(step) * (
                    (live_value + CASE WHEN live_called THEN step ELSE 0 END)
                    - (start_value + CASE WHEN start_called THEN step ELSE 0 END)
                ) > 0
                THEN
                start_value := live_value;
                start_called := live_called;
            END IF;
        END IF;
        sequence_next := start_value::numeric + CASE WHEN start_called THEN step ELSE 0 END;
    ELSE
        step := 1;
        sequence_next := coalesce(max_old + 1, 1);
    END IF;
    first_id := sequence_next;
    IF step > 0 AND first_id <= max_old THEN
        first_id := first_id + (floor((max_old - first_id) / step) + 1) * step;
    ELSIF step < 0 AND first_id >= min_old THEN
        first_id := first_id + (floor((first_id - min_old) / -step) + 1) * step;
    END IF;
    ids_left := CASE
        WHEN first_id < lowest OR first_id > highest THEN 0
        WHEN step > 0 THEN floor((highest - first_id) / step) + 1
        ELSE floor((first_id - lowest) / -step) + 1
    END;
    last_id := first_id + (p_rows - 1) * step;
    RETURN NEXT;
END
$fn$;
