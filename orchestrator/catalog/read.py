"""Catalog: run sql/catalog/*.sql against the live database and return small dataclasses.

Queries run with ``search_path = pg_catalog`` so that every definition PostgreSQL prints
(pg_get_constraintdef, pg_get_viewdef) names user objects schema-qualified.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from functools import cache

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from orchestrator.catalog.facts import (
    CreatePrivileges,
    KeyshiftFunction,
    KeyshiftSchema,
    Publication,
    Relation,
    SequenceUser,
)
from orchestrator.catalog.model import Carried, Converted, Dependent, ForeignKey, Index, KeyColumn, Table, View
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.resources import sql_text


@cache
def query(name: str) -> str:
    return sql_text("catalog", f"{name}.sql")


def _build(cls, row: dict):
    names = {f.name for f in fields(cls)}
    values = {}
    for k, v in row.items():
        if k in names:
            values[k] = tuple(v) if isinstance(v, list) else v
    return cls(**values)


@contextmanager
def read_only(conn: psycopg.Connection, lock_timeout: str, statement_timeout: str) -> Iterator[None]:
    """How plan reads a user table's rows: a read-only transaction (a savepoint inside one)
    rolled back at the end, with these timeouts, and row security off: a table whose policy
    would apply is an error, so no policy's code ever runs as keyshift's role."""
    with conn.transaction(force_rollback=True):
        conn.execute(
            "SELECT set_config('transaction_read_only', 'on', true), set_config('row_security', 'off', true),"
            " set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
            (lock_timeout, statement_timeout),
        )
        yield


class Catalog:
    """Reads the live catalog. Every method is one query file, or one composed count."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        conn.execute("SELECT set_config('search_path', 'pg_catalog', false)")

    def _rows(self, name: str, params: dict) -> list[dict]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query(name), params)
            return cur.fetchall()

    def table(self, schema: str, name: str) -> Table | None:
        rows = self._rows("tables", {"schema": schema, "table": name})
        return _build(Table, rows[0]) if rows else None

    def key_column(self, relid: int, column: str) -> KeyColumn:
        rows = self._rows("key_column", {"relid": relid, "column": column})
        return _build(KeyColumn, rows[0])

    def foreign_keys(self, relid: int) -> list[ForeignKey]:
        return [_build(ForeignKey, r) for r in self._rows("foreign_keys", {"relid": relid})]

    def dependents(self, relid: int, column: str) -> list[Dependent]:
        return [_build(Dependent, r) for r in self._rows("column_dependents", {"relid": relid, "column": column})]

    def dependent_views(self, relid: int, column: str) -> list[View]:
        return [_build(View, r) for r in self._rows("dependent_views", {"relid": relid, "column": column})]

    def indexes(self, relid: int, columns: list[str]) -> list[Index]:
        return [_build(Index, r) for r in self._rows("indexes", {"relid": relid, "columns": columns})]

    def table_columns(self, relid: int) -> dict[str, str]:
        """column name -> type (format_type) of every live column of one table."""
        return {r["column_name"]: r["data_type"] for r in self._rows("table_columns", {"relid": relid})}

    def column_rows(self, relid: int) -> list[dict]:
        """table_columns.sql rows of one table: the shape the drift fingerprint covers."""
        return [dict(r) for r in self._rows("table_columns", {"relid": relid})]

    def server_facts(self) -> dict:
        """server_version_num and has_native_uuidv7 (PostgreSQL 18's uuidv7())."""
        return self._rows("server_facts", {})[0]

    def reference_candidates(self) -> list[dict]:
        """Columns that may hold a target's ids with no foreign key saying so (reference_candidates.sql)."""
        return self._rows("reference_candidates", {})

    def django_sessions(self) -> list[tuple[str, str]]:
        return [(r["table_schema"], r["table_name"]) for r in self._rows("django_sessions", {})]

    def carried(self, relid: int, column: str) -> list[Carried]:
        return [_build(Carried, r) for r in self._rows("column_carried", {"relid": relid, "column": column})]

    def key_functions(self, names: list[str], rowtypes: list[int]) -> list[dict]:
        return self._rows("key_functions", {"names": names, "rowtypes": rowtypes})

    def function_bodies(self, relids: list[int], names: list[str]) -> list[dict]:
        return self._rows("function_bodies", {"relids": relids, "names": [n.lower() for n in names]})

    def column_type(self, relid: int, column: str) -> str | None:
        rows = self._rows("column_type", {"relid": relid, "column": column})
        return rows[0]["data_type"] if rows else None

    def reference_orphans(self, column: tuple[str, str, str], target: tuple[str, str], key: str) -> int:
        """Rows whose value in ``column`` is no key of ``target``: they have no new key to become."""
        q = sql.SQL(
            "SELECT count(*) FROM {} AS c WHERE c.{} IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM {} AS t WHERE t.{} = c.{})"
        ).format(
            sql.Identifier(*column[:2]),
            sql.Identifier(column[2]),
            sql.Identifier(*target),
            sql.Identifier(key),
            sql.Identifier(column[2]),
        )
        return self.conn.execute(q).fetchone()[0]

    def column_defaults(self, relid: int, column: str) -> list[dict]:
        """The column's DEFAULT on the table and on each partition that has one (column_defaults.sql)."""
        return self._rows("column_defaults", {"relid": relid, "column": column})

    def rowtype_columns(self, relids: list[int]) -> list[dict]:
        """Columns anywhere that store rows of these tables (rowtype_columns.sql)."""
        return self._rows("rowtype_columns", {"relids": relids})

    def key_exists(self, target: tuple[str, str], key: str, value) -> bool:
        q = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s)").format(
            sql.Identifier(*target), sql.Identifier(key)
        )
        return self.conn.execute(q, (value,)).fetchone()[0]

    def id_text_columns(self, names: list[str]) -> list[dict]:
        return self._rows("id_text_columns", {"names": names})

    def type_counts(
        self, table: tuple[str, str], type_column: str, id_column: str, limit: int | None = None
    ) -> list[tuple]:
        """(type value as text, rows) per distinct value of ``type_column`` among the rows whose
        ``id_column`` is not NULL (None for a NULL type), in value order; the first ``limit``
        values only when given."""
        q = sql.SQL(
            "SELECT t.{}::text AS type_value, count(*) AS row_count FROM {} AS t"
            " WHERE t.{} IS NOT NULL GROUP BY 1 ORDER BY 1 NULLS FIRST LIMIT %s"
        ).format(sql.Identifier(type_column), sql.Identifier(*table), sql.Identifier(id_column))
        return [tuple(r) for r in self.conn.execute(q, (limit,)).fetchall()]

    @contextmanager
    def reading_rows(self, obj: str, what: str) -> Iterator[None]:
        """Read a user table's rows plan decides on (``read_only``, 2 s lock and 60 s statement
        timeout). An error is one line naming ``obj``: plan cannot decide without those rows."""
        try:
            with read_only(self.conn, "2s", "60s"):
                yield
        except psycopg.Error as exc:
            raise Refused(
                obj,
                f"could not {what} ({(exc.diag.message_primary or str(exc)).strip()})",
                "plan again when the table can be read (not locked, no row security for this role)",
            ) from None

    def dangling_ids(self, questions: list[tuple]) -> list[tuple]:
        """(question, rows, a sample id) per question of plan/polymorphic.dangling_questions: rows
        of the relation with that type value whose id names no row of the target."""
        out = []
        for q in questions:
            (table, type_col, id_col, value, target, key) = q
            stmt = sql.SQL(
                "SELECT count(*), min(t.{i}) FROM {t} AS t WHERE t.{c}::text = %s AND t.{i} IS NOT NULL"
                " AND NOT EXISTS (SELECT FROM {x} AS x WHERE x.{k} = t.{i})"
            ).format(
                i=sql.Identifier(id_col),
                t=sql.Identifier(*table),
                c=sql.Identifier(type_col),
                x=sql.Identifier(*target),
                k=sql.Identifier(key),
            )
            obj = f"{qualname(*table)} ({type_col}, {id_col})"
            with self.reading_rows(obj, f"count its ids of type {value!r} that name no row of {qualname(*target)}"):
                rows, sample = self.conn.execute(stmt, (value,)).fetchone()
            out.append((q, rows, sample))
        return out

    def content_types(self, schema: str) -> list[tuple]:
        """Django's content types in ``schema``: (id as text, app_label, model), in id order."""
        q = sql.SQL("SELECT id::text, app_label::text, model::text FROM {} ORDER BY id").format(
            sql.Identifier(schema, "django_content_type")
        )
        return [tuple(r) for r in self.conn.execute(q).fetchall()]

    def row_count(self, schema: str, name: str) -> int:
        q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))
        return self.conn.execute(q).fetchone()[0]

    def keyshift_schema(self, schema: str) -> KeyshiftSchema:
        """Whether the schema exists and is keyshift's (keyshift_schema.sql), and the relations,
        types and functions it holds (keyshift_relations.sql, keyshift_types.sql, keyshift_functions.sql),
        and the mapping tables rollbacks kept there (kept_mappings.sql)."""
        found = self._rows("keyshift_schema", {"schema": schema})[0]
        params = {"schema": schema}
        relations = {r["relname"]: r["relkind"] for r in self._rows("keyshift_relations", params)}
        kept = {}
        if (found["marker_ok"] or found["registry_ok"]) and relations.get("rolled_back_mapping") == "r":
            kept = {
                r["map_table"]: (r["plan_id"], r["table_schema"], r["table_name"], r["rolled_back_at"])
                for r in self._rows("kept_mappings", {})
            }
        return KeyshiftSchema(
            schema_exists=found["schema_exists"],
            marker_ok=found["marker_ok"],
            registry_ok=found["registry_ok"],
            relations=relations,
            types=frozenset(r["typname"] for r in self._rows("keyshift_types", params)),
            functions=tuple(_build(KeyshiftFunction, r) for r in self._rows("keyshift_functions", params)),
            kept_mappings=kept,
        )

    def relation_oid(self, schema: str, name: str) -> int | None:
        rows = self._rows("relation_oid", {"schema": schema, "table": name})
        return rows[0]["relid"] if rows else None

    def ownership(self, relids: list[int]) -> list[Relation]:
        return [_build(Relation, r) for r in self._rows("ownership", {"relids": relids})]

    def create_privileges(self, migration_table: str) -> CreatePrivileges:
        """create_privileges.sql, read with the role's default search_path: yoyo connects with it."""
        path = self.conn.execute("SELECT current_setting('search_path')").fetchone()[0]
        try:
            self.conn.execute(
                "SELECT set_config('search_path', reset_val, false) FROM pg_settings WHERE name = 'search_path'"
            )
            row = self._rows("create_privileges", {"migration_table": migration_table})[0]
        finally:
            self.conn.execute("SELECT set_config('search_path', %s, false)", (path,))
        return _build(CreatePrivileges, row)

    def publications(self, relids: list[int]) -> list[Publication]:
        return [_build(Publication, r) for r in self._rows("publications", {"relids": relids})]

    def sequence_users(self, relid: int) -> list[SequenceUser]:
        return [_build(SequenceUser, r) for r in self._rows("sequence_users", {"relid": relid})]

    def referencing_foreign_keys(self, relid: int) -> list[str]:
        """Foreign keys of other tables that reference this one, shown "name on table"."""
        return [r["shown"] for r in self._rows("referencing_foreign_keys", {"relid": relid})]

    def has_constraint(self, relid: int, name: str) -> bool:
        return bool(self._rows("table_constraint", {"relid": relid, "name": name}))

    def fk_orphans(self, fk: ForeignKey) -> int:
        """Rows of the child that reference no row of the parent (all key columns non-null)."""
        present = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.child_columns)
        match = sql.SQL(" AND ").join(
            sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
            for c, p in zip(fk.child_columns, fk.parent_columns)
        )
        q = sql.SQL("SELECT count(*) FROM {} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})").format(
            sql.Identifier(*fk.child), present, sql.Identifier(*fk.parent), match
        )
        return self.conn.execute(q).fetchone()[0]

    def id_range(self, table: tuple[str, str], column: str) -> tuple:
        """(min, max) of one column; (None, None) for an empty table."""
        q = sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(k=sql.Identifier(column), t=sql.Identifier(*table))
        return tuple(self.conn.execute(q).fetchone())

    def sequence_position(self, seq: tuple[str, str]) -> tuple:
        """(last_value, is_called) of one sequence."""
        q = sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(*seq))
        return tuple(self.conn.execute(q).fetchone())

    def converted(self, schema: str, name: str) -> Converted | None:
        exists = self.conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]
        if not exists:
            return None
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT plan_id, table_schema, table_name, key_column, mode FROM keyshift.converted_table"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, name),
            )
            row = cur.fetchone()
        return _build(Converted, row) if row else None

    def table_sizes(self, tables: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Bytes on disk of each table with its indexes, TOAST and partitions (table_sizes.sql)."""
        rows = self._rows("table_sizes", {"schemas": [t[0] for t in tables], "names": [t[1] for t in tables]})
        return {(r["table_schema"], r["table_name"]): r["total_bytes"] for r in rows}
