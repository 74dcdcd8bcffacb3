-- keyshift.uuid_v7(ts timestamptz) RETURNS uuid
-- keyshift.uuid_v7() RETURNS uuid
--
-- Purpose: an RFC 9562 UUIDv7 with random bits. Layout (bits, most significant first):
--   unix_ts_ms(48) | ver = 0111 (4) | rand_a(12) | var = 10 (2) | rand_b(62)
-- The 48-bit time is the whole milliseconds of ts since 1970-01-01 00:00 UTC; the 74
-- random bits are those of one gen_random_uuid() (a v4 already carries var = 10, and its
-- ver = 0100 becomes 0111 by setting two bits). The one-argument form gives new rows a
-- time-ordered key in a column default: DEFAULT keyshift.uuid_v7(). Keys from the same
-- millisecond are not ordered among themselves (no counter; RFC 9562 §6.2 leaves that
-- optional). Valid for ts from 1970 to 10889; infinity raises bigint out of range.
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
-- Microseconds since 2000-01-01 come from timestamptz_send (8 bytes, big-endian): exact
-- integer arithmetic on every PostgreSQL version, unlike extract(epoch ...), which is
-- float8 on PG13 and only STABLE for timestamptz.

CREATE OR REPLACE FUNCTION keyshift.uuid_v7(ts timestamptz)
RETURNS uuid
LANGUAGE sql
VOLATILE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.set_bit(
            pg_catalog.set_bit(
                pg_catalog.overlay(
                    pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
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
                52, 1
            ),
            53, 1
        ),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.uuid_v7(timestamptz) IS
'RFC 9562 UUIDv7 for time ts (whole ms since 1970) with 74 random bits from gen_random_uuid(). Volatile.';

CREATE OR REPLACE FUNCTION keyshift.uuid_v7()
RETURNS uuid
LANGUAGE sql
VOLATILE
PARALLEL SAFE
AS $$
    SELECT keyshift.uuid_v7(pg_catalog.clock_timestamp())
$$;

COMMENT ON FUNCTION keyshift.uuid_v7() IS
'RFC 9562 UUIDv7 for clock_timestamp(), for column defaults: DEFAULT keyshift.uuid_v7().';
