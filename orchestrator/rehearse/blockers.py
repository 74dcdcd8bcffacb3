"""Every blocker at once: the plan's statements run one by one on the schema copy, in one
transaction that is rolled back, each statement that re-creates a dependent object under its
own savepoint, and each object ALTER ... TYPE rebuilds created again under its own savepoint
after the conversion; what PostgreSQL refuses is recorded with its reason and the fix."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from orchestrator.names import Statement, qualname
from orchestrator.plan.model import Plan
from orchestrator.render.common import Migration

_INTEGER_TYPES = ("smallint", "integer", "bigint")

#: The integer columns a view's rewrite rule reads (pg_depend), and their tables' kinds.
_VIEW_COLUMNS = """
SELECT DISTINCT n.nspname, c.relname, a.attname
FROM pg_catalog.pg_rewrite AS r
JOIN pg_catalog.pg_depend AS d
    ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
    AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0
JOIN pg_catalog.pg_class AS c ON c.oid = d.refobjid AND c.oid <> r.ev_class AND c.relkind IN ('r', 'p')
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
WHERE r.ev_class = pg_catalog.to_regclass(%s)
    AND pg_catalog.format_type(a.atttypid, NULL) = ANY(%s)
ORDER BY 1, 2, 3
"""


@dataclass(frozen=True)
class Blocker:
    """One object that cannot follow the new type: what, PostgreSQL's reason, the fix."""

    subject: str
    reason: str
    fix: str

    def line(self) -> str:
        return f"{self.subject}: PostgreSQL refuses it on uuid ({self.reason}); {self.fix}"


def carried_blocker(obj, error: str, columns: list[str]) -> Blocker:
    """A constraint, index, trigger or policy on a converted column that PostgreSQL refuses to
    create again on uuid: its definition and the converted columns it uses."""
    if obj.kind in ("check constraint", "trigger", "policy"):
        fix = "it compares the key with integer constants: rewrite or drop it, then plan again"
    else:
        fix = "rewrite it so that it does not treat the key as a number, then plan again"
    reason = f"{error}; it uses {', '.join(columns)}, which becomes uuid: {obj.shown_definition}"
    return Blocker(obj.display, reason, fix)


def find(conn: psycopg.Connection, plan: Plan, migrations: list[Migration]) -> list[Blocker]:
    """Run ``migrations`` on ``conn`` (autocommit, a schema copy), rolled back at the end. When
    PostgreSQL refuses a statement that re-creates no object (the conversion's ALTER TABLE), the
    objects ALTER ... TYPE rebuilds are set aside and it runs again; after the last statement
    each of them is created again under its own savepoint, so every one refused is named."""
    found: list[Blocker] = []
    views = {v.display: v for v in plan.views}
    converted = {(c.table_schema, c.table_name, c.column_name): c.root for c in plan.columns}
    with conn.transaction(force_rollback=True):
        candidates = {d: _integer_columns(conn, v, converted) for d, v in views.items()}
        roots = {d: _roots(conn, v, converted) for d, v in views.items()}
        aside: list | None = None
        failed: set[str] = set()
        for m in migrations:
            for st in m.apply:
                if st.subject is None:
                    error = _try(conn, st)
                    if error is not None and aside is None:
                        aside = _set_aside(conn, plan)
                        error = _try(conn, st) if aside else error
                    if error is not None:
                        fix = "fix what PostgreSQL names, then plan again"
                        return [*found, Blocker(f"migration {m.name}", _message(error), fix)]
                    continue
                if st.subject in failed:
                    continue
                error = _try(conn, st)
                if error is None:
                    continue
                failed.add(st.subject)
                found.append(_explain(conn, st, error, plan, candidates, roots))
        found += _rebuild(conn, plan, aside or [])
    return found


def _set_aside(conn: psycopg.Connection, plan: Plan) -> list:
    """Drop, on the copy, each object ALTER ... TYPE would rebuild (CHECK and exclusion
    constraints, indexes with an expression or a predicate): the conversion then runs without
    them. A partition's copy of its parent's object goes with the parent's (PostgreSQL refuses
    to drop it alone) and comes back with it. The objects dropped, parents' first."""
    dropped = []
    for obj in sorted((o for o in plan.carried if o.carry == "alter"), key=lambda o: o.on_partition):
        try:
            with conn.transaction():
                conn.execute(_drop_carried(obj))
        except psycopg.Error:
            continue
        dropped.append(obj)
    return dropped


def _rebuild(conn: psycopg.Connection, plan: Plan, dropped: list) -> list[Blocker]:
    """Each object ``_set_aside`` dropped, created again on the converted copy from its own
    definition, as ALTER ... TYPE would; a blocker for each one PostgreSQL refuses."""
    found = []
    for obj in dropped:
        try:
            with conn.transaction():
                conn.execute(_create_rebuilt(obj))
        except psycopg.Error as exc:
            found.append(carried_blocker(obj, _message(exc), plan.carried_columns.get(obj.oid, [])))
    return found


def _try(conn: psycopg.Connection, st: Statement) -> psycopg.Error | None:
    try:
        with conn.transaction():
            conn.execute(st.text().encode())
    except psycopg.Error as exc:
        return exc
    return None


def _message(exc: psycopg.Error) -> str:
    return exc.diag.message_primary or str(exc).splitlines()[0]


def _explain(conn, st: Statement, exc: psycopg.Error, plan: Plan, candidates: dict, roots: dict) -> Blocker:
    reason = _message(exc)
    view = next((v for v in plan.views if v.display == st.subject), None)
    if view is None:
        obj = next((o for o in plan.carried if o.display == st.subject), None)
        if obj is not None:
            return carried_blocker(obj, reason, plan.carried_columns.get(obj.oid, []))
        fix = "this constraint compares the key with integer constants: rewrite or drop it, then plan again"
        return Blocker(st.subject, reason, fix)
    if isinstance(exc, pgerrors.UndefinedFunction):
        declared = [c for c in candidates[st.subject] if _fixes(conn, st, c)]
        targets = roots[st.subject]
        if declared and len(targets) == 1:
            options = " ".join(f"--reference {qualname(*c[:2])}.{c[2]}={qualname(*targets[0])}" for c in declared)
            return Blocker(st.subject, reason, f"it compares the key with an undeclared reference: plan with {options}")
    return Blocker(st.subject, reason, "rewrite this view so it does not mix the uuid key with integers")


def _integer_columns(conn, view, converted: dict) -> list[tuple[str, str, str]]:
    """The integer columns of tables the view reads that the plan does not convert."""
    rows = conn.execute(_VIEW_COLUMNS, (qualname(*view.key), list(_INTEGER_TYPES))).fetchall()
    return [tuple(r) for r in rows if tuple(r) not in converted]


def _roots(conn, view, converted: dict) -> list[tuple[str, str]]:
    """The targets whose keys the view reads, directly or through a converted reference."""
    rows = conn.execute(_VIEW_COLUMNS, (qualname(*view.key), list(_INTEGER_TYPES))).fetchall()
    return sorted({converted[tuple(r)] for r in rows if tuple(r) in converted})


def _fixes(conn, st: Statement, column: tuple[str, str, str]) -> bool:
    """Whether the view is accepted once ``column`` is uuid too: tried on the copy, undone."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE uuid USING NULL").format(
                    sql.Identifier(*column[:2]), sql.Identifier(column[2])
                )
            )
            conn.execute(st.text().encode())
    except psycopg.Error:
        return False
    return True


def _create_rebuilt(obj) -> sql.Composed:
    """An index's own CREATE INDEX (pg_get_indexdef), or a constraint added back with its own
    definition (pg_get_constraintdef): the statements ALTER ... TYPE runs to rebuild them."""
    if obj.kind == "index":
        return sql.Composed([sql.SQL(obj.definition)])
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
        sql.Identifier(*obj.table), sql.Identifier(obj.name), sql.SQL(obj.definition)
    )


def _drop_carried(obj) -> sql.Composed:
    table = sql.Identifier(*obj.table)
    if obj.kind == "index":
        return sql.SQL("DROP INDEX {}").format(sql.Identifier(obj.table_schema, obj.name))
    if obj.kind in ("trigger", "policy"):
        return sql.SQL("DROP {} {} ON {}").format(sql.SQL(obj.kind.upper()), sql.Identifier(obj.name), table)
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(obj.name))
