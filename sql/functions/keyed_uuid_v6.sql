-- keyshift.keyed_uuid_v6(ts timestamptz, k text, id bigint) RETURNS uuid
-- keyshift.keyed_uuid_v6_at(t bigint, k text, id bigint) RETURNS uuid
--
-- Purpose: a deterministic RFC 9562 UUIDv6 for an existing row, so that a primary key
-- and every foreign key column that points at it can be converted independently and
-- still agree:
--   ALTER TABLE ... ALTER COLUMN c TYPE uuid
--       USING keyshift.keyed_uuid_v6(<row time>, current_setting('keyshift.key'), c)
-- Layout: time_high(32) | time_mid(16) | ver = 0110 | time_low(12) | var = 10
--   | clock_seq(14) | node(48), with the 60-bit time the count of 100-ns intervals
-- since 1582-10-15 (microsecond precision). The node's multicast bit is set (RFC 9562
-- §6.10), which leaves 61 bits for clock_seq and node: x(29) | y(32), a two-round keyed
-- Feistel-style mix of the id on int8 arithmetic only (no md5, no text of the id), as in
-- keyed_uuid_v7 (which has 42 + 32 bits):
--   s1 = hashtextextended(k, 1), s2 = hashtextextended(k, 2)
--   x  = (id >> 32) XOR hashint8extended(id & (2^32-1), s1), low 29 bits
--   y  = id XOR hashint8extended(x, s2), low 32 bits
-- INJECTIVE for ids from -2^60 to 2^60 - 1 at one ts (every serial or identity id in
-- practice): from the uuid and k, low = y XOR hashint8extended(x, s2) (low 32 bits),
-- high = (x XOR hashint8extended(low, s1)) (low 29 bits), id = high << 32 | low, sign-extended
-- from bit 60 (tests/test_uuid_functions.py inverts it). 61 bits cannot hold every bigint:
-- ids that agree in their low 61 bits (id and id + 2^61) share a key at the same ts.
-- The same (ts, k, id) always gives the same uuid; a child column must pass the parent
-- row's ts. Without k nothing of the id can be read from the 61 bits; what the TIME field
-- shows is the caller's choice (docs/commands.md, "Choosing keys"). Valid for ts from 1582-10-15 to
-- about 5236. keyed_uuid_v6_at takes the 60-bit count t itself, so a caller that has it as an
-- integer skips the timestamp arithmetic (keyshift's id-order time: base + (id - max id) * 10000).
--
-- Volatility: IMMUTABLE: the result depends only on the arguments; every function used
-- is immutable (timestamptz_send does not depend on TimeZone). PARALLEL SAFE.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it, also
-- when k is current_setting(...). There is no SET search_path (a SET clause prevents
-- inlining); every function call is qualified with pg_catalog instead, and the
-- operators and casts are on built-in types with exact matches in pg_catalog. The
-- operators &, |, #, << and >> share one precedence level, so every combination is
-- parenthesised. The time word is built as in uuid_v6.sql: t = us since 2000 * 10 +
-- 131659776000000000, and B'0110' inserted after the first 48 of its 60 bits.
-- keyed_uuid_v6 is one call of keyed_uuid_v6_at, which is then inlined in turn.

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v6_at(t bigint, k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.int8send(
            pg_catalog.overlay(
                pg_catalog.substring(t::bit(64), 5),
                B'0110',
                49,
                0
            )::bigint
        )
        || pg_catalog.int8send(
            '-9223372036854775808'::bigint  -- var = 10
            | (
                (
                    (
                        (id >> 32)
                        # pg_catalog.hashint8extended(id & 4294967295, pg_catalog.hashtextextended(k, 1))
                    ) & 536870656  -- the top 21 of x's 29 bits
                ) << 33  -- to bits 61..41
            )
            | 1099511627776  -- bit 40: the node's multicast bit
            | (
                (
                    (
                        (id >> 32)
                        # pg_catalog.hashint8extended(id & 4294967295, pg_catalog.hashtextextended(k, 1))
                    ) & 255  -- the low 8 bits of x
                ) << 32  -- to bits 39..32
            )
            | (
                (
                    id # pg_catalog.hashint8extended(
                        (
                            (id >> 32)
                            # pg_catalog.hashint8extended(id & 4294967295, pg_catalog.hashtextextended(k, 1))
                        ) & 536870911,  -- x
                        pg_catalog.hashtextextended(k, 2)
                    )
                ) & 4294967295  -- y, bits 31..0
            )
        ),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v6_at(bigint, text, bigint) IS
'Deterministic RFC 9562 UUIDv6: 100-ns Gregorian time t, then a keyed, injective (Feistel-style) mix of the id.';

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v6(ts timestamptz, k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT keyshift.keyed_uuid_v6_at(
        ('x' || pg_catalog.encode(pg_catalog.timestamptz_send(ts), 'hex'))::bit(64)::bigint * 10 + 131659776000000000,
        k,
        id
    )
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v6(timestamptz, text, bigint) IS
'Deterministic RFC 9562 UUIDv6: 100-ns time of ts, then a keyed, injective (Feistel-style) mix of the id.';
