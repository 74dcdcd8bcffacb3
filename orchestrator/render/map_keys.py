"""01 map keys: the mapping tables (old id -> new uuid) that every later step converts through; 06 slugs."""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement, qualname
from orchestrator.plan.model import Plan
from orchestrator.render import external, kept_mapping, polymorphic
from orchestrator.render.common import (
    I,
    L,
    Migration,
    dollar_quoted,
    lock_statement,
    map_ident,
    regclass,
    shipped_file,
    stmt,
    table_ident,
    tables_with_columns,
)
from orchestrator.render.facts import plan_facts
from orchestrator.render.keys import key_default_value_sql, key_version_line, max_id_statement, new_key_expr
from orchestrator.render.properties import record_table_properties
from orchestrator.render.slugs import slug_constraint_name

#: For this transaction only (SET LOCAL): the index rebuilds of the rewrites sort in memory
#: and the checks' hash joins over the mapping tables stay in memory. make bench saw no
#: measurable effect at N=100,000 (sorts of ~100 MB spill cheaply); kept for bigger tables.
#: Parallel query made cheap to the planner: the mapping's CREATE TABLE ... AS then computes
#: the keys in parallel workers (the planner counts the inlined keyed function as a few cheap
#: operators, so with the default costs it scans serially): 1.9 s -> 1.1 s for 1,000,000 rows
#: on 2 cores. Only tables above min_parallel_table_scan_size get parallel plans at all, so
#: the catalog queries are untouched; ALTER TABLE and FK validation never run in parallel.
_SESSION_SETTINGS = (
    stmt(
        "SET LOCAL maintenance_work_mem = '1GB'",
        note=(
            "For this transaction only: index rebuilds and the checks' joins sort in memory, and the",
            "mapping's keys are computed by parallel workers.",
        ),
    ),
    stmt("SET LOCAL work_mem = '256MB'"),
    stmt("SET LOCAL parallel_setup_cost = 0"),
    stmt("SET LOCAL parallel_tuple_cost = 0"),
)


def map_keys_migration(plan: Plan) -> Migration:
    apply = _setup(plan)
    # --invalidate-sessions: emptied before anything is fingerprinted, so the checks agree.
    apply += external.session_statements(plan)
    apply += [max_id_statement(t) for t in plan.targets if t.time_ordered]
    apply += _record_targets(plan) + _record_dependents(plan) + record_table_properties(plan) + _save_sequences(plan)
    # generic relations follow the mapping before the fingerprints: a table that also holds an FK
    # column is then fingerprinted with its generic ids remapped, as the checks will read it
    apply += _mapping_tables(plan) + polymorphic.apply(plan) + _fingerprints(plan)
    return Migration(
        f"{plan.plan_id}_01_map_keys", "map old integer keys to new uuid keys", _header(plan), apply, _rollback(plan)
    )


def _setup(plan: Plan) -> list[Statement]:
    """The schema, the registry and the functions keyshift ships; the locks; the conversion key."""
    return [
        stmt(
            "SET CONSTRAINTS ALL IMMEDIATE",
            note="Deferred constraints (every Django FK) must not hold trigger events across ALTER TABLE.",
        ),
        *_SESSION_SETTINGS,
        shipped_file("schema.sql"),
        stmt(
            "GRANT USAGE ON SCHEMA keyshift TO public",
            note=(
                "New rows' key and slug defaults (keyshift.uuid_v7(), uuid_v6(), unique_slug()) run as the",
                "inserting role, which therefore needs USAGE here; it gives no access to the mapping and",
                "registry tables, which keep their owner's privileges only (public: every role).",
            ),
        ),
        shipped_file("registry.sql"),
        shipped_file("functions/statement_setting.sql"),
        shipped_file("functions/keyed_uuid_v4.sql"),
        shipped_file("functions/keyed_uuid_v7.sql"),
        shipped_file("functions/keyed_uuid_v6.sql"),
        shipped_file("functions/uuid_v7.sql"),
        shipped_file("functions/uuid_v6.sql"),
        shipped_file("functions/base62.sql"),
        shipped_file("functions/table_fingerprint.sql"),
        shipped_file("functions/rollback_ids.sql"),
        shipped_file("functions/catalog_text.sql"),
        lock_statement(plan),
        stmt(
            "DO {}",
            dollar_quoted("\nBEGIN\n    PERFORM set_config('keyshift.key', gen_random_uuid()::text, TRUE);\nEND\n"),
            note=(
                "The conversion key: drawn by the server, lives for this transaction only, never in any file",
                "or output (PERFORM returns nothing, so no client prints it).",
            ),
        ),
    ]


def _record_targets(plan: Plan) -> list[Statement]:
    """Registry rows for each target, its slug and every converted column."""
    pid = L(plan.plan_id)
    apply = []
    for t in plan.targets:
        apply.append(
            stmt(
                "INSERT INTO keyshift.converted_table\n"
                "(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table)\n"
                "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
                pid,
                L(t.table.table_schema),
                L(t.table.table_name),
                L(t.key.column_name),
                L(t.key.data_type),
                L(plan.options.mode),
                L(int(t.uuid_version[1:])),
                key_default_value_sql(t),
                L(t.map_table),
            )
        )
        if t.slug_column:
            apply.append(
                stmt(
                    "INSERT INTO keyshift.converted_slug\n"
                    "(plan_id, table_schema, table_name, column_name, length, constraint_name)\n"
                    "VALUES ({}, {}, {}, {}, {}, {})",
                    pid,
                    L(t.table.table_schema),
                    L(t.table.table_name),
                    L(t.slug_column),
                    L(t.slug_length),
                    L(slug_constraint_name(t)),
                )
            )
    for c in plan.columns:
        apply.append(
            stmt(
                "INSERT INTO keyshift.converted_column\n"
                "(plan_id, table_schema, table_name, column_name, old_type, map_table, is_key)\n"
                "VALUES ({}, {}, {}, {}, {}, {}, {})",
                pid,
                L(c.table_schema),
                L(c.table_name),
                L(c.column_name),
                L(c.old_type),
                L(c.map_table),
                sql.SQL("TRUE" if c.is_key else "FALSE"),
            )
        )
    return apply


def _record_dependents(plan: Plan) -> list[Statement]:
    """Registry rows for the foreign keys, indexes and views the conversion drops and rebuilds."""
    pid = L(plan.plan_id)
    apply = []
    for fk in plan.fks:
        apply.append(
            stmt(
                "INSERT INTO keyshift.converted_constraint\n"
                "(\n    plan_id, table_schema, table_name, constraint_name, constraint_type, definition, comment,\n"
                "    comment_recorded\n)\n"
                "VALUES ({}, {}, {}, {}, 'f', {}, {}, TRUE)",
                pid,
                L(fk.child_schema),
                L(fk.child_table),
                L(fk.name),
                L(fk.definition),
                L(fk.comment),
            )
        )
    for table, indexes in plan.indexes.items():
        apply += [_record_index(pid, table, ix.index_name, ix.constraint_name) for ix in indexes]
    apply += [_record_view(pid, v) for v in plan.views]
    recorded = {(table, ix.index_name) for table, indexes in plan.indexes.items() for ix in indexes}
    for obj in plan.carried:
        if obj.kind == "index" and (obj.table, obj.name) not in recorded:
            apply.append(_record_index(pid, obj.table, obj.name, ""))
    return apply


def _record_index(pid: sql.Composable, table: tuple[str, str], index: str, constraint: str) -> Statement:
    """The registry row of one index on a converted column, read by the migration: its definition
    deparsed under the session's search path (``definition``) and under pg_catalog alone
    (``fixed_definition``, keyshift.index_definition: what checks/indexes_restored.sql compares),
    its tablespace, its comment and the comment of the constraint it backs."""
    return stmt(
        "INSERT INTO keyshift.converted_index\n"
        "(\n    plan_id, table_schema, table_name, index_name, constraint_name, definition, fixed_definition, tablespace,\n"
        "    comment, constraint_comment\n)\n"
        "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    {} AS index_name,\n"
        "    {} AS constraint_name,\n    pg_get_indexdef(c.oid) AS definition,\n"
        "    keyshift.index_definition(c.oid) AS fixed_definition,\n"
        "    (\n        SELECT s.spcname FROM pg_tablespace AS s\n        WHERE s.oid = c.reltablespace\n    ) AS tablespace,\n"
        "    obj_description(c.oid, 'pg_class') AS comment,\n"
        "    (\n        SELECT obj_description(con.oid, 'pg_constraint')\n        FROM pg_constraint AS con\n"
        "        WHERE con.conindid = c.oid AND con.contype IN ('p', 'u', 'x')\n    ) AS constraint_comment\n"
        "FROM (SELECT to_regclass({}) AS oid) AS r\nLEFT JOIN pg_class AS c ON r.oid = c.oid",
        pid,
        L(table[0]),
        L(table[1]),
        L(index),
        L(constraint),
        regclass(table[0], index),
    )


def _record_view(pid: sql.Composable, v) -> Statement:
    """The registry row of one view the conversion drops and rebuilds, read from the catalog as it is."""
    return stmt(
        "INSERT INTO keyshift.converted_view\n"
        "(\n    plan_id, view_schema, view_name, relkind, owner, acl, column_names, definition, clustered_index,\n"
        "    fixed_definition\n)\n"
        "SELECT\n    {} AS plan_id,\n    n.nspname AS view_schema,\n    c.relname AS view_name,\n"
        "    c.relkind,\n    pg_get_userbyid(c.relowner) AS owner,\n    c.relacl::text AS acl,\n"
        "    array(\n        SELECT a.attname\n        FROM pg_attribute AS a\n"
        "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
        "        ORDER BY a.attnum\n    ) AS column_names,\n    pg_get_viewdef(c.oid) AS definition,\n"
        "    (\n        SELECT ic.relname\n        FROM pg_index AS i\n"
        "        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid\n"
        "        WHERE i.indrelid = c.oid AND i.indisclustered\n    ) AS clustered_index,\n"
        "    keyshift.view_definition(c.oid) AS fixed_definition\n"
        "FROM pg_class AS c\nINNER JOIN pg_namespace AS n ON c.relnamespace = n.oid\n"
        "WHERE c.oid = to_regclass({})",
        pid,
        regclass(v.view_schema, v.view_name),
    )


def _save_sequences(plan: Plan) -> list[Statement]:
    """The state and the rules of each key sequence, saved for rollback and status."""
    pid = L(plan.plan_id)
    apply = []
    for t in plan.targets:
        k = t.key
        if k.seq_name:
            apply.append(
                stmt(
                    "INSERT INTO keyshift.saved_sequence\n"
                    "(plan_id, table_schema, table_name, column_name, sequence_schema, sequence_name, kind, last_value, "
                    "is_called, increment_by, min_value, max_value, cycle)\n"
                    "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    {} AS column_name,\n"
                    "    {} AS sequence_schema,\n    {} AS sequence_name,\n    {} AS kind,\n    s.last_value,\n"
                    "    s.is_called,\n    {} AS increment_by,\n    {} AS min_value,\n    {} AS max_value,\n"
                    "    {} AS cycle\nFROM {} AS s",
                    pid,
                    L(t.table.table_schema),
                    L(t.table.table_name),
                    L(k.column_name),
                    L(k.seq_schema),
                    L(k.seq_name),
                    L(k.sequence_kind),
                    L(k.seq_increment),
                    L(k.seq_min),
                    L(k.seq_max),
                    sql.SQL("TRUE" if k.seq_cycle else "FALSE"),
                    table_ident(k.seq_schema, k.seq_name),
                )
            )
    return apply


def _mapping_tables(plan: Plan) -> list[Statement]:
    """One permanent old -> new mapping table per target."""
    apply = []
    for t in plan.targets:
        col = next(c for c in plan.columns if c.root == t.table.key and c.is_key)
        apply.append(kept_mapping.refuse_kept(t))
        apply.append(
            stmt(
                "CREATE TABLE {} AS\nSELECT\n    {}::bigint AS old_id,\n    {} AS new_id\nFROM {}",
                map_ident(t),
                I(t.key.column_name),
                new_key_expr(plan, col),
                table_ident(*t.table.key),
                note=f"{t.table.display}: {t.rows} rows at plan time.",
            )
        )
        # NOT NULL on new_id too: with its unique index, PostgreSQL itself then enforces what
        # checks/mapping_is_enforced_one_to_one.sql reads in the catalog (see that file).
        apply.append(
            stmt(
                "ALTER TABLE {}\nALTER COLUMN new_id SET NOT NULL,\nADD PRIMARY KEY (old_id),\nADD UNIQUE (new_id)",
                map_ident(t),
            )
        )
        apply.append(
            stmt(
                "COMMENT ON TABLE {} IS {}",
                map_ident(t),
                L(f"keyshift plan {plan.plan_id}: old {t.key.column_name} -> new uuid of {t.table.display}"),
            )
        )
    return apply


def _fingerprints(plan: Plan) -> list[Statement]:
    """Every touched table's fingerprint, read in old-id terms, for the checks."""
    pid = L(plan.plan_id)
    apply = []
    for table in tables_with_columns(plan):
        apply.append(
            stmt(
                "INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)\n"
                "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    f.row_count,\n"
                "    f.fingerprint\nFROM keyshift.table_fingerprint({}, {}, FALSE) AS f",
                pid,
                L(table[0]),
                L(table[1]),
                L(table[0]),
                L(table[1]),
            )
        )
    return apply


def _rollback(plan: Plan) -> list[Statement]:
    """Prove each mapping table covers every row; keep them (render/kept_mapping.py); forget the plan."""
    pid = L(plan.plan_id)
    rollback = [kept_mapping.claim_mapping_covers_every_row(t) for t in plan.targets]
    rollback += [s for t in plan.targets for s in kept_mapping.keep_mapping(plan.plan_id, t)]
    rollback += external.session_rollback_note(plan)
    rollback += external.forget(
        pid,
        (
            "plan_check",
            "converted_table_property",
            "converted_view",
            "converted_slug",
            "fingerprint",
            "saved_sequence",
            "invalidated_session",
            "converted_index",
            "converted_constraint",
            "converted_column",
            "converted_table",
        ),
    )
    return rollback


def _header(plan: Plan) -> tuple[str, ...]:
    return (
        "What: records in the keyshift registry what this plan converts, saves the state of each key",
        "  sequence, fingerprints every touched table (rows read in old-id terms), and writes the",
        "  permanent old -> new mapping of each target:",
        *(
            f"    {qualname('keyshift', t.map_table)} <- {t.table.display} ({t.rows} rows at plan time)"
            for t in plan.targets
        ),
        "  New keys (version, default for new rows, where the time of existing keys comes from):",
        *(f"    {key_version_line(plan, t)}" for t in plan.targets),
        "Why: the mapping is what rollback, audits, caches and old URLs need; the fingerprints let the",
        "  checks prove, inside this transaction, that no row and no reference changed. Rollback keeps",
        "  the mapping (rows written since migrate included); keyshift drop-map removes it.",
        *external.session_header(plan),
        *polymorphic.header(plan),
        f"Proven by: checks/mapping_is_enforced_one_to_one.sql, {plan.plan_id}.checks/every_row_has_a_mapping_row.sql,",
        f"  {plan.plan_id}.checks/rows_unchanged_through_mapping.sql",
        *plan_facts(plan),
    )
