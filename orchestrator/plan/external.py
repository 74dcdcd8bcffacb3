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
(both modes). Pure: ``wanted_names`` says which names the catalog is asked about
(catalog.Request), ``facts_of`` reads its answer from the snapshot's facts, ``validate`` decides;
its option checks are in orchestrator/plan/options.py and its migration in
orchestrator/render/external.py.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# --- what the plan asks of the catalog, and what it answered ------------------------------------


def targets_only(snap: Snapshot) -> Snapshot:
    """External mode touches only the targets: no column changes type, no FK moves."""
    return Snapshot(
        targets=list(snap.targets),
        tables={t.key: t for t, _k in snap.targets},
        row_counts={t.key: snap.row_counts[t.key] for t, _k in snap.targets if t.key in snap.row_counts},
        target_columns=dict(snap.target_columns),
        facts=snap.facts,
    )


def wanted_names(options: Options, targets: list[tuple[Table, KeyColumn]]) -> dict:
    """The names this plan would create and the tables its options name, as catalog.Request's
    fields: relations (schema, name) and constraints (schema, table, name) whose names must be
    free, the targets whose key sequence --restart-sequence moves, the --invalidate-sessions tables."""
    column = external_column_name(options)
    relations, constraints = [], []
    if options.mode == "external":
        for table, _key in targets:
            name = constraint_name(table, column)
            relations.append((table.table_schema, name))
            constraints.append((*table.key, name))
    else:
        # Names replace mode creates: each target's mapping table, each slug's UNIQUE constraint.
        relations += [("keyshift", map_table_name(*table.key)) for table, _key in targets]
        by_table = {t.key for t, _k in targets}
        for schema, table_name, slug in options.slug_columns:
            if (schema, table_name) in by_table:  # else plan.build refuses an option that names no target
                name = slug_constraint_name(table_name, slug)
                relations.append((schema, name))
                constraints.append((schema, table_name, name))
    keys = {t.key for t, _k in targets}
    return dict(
        relations=tuple(relations),
        constraints=tuple(constraints),
        sequence_positions=tuple((s, n) for s, n, _v in options.restarts if (s, n) in keys),
        sessions=tuple(options.sessions),
    )


def facts_of(snap: Snapshot, options: Options) -> Facts:
    """What ``validate`` needs, from the snapshot's facts (read for ``wanted_names``)."""
    found = snap.facts
    column = external_column_name(options)
    existing = set()
    if options.mode == "external":
        existing = {(*t.key, column) for t, _k in snap.targets if column in snap.target_columns.get(t.key, {})}
    keys = {t.key for t, _k in snap.targets}
    return Facts(
        existing_columns=existing,
        taken_names=set(found.taken_relations) | {(s, name) for s, _t, name in found.taken_constraints},
        max_ids={
            (s, n): found.id_ranges.get((s, n), (None, None))[1] for s, n, _v in options.restarts if (s, n) in keys
        },
        seq_last=dict(found.sequence_positions),
        sessions={key: (s.table, list(s.referencing), s.rows) for key, s in found.sessions.items()},
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
