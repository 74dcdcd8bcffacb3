"""The rows a plan's converted defaults name, stood in on the schema copy.

A referencing column whose DEFAULT is an id of its target converts to that row's new uuid
(render/defaults.converted_default), which migrate reads from the mapping table and refuses
when the row is gone. plan proved from the target that the row exists; the copy holds no rows
(or a sample of them), so the rehearsal puts in each row those defaults name that is not there:
its key and nothing else (every other column NULL, its NOT NULL dropped on the copy, its
triggers off while it goes in). The schema is compared from there, so the copy's own changes
are no difference."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from orchestrator.names import qualname
from orchestrator.plan.model import Plan
from orchestrator.rehearse.copy import is_superuser

#: The user triggers that fire on an insert (enabled, or enabled always), and how to enable them again.
_FIRING_TRIGGERS = """
SELECT t.tgname, t.tgenabled = 'A' AS always
FROM pg_catalog.pg_trigger AS t
WHERE t.tgrelid = pg_catalog.to_regclass(%s) AND NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')
ORDER BY t.tgname
"""

#: The columns a stand-in row leaves NULL: every column but the key that is neither generated
#: nor an identity, and whether it is NOT NULL.
_OTHER_COLUMNS = """
SELECT a.attname, a.attnotnull
FROM pg_catalog.pg_attribute AS a
WHERE a.attrelid = pg_catalog.to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attgenerated = '' AND a.attidentity = '' AND a.attname <> %s
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class Refusal:
    """A stand-in row the copy refuses: the rehearsal cannot show what migrate would do."""

    text: str

    def line(self) -> str:
        return self.text


def needed(plan: Plan) -> dict[tuple[str, str], set[int]]:
    """Per target table, the old ids the plan's converted defaults name."""
    rows: dict[tuple[str, str], set[int]] = {}
    for c in plan.columns:
        if not c.is_key and c.default_value is not None:
            rows.setdefault(c.root, set()).add(c.default_value)
    return rows


def plant(copy: str, plan: Plan) -> Refusal | None:
    """Put the stand-in rows into ``copy``; a Refusal saying why when the copy refuses one."""
    wanted = needed(plan)
    if not wanted:
        return None
    with psycopg.connect(copy, autocommit=True) as conn:
        superuser = is_superuser(conn)
        for table, ids in sorted(wanted.items()):
            key = plan.target_of(table).key.column_name
            try:
                with conn.transaction():
                    if superuser:
                        conn.execute("SET LOCAL session_replication_role = replica")
                        _plant_rows(conn, table, key, sorted(ids))
                    else:
                        firing = _triggers(conn, table, "DISABLE")
                        _plant_rows(conn, table, key, sorted(ids))
                        _triggers(conn, table, "ENABLE", firing)
            except psycopg.Error as exc:
                shown = ", ".join(str(i) for i in sorted(ids))
                return Refusal(
                    f"rehearsal of {qualname(*table)}: the copy refuses the stand-in row(s) {key} = {shown} that "
                    f"a converted default names ({exc.diag.message_primary or type(exc).__name__}); the target "
                    "holds them, the copy holds no rows; plan with --no-rehearse (plan read those rows on the "
                    "target), or drop the default first"
                )
    return None


def _plant_rows(conn: psycopg.Connection, table: tuple[str, str], key: str, ids: list[int]) -> None:
    others = conn.execute(_OTHER_COLUMNS, (qualname(*table), key)).fetchall()
    ident = sql.Identifier(*table)
    for name, notnull in others:
        if notnull:
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(ident, sql.Identifier(name)))
    columns = [sql.Identifier(key)] + [sql.Identifier(name) for name, _ in others]
    for value in ids:
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES (%s{}) ON CONFLICT DO NOTHING").format(
                ident, sql.SQL(", ").join(columns), sql.SQL(", NULL" * len(others))
            ),
            (value,),
        )


def _triggers(conn: psycopg.Connection, table: tuple[str, str], action: str, firing=None) -> list:
    """DISABLE the table's firing user triggers (the owner may; session_replication_role is a
    superuser's), or ENABLE ``firing`` again each as it was; the triggers acted on."""
    ident = sql.Identifier(*table)
    if firing is None:
        firing = conn.execute(_FIRING_TRIGGERS, (qualname(*table),)).fetchall()
    for name, always in firing:
        mode = "ENABLE ALWAYS" if action == "ENABLE" and always else action
        conn.execute(sql.SQL("ALTER TABLE {} {} TRIGGER {}").format(ident, sql.SQL(mode), sql.Identifier(name)))
    return firing
