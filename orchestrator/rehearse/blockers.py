"""Every blocker at once: the plan's statements run one by one on the schema copy, in one
transaction that is rolled back, each statement that re-creates a dependent object under its
own savepoint; what PostgreSQL refuses is recorded with its reason and the fix."""

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
    """An object ALTER ... TYPE would rebuild, or a trigger or policy, that plan's probe found
    PostgreSQL refuses on empty scratch copies with uuid columns."""
    if obj.kind in ("check constraint", "trigger", "policy"):
        fix = "this constraint compares the key with integer constants: rewrite or drop it, then plan again"
    else:
        fix = "rewrite it so that it does not treat the key as a number, then plan again"
    reason = f"{error}; it uses {', '.join(columns)}, which becomes uuid: {obj.shown_definition}"
    return Blocker(obj.display, reason, fix)


def find(conn: psycopg.Connection, plan: Plan, migrations: list[Migration], dropped: list) -> list[Blocker]:
    """Run ``migrations`` on ``conn`` (autocommit, a schema copy), rolled back at the end; the
    objects ``dropped`` (already named blockers) are dropped first so the rest can be tried."""
    found: list[Blocker] = []
    views = {v.display: v for v in plan.views}
    converted = {(c.table_schema, c.table_name, c.column_name): c.root for c in plan.columns}
    with conn.transaction(force_rollback=True):
        candidates = {d: _integer_columns(conn, v, converted) for d, v in views.items()}
        roots = {d: _roots(conn, v, converted) for d, v in views.items()}
        for obj in dropped:
            conn.execute(_drop_carried(obj))
        failed: set[str] = set()
        for m in migrations:
            for st in m.apply:
                if st.subject is None:
                    try:
                        conn.execute(st.text().encode())
                    except psycopg.Error as exc:
                        found.append(
                            Blocker(f"migration {m.name}", _message(exc), "fix what PostgreSQL names, then plan again")
                        )
                        return found
                    continue
                if st.subject in failed:
                    continue
                error = _try(conn, st)
                if error is None:
                    continue
                failed.add(st.subject)
                found.append(_explain(conn, st, error, views.get(st.subject), candidates, roots))
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


def _explain(conn, st: Statement, exc: psycopg.Error, view, candidates: dict, roots: dict) -> Blocker:
    reason = _message(exc)
    if view is None:
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


def _drop_carried(obj) -> sql.Composed:
    table = sql.Identifier(*obj.table)
    if obj.kind == "index":
        return sql.SQL("DROP INDEX {}").format(sql.Identifier(obj.table_schema, obj.name))
    if obj.kind in ("trigger", "policy"):
        return sql.SQL("DROP {} {} ON {}").format(sql.SQL(obj.kind.upper()), sql.Identifier(obj.name), table)
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(obj.name))
