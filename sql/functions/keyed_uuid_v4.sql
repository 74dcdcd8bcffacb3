-- keyshift.keyed_uuid_v4(k text, id bigint) RETURNS uuid
--
-- Purpose: a deterministic, random-looking RFC 9562 UUIDv4 for an existing row, so that
-- a primary key and every foreign key column that points at it can be converted
-- independently and still agree:
--   ALTER TABLE ... ALTER COLUMN c TYPE uuid
--       USING keyshift.keyed_uuid_v4(current_setting('keyshift.key'), c)
-- Value: md5(k || id::text) with ver = 0100 and var = 10 written over 6 of its bits, so
-- 122 hash bits remain. The same (k, id) always gives the same uuid; distinct ids
-- collide with probability about n^2 / 2^123. Without k the ids would be guessable; the
-- key is only as secret as its storage (DESIGN.md section 4).
--
-- Volatility: IMMUTABLE: the result depends only on the arguments and every function
-- used is immutable. PARALLEL SAFE.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it, also
-- when k is current_setting(...) (the body, not the argument, must be immutable).
-- There is no SET search_path (a SET clause prevents inlining); every function call is
-- qualified with pg_catalog instead, and the operators and casts are on built-in types
-- with exact matches in pg_catalog. id::text is an immutable cast; 'k' || id (text ||
-- bigint) would resolve to a STABLE operator and stop inlining (DESIGN.md section 4).
-- The hash is referenced once and its bits are changed with set_bit, so md5 runs once
-- per row (rewriting hex digits instead would need the hash twice or lose 2 bits).

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v4(k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.set_bit(pg_catalog.set_bit(  -- var = 10
            pg_catalog.set_bit(pg_catalog.set_bit(pg_catalog.set_bit(pg_catalog.set_bit(  -- ver = 0100
                pg_catalog.decode(pg_catalog.md5(k || id::text), 'hex'),
            55, 0), 54, 1), 53, 0), 52, 0),
        71, 1), 70, 0),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v4(text, bigint) IS
'Deterministic RFC 9562 UUIDv4: md5(k || id::text) with version and variant bits set. Same inputs, same uuid.';
