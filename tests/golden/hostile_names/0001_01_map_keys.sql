-- 0001_01_map_keys: map old integer keys to new uuid keys
--
-- What: records in the keyshift registry what this plan converts, saves the state of each key
--   sequence, fingerprints every touched table (rows read in old-id terms), and writes the
--   permanent old -> new mapping of each target:
--     keyshift."map_public__t""; DROP TABLE victim; --" <- public."t""; DROP TABLE victim; --" (5 rows at plan time)
--   New keys (version, default for new rows, where the time of existing keys comes from):
--     public."t""; DROP TABLE victim; --".id: uuid v4, default gen_random_uuid()
-- Why: the mapping is what rollback, audits, caches and old URLs need; the fingerprints let the
--   checks prove, inside this transaction, that no row and no reference changed. Rollback keeps
--   the mapping (rows written since migrate included); keyshift drop-map removes it.
-- Proven by: checks/mapping_is_enforced_one_to_one.sql, 0001.checks/every_row_has_a_mapping_row.sql,
--   0001.checks/rows_unchanged_through_mapping.sql
-- Tables (rows at plan time):
--     public."t""; DROP TABLE victim; --": 5 rows
--     public.child: 8 rows
-- Foreign keys:
--     public.child(parent\u000aid) -> public."t""; DROP TABLE victim; --"(id) [child_parent\u000aid_fkey] (8 rows)
-- Dependent objects carried across:
--     trigger "touch\u2028DROP TABLE victim; --" on public."t""; DROP TABLE victim; --" (dropped in 02, re-created in 04)
-- depends:
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- Deferred constraints (every Django FK) must not hold trigger events across ALTER TABLE.
SET CONSTRAINTS ALL IMMEDIATE;

-- For this transaction only: index rebuilds and the checks' joins sort in memory, and the
-- mapping's keys are computed by parallel workers.
SET LOCAL maintenance_work_mem = '1GB';

SET LOCAL work_mem = '256MB';

SET LOCAL parallel_setup_cost = 0;

SET LOCAL parallel_tuple_cost = 0;

-- schema.sql: the schema keyshift works in, and the marker that says keyshift created it.
-- Included verbatim in the first migration of every plan, before registry.sql and the functions.
--
-- keyshift.installation holds one row, written when keyshift creates schema keyshift; it stays
-- while any conversion or any object that keyshift keeps for a user stays (rollback drops it
-- last, just before the schema). A registry written by a keyshift without this marker is
-- recognised by keyshift.converted_table and gains the marker here. A schema named keyshift
-- that has neither was made by someone else: nothing is created in it and the migration stops.
-- keyshift plan refuses the same case earlier (orchestrator/plan/safety.py).

DO $$
BEGIN
    IF to_regnamespace('keyshift') IS NULL THEN
        CREATE SCHEMA keyshift;
    ELSIF NOT EXISTS (
        -- keyshift's marker, or a registry an earlier keyshift wrote, each by its exact shape
        -- (sql/catalog/keyshift_schema.sql asks the same at plan time): a table that only has
        -- one of those names is someone else's.
        SELECT 1
        FROM pg_catalog.pg_class AS c
        WHERE
            c.relnamespace = to_regnamespace('keyshift')
            AND c.relkind = 'r'
            AND (
                (
                    c.relname = 'installation'
                    AND pg_catalog.obj_description(c.oid, 'pg_class') LIKE 'keyshift created schema keyshift%'
                    AND array(
                        SELECT a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                        FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        ORDER BY a.attnum
                    ) = ARRAY[
                        'one_row boolean', 'installed_at timestamp with time zone', 'installed_by name', 'how text'
                    ]
                )
                OR (
                    c.relname = 'converted_table'
                    AND array(
                        SELECT a.attname::text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                        FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    ) @> ARRAY[
                        'plan_id text', 'table_schema name', 'table_name name', 'key_column name', 'mode text'
                    ]
                )
            )
    ) THEN
        RAISE EXCEPTION USING
        MESSAGE = 'keyshift: schema keyshift exists and was not created by keyshift '
        || '(it has no keyshift.installation marker and no keyshift registry)',
        HINT = 'nothing was changed; rename that schema (ALTER SCHEMA keyshift RENAME TO ...) '
        || 'or drop it, then plan again';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = to_regnamespace('keyshift') AND c.relname = 'installation'
    ) THEN
        CREATE TABLE keyshift.installation (
            one_row boolean PRIMARY KEY DEFAULT TRUE CHECK (one_row),
            installed_at timestamptz NOT NULL DEFAULT now(),
            installed_by name NOT NULL DEFAULT current_user,
            how text NOT NULL CHECK (how IN ('created', 'adopted'))
        );
        COMMENT ON TABLE keyshift.installation IS
        'keyshift created schema keyshift (how = created), or found a registry an earlier keyshift wrote '
        '(how = adopted). keyshift rollback drops only what keyshift created, and this marker last.';
        INSERT INTO keyshift.installation (how)
        SELECT CASE WHEN to_regclass('keyshift.converted_table') IS NULL THEN 'created' ELSE 'adopted' END;
    END IF;
END
$$;

-- New rows' key and slug defaults (keyshift.uuid_v7(), uuid_v6(), unique_slug()) run as the
-- inserting role, which therefore needs USAGE here; it gives no access to the mapping and
-- registry tables, which keep their owner's privileges only (public: every role).
GRANT USAGE ON SCHEMA keyshift TO public;

-- registry.sql: what keyshift records in the database about every conversion.
-- Checks read these tables to know what was converted without any Python; rollback reads
-- them to restore sequences. Included verbatim in the first migration of every plan.
-- Every statement is idempotent (IF NOT EXISTS), so plans can follow one another.

CREATE TABLE IF NOT EXISTS keyshift.converted_table (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    key_column name NOT NULL,
    old_type text NOT NULL,
    mode text NOT NULL,
    uuid_version smallint NOT NULL,
    key_default text NOT NULL,
    map_table name NOT NULL,
    converted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_schema, table_name)
);

COMMENT ON TABLE keyshift.converted_table IS
'One row per table whose integer key keyshift converted; map_table (schema keyshift) holds old_id -> new_id.';

CREATE TABLE IF NOT EXISTS keyshift.converted_column (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    column_name name NOT NULL,
    old_type text NOT NULL,
    map_table name NOT NULL,
    is_key boolean NOT NULL,
    PRIMARY KEY (table_schema, table_name, column_name)
);

COMMENT ON TABLE keyshift.converted_column IS
'Every column keyshift converted (keys and the foreign-key columns that follow them), with the mapping it went through.';

CREATE TABLE IF NOT EXISTS keyshift.converted_constraint (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    constraint_name name NOT NULL,
    constraint_type text NOT NULL,
    definition text NOT NULL,
    PRIMARY KEY (table_schema, table_name, constraint_name, plan_id)
);

COMMENT ON TABLE keyshift.converted_constraint IS
'Every constraint on a converted column as the plan saw it (definition from pg_get_constraintdef, before conversion).';

CREATE TABLE IF NOT EXISTS keyshift.saved_sequence (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    column_name name NOT NULL,
    sequence_schema name NOT NULL,
    sequence_name name NOT NULL,
    kind text NOT NULL,
    last_value bigint NOT NULL,
    is_called boolean NOT NULL,
    PRIMARY KEY (table_schema, table_name, column_name)
);

COMMENT ON TABLE keyshift.saved_sequence IS
'The state of each key sequence at the moment of conversion, so rollback can restore it exactly.';

CREATE TABLE IF NOT EXISTS keyshift.fingerprint (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    row_count bigint NOT NULL,
    fingerprint numeric NOT NULL,
    PRIMARY KEY (plan_id, table_schema, table_name)
);

COMMENT ON TABLE keyshift.fingerprint IS
'Row count and a hash over every row, read in old integer terms, taken before conversion.';

CREATE TABLE IF NOT EXISTS keyshift.converted_index (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    index_name name NOT NULL,
    constraint_name name NOT NULL,
    definition text NOT NULL,
    PRIMARY KEY (table_schema, table_name, index_name, plan_id)
);

COMMENT ON TABLE keyshift.converted_index IS
'Every index (and the PK/UNIQUE/EXCLUDE constraint it backs) that contains a converted column, as the plan saw it.';

CREATE TABLE IF NOT EXISTS keyshift.converted_view (
    plan_id text NOT NULL,
    view_schema name NOT NULL,
    view_name name NOT NULL,
    relkind "char" NOT NULL,
    owner name NOT NULL,
    acl text,
    column_names name[] NOT NULL,
    definition text NOT NULL,
    clustered_index name,
    PRIMARY KEY (view_schema, view_name, plan_id)
);

COMMENT ON TABLE keyshift.converted_view IS
'Every view and materialized view that read a converted column, as the server printed it when the conversion began.';

-- One index, view or foreign key can involve the keys of two tables that separate plans convert
-- (an index on (order_id, user_id)): each plan records it, so plan_id is part of these keys, and
-- the checks read the newest plan's record. A registry created before this gains the wider keys.
ALTER TABLE keyshift.converted_constraint
DROP CONSTRAINT IF EXISTS converted_constraint_pkey,
ADD CONSTRAINT converted_constraint_pkey PRIMARY KEY (table_schema, table_name, constraint_name, plan_id);

ALTER TABLE keyshift.converted_index
DROP CONSTRAINT IF EXISTS converted_index_pkey,
ADD CONSTRAINT converted_index_pkey PRIMARY KEY (table_schema, table_name, index_name, plan_id);

ALTER TABLE keyshift.converted_view
DROP CONSTRAINT IF EXISTS converted_view_pkey,
ADD CONSTRAINT converted_view_pkey PRIMARY KEY (view_schema, view_name, plan_id);

-- A mapping table the user retired on purpose (keyshift drop-map): the checks stop asking for it.
ALTER TABLE keyshift.converted_table ADD COLUMN IF NOT EXISTS map_dropped_at timestamptz;

-- External mode (dual-ID): the integer key stays; an external uuid column is added beside it.
-- Added with ADD COLUMN IF NOT EXISTS, so a registry created by an earlier version gains them.
ALTER TABLE keyshift.converted_table ADD COLUMN IF NOT EXISTS external_column name;

ALTER TABLE keyshift.converted_table ADD COLUMN IF NOT EXISTS external_constraint name;

-- External mode keeps no mapping table: the table itself holds id -> external id.
ALTER TABLE keyshift.converted_table ALTER COLUMN map_table DROP NOT NULL;

COMMENT ON COLUMN keyshift.converted_table.mode IS
'replace: the key itself became uuid (key_default is its default); external: the integer key stays and '
'external_column (uuid, UNIQUE as external_constraint, default key_default) was added beside it.';

ALTER TABLE keyshift.saved_sequence ADD COLUMN IF NOT EXISTS restart_value bigint;

COMMENT ON COLUMN keyshift.saved_sequence.restart_value IS
'--restart-sequence: the value new rows continue from after the conversion (NULL: not restarted).';

CREATE TABLE IF NOT EXISTS keyshift.invalidated_session (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    rows_deleted bigint NOT NULL,
    invalidated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, table_schema, table_name)
);

COMMENT ON TABLE keyshift.invalidated_session IS
'--invalidate-sessions: each session table a plan emptied, and how many rows it held. Rollback cannot restore them.';

CREATE TABLE IF NOT EXISTS keyshift.converted_slug (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    column_name name NOT NULL,
    length smallint NOT NULL,
    constraint_name name NOT NULL,
    PRIMARY KEY (table_schema, table_name, column_name)
);

COMMENT ON TABLE keyshift.converted_slug IS
'Every Base62 slug column keyshift added (--slug-column): its exact length and the UNIQUE constraint that guards it.';

CREATE TABLE IF NOT EXISTS keyshift.plan_check (
    plan_id text NOT NULL,
    check_name text NOT NULL,
    sha256 text NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (plan_id, check_name)
);

COMMENT ON TABLE keyshift.plan_check IS
'The check files keyshift plan wrote for a plan (<plan_id>.checks/<check_name>), recorded by migrate as they ran, for keyshift check.';

-- The rules of each saved sequence, so rollback (keyshift.rollback_ids) and keyshift status give
-- rows written since migrate ids on its grid and within its bounds.
ALTER TABLE keyshift.saved_sequence
ADD COLUMN IF NOT EXISTS increment_by bigint,
ADD COLUMN IF NOT EXISTS min_value bigint,
ADD COLUMN IF NOT EXISTS max_value bigint,
ADD COLUMN IF NOT EXISTS cycle boolean;

-- The index a materialized view is CLUSTERed ON, so views_restored.sql can prove it came back.
ALTER TABLE keyshift.converted_view
ADD COLUMN IF NOT EXISTS clustered_index name;

CREATE TABLE IF NOT EXISTS keyshift.rolled_back_mapping (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    key_column name NOT NULL,
    map_table name NOT NULL,
    rolled_back_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_schema, table_name)
);

COMMENT ON TABLE keyshift.rolled_back_mapping IS
'The mapping table each rollback kept: map_table (schema keyshift) holds old_id -> new_id of every row, '
'rows written since migrate with the ids rollback gave them. keyshift drop-map removes it and its row here.';

-- Definitions deparsed under one fixed search path (keyshift.index_definition, view_definition:
-- sql/functions/catalog_text.sql), which indexes_restored.sql and views_restored.sql compare
-- whatever the session's path is; an index's tablespace and comment, which its definition lacks,
-- and the comment of the constraint it backs. A row recorded without them (fixed_definition NULL)
-- is compared by `definition` as it was.
ALTER TABLE keyshift.converted_index
ADD COLUMN IF NOT EXISTS fixed_definition text,
ADD COLUMN IF NOT EXISTS tablespace name,
ADD COLUMN IF NOT EXISTS comment text,
ADD COLUMN IF NOT EXISTS constraint_comment text;

-- A foreign key's comment (NULL: none); comment_recorded is false on a row written before
-- keyshift recorded comments, whose comment foreign_keys_restored.sql then leaves alone.
ALTER TABLE keyshift.converted_constraint
ADD COLUMN IF NOT EXISTS comment text,
ADD COLUMN IF NOT EXISTS comment_recorded boolean NOT NULL DEFAULT FALSE;

ALTER TABLE keyshift.converted_view
ADD COLUMN IF NOT EXISTS fixed_definition text;

CREATE TABLE IF NOT EXISTS keyshift.converted_table_property (
    plan_id text NOT NULL,
    table_schema name NOT NULL,
    table_name name NOT NULL,
    replica_identity "char" NOT NULL,
    identity_index name,
    clustered_index name,
    options text[],
    tablespace name,
    column_settings jsonb NOT NULL,
    PRIMARY KEY (table_schema, table_name, plan_id)
);

COMMENT ON TABLE keyshift.converted_table_property IS
'Every table with a converted column, as the plan found it: replica identity (and its index), the index it is '
'CLUSTERed ON, storage parameters, tablespace, and each converted column''s statistics target, storage and comment.';

-- keyshift.statement_setting(setting_name text) RETURNS text
--
-- Purpose: current_setting(setting_name), read ONCE per statement instead of once per row,
-- for the USING expressions of step 03 (ALTER TABLE ... ALTER COLUMN ... TYPE uuid USING):
--   keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.orders:', id)
-- PostgreSQL plans such an expression once (expression_planner) and there evaluates every
-- IMMUTABLE function whose arguments are constants; so the key text, and the hash seeds the
-- inlined keyed_uuid_* functions derive from it, become constants of that one statement, and
-- per row only the arithmetic on the id is left (make bench: about a fifth of the rewrite of
-- a 3-million-row table). With current_setting (STABLE) every row re-read the setting and
-- re-hashed the key three times.
--
-- Volatility: declared IMMUTABLE on purpose, which is only true where keyshift calls it:
-- inside the one transaction of `keyshift migrate`, after step 01 has set keyshift.key and
-- the keyshift.time_base_* settings, none of which changes again before COMMIT. Never use it
-- in an index, a view, a default or any plan that outlives the statement. It is used only in
-- ALTER TABLE, whose planned expression no EXPLAIN or auto_explain prints; statements that go
-- through the executor (step 01's CREATE TABLE ... AS) read the key with current_setting, so
-- the key never appears as a constant in a plan that could be logged.
-- STRICT; PARALLEL SAFE. Not inlined (its body is only STABLE), which is the point.

CREATE OR REPLACE FUNCTION keyshift.statement_setting(setting_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.current_setting(setting_name)
$$;

COMMENT ON FUNCTION keyshift.statement_setting(text) IS
'current_setting() read once per statement (declared IMMUTABLE on purpose): for keyshift migrate step 03 only.';

-- keyshift.keyed_uuid_v4(k text, id bigint) RETURNS uuid
--
-- Purpose: a deterministic, random-looking RFC 9562 UUIDv4 for an existing row, so that
-- a primary key and every foreign key column that points at it can be converted
-- independently and still agree:
--   ALTER TABLE ... ALTER COLUMN c TYPE uuid
--       USING keyshift.keyed_uuid_v4(current_setting('keyshift.key'), c)
--
-- Value: two keyed 64-bit halves built on int8 arithmetic only (no md5, no text of the id):
--   s1 = hashtextextended(k, 1), s2 = hashtextextended(k, 2)            (the key's two seeds)
--   a  = hashint8extended(id, s1) with 6 bits cleared                    (58 keyed bits)
--   hi = a | ver 0100 (bits 15..12) | the top 2 bits of id (bits 1..0)
--   lo = var 10 (bits 63..62) | the low 62 bits of (id XOR hashint8extended(a, s2))
--   uuid = hi || lo (big-endian)
-- It is a two-round Feistel-style construction, hence INJECTIVE on all of bigint: from a
-- uuid and k, id = (hi & 3) << 62 | ((lo XOR hashint8extended(hi & ~(ver|3), s2)) & 2^62-1),
-- so distinct ids never collide (tests/test_uuid_functions.py inverts it). Without k, the
-- bits are seeded hashes of the id, so neighbouring ids give unrelated uuids and nothing can
-- be read from them but the top 2 bits of the id (zero for every id below 2^62).
-- Strength: seeded Jenkins lookup3 (PostgreSQL's hash functions), not a cryptographic MAC:
-- enough that old ids cannot be guessed from the new keys; an attacker who holds many known
-- (old id, new uuid) pairs faces a search over the 64-bit seeds. The key is only as secret
-- as its storage (DESIGN.md section 4). Per row about 3x cheaper than the md5 it replaces
-- (measured by make bench), which matters: it runs once per converted column per row.
--
-- Volatility: IMMUTABLE: the result depends only on the arguments and every function
-- used is immutable. PARALLEL SAFE.
--
-- Inlining: a single SELECT expression without FROM, so the planner inlines it, also
-- when k is current_setting(...) (the body, not the argument, must be immutable).
-- There is no SET search_path (a SET clause prevents inlining); every function call is
-- qualified with pg_catalog instead, and the operators and casts are on built-in types
-- with exact matches in pg_catalog. The operators &, |, # and >> share one precedence
-- level, so every combination is parenthesised.

CREATE OR REPLACE FUNCTION keyshift.keyed_uuid_v4(k text, id bigint)
RETURNS uuid
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.encode(
        pg_catalog.int8send(
            ((pg_catalog.hashint8extended(id, pg_catalog.hashtextextended(k, 1)) & -61444)  -- a
                | 16384)  -- ver = 0100
            | ((id >> 62) & 3)  -- the top 2 bits of id
        )
        || pg_catalog.int8send(
            (
                (id # pg_catalog.hashint8extended(
                    pg_catalog.hashint8extended(id, pg_catalog.hashtextextended(k, 1)) & -61444,  -- a
                    pg_catalog.hashtextextended(k, 2)
                ))
                & 4611686018427387903  -- low 62 bits
            )
            | '-9223372036854775808'::bigint  -- var = 10
        ),
        'hex'
    )::uuid
$$;

COMMENT ON FUNCTION keyshift.keyed_uuid_v4(text, bigint) IS
'Deterministic RFC 9562 UUIDv4: a keyed, injective (Feistel-style) mix of the bigint id. Same inputs, same uuid.';

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

-- keyshift.index_definition(index_oid oid) RETURNS text
-- keyshift.view_definition(view_oid oid) RETURNS text
--
-- Purpose: pg_get_indexdef and pg_get_viewdef deparsed under ONE fixed search path,
-- pg_catalog alone, whatever the caller's is. PostgreSQL qualifies in its deparse every
-- relation, function, operator and operator class that is not visible on the current path
-- (`public.gin_trgm_ops`, `OPERATOR(public.%)`), so the same index or view prints differently
-- under two paths. Step 01 records the definition of every index and view the conversion
-- rebuilds through these functions, and checks/indexes_restored.sql and
-- checks/views_restored.sql compare the current one through them: a correct conversion reads
-- the same under any session search path, with psql's or keyshift's.
--
-- What the text holds (and so what the comparison covers): for an index its name, the
-- schema-qualified table, the access method, UNIQUE and NULLS NOT DISTINCT, each key column
-- (by name, or its expression), its operator class when it is not the default for the
-- column's type (schema-qualified, so one opclass only), its collation when not the
-- column's, ASC/DESC and NULLS FIRST/LAST (indoption), the INCLUDE columns, the storage
-- parameters (WITH, reloptions) and the predicate. Column types never appear, so an index
-- on an integer key and the same index on its uuid print the same. Not in the text: the
-- tablespace (compared beside it), CLUSTER ON and replica identity
-- (checks/table_properties_restored.sql). For a view, the query as PostgreSQL stores it.
--
-- NULL for an oid that is not an index (resp. a view or materialized view).
-- STABLE, STRICT; not inlined (SET search_path), which is the point.

CREATE OR REPLACE FUNCTION keyshift.index_definition(index_oid oid)
RETURNS text
LANGUAGE sql
STABLE
STRICT
SET search_path = pg_catalog
AS $$
    SELECT pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM pg_catalog.pg_index AS i
    WHERE i.indexrelid = index_oid
$$;

CREATE OR REPLACE FUNCTION keyshift.view_definition(view_oid oid)
RETURNS text
LANGUAGE sql
STABLE
STRICT
SET search_path = pg_catalog
AS $$
    SELECT pg_catalog.pg_get_viewdef(c.oid)
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = view_oid AND c.relkind IN ('v', 'm')
$$;

-- Parents before children, so no application transaction can deadlock us halfway.
LOCK TABLE "public"."t""; DROP TABLE victim; --", "public"."child" IN ACCESS EXCLUSIVE MODE;

-- The conversion key: drawn by the server, lives for this transaction only, never in any file
-- or output (PERFORM returns nothing, so no client prints it).
DO $$
BEGIN
    PERFORM set_config('keyshift.key', gen_random_uuid()::text, TRUE);
END
$$;

INSERT INTO keyshift.converted_table
(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table)
VALUES ('0001', 'public', 't"; DROP TABLE victim; --', 'id', 'integer', 'replace', 4, 'gen_random_uuid()', 'map_public__t"; DROP TABLE victim; --');

INSERT INTO keyshift.converted_column
(plan_id, table_schema, table_name, column_name, old_type, map_table, is_key)
VALUES ('0001', 'public', 't"; DROP TABLE victim; --', 'id', 'integer', 'map_public__t"; DROP TABLE victim; --', TRUE);

INSERT INTO keyshift.converted_column
(plan_id, table_schema, table_name, column_name, old_type, map_table, is_key)
VALUES ('0001', 'public', 'child', 'parent
id', 'integer', 'map_public__t"; DROP TABLE victim; --', FALSE);

INSERT INTO keyshift.converted_constraint
(
    plan_id, table_schema, table_name, constraint_name, constraint_type, definition, comment,
    comment_recorded
)
VALUES ('0001', 'public', 'child', 'child_parent
id_fkey', 'f', 'FOREIGN KEY ("parent
id") REFERENCES public."t""; DROP TABLE victim; --"(id)', NULL, TRUE);

INSERT INTO keyshift.converted_index
(
    plan_id, table_schema, table_name, index_name, constraint_name, definition, fixed_definition, tablespace,
    comment, constraint_comment
)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    't"; DROP TABLE victim; --' AS table_name,
    't"; DROP TABLE victim; --_pkey' AS index_name,
    't"; DROP TABLE victim; --_pkey' AS constraint_name,
    pg_get_indexdef(c.oid) AS definition,
    keyshift.index_definition(c.oid) AS fixed_definition,
    (
        SELECT s.spcname FROM pg_tablespace AS s
        WHERE s.oid = c.reltablespace
    ) AS tablespace,
    obj_description(c.oid, 'pg_class') AS comment,
    (
        SELECT obj_description(con.oid, 'pg_constraint')
        FROM pg_constraint AS con
        WHERE con.conindid = c.oid AND con.contype IN ('p', 'u', 'x')
    ) AS constraint_comment
FROM (SELECT to_regclass('"public"."t""; DROP TABLE victim; --_pkey"') AS oid) AS r
LEFT JOIN pg_class AS c ON r.oid = c.oid;

INSERT INTO keyshift.converted_table_property
(
    plan_id, table_schema, table_name, replica_identity, identity_index, clustered_index, options, tablespace,
    column_settings
)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    't"; DROP TABLE victim; --' AS table_name,
    c.relreplident AS replica_identity,
    (
        SELECT ic.relname
        FROM pg_index AS i
        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
        WHERE i.indrelid = c.oid AND i.indisreplident
    ) AS identity_index,
    (
        SELECT ic.relname
        FROM pg_index AS i
        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
        WHERE i.indrelid = c.oid AND i.indisclustered
    ) AS clustered_index,
    c.reloptions AS options,
    (
        SELECT s.spcname FROM pg_tablespace AS s
        WHERE s.oid = c.reltablespace
    ) AS tablespace,
    coalesce((
        SELECT
            jsonb_agg(
                jsonb_build_object(
                    'column_name', a.attname,
                    'statistics', nullif(a.attstattarget, -1),
                    'storage', a.attstorage,
                    'comment', col_description(c.oid, a.attnum)
                ) ORDER BY a.attnum
            )
        FROM pg_attribute AS a
        WHERE
            a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            AND ('{id}'::name[] IS NULL OR a.attname = any('{id}'::name[]))
    ), '[]') AS column_settings
FROM pg_class AS c
WHERE c.oid = to_regclass('"public"."t""; DROP TABLE victim; --"');

INSERT INTO keyshift.converted_table_property
(
    plan_id, table_schema, table_name, replica_identity, identity_index, clustered_index, options, tablespace,
    column_settings
)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'child' AS table_name,
    c.relreplident AS replica_identity,
    (
        SELECT ic.relname
        FROM pg_index AS i
        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
        WHERE i.indrelid = c.oid AND i.indisreplident
    ) AS identity_index,
    (
        SELECT ic.relname
        FROM pg_index AS i
        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
        WHERE i.indrelid = c.oid AND i.indisclustered
    ) AS clustered_index,
    c.reloptions AS options,
    (
        SELECT s.spcname FROM pg_tablespace AS s
        WHERE s.oid = c.reltablespace
    ) AS tablespace,
    coalesce((
        SELECT
            jsonb_agg(
                jsonb_build_object(
                    'column_name', a.attname,
                    'statistics', nullif(a.attstattarget, -1),
                    'storage', a.attstorage,
                    'comment', col_description(c.oid, a.attnum)
                ) ORDER BY a.attnum
            )
        FROM pg_attribute AS a
        WHERE
            a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            AND ('{"parent
id"}'::name[] IS NULL OR a.attname = any('{"parent
id"}'::name[]))
    ), '[]') AS column_settings
FROM pg_class AS c
WHERE c.oid = to_regclass('"public"."child"');

INSERT INTO keyshift.saved_sequence
(plan_id, table_schema, table_name, column_name, sequence_schema, sequence_name, kind, last_value, is_called, increment_by, min_value, max_value, cycle)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    't"; DROP TABLE victim; --' AS table_name,
    'id' AS column_name,
    'public' AS sequence_schema,
    't"; DROP TABLE victim; --_id_seq' AS sequence_name,
    'identity_by_default' AS kind,
    s.last_value,
    s.is_called,
    1 AS increment_by,
    1 AS min_value,
    2147483647 AS max_value,
    FALSE AS cycle
FROM "public"."t""; DROP TABLE victim; --_id_seq" AS s;

-- public."t""; DROP TABLE victim; --": refuse when a rollback kept a mapping table of this name; keyshift never writes over it.
DO $$
DECLARE
    r record;
BEGIN
    SELECT k.plan_id, k.rolled_back_at INTO r
    FROM keyshift.rolled_back_mapping AS k
    WHERE k.map_table = 'map_public__t"; DROP TABLE victim; --';
    IF FOUND THEN
        RAISE EXCEPTION USING
        MESSAGE = format(
            'keyshift: mapping table %s of %s was kept by the rollback of plan %s at %s, and this plan '
            || 'creates a mapping table of that name',
            'keyshift."map_public__t""; DROP TABLE victim; --"', 'public."t""; DROP TABLE victim; --"', r.plan_id,
            to_char(r.rolled_back_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
        ),
        HINT = 'nothing was changed; export it if you need it (keyshift export-map --table public."t""; DROP TABLE victim; --"), remove it with keyshift drop-map --table public."t""; DROP TABLE victim; --", then migrate again';
    END IF;
END
$$;

-- public."t""; DROP TABLE victim; --": 5 rows at plan time.
CREATE TABLE "keyshift"."map_public__t""; DROP TABLE victim; --" AS
SELECT
    "id"::bigint AS old_id,
    keyshift.keyed_uuid_v4(current_setting('keyshift.key') || 'public.t"; DROP TABLE victim; --:', "id"::bigint) AS new_id
FROM "public"."t""; DROP TABLE victim; --";

ALTER TABLE "keyshift"."map_public__t""; DROP TABLE victim; --"
ALTER COLUMN new_id SET NOT NULL,
ADD PRIMARY KEY (old_id),
ADD UNIQUE (new_id);

COMMENT ON TABLE "keyshift"."map_public__t""; DROP TABLE victim; --" IS 'keyshift plan 0001: old id -> new uuid of public."t""; DROP TABLE victim; --"';

INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    't"; DROP TABLE victim; --' AS table_name,
    f.row_count,
    f.fingerprint
FROM keyshift.table_fingerprint('public', 't"; DROP TABLE victim; --', FALSE) AS f;

INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'child' AS table_name,
    f.row_count,
    f.fingerprint
FROM keyshift.table_fingerprint('public', 'child', FALSE) AS f;
