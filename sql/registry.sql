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
