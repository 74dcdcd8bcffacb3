"""External (dual-ID) mode rendered: its one migration, the session statements and sequence restarts."""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement
from orchestrator.plan.model import Plan
from orchestrator.plan.options import external_default, external_version
from orchestrator.render import ownership
from orchestrator.render.common import I, L, Migration, do_block, lock_statement, regclass, shipped_file, stmt


def session_statements(plan: Plan) -> list[Statement]:
    """Record and empty each session table; runs under the migrate transaction (both modes).

    TRUNCATE, not DELETE: instant on any size, no dead tuples and no per-row DELETE triggers;
    it is transactional in PostgreSQL, so a failing check rolls it back. Plan time refuses a
    session table that another table references, the one case TRUNCATE would refuse or spread.
    """
    out = []
    for s in plan.sessions:
        out.append(
            stmt(
                "INSERT INTO keyshift.invalidated_session (plan_id, table_schema, table_name, rows_deleted)\n"
                "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n"
                "    count(*) AS rows_deleted\nFROM {}",
                L(plan.plan_id),
                L(s.schema),
                L(s.name),
                I(*s.key),
                note=f"{s.display}: {s.rows} sessions at plan time are invalidated; users log in again.",
            )
        )
        out.append(stmt("TRUNCATE TABLE {}", I(*s.key)))
    return out


def forget(pid, registries: tuple[str, ...]) -> list[Statement]:
    """Rollback's last statements in both modes (orchestrator/render/ownership.py): delete the plan's
    rows from each keyshift registry table (children before converted_table), then, once no
    conversion is left, drop by name only what keyshift created and nothing else still uses."""
    return ownership.forget_plan(pid, registries)


def session_rollback_note(plan: Plan) -> list[Statement]:
    if not plan.sessions:
        return []
    names = ", ".join(s.display for s in plan.sessions)
    return [
        Statement(
            sql.SQL("SELECT 1 AS sessions_not_restored"),
            (
                f"Sessions emptied by this plan ({names}) are NOT restored by this rollback:",
                "they were deleted on purpose, and their users log in again.",
            ),
        )
    ]


def session_header(plan: Plan) -> list[str]:
    if not plan.sessions:
        return []
    return [
        "Sessions: empties (TRUNCATE) these session tables inside the transaction; users log in again:",
        *(f"    {s.display} ({s.rows} rows at plan time)" for s in plan.sessions),
        "  Rollback cannot restore them.",
    ]


def _restart_statements(plan: Plan) -> tuple[list[Statement], list[Statement]]:
    checks, moves = [], []
    for r in plan.restarts:
        k = r.key
        checks.append(
            Statement(
                do_block(
                    "SELECT max(t.{k}) INTO m FROM {t} AS t;\n"
                    "IF m >= {n} THEN\n"
                    "    RAISE EXCEPTION USING\n"
                    "    MESSAGE = {msg} || m || {tail},\n"
                    "    HINT = {hint};\n"
                    "END IF;",
                    declare="DECLARE\n    m bigint;\n",
                    k=I(k.column_name),
                    t=I(*r.table.key),
                    n=L(r.value),
                    msg=L(f"keyshift: --restart-sequence {r.table.display}={r.value}: max({k.column_name}) is now "),
                    tail=L(f", not below {r.value}"),
                    hint=L("rows arrived since the plan; nothing was committed; plan again with a higher value"),
                ),
                (f"{r.table.display}: max({k.column_name}) was {r.max_id} at plan time; rows may have come since.",),
            )
        )
        if k.sequence_kind.startswith("identity"):
            moves.append(
                stmt("ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}", I(*r.table.key), I(k.column_name), L(r.value))
            )
        else:
            moves.append(stmt("ALTER SEQUENCE {} RESTART WITH {}", r.seq, L(r.value)))
    return checks, moves


def _restore_sequences(plan: Plan) -> list[Statement]:
    """Back to the saved state; after rows added since, continue past them (never reuse an id).

    ALTER SEQUENCE ... RESTART gives the sequence a new relfilenode in this transaction, so the
    setval that follows is rolled back with it should the rollback fail (setval alone is not).
    """
    out = []
    for r in plan.restarts:
        k = r.key
        if k.sequence_kind.startswith("identity"):
            out.append(
                stmt(
                    "ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}", I(*r.table.key), I(k.column_name), L(k.seq_start)
                )
            )
        else:
            out.append(stmt("ALTER SEQUENCE {} RESTART WITH {}", r.seq, L(k.seq_start)))
        out.append(
            Statement(
                do_block(
                    "PERFORM setval(\n    {seq},\n"
                    "    greatest(s.last_value, coalesce((SELECT max(t.{k}) FROM {t} AS t), s.last_value)),\n"
                    "    s.is_called OR coalesce((SELECT max(t.{k}) FROM {t} AS t), s.last_value) > s.last_value\n"
                    ")\nFROM keyshift.saved_sequence AS s\n"
                    "WHERE s.table_schema = {ts} AND s.table_name = {tn} AND s.column_name = {kc};\n"
                    "IF NOT FOUND THEN\n"
                    "    RAISE EXCEPTION USING\n"
                    "    MESSAGE = {msg},\n"
                    "    HINT = 'nothing was rolled back; restore the row in keyshift.saved_sequence from a backup';\n"
                    "END IF;",
                    seq=regclass(k.seq_schema, k.seq_name),
                    k=I(k.column_name),
                    t=I(*r.table.key),
                    ts=L(r.table.table_schema),
                    tn=L(r.table.table_name),
                    kc=L(k.column_name),
                    msg=L(
                        f"keyshift: the saved state of sequence {r.seq_display} is missing from keyshift.saved_sequence"
                    ),
                )
            )
        )
    return out


def render(plan: Plan) -> list:
    """External mode: ONE migration (and its rollback) does everything, under one lock."""
    pid = L(plan.plan_id)
    rechecks, moves = _restart_statements(plan)
    apply = [
        shipped_file("schema.sql"),
        shipped_file("registry.sql"),
        shipped_file("functions/table_fingerprint.sql"),
        shipped_file("functions/catalog_text.sql"),
        lock_statement(plan),
        *rechecks,
        *session_statements(plan),
    ]
    apply += _save_sequences(plan) + _record_tables(plan) + _add_columns(plan) + moves

    rollback = _restore_sequences(plan)
    for e in reversed(plan.external_columns):
        rollback.append(
            stmt("ALTER TABLE {}\nDROP CONSTRAINT {},\nDROP COLUMN {}", I(*e.table.key), I(e.constraint), I(e.column))
        )
    rollback += session_rollback_note(plan)
    rollback += forget(pid, ("plan_check", "fingerprint", "saved_sequence", "invalidated_session", "converted_table"))
    return [
        Migration(
            f"{plan.plan_id}_01_add_external_ids",
            "add external uuid ids beside the integer keys",
            _header(plan),
            apply,
            rollback,
        )
    ]


def _save_sequences(plan: Plan) -> list[Statement]:
    """The state of each sequence that is restarted, saved for rollback."""
    pid = L(plan.plan_id)
    apply = []
    for r in plan.restarts:
        k = r.key
        apply.append(
            stmt(
                "INSERT INTO keyshift.saved_sequence\n"
                "(plan_id, table_schema, table_name, column_name, sequence_schema, sequence_name, kind, last_value, "
                "is_called, restart_value)\n"
                "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    {} AS column_name,\n"
                "    {} AS sequence_schema,\n    {} AS sequence_name,\n    {} AS kind,\n    s.last_value,\n"
                "    s.is_called,\n    {} AS restart_value\nFROM {} AS s",
                pid,
                L(r.table.table_schema),
                L(r.table.table_name),
                L(k.column_name),
                L(k.seq_schema),
                L(k.seq_name),
                L(k.sequence_kind),
                L(r.value),
                r.seq,
            )
        )
    return apply


def _record_tables(plan: Plan) -> list[Statement]:
    """Each table's fingerprint before its column exists, and its registry row."""
    pid = L(plan.plan_id)
    default = external_default(plan.options)
    apply = []
    for e in plan.external_columns:
        apply.append(
            stmt(
                "INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)\n"
                "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    f.row_count,\n"
                "    f.fingerprint\nFROM keyshift.table_fingerprint({}, {}, FALSE) AS f",
                pid,
                L(e.table.table_schema),
                L(e.table.table_name),
                L(e.table.table_schema),
                L(e.table.table_name),
                note=(
                    "Before the column exists: the checks compare this with the rows after it (the external",
                    "column left out), proving no row and no value changed.",
                ),
            )
        )
        apply.append(
            stmt(
                "INSERT INTO keyshift.converted_table\n"
                "(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table, "
                "external_column, external_constraint)\n"
                "VALUES ({}, {}, {}, {}, {}, 'external', {}, {}, NULL, {}, {})",
                pid,
                L(e.table.table_schema),
                L(e.table.table_name),
                L(e.key.column_name),
                L(e.key.data_type),
                L(external_version(plan.options)),
                L(default),
                L(e.column),
                L(e.constraint),
            )
        )
    return apply


def _add_columns(plan: Plan) -> list[Statement]:
    """The external uuid column of each table, added and filled by one statement."""
    default = external_default(plan.options)
    apply = []
    for e in plan.external_columns:
        apply.append(
            stmt(
                "ALTER TABLE {}\nADD COLUMN {} uuid NOT NULL DEFAULT {},\nADD CONSTRAINT {} UNIQUE ({})",
                I(*e.table.key),
                I(e.column),
                sql.SQL(default),
                I(e.constraint),
                I(e.column),
                note=(
                    f"{e.table.display}: {e.rows} rows at plan time. ONE rewrite fills every row with its own",
                    "value (volatile default): no UPDATE, so no row trigger fires; then the unique index is built.",
                ),
            )
        )
        apply.append(
            stmt(
                "COMMENT ON COLUMN {} IS {}",
                I(e.table.table_schema, e.table.table_name, e.column),
                L(f"keyshift plan {plan.plan_id}: external id of {e.table.display}; the integer key stays internal"),
            )
        )
    return apply


def _header(plan: Plan) -> tuple[str, ...]:
    default = external_default(plan.options)
    return (
        "What: dual-ID (external mode). Every integer key and every foreign key stays exactly as it is;",
        f"  each target gets one uuid column, NOT NULL, UNIQUE, DEFAULT {default}, filled for every",
        "  existing row by the same statement that adds it:",
        *(
            f"    {e.table.display}.{e.column} (constraint {e.constraint}; {e.rows} rows at plan time)"
            for e in plan.external_columns
        ),
        *(
            (
                "Sequences: new rows continue from the chosen values (re-checked here against max(id),",
                "  under the lock; the old state is saved in keyshift.saved_sequence for rollback):",
                *(
                    f"    {r.seq_display} ({r.table.display}.{r.key.column_name}, max {r.max_id} at plan time)"
                    f" -> restart at {r.value}"
                    for r in plan.restarts
                ),
            )
            if plan.restarts
            else ("Sequences: untouched.",)
        ),
        *session_header(plan),
        "Why: clients get ids that reveal nothing, joins keep their integer keys, and no reference",
        "  moves. ADD COLUMN with a volatile default rewrites each table once, with no UPDATE and",
        "  no trigger; rollback drops the column and its constraint and restores the sequences.",
        "Proven by: checks/external_ids_are_unique_not_null_with_default.sql,",
        f"  {plan.plan_id}.checks/rows_unchanged_through_mapping.sql, {plan.plan_id}.checks/row_counts_unchanged.sql,",
        f"  {plan.plan_id}.checks/uuid_version_matches.sql",
    )
