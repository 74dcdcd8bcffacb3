"""A sample of the target's rows in the rehearsal's copy: up to N rows of each table the plan
touches, and every row those rows reference through a foreign key (parents of parents too), so
each foreign key holds on the copy.

The rows are chosen in one REPEATABLE READ, READ ONLY transaction on the target (a row is named by
its ctid, stable within that snapshot) and moved with COPY, parents before children; on the
copy a superuser's session skips the triggers while they go in (session_replication_role)."""

from __future__ import annotations

import psycopg
from psycopg import IsolationLevel, sql

from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import KeyshiftError
from orchestrator.names import qualname
from orchestrator.rehearse.copy import is_superuser

#: Every foreign key: the child table, its columns, the parent table, its columns (in key order).
_FOREIGN_KEYS = """
SELECT cn.nspname, c.relname, pn.nspname, p.relname,
    ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(num, pos)
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = k.conrelid AND a.attnum = u.num ORDER BY u.pos),
    ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(num, pos)
          JOIN pg_catalog.pg_attribute AS a ON a.attrelid = k.confrelid AND a.attnum = u.num ORDER BY u.pos)
FROM pg_catalog.pg_constraint AS k
JOIN pg_catalog.pg_class AS c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace AS cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_class AS p ON p.oid = k.confrelid
JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0
ORDER BY 1, 2, 3, 4
"""

#: The columns COPY writes: every live column that is not generated.
_COLUMNS = """
SELECT a.attname FROM pg_catalog.pg_attribute AS a
WHERE a.attrelid = pg_catalog.to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

Table = tuple[str, str]


def copy_rows(source: str, copy: str, tables: list[Table], per_table: int) -> int:
    """Copy up to ``per_table`` rows of each of ``tables`` (the plan's lock_order), and the rows
    they reference, from ``source`` into ``copy``; how many rows were copied."""
    try:
        return _copy_rows(source, copy, tables, per_table)
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        raise KeyshiftError(
            "rehearsal (--sample-rows)", f"the sample could not be copied ({reason})", "rehearse without --sample-rows"
        ) from None


def _copy_rows(source: str, copy: str, tables: list[Table], per_table: int) -> int:
    with dsnmod.connect(source) as src:
        src.isolation_level = IsolationLevel.REPEATABLE_READ
        src.read_only = True
        with src.transaction():
            # Never queue behind a lock on the target (every later query would queue behind this
            # read), never run a row security policy's code as keyshift's role, never read long.
            src.execute(
                "SELECT set_config('lock_timeout', '2s', true), set_config('statement_timeout', '120s', true),"
                " set_config('row_security', 'off', true)"
            )
            fks = [((r[0], r[1]), r[4], (r[2], r[3]), r[5]) for r in src.execute(_FOREIGN_KEYS).fetchall()]
            chosen = _choose(src, tables, fks, per_table)
            with dsnmod.connect(copy) as dst:
                if is_superuser(dst):
                    dst.execute("SET LOCAL session_replication_role = replica")
                for table in _parents_first(chosen, fks):
                    _copy_table(src, dst, table, sorted(chosen[table]))
                dst.commit()
    return sum(len(rows) for rows in chosen.values())


def _choose(src: psycopg.Connection, tables: list[Table], fks: list, per_table: int) -> dict[Table, set[str]]:
    """The ctids of up to ``per_table`` rows of each of ``tables``, and of every row they reference."""
    chosen: dict[Table, set[str]] = {}
    new: dict[Table, set[str]] = {}
    for table in tables:
        rows = src.execute(sql.SQL("SELECT ctid::text FROM {} LIMIT %s").format(sql.Identifier(*table)), (per_table,))
        new[table] = {r[0] for r in rows.fetchall()}
    while any(new.values()):
        for table, ctids in new.items():
            chosen.setdefault(table, set()).update(ctids)
        found: dict[Table, set[str]] = {}
        for child, columns, parent, parent_columns in fks:
            if not new.get(child):
                continue
            for ctid in _referenced(src, child, columns, parent, parent_columns, sorted(new[child])):
                if ctid not in chosen.get(parent, set()):
                    found.setdefault(parent, set()).add(ctid)
        new = found
    return {table: ctids for table, ctids in chosen.items() if ctids}


def _referenced(src, child: Table, columns: list, parent: Table, parent_columns: list, ctids: list) -> list[str]:
    join = sql.SQL(" AND ").join(
        sql.SQL("c.{} = p.{}").format(sql.Identifier(a), sql.Identifier(b)) for a, b in zip(columns, parent_columns)
    )
    query = sql.SQL("SELECT DISTINCT p.ctid::text FROM {} AS c JOIN {} AS p ON {} WHERE c.ctid = ANY(%s::tid[])")
    rows = src.execute(query.format(sql.Identifier(*child), sql.Identifier(*parent), join), (ctids,))
    return [r[0] for r in rows.fetchall()]


def _parents_first(chosen: dict[Table, set[str]], fks: list) -> list[Table]:
    """The chosen tables, each after the tables it references (a cycle is broken where it closes)."""
    parents = {table: set() for table in chosen}
    for child, _columns, parent, _parent_columns in fks:
        if child in parents and parent in parents and parent != child:
            parents[child].add(parent)
    order: list[Table] = []
    visiting: set[Table] = set()

    def visit(table: Table) -> None:
        if table in order or table in visiting:
            return
        visiting.add(table)
        for parent in sorted(parents[table]):
            visit(parent)
        order.append(table)

    for table in sorted(chosen):
        visit(table)
    return order


def _copy_table(src: psycopg.Connection, dst: psycopg.Connection, table: Table, ctids: list[str]) -> None:
    ident = sql.Identifier(*table)
    names = [r[0] for r in src.execute(_COLUMNS, (qualname(*table),)).fetchall()]
    columns = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    out = sql.SQL("COPY (SELECT {} FROM {} WHERE ctid = ANY(%s::tid[])) TO STDOUT").format(columns, ident)
    with src.cursor().copy(out, (ctids,)) as reading:  # COPY takes no parameters: psycopg binds them
        data = b"".join(bytes(block) for block in reading)
    with dst.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(ident, columns)) as writing:
        writing.write(data)
