-- 0001_01_add_external_ids: add external uuid ids beside the integer keys
--
-- What: dual-ID (external mode). Every integer key and every foreign key stays exactly as it is;
--   each target gets one uuid column, NOT NULL, UNIQUE, DEFAULT gen_random_uuid(), filled for every
--   existing row by the same statement that adds it:
--     public.users.external_id (constraint users_external_id_key; 40 rows at plan time)
-- Sequences: new rows continue from the chosen values (re-checked here against max(id),
--   under the lock; the old state is saved in keyshift.saved_sequence for rollback):
--     public.users_id_seq (public.users.id, max 201520 at plan time) -> restart at 1000000
-- Why: clients get ids that reveal nothing, joins keep their integer keys, and no reference
--   moves. ADD COLUMN with a volatile default rewrites each table once, with no UPDATE and
--   no trigger; rollback drops the column and its constraint and restores the sequences.
-- Proven by: checks/external_ids_are_unique_not_null_with_default.sql,
--   0001.checks/rows_unchanged_through_mapping.sql, 0001.checks/row_counts_unchanged.sql,
--   0001.checks/uuid_version_matches.sql
-- depends:
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

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
LOCK TABLE "public"."users" IN ACCESS EXCLUSIVE MODE;

-- public.users: max(id) was 201520 at plan time; rows may have come since.
DO $$
DECLARE
    m bigint;
BEGIN
    SELECT max(t."id") INTO m FROM "public"."users" AS t;
    IF m >= 1000000 THEN
        RAISE EXCEPTION USING
        MESSAGE = 'keyshift: --restart-sequence public.users=1000000: max(id) is now ' || m || ', not below 1000000',
        HINT = 'rows arrived since the plan; nothing was committed; plan again with a higher value';
    END IF;
END
$$;

INSERT INTO keyshift.saved_sequence
(plan_id, table_schema, table_name, column_name, sequence_schema, sequence_name, kind, last_value, is_called, restart_value)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'users' AS table_name,
    'id' AS column_name,
    'public' AS sequence_schema,
    'users_id_seq' AS sequence_name,
    'serial' AS kind,
    s.last_value,
    s.is_called,
    1000000 AS restart_value
FROM "public"."users_id_seq" AS s;

-- Before the column exists: the checks compare this with the rows after it (the external
-- column left out), proving no row and no value changed.
INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)
SELECT
    '0001' AS plan_id,
    'public' AS table_schema,
    'users' AS table_name,
    f.row_count,
    f.fingerprint
FROM keyshift.table_fingerprint('public', 'users', FALSE) AS f;

INSERT INTO keyshift.converted_table
(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table, external_column, external_constraint)
VALUES ('0001', 'public', 'users', 'id', 'bigint', 'external', 4, 'gen_random_uuid()', NULL, 'external_id', 'users_external_id_key');

-- public.users: 40 rows at plan time. ONE rewrite fills every row with its own
-- value (volatile default): no UPDATE, so no row trigger fires; then the unique index is built.
ALTER TABLE "public"."users"
ADD COLUMN "external_id" uuid NOT NULL DEFAULT gen_random_uuid(),
ADD CONSTRAINT "users_external_id_key" UNIQUE ("external_id");

COMMENT ON COLUMN "public"."users"."external_id" IS 'keyshift plan 0001: external id of public.users; the integer key stays internal';

ALTER SEQUENCE "public"."users_id_seq" RESTART WITH 1000000;
