-- keyshift.keyed_uuid_v6(ts timestamptz, k text, id bigint) RETURNS uuid
--
-- Purpose: a deterministic RFC 9562 UUIDv6 for an existing row, so that a primary key
-- and every foreign key column that points at it can be converted independently and
-- still agree:
--   ALTER TABLE ... ALTER COLUMN c TYPE uuid
--       USING keyshift.keyed_uuid_v6(<row time>, current_setting('keyshift.key'), c)
-- Layout: time_high(32) | time_mid(16) | ver = 0110 | time_low(12) | var = 10
--   | clock_seq(14) | node(48), with the 60-bit time the count of 100-ns intervals
-- since 1582-10-15 (microsecond precision), and clock_seq and node taken from
-- md5(k || id::text); the node's multicast bit is set (RFC 9562 §6.10), which leaves 61
-- hash bits. The same (ts, k, id) always gives the same uuid; a child column must pass
-- the parent row's ts. Distinct ids within one microsecond collide with probability
-- about n^2 / 2^62. Valid for ts from 1582-10-15 to about 5236.
--
-- Volatility: IMMUTABLE: the result depends only on the arguments; every function used
-- is immutable (timestamptz_send does not depend on TimeZone). PARALLEL SAFE.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it, also
-- when k is current_setting(...). There is no SET search_path (a SET clause prevents
-- inlining); every function call is qualified with pg_catalog instead, and the
-- operators and casts are on built-in types with exact matches in pg_catalog. id::text
-- is an immutable cast; 'k' || id would resolve to a STABLE operator and stop inlining.
-- The time word is built as in uuid_v6.sql: t = us since 2000 * 10 + 131659776000000000,
-- and B'0110' inserted after the first 48 of its 60 bits.

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v6(ts timestamptz, k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.set_bit(  -- multicast bit of the node
            pg_catalog.set_bit(pg_catalog.set_bit(  -- var = 10
                pg_catalog.overlay(
                    pg_catalog.decode(pg_catalog.md5(k || id::text), 'hex'),
                    pg_catalog.int8send(
                        pg_catalog.overlay(
                            pg_catalog.substring(
                                (
                                    ('x' || pg_catalog.encode(pg_catalog.timestamptz_send(ts), 'hex'))::bit(64)::bigint
                                    * 10 + 131659776000000000
                                )::bit(64),
                                5
                            ),
                            B'0110',
                            49,
                            0
                        )::bigint
                    ),
                    1,
                    8
                ),
            71, 1), 70, 0),
        80, 1),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v6(timestamptz, text, bigint) IS
'Deterministic RFC 9562 UUIDv6: 100-ns time of ts, clock_seq and node from md5(k || id::text).';
