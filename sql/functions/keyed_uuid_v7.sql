-- keyshift.keyed_uuid_v7(ts timestamptz, k text, id bigint) RETURNS uuid
-- keyshift.keyed_uuid_v7_at(ms bigint, k text, id bigint) RETURNS uuid
--
-- Purpose: a deterministic RFC 9562 UUIDv7 for an existing row, so that a primary key
-- and every foreign key column that points at it can be converted independently and
-- still agree:
--   ALTER TABLE ... ALTER COLUMN c TYPE uuid
--       USING keyshift.keyed_uuid_v7(<row time>, current_setting('keyshift.key'), c)
-- Layout: unix_ts_ms(48) from ts | ver = 0111 | rand_a(12) | var = 10 | rand_b(62).
-- The same (ts, k, id) always gives the same uuid; keys sort by ts to the millisecond.
-- A child column must pass the parent row's ts, not its own. Valid for ts from 1970 to
-- 10889. keyed_uuid_v7_at takes the unix milliseconds themselves (0 to 2^48 - 1), so a caller
-- that has them as an integer skips the timestamp arithmetic: keyshift's id-order time is
-- conversion ms + (id - max id), integer arithmetic per row (orchestrator/render/keys.py).
--
-- The 74 bits rand_a | rand_b are x(42) | y(32), a two-round keyed Feistel-style mix of
-- the id built on int8 arithmetic only (no md5, no text of the id), as in keyed_uuid_v4:
--   s1 = hashtextextended(k, 1), s2 = hashtextextended(k, 2)             (the key's two seeds)
--   x  = ((id >> 32) << 10) XOR hashint8extended(id & (2^32-1), s1), low 42 bits
--        (the id's high 32 bits masked by a keyed hash of its low 32 bits, plus 10 more hash bits)
--   y  = id XOR hashint8extended(x, s2), low 32 bits                      (the low 32 bits masked)
-- It is INJECTIVE on all of bigint for one ts: from the uuid and k,
--   low = y XOR hashint8extended(x, s2) (low 32 bits), high = ((x XOR hashint8extended(low, s1)) >> 10),
--   id = high << 32 | low
-- (tests/test_uuid_functions.py inverts it), so two ids never share a key, whatever their times.
-- Without k the 74 bits are keyed hashes of the id: nothing of the id can be read from them,
-- and two rows share the 42-bit x (which would show the XOR of their low 32 bits) with
-- probability about n^2 / 2^43. What the TIME field shows is the caller's choice: keyshift's
-- id-order time (no --timestamp-column) reveals the order and the differences of the old ids
-- (docs/commands.md, "Choosing keys"). Strength: seeded Jenkins lookup3 (PostgreSQL's hash functions),
-- not a cryptographic MAC, as for keyed_uuid_v4; the key is only as secret as its storage
-- (DESIGN.md section 4).
--
-- Volatility: IMMUTABLE: the result depends only on the arguments; every function used
-- is immutable (timestamptz_send does not depend on TimeZone, unlike extract(epoch ...)
-- on timestamptz, which is only STABLE). PARALLEL SAFE.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it, also
-- when k is current_setting(...) (the body, not the argument, must be immutable).
-- There is no SET search_path (a SET clause prevents inlining); every function call is
-- qualified with pg_catalog instead, and the operators and casts are on built-in types
-- with exact matches in pg_catalog. The operators &, |, #, << and >> share one
-- precedence level, so every combination is parenthesised. x is written out three times
-- (the planner does not share subexpressions): four hashint8extended calls per row.
-- keyed_uuid_v7 is one call of keyed_uuid_v7_at, which is then inlined in turn.

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v7_at(ms bigint, k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.int8send(
            (ms << 16)  -- unix milliseconds in bits 63..16
            | 28672  -- ver = 0111
            | (  -- rand_a: the top 12 bits of x
                (
                    (
                        ((id >> 32) << 10)
                        # pg_catalog.hashint8extended(id & 4294967295, pg_catalog.hashtextextended(k, 1))
                    ) & 4398046511103  -- x: low 42 bits
                ) >> 30
            )
        )
        || pg_catalog.int8send(
            '-9223372036854775808'::bigint  -- var = 10
            | (
                (
                    (
                        ((id >> 32) << 10)
                        # pg_catalog.hashint8extended(id & 4294967295, pg_catalog.hashtextextended(k, 1))
                    ) & 1073741823  -- the low 30 bits of x
                ) << 32
            )
            | (
                (
                    id # pg_catalog.hashint8extended(
                        (
                            ((id >> 32) << 10)
                            # pg_catalog.hashint8extended(id & 4294967295, pg_catalog.hashtextextended(k, 1))
                        ) & 4398046511103,  -- x
                        pg_catalog.hashtextextended(k, 2)
                    )
                ) & 4294967295  -- y
            )
        ),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v7_at(bigint, text, bigint) IS
'Deterministic RFC 9562 UUIDv7: unix ms, then a keyed, injective (Feistel-style) mix of the bigint id.';

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v7(ts timestamptz, k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT keyshift.keyed_uuid_v7_at(
        -- unix milliseconds: microseconds since 2000 from timestamptz_send, exact on every version
        (('x' || pg_catalog.encode(pg_catalog.timestamptz_send(ts), 'hex'))::bit(64)::bigint + 946684800000000)
        / 1000,
        k,
        id
    )
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v7(timestamptz, text, bigint) IS
'Deterministic RFC 9562 UUIDv7: ms of ts, then a keyed, injective (Feistel-style) mix of the bigint id.';
