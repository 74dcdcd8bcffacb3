-- keyshift.base62(u uuid, len integer) RETURNS text
-- keyshift.random_slug(len integer) RETURNS text
--
-- Purpose: base62 (alphabet 0-9, a-z, A-Z, in that order) text of the 128-bit value of
-- u, as exactly len characters (10..22): the len least significant base62 digits,
-- most significant first, left-padded with '0'. With len = 22 the encoding is a
-- bijection (62^22 > 2^128; the first character is then 0..7) and decodes back to u.
-- With len < 22 it is a truncation to n mod 62^len: different uuids can give the same
-- text. random_slug(len) = base62(gen_random_uuid(), len) is for a slug column default;
-- two random slugs of length len collide with probability about rows^2 / (2 * 62^len)
-- (len 10: about 1 in 1.7 million for 1 million rows), so the column must carry a
-- UNIQUE constraint and the caller must retry on unique_violation.
--
-- base62 volatility: IMMUTABLE, STRICT and PARALLEL SAFE: the text depends only on the
-- arguments. It is plpgsql, not sql, because it raises an error for len outside 10..22
-- (SQLSTATE 22023 invalid_parameter_value) and because the intermediate values must be
-- computed once: a single SQL expression would repeat the numeric work for each digit.
-- A plpgsql function is never inlined, so its search_path is pinned with SET.
-- Cost: one numeric split of the 128-bit value into three bigints below 62^10, then
-- integer arithmetic and bytea look-ups (bytea substr does not scan UTF-8).
--
-- random_slug volatility: VOLATILE (a new random uuid on each call), PARALLEL SAFE. It
-- is a single SQL expression, inlined into the caller; so no SET search_path, and its
-- calls are schema-qualified instead.

CREATE OR REPLACE FUNCTION keyshift.base62(u uuid, len integer)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    digits CONSTANT bytea := '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'::bytea;
    h text;
    n numeric;
    q numeric;
    hi bigint;  -- n / 62^20 (below 484)
    mid bigint; -- (n / 62^10) mod 62^10
    lo bigint;  -- n mod 62^10
BEGIN
    IF len NOT BETWEEN 10 AND 22 THEN
        RAISE EXCEPTION 'keyshift.base62: len must be between 10 and 22, got %', len
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use 22 for a reversible encoding of the whole uuid, less for a shorter slug.';
    END IF;
    -- the 128 bits as 60 + 60 + 8 bits: each piece fits a non-negative bigint
    h := encode(uuid_send(u), 'hex');
    n := (('x' || substr(h, 1, 15))::bit(60)::bigint::numeric * 1152921504606846976  -- 2^60
          + ('x' || substr(h, 16, 15))::bit(60)::bigint) * 256
         + ('x' || substr(h, 31, 2))::bit(8)::integer;
    q := div(n, 839299365868340224);  -- 62^10
    lo := (n - q * 839299365868340224)::bigint;
    hi := div(q, 839299365868340224)::bigint;
    mid := (q - hi * 839299365868340224::numeric)::bigint;
    RETURN right(
        encode(
            -- hi: 2 digits
            substr(digits, (hi / 62 % 62)::integer + 1, 1)
            || substr(digits, (hi % 62)::integer + 1, 1)
            -- mid: 10 digits
            || substr(digits, (mid / 13537086546263552 % 62)::integer + 1, 1)
            || substr(digits, (mid / 218340105584896 % 62)::integer + 1, 1)
            || substr(digits, (mid / 3521614606208 % 62)::integer + 1, 1)
            || substr(digits, (mid / 56800235584 % 62)::integer + 1, 1)
            || substr(digits, (mid / 916132832 % 62)::integer + 1, 1)
            || substr(digits, (mid / 14776336 % 62)::integer + 1, 1)
            || substr(digits, (mid / 238328 % 62)::integer + 1, 1)
            || substr(digits, (mid / 3844 % 62)::integer + 1, 1)
            || substr(digits, (mid / 62 % 62)::integer + 1, 1)
            || substr(digits, (mid % 62)::integer + 1, 1)
            -- lo: 10 digits
            || substr(digits, (lo / 13537086546263552 % 62)::integer + 1, 1)
            || substr(digits, (lo / 218340105584896 % 62)::integer + 1, 1)
            || substr(digits, (lo / 3521614606208 % 62)::integer + 1, 1)
            || substr(digits, (lo / 56800235584 % 62)::integer + 1, 1)
            || substr(digits, (lo / 916132832 % 62)::integer + 1, 1)
            || substr(digits, (lo / 14776336 % 62)::integer + 1, 1)
            || substr(digits, (lo / 238328 % 62)::integer + 1, 1)
            || substr(digits, (lo / 3844 % 62)::integer + 1, 1)
            || substr(digits, (lo / 62 % 62)::integer + 1, 1)
            || substr(digits, (lo % 62)::integer + 1, 1),
            'escape'
        ),
        len
    );
END
$$;

COMMENT ON FUNCTION keyshift.base62(uuid, integer) IS
'Base62 (0-9a-zA-Z) of the uuid as its len (10..22) least significant digits; len 22 is reversible.';

CREATE OR REPLACE FUNCTION keyshift.random_slug(len integer)
RETURNS text
LANGUAGE sql
VOLATILE
STRICT
PARALLEL SAFE
AS $$
    SELECT keyshift.base62(pg_catalog.gen_random_uuid(), len)
$$;

COMMENT ON FUNCTION keyshift.random_slug(integer) IS
'Random base62 slug of len (10..22) characters for a column default; needs a UNIQUE constraint and a retry.';

-- keyshift.unique_slug(tab regclass, col name, len integer) RETURNS text
--
-- Purpose: the default of a slug column (keyshift plan --slug-column). It draws
-- random_slug(len) and, when a row of tab already holds that slug in col, draws again, up
-- to 20 times, so a new row never fails on a collision with a committed row. What no
-- default can see is a concurrent, uncommitted INSERT of the same slug: that race (about
-- 1 in 62^len per pair of concurrent inserts) still ends in unique_violation from the
-- column's UNIQUE constraint, which stays the guarantee.
-- tab is stored in the default as an OID, so renaming the table is fine; col is a name:
-- after renaming the slug column, set the default again with the new name.
-- A role that may INSERT but not SELECT the column gets a plain random_slug(len) (it could
-- not read tab); row-level security may hide rows from the look-up likewise. In both cases a
-- collision meets the UNIQUE constraint, as with random_slug.
-- Volatility: VOLATILE, PARALLEL RESTRICTED (it reads tab). plpgsql: the look-up is dynamic
-- SQL (format with %s for the regclass, %I for the column, the slug bound as $1) through
-- the column's unique index.

CREATE OR REPLACE FUNCTION keyshift.unique_slug(tab regclass, col name, len integer)
RETURNS text
LANGUAGE plpgsql
VOLATILE
STRICT
PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    slug text;
    taken boolean;
BEGIN
    IF NOT has_column_privilege(tab, col::text, 'SELECT') THEN
        -- An application role that may insert but not read: it cannot look, and the UNIQUE
        -- constraint stays the guarantee (a collision is then its unique_violation).
        RETURN keyshift.random_slug(len);
    END IF;
    FOR attempt IN 1..20 LOOP
        slug := keyshift.random_slug(len);
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I = $1)', tab, col) INTO taken USING slug;
        IF NOT taken THEN
            RETURN slug;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'keyshift.unique_slug: 20 random slugs of % characters were all taken in %.%', len, tab, col
        USING ERRCODE = 'unique_violation',
              HINT = 'The slug space is nearly full: lengthen the column''s slugs (keyshift --slug-length).';
END
$$;

COMMENT ON FUNCTION keyshift.unique_slug(regclass, name, integer) IS
'Slug column default: random_slug(len), redrawn while tab.col already holds it (up to 20 draws).';
