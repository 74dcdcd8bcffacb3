-- keyshift.keyed_uuid_v7(ts timestamptz, k text, id bigint) RETURNS uuid
--
-- Purpose: a deterministic RFC 9562 UUIDv7 for an existing row, so that a primary key
-- and every foreign key column that points at it can be converted independently and
-- still agree:
--   ALTER TABLE ... ALTER COLUMN c TYPE uuid
--       USING keyshift.keyed_uuid_v7(<row time>, current_setting('keyshift.key'), c)
-- Layout: unix_ts_ms(48) from ts | ver = 0111 | 74 bits of md5(k || id::text) | var = 10.
-- The same (ts, k, id) always gives the same uuid; keys sort by ts to the millisecond.
-- A child column must pass the parent row's ts, not its own. Distinct ids within one
-- millisecond collide with probability about n^2 / 2^75. Without k the ids would be
-- guessable; the key is only as secret as its storage (DESIGN.md section 4). Valid for
-- ts from 1970 to 10889.
--
-- Volatility: IMMUTABLE: the result depends only on the arguments; every function used
-- is immutable (timestamptz_send does not depend on TimeZone, unlike extract(epoch ...)
-- on timestamptz, which is only STABLE). PARALLEL SAFE.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it, also
-- when k is current_setting(...) (the body, not the argument, must be immutable).
-- There is no SET search_path (a SET clause prevents inlining); every function call is
-- qualified with pg_catalog instead, and the operators and casts are on built-in types
-- with exact matches in pg_catalog. id::text is an immutable cast; 'k' || id (text ||
-- bigint) would resolve to a STABLE operator and stop inlining (DESIGN.md section 4).
-- The hash is referenced once and its bits are changed with set_bit, so md5 runs once
-- per row.

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v7(ts timestamptz, k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.set_bit(pg_catalog.set_bit(  -- var = 10
            pg_catalog.set_bit(pg_catalog.set_bit(pg_catalog.set_bit(pg_catalog.set_bit(  -- ver = 0111
                pg_catalog.overlay(
                    pg_catalog.decode(pg_catalog.md5(k || id::text), 'hex'),
                    -- the low 6 bytes of the unix milliseconds
                    pg_catalog.substr(
                        pg_catalog.int8send(
                            (
                                ('x' || pg_catalog.encode(pg_catalog.timestamptz_send(ts), 'hex'))::bit(64)::bigint
                                + 946684800000000
                            ) / 1000
                        ),
                        3
                    ),
                    1,
                    6
                ),
            55, 0), 54, 1), 53, 1), 52, 1),
        71, 1), 70, 0),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v7(timestamptz, text, bigint) IS
'Deterministic RFC 9562 UUIDv7: ms of ts, then 74 bits of md5(k || id::text). Same inputs, same uuid.';
