"""The dual-ID "external" mode, sequence restarts and session invalidation (issue #5 part B).

External mode keeps every integer key and every foreign key exactly as they are and adds,
per target, one uuid column (default ``external_id``): NOT NULL, UNIQUE under a named
constraint, DEFAULT the planned generator. It is added with ONE ``ALTER TABLE ... ADD COLUMN
... DEFAULT <volatile>``: PostgreSQL rewrites the table once and fills every row itself, so
there is no whole-table UPDATE, no row trigger fires and no dead tuple is left behind.

``--restart-sequence SCHEMA.TABLE=N`` moves a target's key sequence so new rows continue from
N (checked against max(id) at plan time, and again under the table lock at migrate time).
``--invalidate-sessions SCHEMA.TABLE`` empties a session table inside the migrate transaction
(both modes). The pieces that read the live catalog (``read_facts``) are kept apart from the
pure validation (``validate``) and the rendering (``render``).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from orchestrator.catalog import KeyColumn, Snapshot, Table
from orchestrator.errors import Refused
from orchestrator.names import Literal, qualname
from orchestrator.names import Statement
from orchestrator.plan import (NAME_LIMIT, Options, Plan, check_generated_names, map_table_name, short_name,
                               slug_constraint_name)

I = sql.Identifier
L = Literal

DEFAULT_EXTERNAL_COLUMN = "external_id"


def external_default(options: Options) -> str:
    """The default expression of the external id column: the ONE place it is chosen.

    Only v4 in this version; the lead switches this to the shared generator at merge.
    """
    return {"v4": "gen_random_uuid()"}[options.uuid]


def external_version(options: Options) -> int:
    return {"v4": 4}[options.uuid]


# --- what the plan adds ----------------------------------------------------------------------

@dataclass(frozen=True)
class ExternalColumn:
    table: Table
    key: KeyColumn
    column: str
    constraint: str
    rows: int


@dataclass(frozen=True)
class Restart:
    table: Table
    key: KeyColumn
    value: int
    max_id: int | None  # at plan time

    @property
    def seq(self) -> sql.Identifier:
        return I(self.key.seq_schema, self.key.seq_name)

    @property
    def seq_display(self) -> str:
        return qualname(self.key.seq_schema, self.key.seq_name)


@dataclass(frozen=True)
class Session:
    schema: str
    name: str
    rows: int  # at plan time

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def display(self) -> str:
        return qualname(self.schema, self.name)


@dataclass
class Facts:
    """What the live database said at plan time, for the pure validation."""

    existing_columns: set  # (schema, table, column) that exist already
    taken_names: set  # (schema, relation-or-constraint name) already in use
    max_ids: dict  # (schema, table) -> max(key) or None
    seq_last: dict  # (schema, table) -> (last_value, is_called) of the key sequence
    sessions: dict  # (schema, table) -> (Table | None, [referencing FK display], rows)


# --- option checks that need no database -------------------------------------------------------

def validate_options(options: Options) -> None:
    """Refuse option combinations before the database is read (exit 3, nothing written)."""
    if options.mode == "external":
        if options.uuid != "v4":
            raise Refused(
                f"--uuid {options.uuid}", "external mode fills external ids with gen_random_uuid() (v4) in this version",
                "use --uuid v4 (the default) with --mode external; without --uuid, the value comes from "
                "'uuid =' in yoyo.ini [keyshift]",
            )
        name = external_column_name(options)
        if not name or len(name.encode()) > NAME_LIMIT:
            raise Refused(f"--external-column {name!r}", f"is not a column name of 1 to {NAME_LIMIT} bytes",
                          "choose a shorter name")
    else:
        if options.restarts:
            schema, table, value = options.restarts[0]
            raise Refused(
                f"--restart-sequence {qualname(schema, table)}={value}",
                "is for --mode external only: in replace mode the integer key sequences are dropped",
                "add --mode external, or leave --restart-sequence out",
            )
        if options.external_column is not None:
            raise Refused(f"--external-column {options.external_column}", "is for --mode external only",
                          "add --mode external, or leave --external-column out")
    seen = set()
    for schema, table, _value in options.restarts:
        if (schema, table) in seen:
            raise Refused(f"--restart-sequence {qualname(schema, table)}", "is given twice", "name each table once")
        seen.add((schema, table))
    if len(set(options.sessions)) != len(options.sessions):
        raise Refused("--invalidate-sessions", "names a table twice", "name each session table once")


def external_column_name(options: Options) -> str:
    return options.external_column if options.external_column is not None else DEFAULT_EXTERNAL_COLUMN


def constraint_name(table: Table, column: str) -> str:
    """PostgreSQL's own naming (table_column_key), kept within 63 bytes by plan.short_name."""
    return short_name(f"{table.table_name}_{column}_key")


# --- reading the live database (plan time) ------------------------------------------------------

def snapshot(cat, targets: list[tuple[Table, KeyColumn]]) -> Snapshot:
    """External mode touches only the targets: no column changes type, no FK moves."""
    snap = Snapshot(targets=list(targets))
    for table, _key in targets:
        snap.tables[table.key] = table
        snap.row_counts[table.key] = cat.row_count(*table.key)
    return snap


def read_facts(conn: psycopg.Connection, options: Options, targets: list[tuple[Table, KeyColumn]],
               table_lookup) -> Facts:
    """Everything ``validate`` needs, read with schema-qualified queries only."""
    facts = Facts(existing_columns=set(), taken_names=set(), max_ids={}, seq_last={}, sessions={})
    column = external_column_name(options)
    if options.mode == "external":
        for table, _key in targets:
            if conn.execute(
                "SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = %s AND attname = %s AND NOT attisdropped",
                (table.relid, column),
            ).fetchone():
                facts.existing_columns.add((*table.key, column))
            name = constraint_name(table, column)
            if conn.execute(
                "SELECT 1 FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relname = %s"
                " UNION ALL SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = %s AND conname = %s",
                (table.table_schema, name, table.relid, name),
            ).fetchone():
                facts.taken_names.add((table.table_schema, name))
    else:
        # Names replace mode creates: each target's mapping table, each slug's UNIQUE constraint.
        for table, _key in targets:
            name = map_table_name(*table.key)
            if _relation_taken(conn, "keyshift", name):
                facts.taken_names.add(("keyshift", name))
        by_table = {t.key: t for t, _k in targets}
        for schema, table_name, column in options.slug_columns:
            table = by_table.get((schema, table_name))
            if table is None:
                continue  # plan.build refuses an option that names no target
            name = slug_constraint_name(table_name, column)
            if _relation_taken(conn, schema, name) or conn.execute(
                "SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = %s AND conname = %s", (table.relid, name),
            ).fetchone():
                facts.taken_names.add((schema, name))
    by_key = {t.key: (t, k) for t, k in targets}
    for schema, name, _value in options.restarts:
        if (schema, name) in by_key:
            table, key = by_key[(schema, name)]
            q = sql.SQL("SELECT max({}) FROM {}").format(I(key.column_name), I(schema, name))
            facts.max_ids[(schema, name)] = conn.execute(q).fetchone()[0]
            if key.seq_name:
                q = sql.SQL("SELECT last_value, is_called FROM {}").format(I(key.seq_schema, key.seq_name))
                facts.seq_last[(schema, name)] = tuple(conn.execute(q).fetchone())
    for schema, name in options.sessions:
        table = table_lookup(schema, name)
        refs, rows = [], 0
        if table is not None and table.relkind in ("r", "p"):
            refs = [r[0] for r in conn.execute(
                "SELECT format('%%s on %%s', con.conname, con.conrelid::pg_catalog.regclass)"
                " FROM pg_catalog.pg_constraint AS con"
                " WHERE con.contype = 'f' AND con.confrelid = %s AND con.conrelid <> con.confrelid"
                " ORDER BY 1",
                (table.relid,),
            )]
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(I(schema, name))).fetchone()[0]
        facts.sessions[(schema, name)] = (table, refs, rows)
    return facts


def _relation_taken(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s", (schema, name),
    ).fetchone() is not None


# --- pure validation ----------------------------------------------------------------------------

def validate(plan: Plan, facts: Facts) -> None:
    """Fill plan.external_columns / restarts / sessions, or raise Refused naming object, reason, fix."""
    options = plan.options
    column = external_column_name(options)
    if options.mode != "external":
        check_generated_names(plan, facts.taken_names)
    if options.mode == "external":
        for t in plan.targets:
            if (*t.table.key, column) in facts.existing_columns:
                raise Refused(
                    f"column {t.table.display}.{column}", "exists already",
                    "choose another name with --external-column, or leave this table out",
                )
            name = constraint_name(t.table, column)
            if (t.table.table_schema, name) in facts.taken_names:
                raise Refused(
                    f"constraint {qualname(t.table.table_schema, name)}",
                    "the name keyshift would give the UNIQUE constraint of the external id is taken",
                    "choose another name with --external-column, or rename that object",
                )
            plan.external_columns.append(ExternalColumn(t.table, t.key, column, name, t.rows))
    by_key = {t.table.key: t for t in plan.targets}
    for schema, name, value in options.restarts:
        shown = f"--restart-sequence {qualname(schema, name)}={value}"
        target = by_key.get((schema, name))
        if target is None:
            raise Refused(shown, f"{qualname(schema, name)} is not a target of this plan",
                          f"add --table {qualname(schema, name)}, or leave this restart out")
        key = target.key
        if not key.seq_name:
            raise Refused(shown, f"the key {target.table.display}.{key.column_name} draws from no sequence",
                          "only a serial, identity or nextval() key can be restarted; leave this restart out")
        max_id = facts.max_ids.get((schema, name))
        if max_id is not None and value <= max_id:
            raise Refused(shown, f"{value} is not above every existing id (max({key.column_name}) is {max_id})",
                          f"choose a value above {max_id}")
        if key.seq_max is not None and value > key.seq_max:
            raise Refused(shown, f"{value} is above the sequence's MAXVALUE {key.seq_max}",
                          "choose a smaller value, or raise the sequence's MAXVALUE first")
        if key.seq_min is not None and value < key.seq_min:
            raise Refused(shown, f"{value} is below the sequence's MINVALUE {key.seq_min}", "choose a larger value")
        last = facts.seq_last.get((schema, name))
        if last and (value < last[0] or (value == last[0] and last[1])):
            plan.warnings.append(
                f"{shown}: the sequence {qualname(key.seq_schema, key.seq_name)} has already handed out values up "
                f"to {last[0]}; ids from {value} to {last[0]} may have belonged to rows deleted since, and will be "
                "given again (no row holds them now, but logs, caches or other systems may)"
            )
        plan.restarts.append(Restart(target.table, key, value, max_id))
    for schema, name in options.sessions:
        shown = f"--invalidate-sessions {qualname(schema, name)}"
        table, refs, rows = facts.sessions[(schema, name)]
        if table is None:
            raise Refused(shown, "no such table", "check the schema-qualified name (names are case-sensitive)")
        if table.relkind not in ("r", "p"):
            raise Refused(shown, "is not a table", "name the table that holds the sessions")
        if refs:
            raise Refused(
                shown, f"is referenced by foreign keys ({'; '.join(refs)}), so it cannot be emptied by TRUNCATE "
                "without also emptying those tables",
                "empty it yourself (DELETE honours the foreign keys), or drop those foreign keys first",
            )
        if options.mode == "external" and (schema, name) in by_key:
            raise Refused(shown, "is also a target: emptying it would leave no row to give an external id",
                          "leave it out of --table or out of --invalidate-sessions")
        plan.sessions.append(Session(schema, name, rows))


def no_mapping(shown: str, plan_id: str, key_column: str, external_column: str, action: str) -> Refused:
    """drop-map / export-map on a table of external mode: there is no mapping table to act on."""
    fix = {
        "drop": "nothing to retire: the external ids live in the table itself; keyshift rollback removes them",
        "export": "export the pairs from the table itself, e.g. "
                  f"COPY (SELECT {sql.Identifier(key_column).as_string(None)}, "
                  f"{sql.Identifier(external_column).as_string(None)} FROM {shown}) TO STDOUT WITH (FORMAT csv)",
    }[action]
    return Refused(f"table {shown}",
                   f"was converted in external mode by plan {plan_id}: its integer key {key_column} stays and "
                   f"{external_column} holds its uuid, so it has no old -> new mapping table", fix)


# --- rendering ------------------------------------------------------------------------------------

def session_statements(plan: Plan) -> list[Statement]:
    """Record and empty each session table; runs under the migrate transaction (both modes).

    TRUNCATE, not DELETE: instant on any size, no dead tuples and no per-row DELETE triggers;
    it is transactional in PostgreSQL, so a failing check rolls it back. Plan time refuses a
    session table that another table references, the one case TRUNCATE would refuse or spread.
    """
    from orchestrator.render import stmt

    out = []
    for s in plan.sessions:
        out.append(stmt(
            "INSERT INTO keyshift.invalidated_session (plan_id, table_schema, table_name, rows_deleted)\n"
            "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n"
            "    count(*) AS rows_deleted\nFROM {}",
            L(plan.plan_id), L(s.schema), L(s.name), I(*s.key),
            note=f"{s.display}: {s.rows} sessions at plan time are invalidated; users log in again.",
        ))
        out.append(stmt("TRUNCATE TABLE {}", I(*s.key)))
    return out


def forget(pid, registries: tuple[str, ...]) -> list[Statement]:
    """Rollback's last statements in both modes (orchestrator/ownership.py): delete the plan's
    rows from each keyshift registry table (children before converted_table), then, once no
    conversion is left, drop by name only what keyshift created and nothing else still uses."""
    from orchestrator import ownership

    return ownership.forget_plan(pid, registries)


def session_rollback_note(plan: Plan) -> list[Statement]:
    if not plan.sessions:
        return []
    names = ", ".join(s.display for s in plan.sessions)
    return [Statement(sql.SQL("SELECT 1 AS sessions_not_restored"), (
        f"Sessions emptied by this plan ({names}) are NOT restored by this rollback:",
        "they were deleted on purpose, and their users log in again.",
    ))]


def session_header(plan: Plan) -> list[str]:
    if not plan.sessions:
        return []
    return [
        "Sessions: empties (TRUNCATE) these session tables inside the transaction; users log in again:",
        *(f"    {s.display} ({s.rows} rows at plan time)" for s in plan.sessions),
        "  Rollback cannot restore them.",
    ]


def _restart_statements(plan: Plan) -> tuple[list[Statement], list[Statement]]:
    from orchestrator.render import _do, stmt

    checks, moves = [], []
    for r in plan.restarts:
        k = r.key
        checks.append(Statement(_do(
            "SELECT max(t.{k}) INTO m FROM {t} AS t;\n"
            "IF m >= {n} THEN\n"
            "    RAISE EXCEPTION USING\n"
            "    MESSAGE = {msg} || m || {tail},\n"
            "    HINT = {hint};\n"
            "END IF;",
            declare="DECLARE\n    m bigint;\n",
            k=I(k.column_name), t=I(*r.table.key), n=L(r.value),
            msg=L(f"keyshift: --restart-sequence {r.table.display}={r.value}: max({k.column_name}) is now "),
            tail=L(f", not below {r.value}"),
            hint=L("rows arrived since the plan; nothing was committed; plan again with a higher value"),
        ), (f"{r.table.display}: max({k.column_name}) was {r.max_id} at plan time; rows may have come since.",)))
        if k.sequence_kind.startswith("identity"):
            moves.append(stmt("ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}", I(*r.table.key), I(k.column_name),
                              L(r.value)))
        else:
            moves.append(stmt("ALTER SEQUENCE {} RESTART WITH {}", r.seq, L(r.value)))
    return checks, moves


def _restore_sequences(plan: Plan) -> list[Statement]:
    """Back to the saved state; after rows added since, continue past them (never reuse an id).

    ALTER SEQUENCE ... RESTART gives the sequence a new relfilenode in this transaction, so the
    setval that follows is rolled back with it should the rollback fail (setval alone is not).
    """
    from orchestrator.render import _do, _regclass, stmt

    out = []
    for r in plan.restarts:
        k = r.key
        if k.sequence_kind.startswith("identity"):
            out.append(stmt("ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}", I(*r.table.key), I(k.column_name),
                            L(k.seq_start)))
        else:
            out.append(stmt("ALTER SEQUENCE {} RESTART WITH {}", r.seq, L(k.seq_start)))
        out.append(Statement(_do(
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
            seq=_regclass(k.seq_schema, k.seq_name), k=I(k.column_name), t=I(*r.table.key),
            ts=L(r.table.table_schema), tn=L(r.table.table_name), kc=L(k.column_name),
            msg=L(f"keyshift: the saved state of sequence {r.seq_display} is missing from keyshift.saved_sequence"),
        )))
    return out


def render(plan: Plan) -> list:
    """External mode: ONE migration (and its rollback) does everything, under one lock."""
    from orchestrator.render import Migration, _file, lock_statement, stmt

    pid = L(plan.plan_id)
    default = external_default(plan.options)
    rechecks, moves = _restart_statements(plan)
    apply = [
        _file("schema.sql"),
        _file("registry.sql"),
        _file("functions/table_fingerprint.sql"),
        lock_statement(plan),
        *rechecks,
        *session_statements(plan),
    ]
    for r in plan.restarts:
        k = r.key
        apply.append(stmt(
            "INSERT INTO keyshift.saved_sequence\n"
            "(plan_id, table_schema, table_name, column_name, sequence_schema, sequence_name, kind, last_value, "
            "is_called, restart_value)\n"
            "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    {} AS column_name,\n"
            "    {} AS sequence_schema,\n    {} AS sequence_name,\n    {} AS kind,\n    s.last_value,\n"
            "    s.is_called,\n    {} AS restart_value\nFROM {} AS s",
            pid, L(r.table.table_schema), L(r.table.table_name), L(k.column_name), L(k.seq_schema),
            L(k.seq_name), L(k.sequence_kind), L(r.value), r.seq,
        ))
    for e in plan.external_columns:
        apply.append(stmt(
            "INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)\n"
            "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    f.row_count,\n"
            "    f.fingerprint\nFROM keyshift.table_fingerprint({}, {}, FALSE) AS f",
            pid, L(e.table.table_schema), L(e.table.table_name), L(e.table.table_schema), L(e.table.table_name),
            note=("Before the column exists: the checks compare this with the rows after it (the external",
                  "column left out), proving no row and no value changed."),
        ))
        apply.append(stmt(
            "INSERT INTO keyshift.converted_table\n"
            "(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table, "
            "external_column, external_constraint)\n"
            "VALUES ({}, {}, {}, {}, {}, 'external', {}, {}, NULL, {}, {})",
            pid, L(e.table.table_schema), L(e.table.table_name), L(e.key.column_name), L(e.key.data_type),
            L(external_version(plan.options)), L(default), L(e.column), L(e.constraint),
        ))
    for e in plan.external_columns:
        apply.append(stmt(
            "ALTER TABLE {}\nADD COLUMN {} uuid NOT NULL DEFAULT {},\nADD CONSTRAINT {} UNIQUE ({})",
            I(*e.table.key), I(e.column), sql.SQL(default), I(e.constraint), I(e.column),
            note=(f"{e.table.display}: {e.rows} rows at plan time. ONE rewrite fills every row with its own",
                  "value (volatile default): no UPDATE, so no row trigger fires; then the unique index is built."),
        ))
        apply.append(stmt(
            "COMMENT ON COLUMN {} IS {}", I(e.table.table_schema, e.table.table_name, e.column),
            L(f"keyshift plan {plan.plan_id}: external id of {e.table.display}; the integer key stays internal"),
        ))
    apply += moves

    rollback = _restore_sequences(plan)
    for e in reversed(plan.external_columns):
        rollback.append(stmt("ALTER TABLE {}\nDROP CONSTRAINT {},\nDROP COLUMN {}", I(*e.table.key),
                             I(e.constraint), I(e.column)))
    rollback += session_rollback_note(plan)
    rollback += forget(pid, ("fingerprint", "saved_sequence", "invalidated_session", "converted_table"))
    header = (
        "What: dual-ID (external mode). Every integer key and every foreign key stays exactly as it is;",
        f"  each target gets one uuid column, NOT NULL, UNIQUE, DEFAULT {default}, filled for every",
        "  existing row by the same statement that adds it:",
        *(f"    {e.table.display}.{e.column} (constraint {e.constraint}; {e.rows} rows at plan time)"
          for e in plan.external_columns),
        *(("Sequences: new rows continue from the chosen values (re-checked here against max(id),",
           "  under the lock; the old state is saved in keyshift.saved_sequence for rollback):",
           *(f"    {r.seq_display} ({r.table.display}.{r.key.column_name}, max {r.max_id} at plan time)"
             f" -> restart at {r.value}" for r in plan.restarts))
          if plan.restarts else ("Sequences: untouched.",)),
        *session_header(plan),
        "Why: clients get ids that reveal nothing, joins keep their integer keys, and no reference",
        "  moves. ADD COLUMN with a volatile default rewrites each table once, with no UPDATE and",
        "  no trigger; rollback drops the column and its constraint and restores the sequences.",
        "Proven by: checks/external_ids_are_unique_not_null_with_default.sql,",
        "  checks/rows_unchanged_through_mapping.sql, checks/row_counts_unchanged.sql,",
        "  checks/uuid_version_matches.sql",
    )
    return [Migration(f"{plan.plan_id}_01_add_external_ids", "add external uuid ids beside the integer keys",
                      header, apply, rollback)]


def print_plan(p: Plan, written, describe: str) -> None:
    print(f"keyshift plan {p.plan_id} (external, uuid {p.options.uuid}) on {describe}")
    print("integer keys and foreign keys stay as they are; external ids added:")
    for e in p.external_columns:
        print(f"  {e.table.display}.{e.column}: uuid NOT NULL UNIQUE ({e.constraint}) "
              f"DEFAULT {external_default(p.options)}; {e.rows} rows filled")
    for r in p.restarts:
        print(f"restart {r.seq_display} ({r.table.display}.{r.key.column_name}, max {r.max_id}): "
              f"new rows from {r.value}")
    print_sessions(p)
    for w in p.warnings:
        print(f"WARN {w}")
    for path in written:
        if not path.name.endswith(".rollback.sql"):
            print(f"wrote {path} (+ .rollback.sql)")


def print_sessions(p: Plan) -> None:
    for s in p.sessions:
        print(f"invalidate sessions {s.display}: {s.rows} rows emptied (TRUNCATE) in the migrate transaction; "
              "users log in again; rollback cannot restore them")
