"""Render: a Plan becomes five ordered migrations, each with its .rollback.sql.

Every identifier is composed with psycopg.sql.Identifier and every value with
psycopg.sql.Literal; the only raw text embedded is PostgreSQL's own deparse of a
constraint (pg_get_constraintdef), read from the catalog.

The conversion key: existing rows get ``keyed_uuid_v4(key || salt, old_id)``, where the key
is drawn by the server itself for this transaction only (``set_config(..., true)``), so it
never appears in any file, log or WAL record, and the new ids cannot be guessed from the old
ones. Because the function is deterministic, a key column and every column that references
it convert independently with one ``ALTER ... TYPE uuid USING`` each: no join, no UPDATE.
The mapping table written first is the permanent record of old -> new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from orchestrator import SQL_DIR
from orchestrator.plan import Column, Plan, Target, short_name

I = sql.Identifier
L = sql.Literal

#: The session setting that carries the per-transaction conversion key.
KEY_SETTING = "keyshift.key"


@dataclass(frozen=True)
class Migration:
    """One migration file pair: ``name.sql`` and ``name.rollback.sql``."""

    name: str
    title: str
    header: str
    apply: list[str]
    rollback: list[str]

    def text(self, depends: str | None) -> str:
        lines = [f"-- {self.name}: {self.title}", "--"]
        lines += [f"-- {h}" if h else "--" for h in self.header.splitlines()]
        lines.append(f"-- depends: {depends}" if depends else "-- depends:")
        lines.append(_LINT_DIRECTIVE)
        return "\n".join(lines) + "\n\n" + "\n\n".join(self.apply) + "\n"

    def rollback_text(self) -> str:
        head = (
            f"-- {self.name}.rollback: undo of {self.title}\n"
            "-- Statements run top-down, in undo order.\n"
            f"{_LINT_DIRECTIVE}\n\n"
        )
        return head + "\n\n".join(self.rollback) + "\n"


#: Every identifier is quoted by psycopg and is the user's own name, spaces and all: sqlfluff
#: must not ask for it to be renamed.
_LINT_DIRECTIVE = "-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none"


def q(template: str, *args, **kwargs) -> str:
    """Compose one statement; always ends with a semicolon."""
    text = sql.SQL(template).format(*args, **kwargs).as_string(None)
    return text if text.rstrip().endswith(";") else text + ";"


def _file(path: str) -> str:
    return (SQL_DIR / path).read_text().strip()


def _tab(schema: str, name: str) -> sql.Identifier:
    return I(schema, name)


def _map(target_or_col) -> sql.Identifier:
    return I("keyshift", target_or_col.map_table)


def _new_key_expr(plan: Plan, col: Column) -> sql.Composed:
    target = plan.target_of(col.root)
    return sql.SQL("keyshift.keyed_uuid_v4(current_setting({}) || {}, {}::bigint)").format(
        L(KEY_SETTING), L(target.salt), I(col.column_name)
    )


def render(plan: Plan) -> list[Migration]:
    return [
        _map_keys(plan),
        _detach_fks(plan),
        _convert(plan),
        _reattach_fks(plan),
        _defaults(plan),
    ]


def file_names(plan: Plan) -> list[str]:
    return [m.name for m in render(plan)]


# --- 01 ---------------------------------------------------------------------------------

#: For this transaction only (SET LOCAL): the index rebuilds of the rewrites sort in memory
#: and the checks' hash joins over the mapping tables stay in memory. make bench saw no
#: measurable effect at N=100,000 (sorts of ~100 MB spill cheaply); kept for bigger tables.
_SESSION_SETTINGS = (
    "-- Memory for this transaction only: index rebuilds and the checks' joins sort in memory.\n"
    "SET LOCAL maintenance_work_mem = '1GB';\n"
    "SET LOCAL work_mem = '256MB';"
)


def _map_keys(plan: Plan) -> Migration:
    pid = L(plan.plan_id)
    apply = [
        "-- Deferred constraints (every Django FK) must not hold trigger events across ALTER TABLE.\n"
        "SET CONSTRAINTS ALL IMMEDIATE;",
        _SESSION_SETTINGS,
        "CREATE SCHEMA IF NOT EXISTS keyshift;",
        _file("registry.sql"),
        _file("functions/keyed_uuid_v4.sql"),
        _file("functions/table_fingerprint.sql"),
        "-- Parents before children, so no application transaction can deadlock us halfway.\n"
        + q("LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE",
            tables=sql.SQL(", ").join(_tab(*t.key) for t in plan.tables)),
        "-- The conversion key: drawn by the server, lives for this transaction only, never in any file\n"
        "-- or output (PERFORM returns nothing, so no client prints it).\n"
        + "DO $$\nBEGIN\n    PERFORM set_config('keyshift.key', gen_random_uuid()::text, TRUE);\nEND\n$$;",
    ]
    for t in plan.targets:
        apply.append(q(
            "INSERT INTO keyshift.converted_table\n"
            "(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table)\n"
            "VALUES ({}, {}, {}, {}, {}, {}, 4, 'gen_random_uuid()', {})",
            pid, L(t.table.table_schema), L(t.table.table_name), L(t.key.column_name),
            L(t.key.data_type), L(plan.options.mode), L(t.map_table),
        ))
    for c in plan.columns:
        apply.append(q(
            "INSERT INTO keyshift.converted_column\n"
            "(plan_id, table_schema, table_name, column_name, old_type, map_table, is_key)\n"
            "VALUES ({}, {}, {}, {}, {}, {}, {})",
            pid, L(c.table_schema), L(c.table_name), L(c.column_name), L(c.old_type), L(c.map_table),
            sql.SQL("TRUE" if c.is_key else "FALSE"),
        ))
    for fk in plan.fks:
        apply.append(q(
            "INSERT INTO keyshift.converted_constraint\n"
            "(plan_id, table_schema, table_name, constraint_name, constraint_type, definition)\n"
            "VALUES ({}, {}, {}, {}, 'f', {})",
            pid, L(fk.child_schema), L(fk.child_table), L(fk.name), L(fk.definition),
        ))
    for table, indexes in plan.indexes.items():
        for ix in indexes:
            apply.append(q(
                "INSERT INTO keyshift.converted_index\n"
                "(plan_id, table_schema, table_name, index_name, constraint_name, definition)\n"
                "VALUES ({}, {}, {}, {}, {}, {})",
                pid, L(table[0]), L(table[1]), L(ix.index_name), L(ix.constraint_name), L(ix.definition),
            ))
    for t in plan.targets:
        k = t.key
        if k.seq_name:
            apply.append(q(
                "INSERT INTO keyshift.saved_sequence\n"
                "(plan_id, table_schema, table_name, column_name, sequence_schema, sequence_name, kind, last_value, "
                "is_called)\n"
                "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    {} AS column_name,\n"
                "    {} AS sequence_schema,\n    {} AS sequence_name,\n    {} AS kind,\n    s.last_value,\n"
                "    s.is_called\nFROM {} AS s",
                pid, L(t.table.table_schema), L(t.table.table_name), L(k.column_name), L(k.seq_schema),
                L(k.seq_name), L(k.sequence_kind), _tab(k.seq_schema, k.seq_name),
            ))
    for t in plan.targets:
        col = next(c for c in plan.columns if c.root == t.table.key and c.is_key)
        apply.append(
            f"-- {t.table.display}: {t.rows} rows at plan time.\n"
            + q(
                "CREATE TABLE {} AS\nSELECT\n    {}::bigint AS old_id,\n    {} AS new_id\nFROM {}",
                _map(t), I(t.key.column_name), _new_key_expr(plan, col), _tab(*t.table.key),
            )
        )
        apply.append(q("ALTER TABLE {} ADD PRIMARY KEY (old_id), ADD UNIQUE (new_id)", _map(t)))
        apply.append(q(
            "COMMENT ON TABLE {} IS {}", _map(t),
            L(f"keyshift plan {plan.plan_id}: old {t.key.column_name} -> new uuid of {t.table.display}"),
        ))
    for table in _tables_with_columns(plan):
        apply.append(q(
            "INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)\n"
            "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    f.row_count,\n"
            "    f.fingerprint\nFROM keyshift.table_fingerprint({}, {}, FALSE) AS f",
            pid, L(table[0]), L(table[1]), L(table[0]), L(table[1]),
        ))

    rollback = [q("DROP TABLE {}", _map(t)) for t in reversed(plan.targets)]
    for reg in ("fingerprint", "saved_sequence", "converted_index", "converted_constraint", "converted_column",
                "converted_table"):
        rollback.append(q("DELETE FROM {}\nWHERE plan_id = {}", I("keyshift", reg), pid))
    rollback.append(
        "-- The keyshift schema goes when no conversion is left in it.\n"
        "DO $$\nBEGIN\n"
        "    IF NOT EXISTS (SELECT 1 FROM keyshift.converted_table) THEN\n"
        "        DROP SCHEMA keyshift CASCADE;\n"
        "    END IF;\nEND\n$$;"
    )
    header = (
        "What: records in the keyshift registry what this plan converts, saves the state of each key\n"
        "  sequence, fingerprints every touched table (rows read in old-id terms), and writes the\n"
        "  permanent old -> new mapping of each target:\n"
        + "\n".join(f"    keyshift.{t.map_table} <- {t.table.display} ({t.rows} rows at plan time)"
                    for t in plan.targets)
        + "\nWhy: the mapping is what rollback, audits, caches and old URLs need; the fingerprints let the\n"
        "  checks prove, inside this transaction, that no row and no reference changed.\n"
        "Proven by: checks/mapping_is_bijection.sql, checks/rows_unchanged_through_mapping.sql"
    )
    return Migration(f"{plan.plan_id}_01_map_keys", "map old integer keys to new uuid keys", header, apply, rollback)


# --- 02 / 04 -----------------------------------------------------------------------------

def _drop_fk(fk) -> str:
    return q("ALTER TABLE {} DROP CONSTRAINT {}", _tab(*fk.child), I(fk.name))


def _add_fk(fk) -> str:
    return q("ALTER TABLE {} ADD CONSTRAINT {} {}", _tab(*fk.child), I(fk.name), sql.SQL(_spaced(fk.definition)))


def _spaced(definition: str) -> str:
    """PostgreSQL prints ``REFERENCES s.t(col)``; put the space that SQL style (and sqlfluff) expects.

    Only the name right after REFERENCES is touched, and a quoted name is matched whole, so the
    text inside a quoted name can never be altered.
    """
    return re.sub(rf"REFERENCES ({_NAME_PART}\.{_NAME_PART})\(", r"REFERENCES \1 (", definition)


#: One part of a name as PostgreSQL prints it: plain lower case, or double-quoted ("" inside).
_NAME_PART = r'(?:[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")'


def _view_kind(view) -> sql.SQL:
    return sql.SQL("MATERIALIZED VIEW" if view.is_materialized else "VIEW")


def _drop_view(view) -> str:
    return q("DROP {} {}", _view_kind(view), _tab(*view.key))


def _create_view(view) -> list[str]:
    """The view as it was: definition, options, owner, grants, comments, indexes, triggers.

    The definition is PostgreSQL's own deparse (pg_get_viewdef), kept byte for byte; sqlfluff
    is told not to restyle it, since changing its layout would change the stored text.
    """
    tab = _tab(*view.key)
    kind = _view_kind(view)
    options = sql.SQL(" WITH ({})").format(sql.SQL(", ".join(view.options))) if view.options else sql.SQL("")
    body = view.definition.rstrip().rstrip(";")
    create = q("CREATE {} {}{} AS\n{}{}", kind, tab, options, sql.SQL(body),
               sql.SQL("\nWITH DATA" if view.is_materialized else ""))
    out = [
        f"-- {view.display}: depth {view.depth} from a converted column, owner {view.owner}.\n"
        "-- noqa: disable=all\n" + create + "\n-- noqa: enable=all",
        q("ALTER {} {} OWNER TO {}", kind, tab, I(view.owner)),
    ]
    if view.acl_is_set:
        # An explicit ACL, the owner's own entry included: start from empty, grant in stored order.
        out.append(q("REVOKE ALL ON {} FROM {}", tab, I(view.owner)))
    for (column, grantee, grantable), privileges in _grouped_grants(view.grants):
        who = I(grantee) if grantee is not None else sql.SQL("PUBLIC")
        cols = sql.SQL(" ({})").format(I(column)) if column is not None else sql.SQL("")
        out.append(q("GRANT {}{} ON {} TO {}{}", sql.SQL(", ").join(sql.SQL(p) for p in privileges), cols, tab,
                     who, sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    if view.comment is not None:
        out.append(q("COMMENT ON {} {} IS {}", kind, tab, L(view.comment)))
    for c in view.column_comments:
        out.append(q("COMMENT ON COLUMN {} IS {}", I(view.view_schema, view.view_name, c["column"]), L(c["comment"])))
    for definition in (*view.indexes, *view.triggers):
        out.append("-- noqa: disable=all\n" + definition.rstrip(";") + ";\n-- noqa: enable=all")
    return out


def _grouped_grants(grants) -> list[tuple[tuple, list[str]]]:
    """ACL entries in stored order, consecutive privileges of one grantee in one GRANT."""
    out: list[tuple[tuple, list[str]]] = []
    for g in grants:
        key = (g["column"], g["grantee"], g["grantable"])
        if out and out[-1][0] == key:
            out[-1][1].append(g["privilege"])
        else:
            out.append((key, [g["privilege"]]))
    return out


def _view_lines(plan: Plan) -> str:
    return "\n".join(f"    {v.display} (owner {v.owner})" for v in plan.views) or "    (none)"


def _drop_views(plan: Plan) -> list[str]:
    """Dependents first: the reverse of creation order."""
    return [_drop_view(v) for v in reversed(plan.views)]


def _create_views(plan: Plan) -> list[str]:
    return [s for v in plan.views for s in _create_view(v)]


def _fk_lines(plan: Plan) -> str:
    return "\n".join(
        f"    {fk.display} ({plan.row_counts.get(fk.child, 0)} rows)" for fk in plan.fks
    ) or "    (none)"


def _detach_fks(plan: Plan) -> Migration:
    header = (
        "What: drops every foreign key that involves a converted column:\n" + _fk_lines(plan)
        + "\n  and every view that reads one, dependents first:\n" + _view_lines(plan)
        + "\nWhy: a key and the columns that reference it cannot change type while an FK or a view ties them.\n"
        f"  {plan.plan_id}_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,\n"
        "  DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).\n"
        "Proven by: checks/foreign_keys_restored.sql"
    )
    return Migration(
        f"{plan.plan_id}_02_detach_foreign_keys", "detach foreign keys from converted columns", header,
        (_drop_views(plan) + [_drop_fk(fk) for fk in plan.fks]) or ["SELECT 1 AS no_foreign_keys;"],
        ([_add_fk(fk) for fk in reversed(plan.fks)] + _create_views(plan)) or ["SELECT 1 AS no_foreign_keys;"],
    )


def _reattach_fks(plan: Plan) -> Migration:
    header = (
        "What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL\n"
        "  printed for it at plan time; each is validated here against the converted data:\n" + _fk_lines(plan)
        + "\n  then every view dropped in step 02, with its definition, owner, grants and comments\n"
        "  (materialized views refilled WITH DATA, their indexes rebuilt):\n" + _view_lines(plan)
        + "\nProven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,\n"
        "  checks/no_orphan_references.sql"
    )
    return Migration(
        f"{plan.plan_id}_04_reattach_foreign_keys", "re-create foreign keys on the uuid columns", header,
        ([_add_fk(fk) for fk in plan.fks] + _create_views(plan)) or ["SELECT 1 AS no_foreign_keys;"],
        (_drop_views(plan) + [_drop_fk(fk) for fk in reversed(plan.fks)]) or ["SELECT 1 AS no_foreign_keys;"],
    )


# --- 03 ------------------------------------------------------------------------------------

_KEY_GUARD = (
    "-- Refuse to run outside the transaction that drew the key in step 01 (keyshift migrate).\n"
    "DO $$\nBEGIN\n"
    "    IF coalesce(current_setting('keyshift.key', TRUE), '') = '' THEN\n"
    "        RAISE EXCEPTION 'keyshift: the conversion key is not set'\n"
    "        USING HINT = 'apply all migrations of a plan in one transaction: keyshift migrate';\n"
    "    END IF;\nEND\n$$;"
)


def _old_id_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_old_id_", target.map_table))


def _convert(plan: Plan) -> Migration:
    apply = [_KEY_GUARD]
    for table in _tables_with_columns(plan):
        cols = plan.columns_of(table)
        clauses = []
        for c in cols:
            if c.is_key:
                kind = plan.target_of(c.root).key.sequence_kind
                if kind.startswith("identity"):
                    # Must precede the type change, in its own statement (catalog only, no rewrite).
                    apply.append(q("ALTER TABLE {} ALTER COLUMN {} DROP IDENTITY", _tab(*table), I(c.column_name)))
                elif plan.target_of(c.root).key.default_expr:
                    clauses.append(q("ALTER COLUMN {} DROP DEFAULT", I(c.column_name))[:-1])
            clauses.append(q(
                "ALTER COLUMN {} TYPE uuid USING {}", I(c.column_name), _new_key_expr(plan, c)
            )[:-1])
        apply.append(
            f"-- {table[0]}.{table[1]}: {plan.row_counts.get(table, 0)} rows, one rewrite.\n"
            + q("ALTER TABLE {}\n{}", _tab(*table), sql.SQL(",\n".join(clauses)))
        )

    rollback = []
    for t in plan.targets:
        rollback.append("-- Rows inserted after the conversion have no old id yet: give them the next ones.\n" + q(
            "INSERT INTO {m} (old_id, new_id)\n"
            "SELECT\n    (SELECT coalesce(max(x.old_id), 0) FROM {m} AS x)\n"
            "    + row_number() OVER (ORDER BY t.{k}) AS old_id,\n"
            "    t.{k} AS new_id\nFROM {t} AS t\nWHERE NOT EXISTS (\n    SELECT 1 FROM {m} AS m\n    WHERE m.new_id = t.{k}\n)",
            m=_map(t), k=I(t.key.column_name), t=_tab(*t.table.key),
        ))
        rollback.append(q(
            "CREATE FUNCTION {}(uuid) RETURNS bigint\nLANGUAGE sql STABLE\n"
            "AS $$ SELECT old_id FROM {} WHERE new_id = $1 $$",
            _old_id_fn(t), _map(t),
        ))
    for table in reversed(_tables_with_columns(plan)):
        clauses = []
        for c in plan.columns_of(table):
            fn = _old_id_fn(plan.target_of(c.root))
            clauses.append(q(
                "ALTER COLUMN {} TYPE {} USING {}({})", I(c.column_name), sql.SQL(c.old_type), fn, I(c.column_name)
            )[:-1])
        rollback.append(q("ALTER TABLE {}\n{}", _tab(*table), sql.SQL(",\n".join(clauses))))
    for t in plan.targets:
        k = t.key
        kind = k.sequence_kind
        if kind.startswith("identity"):
            rollback.append(q(
                "ALTER TABLE {} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY (\n"
                "    SEQUENCE NAME {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}\n)",
                _tab(*t.table.key), I(k.column_name),
                sql.SQL("ALWAYS" if kind == "identity_always" else "BY DEFAULT"),
                _tab(k.seq_schema, k.seq_name), L(k.seq_increment), L(k.seq_min), L(k.seq_max),
                L(k.seq_start), L(k.seq_cache), sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            ))
            rollback += _sequence_privileges(k)
        elif k.default_expr:
            rollback.append(q(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}",
                _tab(*t.table.key), I(k.column_name), sql.SQL(k.default_expr),
            ))
        if k.seq_name:
            rollback.append(
                "-- The sequence continues where it was, or after the rows added since.\n"
                + _do(q(
                    "PERFORM setval(\n    {seq},\n"
                    "    greatest(s.last_value, coalesce((SELECT max(t.{k}) FROM {t} AS t), s.last_value)),\n"
                    "    s.is_called OR coalesce((SELECT max(t.{k}) FROM {t} AS t), s.last_value) > s.last_value\n"
                    ")\nFROM keyshift.saved_sequence AS s\n"
                    "WHERE s.table_schema = {ts} AND s.table_name = {tn} AND s.column_name = {kc}",
                    seq=L(f"{_quoted(k.seq_schema)}.{_quoted(k.seq_name)}"), k=I(k.column_name),
                    t=_tab(*t.table.key), ts=L(t.table.table_schema), tn=L(t.table.table_name),
                    kc=L(k.column_name),
                ))
            )
    for t in plan.targets:
        rollback.append(q("DROP FUNCTION {}(uuid)", _old_id_fn(t)))

    header = (
        "What: converts every key and every column that references one, each table in ONE rewrite:\n"
        + "\n".join(
            f"    {table[0]}.{table[1]}: "
            + ", ".join(c.column_name for c in plan.columns_of(table))
            for table in _tables_with_columns(plan)
        )
        + "\n  Old sequences/identities are detached from the keys first.\n"
        "Why: the same keyed function of the old id gives a key and all its references the same\n"
        "  uuid, so no join and no UPDATE is needed, and row triggers never fire.\n"
        "Proven by: checks/rows_unchanged_through_mapping.sql, checks/no_integer_key_left.sql"
    )
    return Migration(f"{plan.plan_id}_03_convert_key_columns", "convert keys and references to uuid",
                     header, apply, rollback)


def _do(statement: str) -> str:
    """Wrap one PL/pgSQL statement in a DO block: it runs, returns nothing, prints nothing."""
    body = "\n".join("    " + line for line in statement.splitlines())
    return f"DO $$\nBEGIN\n{body}\nEND\n$$;"


def _quoted(part: str) -> str:
    return '"' + part.replace('"', '""') + '"'


def _sequence_privileges(k) -> list[str]:
    out = []
    for grant in k.seq_grants:
        privilege, grantee = grant.split(" ", 1)
        out.append(q(
            "GRANT {} ON SEQUENCE {} TO {}", sql.SQL(privilege), _tab(k.seq_schema, k.seq_name),
            sql.SQL(grantee) if grantee == "PUBLIC" else I(grantee.strip('"').replace('""', '"')),
        ))
    return out


# --- 05 ------------------------------------------------------------------------------------

def _defaults(plan: Plan) -> Migration:
    apply, rollback = [], []
    for t in plan.targets:
        k = t.key
        apply.append(q("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT gen_random_uuid()",
                       _tab(*t.table.key), I(k.column_name)))
        if k.sequence_kind == "serial":
            apply.append(q("DROP SEQUENCE {}", _tab(k.seq_schema, k.seq_name)))
    for t in reversed(plan.targets):
        k = t.key
        rollback.append(q("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", _tab(*t.table.key), I(k.column_name)))
        if k.sequence_kind == "serial":
            rollback.append(q(
                "CREATE SEQUENCE {} AS {}\n"
                "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
                _tab(k.seq_schema, k.seq_name), sql.SQL(k.seq_type), L(k.seq_increment), L(k.seq_min),
                L(k.seq_max), L(k.seq_start), L(k.seq_cache), sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            ))
            rollback.append(q("ALTER SEQUENCE {} OWNER TO {}", _tab(k.seq_schema, k.seq_name), I(k.seq_owner)))
            rollback.append(q("ALTER SEQUENCE {} OWNED BY {}", _tab(k.seq_schema, k.seq_name),
                              I(t.table.table_schema, t.table.table_name, k.column_name)))
            rollback += _sequence_privileges(k)
    header = (
        "What: new rows get their key from gen_random_uuid(); the serial sequences of the old keys\n"
        "  are dropped (identity sequences went with DROP IDENTITY in step 03):\n"
        + "\n".join(f"    {t.table.display}.{t.key.column_name}: default gen_random_uuid()"
                    + (f", drop sequence {t.key.seq_schema}.{t.key.seq_name}"
                       if t.key.sequence_kind == "serial" else "")
                    for t in plan.targets)
        + "\nProven by: checks/keys_are_uuid_primary_keys_with_default.sql, checks/no_integer_key_left.sql"
    )
    return Migration(f"{plan.plan_id}_05_set_uuid_defaults", "uuid defaults; old sequences dropped", header,
                     apply, rollback)


def _tables_with_columns(plan: Plan) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for c in plan.columns:
        if c.table not in seen:
            seen.append(c.table)
    return seen
