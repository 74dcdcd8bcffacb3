-- keyshift.uuid_v6(ts timestamptz) RETURNS uuid
-- keyshift.uuid_v6() RETURNS uuid
--
-- Purpose: an RFC 9562 UUIDv6 with a random clock sequence and node. Layout (bits, most
-- significant first):
--   time_high(32) | time_mid(16) | ver = 0110 (4) | time_low(12)
--   | var = 10 (2) | clock_seq(14) | node(48)
-- The 60-bit time is the count of 100-ns intervals since 1582-10-15 00:00 UTC (the
-- Gregorian epoch); PostgreSQL keeps microseconds, so its last decimal digit is always 0.
-- clock_seq and node are random bits of one gen_random_uuid() (which already carries
-- var = 10); the node's multicast bit (least significant bit of its first octet) is set,
-- as RFC 9562 §6.10 asks for a random node, so it can never equal a real MAC address.
-- The one-argument form is for column defaults: DEFAULT keyshift.uuid_v6(). Valid for ts
-- from 1582-10-15 to about 5236; infinity raises bigint out of range.
--
-- Volatility: VOLATILE, because each call draws new random bits. PARALLEL SAFE:
-- gen_random_uuid() and clock_timestamp() are parallel safe and nothing is written.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it. There is
-- no SET search_path (a SET clause prevents inlining); every function call is qualified
-- with pg_catalog instead. The operators and casts are on built-in types with exact
-- matches in pg_catalog, which is searched before any other schema unless a caller
-- names it later in search_path.
--
-- How the first 8 bytes are built: timestamptz_send gives microseconds since 2000-01-01
-- as 8 big-endian bytes, read back as a bigint through bit(64) (exact on every version);
-- t = us * 10 + 131659776000000000 (100-ns intervals from 1582-10-15 to 2000-01-01).
-- As bit(64), its low 60 bits are time_high|time_mid|time_low; inserting B'0110' after
-- the first 48 of them puts the version between time_mid and time_low in one step.

CREATE OR REPLACE FUNCTION keyshift.uuid_v6(ts timestamptz)
RETURNS uuid
LANGUAGE sql
VOLATILE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.set_bit(
            pg_catalog.overlay(
                pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
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
            80, 1  -- multicast bit of the random node
        ),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.uuid_v6(timestamptz) IS
'RFC 9562 UUIDv6 for time ts (100-ns Gregorian count) with random clock_seq and multicast node. Volatile.';

CREATE OR REPLACE FUNCTION keyshift.uuid_v6()
RETURNS uuid
LANGUAGE sql
VOLATILE
PARALLEL SAFE
AS $$
    SELECT keyshift.uuid_v6(pg_catalog.clock_timestamp())
$$;

COMMENT ON FUNCTION keyshift.uuid_v6() IS
'RFC 9562 UUIDv6 for clock_timestamp(), for column defaults: DEFAULT keyshift.uuid_v6().';
