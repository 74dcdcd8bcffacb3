"""The dual-ID "external" mode at plan time: its facts and refusals, sequence restarts and session
invalidation.

External mode keeps every integer key and every foreign key exactly as they are and adds,
per target, one uuid column (default ``external_id``): NOT NULL, UNIQUE under a named
constraint, DEFAULT the planned generator. It is added with ONE ``ALTER TABLE ... ADD COLUMN
... DEFAULT <volatile>``: PostgreSQL rewrites the table once and fills every row itself, so
there is no whole-table UPDATE, no row trigger fires and no dead tuple is left behind.

``--restart-sequence SCHEMA.TABLE=N`` moves a target's key sequence so new rows continue from
N (checked against max(id) at plan time, and again under the table lock at migrate time).
``--invalidate-sessions SCHEMA.TABLE`` empties a session table inside the migrate transaction
(both modes). The pieces that read the live catalog (``read_facts``) are kept apart from the
pure validation (``validate``); its option checks are in orchestrator/plan/options.py and its
migration in orchestrator/render/external.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from orchestrator.catalog import KeyColumn, Snapshot, Table
from orchestrator.errors import Refused
from orchestrator.names import Literal, qualname
from orchestrator.plan.model import Plan, check_generated_names, map_table_name, short_name, slug_constraint_name
from orchestrator.plan.options import Options, external_column_name

I = sql.Identifier
L = Literal


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


def read_facts(
    conn: psycopg.Connection, options: Options, targets: list[tuple[Table, KeyColumn]], table_lookup
) -> Facts:
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
            if (
                _relation_taken(conn, schema, name)
                or conn.execute(
                    "SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = %s AND conname = %s",
                    (table.relid, name),
                ).fetchone()
            ):
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
    _read_sessions(conn, options, table_lookup, facts)
    return facts


def _read_sessions(conn: psycopg.Connection, options: Options, table_lookup, facts: Facts) -> None:
    """Each --invalidate-sessions table: the table, the foreign keys that reference it, its row count."""
    for schema, name in options.sessions:
        table = table_lookup(schema, name)
        refs, rows = [], 0
        if table is not None and table.relkind in ("r", "p"):
            refs = [
                r[0]
                for r in conn.execute(
                    "SELECT format('%%s on %%s', con.conname, con.conrelid::pg_catalog.regclass)"
                    " FROM pg_catalog.pg_constraint AS con"
                    " WHERE con.contype = 'f' AND con.confrelid = %s AND con.conrelid <> con.confrelid"
                    " ORDER BY 1",
                    (table.relid,),
                )
            ]
            rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(I(schema, name))).fetchone()[0]
        facts.sessions[(schema, name)] = (table, refs, rows)


def _relation_taken(conn: psycopg.Connection, schema: str, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, name),
        ).fetchone()
        is not None
    )


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
                    f"column {t.table.display}.{column}",
                    "exists already",
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
    _validate_restarts(plan, facts, by_key)
    for schema, name in options.sessions:
        shown = f"--invalidate-sessions {qualname(schema, name)}"
        table, refs, rows = facts.sessions[(schema, name)]
        if table is None:
            raise Refused(shown, "no such table", "check the schema-qualified name (names are case-sensitive)")
        if table.relkind not in ("r", "p"):
            raise Refused(shown, "is not a table", "name the table that holds the sessions")
        if refs:
            raise Refused(
                shown,
                f"is referenced by foreign keys ({'; '.join(refs)}), so it cannot be emptied by TRUNCATE "
                "without also emptying those tables",
                "empty it yourself (DELETE honours the foreign keys), or drop those foreign keys first",
            )
        if options.mode == "external" and (schema, name) in by_key:
            raise Refused(
                shown,
                "is also a target: emptying it would leave no row to give an external id",
                "leave it out of --table or out of --invalidate-sessions",
            )
        plan.sessions.append(Session(schema, name, rows))


def _validate_restarts(plan: Plan, facts: Facts, by_key: dict) -> None:
    """Each --restart-sequence: a target's key sequence, moved above every existing id and within its bounds."""
    options = plan.options
    for schema, name, value in options.restarts:
        shown = f"--restart-sequence {qualname(schema, name)}={value}"
        target = by_key.get((schema, name))
        if target is None:
            raise Refused(
                shown,
                f"{qualname(schema, name)} is not a target of this plan",
                f"add --table {qualname(schema, name)}, or leave this restart out",
            )
        key = target.key
        if not key.seq_name:
            raise Refused(
                shown,
                f"the key {target.table.display}.{key.column_name} draws from no sequence",
                "only a serial, identity or nextval() key can be restarted; leave this restart out",
            )
        max_id = facts.max_ids.get((schema, name))
        if max_id is not None and value <= max_id:
            raise Refused(
                shown,
                f"{value} is not above every existing id (max({key.column_name}) is {max_id})",
                f"choose a value above {max_id}",
            )
        if key.seq_max is not None and value > key.seq_max:
            raise Refused(
                shown,
                f"{value} is above the sequence's MAXVALUE {key.seq_max}",
                "choose a smaller value, or raise the sequence's MAXVALUE first",
            )
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


# --- rendering ------------------------------------------------------------------------------------
