"""Render: a Plan becomes five ordered migrations, each with its .rollback.sql.

Every identifier is composed with psycopg.sql.Identifier and every value with
orchestrator.literal.Literal (psycopg's quoting without its leading space); the only raw text
embedded is PostgreSQL's own deparse of a constraint (pg_get_constraintdef), read from the
catalog.

The conversion key: existing rows get ``keyed_uuid_v4(key || salt, old_id)``, where the key
is drawn by the server itself for this transaction only (``set_config(..., true)``), so it
never appears in any file, log or WAL record, and the new ids cannot be guessed from the old
ones. Because the function is deterministic, a key column and every column that references
it convert independently with one ``ALTER ... TYPE uuid USING`` each: no join, no UPDATE.
The mapping table written first is the permanent record of old -> new.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from psycopg import sql

from orchestrator import SQL_DIR, external, ownership
from orchestrator.catalog import qualname
from orchestrator.literal import Literal
from orchestrator.plan import Column, Plan, Target, short_name
from orchestrator.plan import slug_constraint_name as plan_slug_constraint_name

I = sql.Identifier
L = Literal

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


def _new_key_expr(plan: Plan, col: Column, once: bool = False) -> sql.Composed:
    return new_key_expr(plan, col, once)


def _setting(name: str, once: bool) -> sql.Composed:
    """A transaction-local setting in an expression: read per row (current_setting), or, with
    ``once``, once per statement (keyshift.statement_setting, sql/functions/statement_setting.sql),
    which only step 03's ALTER TABLE uses: there no plan is ever printed, so the key may become
    a constant of the statement."""
    fn = "keyshift.statement_setting" if once else "current_setting"
    return sql.SQL("{}({})").format(sql.SQL(fn), L(name))


# --- key versions (--uuid v4|v7|v6, --timestamp-column) -----------------------------------
#
# Existing rows get a key that is a deterministic function of (conversion key, table salt,
# old id), so a key column and every column that references it convert independently:
#   v4: keyed_uuid_v4(key || salt, id)
#   v7/v6 without a timestamp column: the time of transaction_timestamp() - (max id - id) ms.
#     The newest old row gets the conversion's own time, the others follow id order one
#     millisecond apart; so old rows sort before every new row. The time field therefore
#     shows the id order and the DIFFERENCES of the old ids (the id itself to anyone who knows
#     one row's old id, or the max id): README, "Choosing keys". max id and the time base
#     (the conversion's unix ms; for v6 its 100-ns count since 1582) are read once per table
#     in step 01 into transaction-local settings, so per row the time is
#     keyed_uuid_v7_at(base + (id - max id), ...) / keyed_uuid_v6_at(base + (id - max id) * 10000, ...):
#     integer arithmetic that cannot overflow (id - max id is at most the refused span).
#   v7/v6 with a timestamp column: ts = coalesce(column, the id-order time above), for the
#     key column itself; the columns that reference it cannot see the parent's timestamp,
#     so they convert through the mapping table (a lookup function, see _new_id_fn).

def max_id_setting(target: Target) -> str:
    """The transaction-local setting that holds a target's max old id during the conversion."""
    return "keyshift.max_id_" + hashlib.md5(target.map_table.encode()).hexdigest()[:12]


def time_base_setting(target: Target) -> str:
    """The transaction-local setting that holds a target's id-order time base (see above)."""
    return "keyshift.time_base_" + hashlib.md5(target.map_table.encode()).hexdigest()[:12]


def _id_order_time(target: Target, column: str, once: bool = False) -> sql.Composed:
    return sql.SQL(
        "transaction_timestamp() - ({}::bigint - {}::bigint) * interval '1 millisecond'"
    ).format(_setting(max_id_setting(target), once), I(column))


def key_time_expr(target: Target, column: str, once: bool = False) -> sql.Composed:
    """The time part of the key of the row whose old id is in ``column`` (a column of the target)."""
    fallback = _id_order_time(target, column, once)
    if target.timestamp_column is None:
        return fallback
    low, high = TIME_RANGE[target.uuid_version]
    ts = sql.SQL("{}::timestamptz").format(I(target.timestamp_column))
    return sql.SQL("coalesce(CASE WHEN {ts} >= {lo} AND {ts} < {hi} THEN {ts} END, {fb})").format(
        ts=ts, lo=sql.SQL(f"'{low}'::timestamptz"), hi=sql.SQL(f"'{high}'::timestamptz"), fb=fallback)


#: The times each layout can hold; a timestamp outside (or infinity) counts as NULL.
TIME_RANGE = {"v7": ("1970-01-01 00:00:00+00", "10000-01-01 00:00:00+00"),
              "v6": ("1582-10-15 00:00:00+00", "5236-01-01 00:00:00+00")}


def new_key_expr(plan: Plan, col: Column, once: bool = False) -> sql.Composed:
    """The USING expression that turns ``col`` (an old integer id) into its new uuid.

    ``once``: read the key and the time settings once per statement (step 03's ALTER TABLE);
    else once per row (step 01's CREATE TABLE ... AS). Both give the same uuids."""
    target = plan.target_of(col.root)
    k = sql.SQL("{} || {}").format(_setting(KEY_SETTING, once), L(target.salt))
    if not target.time_ordered:
        return sql.SQL("keyshift.keyed_uuid_v4({}, {}::bigint)").format(k, I(col.column_name))
    if target.timestamp_column is not None and not col.is_key:
        return sql.SQL("{}({}::bigint)").format(_new_id_fn(target), I(col.column_name))
    if target.timestamp_column is None:
        fn, step = (("keyshift.keyed_uuid_v7_at", sql.SQL("")) if target.uuid_version == "v7"
                    else ("keyshift.keyed_uuid_v6_at", sql.SQL(" * 10000")))
        return sql.SQL("{}({}::bigint + ({}::bigint - {}::bigint){}, {}, {}::bigint)").format(
            sql.SQL(fn), _setting(time_base_setting(target), once), I(col.column_name),
            _setting(max_id_setting(target), once), step, k, I(col.column_name)
        )
    fn = sql.SQL("keyshift.keyed_uuid_v7" if target.uuid_version == "v7" else "keyshift.keyed_uuid_v6")
    return sql.SQL("{}({}, {}, {}::bigint)").format(
        fn, key_time_expr(target, col.column_name, once), k, I(col.column_name)
    )


def _new_id_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_new_id_", target.map_table))


def _create_new_id_fn(target: Target) -> str:
    """old id -> new uuid through the mapping; an id the mapping lacks is an error, never NULL."""
    body = sql.SQL(
        "\nDECLARE\n    found uuid;\nBEGIN\n"
        "    IF $1 IS NULL THEN\n        RETURN NULL;\n    END IF;\n"
        "    SELECT m.new_id INTO found FROM {m} AS m WHERE m.old_id = $1;\n"
        "    IF found IS NULL THEN\n"
        "        RAISE EXCEPTION 'keyshift: id % of % is referenced but has no row', $1, {shown}\n"
        "        USING HINT = 'a NOT VALID foreign key lets orphans in: delete or fix them, then migrate';\n"
        "    END IF;\n    RETURN found;\nEND\n"
    ).format(m=_map(target), shown=L(target.table.display)).as_string(None)
    return q("CREATE FUNCTION {fn}(bigint) RETURNS uuid\nLANGUAGE plpgsql STABLE\nAS {body}",
             fn=_new_id_fn(target), body=sql.SQL(dollar_quoted(body)))


def key_default_expr(target: Target, native_uuidv7: bool = False) -> str:
    """The DEFAULT of the new key, as pg_get_expr prints it."""
    if target.uuid_version == "v7":
        return "uuidv7()" if native_uuidv7 else "keyshift.uuid_v7()"
    if target.uuid_version == "v6":
        return "keyshift.uuid_v6()"
    return "gen_random_uuid()"


#: Decided when the migration runs: a plan written on PostgreSQL 18 must not fail on 15.
_HAS_UUIDV7 = "to_regprocedure('pg_catalog.uuidv7()') IS NOT NULL"


def key_default_value_sql(target: Target) -> sql.Composable:
    """The key default as a SQL text value (for keyshift.converted_table.key_default)."""
    if target.uuid_version == "v7":
        return sql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(
            sql.SQL(_HAS_UUIDV7), L(key_default_expr(target, True)), L(key_default_expr(target, False)))
    return L(key_default_expr(target))


def key_default_sql(plan: Plan, target: Target) -> str:
    """The statement that gives the new key its default for new rows."""
    tab, col = _tab(*target.table.key), I(target.key.column_name)
    if target.uuid_version != "v7":
        return q("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", tab, col, sql.SQL(key_default_expr(target)))
    native = q("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", tab, col, sql.SQL(key_default_expr(target, True)))
    plain = q("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", tab, col, sql.SQL(key_default_expr(target, False)))
    body = f"\nBEGIN\n    IF {_HAS_UUIDV7} THEN\n        {native}\n    ELSE\n        {plain}\n    END IF;\nEND\n"
    return (
        "-- PostgreSQL 18 has uuidv7() built in; older servers use keyshift.uuid_v7().\n"
        f"DO {dollar_quoted(body)};"
    )


def key_version_line(plan: Plan, target: Target) -> str:
    """One human line: version, default, where the time of existing keys comes from."""
    default = key_default_expr(target, plan.options.native_uuidv7)
    if target.uuid_version == "v7":
        server = plan.options.server_version_num
        default = (f"{default} (chosen at plan time: server {server} "
                   f"{'has' if plan.options.native_uuidv7 else 'lacks'} uuidv7(); rechecked at migrate time)")
    line = f"{target.table.display}.{target.key.column_name}: uuid {target.uuid_version}, default {default}"
    if target.timestamp_column:
        line += (f"; existing keys timed by {target.timestamp_column} ({target.timestamp_type}), rows where it is "
                 "NULL (or out of range) in old-id order at the conversion time")
    elif target.time_ordered:
        line += "; existing keys in old-id order, 1 ms apart, ending at the conversion time"
    if target.slug_column:
        line += f"; slug {target.slug_column} ({target.slug_length} chars)"
    return line


def _max_id_statement(target: Target) -> str:
    """Step 01: read max(old id) into the setting; refuse a span that would run before the epoch."""
    key = I(target.key.column_name)
    return (
        f"-- {target.table.display}: max old id for the id-order time of existing {target.uuid_version} keys.\n"
        + _do(q(
            "PERFORM set_config({s}, coalesce(max(t.{k}), 0)::text, TRUE)\nFROM {t} AS t;\n"
            "-- the id-order time of id is base + (id - max id) ms (base: v7 unix ms, v6 100-ns since 1582)\n"
            "PERFORM set_config(\n    {b},\n    (\n        (\n"
            "            ('x' || encode(timestamptz_send(transaction_timestamp()), 'hex'))::bit(64)::bigint\n"
            "            {base}\n    )::text,\n    TRUE\n);\n"
            "IF (SELECT max(t.{k})::numeric - min(t.{k}) FROM {t} AS t)\n"
            "    > extract(EPOCH FROM transaction_timestamp()) * 1000 THEN\n"
            "    RAISE EXCEPTION 'keyshift: ids of % span more milliseconds than have passed since 1970', {shown}\n"
            "    USING HINT = 'use --timestamp-column for this table, or --uuid v4';\nEND IF",
            s=L(max_id_setting(target)), k=key, t=_tab(*target.table.key), shown=L(target.table.display),
            b=L(time_base_setting(target)),
            base=sql.SQL(
                "+ 946684800000000\n        ) / 1000" if target.uuid_version == "v7"
                else "* 10 + 131659776000000000\n        )"
            ),
        ))
    )


# --- 06: slugs (--slug-column, --slug-length) ---------------------------------------------
#
# Existing rows: base62(keyed_uuid_v4(key || salt || 'slug', old id), N), computed into a
# temporary table, where any duplicate (possible below 22 characters, astronomically
# unlikely at 22) is redrawn until none is left; the column is then filled in one rewrite
# (no UPDATE, so no row trigger fires). Slugs reveal neither the old id nor the key.
# New rows: DEFAULT keyshift.unique_slug('schema.table'::regclass, 'col', N), which redraws a
# slug that a committed row already holds; the UNIQUE constraint stays the guarantee (only two
# concurrent uncommitted INSERTs of the same slug, about 1 in 62^N, still get unique_violation).

def _slug_table(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_slug_", target.map_table))


def _slug_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_slug_of_", target.map_table))


def _slug_default(target: Target) -> sql.Composed:
    """keyshift.unique_slug('"schema"."table"'::regclass, 'col', N): stored with the table's OID."""
    return sql.SQL("keyshift.unique_slug({}::regclass, {}, {})").format(
        L(_tab(*target.table.key).as_string(None)), L(target.slug_column), L(target.slug_length))


def slug_constraint_name(target: Target) -> str:
    return plan_slug_constraint_name(target.table.table_name, target.slug_column)


def _add_slugs(plan: Plan) -> Migration | None:
    targets = [t for t in plan.targets if t.slug_column]
    if not targets:
        return None
    apply, rollback = [], []
    for t in targets:
        tab, col, n = _tab(*t.table.key), I(t.slug_column), L(t.slug_length)
        apply.append(f"-- {t.table.display}.{t.slug_column}: {t.rows} rows at plan time, {t.slug_length} chars.\n"
                     + q("ALTER TABLE {} ADD COLUMN {} text", tab, col))
        apply.append(q(
            "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS\nSELECT\n    m.new_id,\n"
            "    keyshift.base62(keyshift.keyed_uuid_v4(current_setting({}) || {}, m.old_id), {}) AS slug\n"
            "FROM {} AS m",
            _slug_table(t), L(KEY_SETTING), L(t.salt + "slug:"), n, _map(t),
        ))
        apply.append(q("ALTER TABLE {} ADD PRIMARY KEY (new_id)", _slug_table(t)))
        apply.append("-- Redraw duplicates until every slug is unique.\n" + _do(q(
            "LOOP\n    UPDATE {s} AS s SET slug = keyshift.random_slug({n})\n"
            "    FROM (\n        SELECT\n            d.new_id,\n"
            "            row_number() OVER (PARTITION BY d.slug ORDER BY d.new_id) AS n\n"
            "        FROM {s} AS d\n    ) AS dup\n    WHERE dup.new_id = s.new_id AND dup.n > 1;\n"
            "    EXIT WHEN NOT found;\nEND LOOP",
            s=_slug_table(t), n=n,
        )))
        body = q(" SELECT slug FROM {} WHERE new_id = $1 ", _slug_table(t))[:-1]
        apply.append(q(
            "CREATE FUNCTION {}(uuid) RETURNS text\nLANGUAGE sql STABLE\nAS {}",
            _slug_fn(t), sql.SQL(dollar_quoted(body)),
        ))
        apply.append("-- One rewrite fills every row; no row trigger fires.\n" + q(
            "ALTER TABLE {}\nALTER COLUMN {c} TYPE text USING {}({}),\nALTER COLUMN {c} SET NOT NULL,\n"
            "ALTER COLUMN {c} SET DEFAULT {},\nADD CONSTRAINT {} UNIQUE ({c})",
            tab, _slug_fn(t), I(t.key.column_name), _slug_default(t), I(slug_constraint_name(t)), c=col,
        ))
        apply.append(q("COMMENT ON COLUMN {} IS {}", I(*t.table.key, t.slug_column), L(
            f"keyshift plan {plan.plan_id}: unique Base62 slug of {t.slug_length} characters; "
            "the default redraws a slug that a row already holds")))
        apply.append(q("DROP FUNCTION {}(uuid)", _slug_fn(t)))
        apply.append(q("DROP TABLE {}", _slug_table(t)))
    for t in reversed(targets):
        rollback.append(q("ALTER TABLE {} DROP COLUMN {}", _tab(*t.table.key), I(t.slug_column)))
    header = (
        "What: adds a unique Base62 [0-9a-zA-Z] slug column to each table below and fills every row:\n"
        + "\n".join(f"    {t.table.display}.{t.slug_column}: {t.slug_length} chars, "
                    f"default {_slug_default(t).as_string(None)}, UNIQUE {slug_constraint_name(t)}"
                    for t in targets)
        + "\nWhy: short public identifiers that reveal neither the old id nor the key. Existing rows get a keyed\n"
        "  hash of the old id; any duplicate is redrawn before the UNIQUE constraint is added. New rows\n"
        "  draw a random slug, redrawn while a row already holds it (keyshift.unique_slug); the UNIQUE\n"
        "  constraint still refuses the one remaining race, two concurrent INSERTs drawing the same slug.\n"
        "Proven by: checks/slugs_are_unique_base62.sql"
    )
    return Migration(f"{plan.plan_id}_06_add_slugs", "add unique Base62 slug columns", header, apply, rollback)


def render(plan: Plan) -> list[Migration]:
    migrations = [
        _map_keys(plan),
        _detach_fks(plan),
        _convert(plan),
        _reattach_fks(plan),
        _defaults(plan),
    ]
    slugs = _add_slugs(plan)
    return migrations + ([slugs] if slugs else [])


def file_names(plan: Plan) -> list[str]:
    return [m.name for m in render(plan)]


# --- 01 ---------------------------------------------------------------------------------

#: For this transaction only (SET LOCAL): the index rebuilds of the rewrites sort in memory
#: and the checks' hash joins over the mapping tables stay in memory. make bench saw no
#: measurable effect at N=100,000 (sorts of ~100 MB spill cheaply); kept for bigger tables.
#: Parallel query made cheap to the planner: the mapping's CREATE TABLE ... AS then computes
#: the keys in parallel workers (the planner counts the inlined keyed function as a few cheap
#: operators, so with the default costs it scans serially): 1.9 s -> 1.1 s for 1,000,000 rows
#: on 2 cores. Only tables above min_parallel_table_scan_size get parallel plans at all, so
#: the catalog queries are untouched; ALTER TABLE and FK validation never run in parallel.
_SESSION_SETTINGS = (
    "-- For this transaction only: index rebuilds and the checks' joins sort in memory, and the\n"
    "-- mapping's keys are computed by parallel workers.\n"
    "SET LOCAL maintenance_work_mem = '1GB';\n"
    "SET LOCAL work_mem = '256MB';\n"
    "SET LOCAL parallel_setup_cost = 0;\n"
    "SET LOCAL parallel_tuple_cost = 0;"
)


def _map_keys(plan: Plan) -> Migration:
    pid = L(plan.plan_id)
    apply = [
        "-- Deferred constraints (every Django FK) must not hold trigger events across ALTER TABLE.\n"
        "SET CONSTRAINTS ALL IMMEDIATE;",
        _SESSION_SETTINGS,
        _file("schema.sql"),
        "-- New rows' key and slug defaults (keyshift.uuid_v7(), uuid_v6(), unique_slug()) run as the\n"
        "-- inserting role, which therefore needs USAGE here; it gives no access to the mapping and\n"
        "-- registry tables, which keep their owner's privileges only (public: every role).\n"
        "GRANT USAGE ON SCHEMA keyshift TO public;",
        _file("registry.sql"),
        _file("functions/statement_setting.sql"),
        _file("functions/keyed_uuid_v4.sql"),
        _file("functions/keyed_uuid_v7.sql"),
        _file("functions/keyed_uuid_v6.sql"),
        _file("functions/uuid_v7.sql"),
        _file("functions/uuid_v6.sql"),
        _file("functions/base62.sql"),
        _file("functions/table_fingerprint.sql"),
        "-- Parents before children, so no application transaction can deadlock us halfway.\n"
        + q("LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE",
            tables=sql.SQL(", ").join(_tab(*t.key) for t in plan.tables)),
        "-- The conversion key: drawn by the server, lives for this transaction only, never in any file\n"
        "-- or output (PERFORM returns nothing, so no client prints it).\n"
        + "DO $$\nBEGIN\n    PERFORM set_config('keyshift.key', gen_random_uuid()::text, TRUE);\nEND\n$$;",
    ]
    # --invalidate-sessions: emptied before anything is fingerprinted, so the checks agree.
    apply += external.session_statements(plan)
    apply += [_max_id_statement(t) for t in plan.targets if t.time_ordered]
    for t in plan.targets:
        apply.append(q(
            "INSERT INTO keyshift.converted_table\n"
            "(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table)\n"
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            pid, L(t.table.table_schema), L(t.table.table_name), L(t.key.column_name),
            L(t.key.data_type), L(plan.options.mode), L(int(t.uuid_version[1:])), key_default_value_sql(t),
            L(t.map_table),
        ))
        if t.slug_column:
            apply.append(q(
                "INSERT INTO keyshift.converted_slug\n"
                "(plan_id, table_schema, table_name, column_name, length, constraint_name)\n"
                "VALUES ({}, {}, {}, {}, {}, {})",
                pid, L(t.table.table_schema), L(t.table.table_name), L(t.slug_column), L(t.slug_length),
                L(slug_constraint_name(t)),
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
    for v in plan.views:
        apply.append(q(
            "INSERT INTO keyshift.converted_view\n"
            "(plan_id, view_schema, view_name, relkind, owner, acl, column_names, definition)\n"
            "SELECT\n    {} AS plan_id,\n    n.nspname AS view_schema,\n    c.relname AS view_name,\n"
            "    c.relkind,\n    pg_get_userbyid(c.relowner) AS owner,\n    c.relacl::text AS acl,\n"
            "    array(\n        SELECT a.attname\n        FROM pg_attribute AS a\n"
            "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
            "        ORDER BY a.attnum\n    ) AS column_names,\n    pg_get_viewdef(c.oid) AS definition\n"
            "FROM pg_class AS c\nINNER JOIN pg_namespace AS n ON c.relnamespace = n.oid\n"
            "WHERE c.oid = to_regclass({})",
            pid, L(f"{_quoted(v.view_schema)}.{_quoted(v.view_name)}"),
        ))
    recorded = {(table, ix.index_name) for table, indexes in plan.indexes.items() for ix in indexes}
    for obj in plan.carried:
        if obj.kind == "index" and (obj.table, obj.name) not in recorded:
            apply.append(q(
                "INSERT INTO keyshift.converted_index\n"
                "(plan_id, table_schema, table_name, index_name, constraint_name, definition)\n"
                "VALUES ({}, {}, {}, {}, '', {})",
                pid, L(obj.table_schema), L(obj.table_name), L(obj.name), L(obj.definition),
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
        # NOT NULL on new_id too: with its unique index, PostgreSQL itself then enforces what
        # checks/mapping_is_bijection.sql would otherwise prove by scanning (see that file).
        apply.append(q("ALTER TABLE {}\nALTER COLUMN new_id SET NOT NULL,\nADD PRIMARY KEY (old_id),\nADD UNIQUE (new_id)",
                       _map(t)))
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

    rollback = [s.text() for s in ownership.refuse_mapping_users(plan.plan_id, [t.map_table for t in plan.targets])]
    rollback += [q("DROP TABLE {}", _map(t)) for t in reversed(plan.targets)]
    rollback += external.session_rollback_note(plan)
    rollback += external.forget_plan(pid, ("converted_view", "converted_slug", "fingerprint", "saved_sequence",
                                            "invalidated_session", "converted_index", "converted_constraint",
                                            "converted_column", "converted_table"))
    header = (
        "What: records in the keyshift registry what this plan converts, saves the state of each key\n"
        "  sequence, fingerprints every touched table (rows read in old-id terms), and writes the\n"
        "  permanent old -> new mapping of each target:\n"
        + "\n".join(f"    keyshift.{t.map_table} <- {t.table.display} ({t.rows} rows at plan time)"
                    for t in plan.targets)
        + "\n  New keys (version, default for new rows, where the time of existing keys comes from):\n"
        + "\n".join(f"    {key_version_line(plan, t)}" for t in plan.targets)
        + "\nWhy: the mapping is what rollback, audits, caches and old URLs need; the fingerprints let the\n"
        "  checks prove, inside this transaction, that no row and no reference changed."
        + external.session_header(plan)
        + "\nProven by: checks/mapping_is_bijection.sql, checks/rows_unchanged_through_mapping.sql"
        + _plan_facts(plan)
    )
    return Migration(f"{plan.plan_id}_01_map_keys", "map old integer keys to new uuid keys", header, apply, rollback)


# --- 02 / 04 -----------------------------------------------------------------------------

def _drop_fk(fk) -> str:
    return q("ALTER TABLE {} DROP CONSTRAINT {}", _tab(*fk.child), I(fk.name))


def _add_fk(fk) -> str:
    """The FK with its exact definition, and its comment: a dropped constraint loses it."""
    add = q("ALTER TABLE {} ADD CONSTRAINT {} {}", _tab(*fk.child), I(fk.name), sql.SQL(_spaced(fk.definition)))
    if fk.comment is None:
        return add
    return add + "\n" + q("COMMENT ON CONSTRAINT {} ON {} IS {}", I(fk.name), _tab(*fk.child), L(fk.comment))


def _spaced(definition: str) -> str:
    """PostgreSQL prints ``REFERENCES s.t(col)``; put the space that SQL style (and sqlfluff) expects.

    Only the name right after REFERENCES is touched. The text is scanned left to right, and every
    quoted name is consumed whole before anything else can match, so text inside a quoted name
    (a column called ``x REFERENCES s.t(y``) can never be altered.
    """
    def space(m: re.Match) -> str:
        return m.group(0) if m.group("quoted") else f"REFERENCES {m.group('target')} ("

    return re.sub(rf'(?P<quoted>"(?:[^"]|"")*")|REFERENCES (?P<target>{_NAME_PART}\.{_NAME_PART})\(',
                  space, definition)


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
        grant = q("GRANT {}{} ON {} TO {}{}", sql.SQL(", ").join(sql.SQL(p) for p in privileges), cols, tab,
                  who, sql.SQL(" WITH GRANT OPTION" if grantable else ""))
        if any(p not in _LINTER_KNOWS for p in privileges):
            # PostgreSQL 17+ has MAINTAIN, which sqlfluff does not parse yet: valid SQL, kept as is.
            grant = "-- noqa: disable=all\n" + grant + "\n-- noqa: enable=all"
        out.append(grant)
    if view.comment is not None:
        out.append(q("COMMENT ON {} {} IS {}", kind, tab, L(view.comment)))
    for c in view.column_comments:
        out.append(q("COMMENT ON COLUMN {} IS {}", I(view.view_schema, view.view_name, c["column"]), L(c["comment"])))
    for definition in (*view.indexes, *view.triggers):
        out.append("-- noqa: disable=all\n" + definition.rstrip(";") + ";\n-- noqa: enable=all")
    for c in view.index_comments:
        out.append(q("COMMENT ON INDEX {} IS {}", I(view.view_schema, c["name"]), L(c["comment"])))
    for c in view.trigger_comments:
        out.append(q("COMMENT ON TRIGGER {} ON {} IS {}", I(c["name"]), tab, L(c["comment"])))
    return out


#: Table privileges sqlfluff's postgres dialect parses in a GRANT.
_LINTER_KNOWS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"})


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


def _plan_facts(plan: Plan) -> str:
    """Tables with row counts, FKs, dependent objects and warnings, as the plan saw them."""
    lines = ["", "Tables (rows at plan time):"]
    lines += [f"    {t.display}: {plan.row_counts.get(t.key, 0)} rows" for t in plan.tables]
    lines += ["Foreign keys:", _fk_lines(plan)]
    lines.append("Dependent objects carried across:")
    if plan.views:
        lines.append(_view_lines(plan))
    if plan.carried or not plan.views:
        lines.append(_carried_lines(plan))
    if plan.references:
        lines.append("Declared references (--reference, no FK; converted through the target's mapping):")
        lines += [f"    {qualname(*c[:2])}.{c[2]} -> {qualname(*t)}" for c, t in plan.references.items()]
    if plan.warnings:
        lines.append("Warnings (references the catalog cannot see; not converted):")
        lines += [f"    WARN {w}" for w in plan.warnings]
    return "\n".join(lines)


def _carried_lines(plan: Plan) -> str:
    how = {"alter": "rebuilt by ALTER ... TYPE", "recreate": "dropped in 02, re-created in 04"}
    return "\n".join(f"    {o.display} ({how[o.carry]})" for o in plan.carried) or "    (none)"


def _recreated(plan: Plan) -> list:
    return [o for o in plan.carried if o.carry == "recreate"]


def _drop_carried(plan: Plan) -> list[str]:
    out = []
    for o in reversed(_recreated(plan)):
        what = sql.SQL("POLICY" if o.kind == "policy" else "TRIGGER")
        out.append(q("DROP {} {} ON {}", what, I(o.name), _tab(*o.table)))
    return out


_TRIGGER_STATE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}


def _create_carried(plan: Plan) -> list[str]:
    """Each trigger and policy as it was: PostgreSQL's own definition, enabled state, comment."""
    from orchestrator.catalog import policy_sql

    out = []
    for o in _recreated(plan):
        text = policy_sql(o, o.table_ident) if o.kind == "policy" else o.definition.rstrip(";") + ";"
        out.append(f"-- {o.display}\n-- noqa: disable=all\n{text}\n-- noqa: enable=all")
        if o.kind == "trigger" and o.enabled in _TRIGGER_STATE:
            out.append(q("ALTER TABLE {} {} {}", _tab(*o.table), sql.SQL(_TRIGGER_STATE[o.enabled]), I(o.name)))
        if o.comment is not None:
            what = sql.SQL("POLICY" if o.kind == "policy" else "TRIGGER")
            out.append(q("COMMENT ON {} {} ON {} IS {}", what, I(o.name), _tab(*o.table), L(o.comment)))
    return out


def _detach_fks(plan: Plan) -> Migration:
    header = (
        "What: drops every foreign key that involves a converted column:\n" + _fk_lines(plan)
        + "\n  and every view that reads one, dependents first:\n" + _view_lines(plan)
        + "\n  and every trigger and RLS policy that uses one:\n"
        + ("\n".join(f"    {o.display}" for o in _recreated(plan)) or "    (none)")
        + "\nWhy: a key and the columns that reference it cannot change type while an FK or a view ties them.\n"
        f"  {plan.plan_id}_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,\n"
        "  DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).\n"
        "Proven by: checks/foreign_keys_restored.sql"
    )
    return Migration(
        f"{plan.plan_id}_02_detach_foreign_keys", "detach foreign keys from converted columns", header,
        (_drop_carried(plan) + _drop_views(plan) + [_drop_fk(fk) for fk in plan.fks])
        or ["SELECT 1 AS no_foreign_keys;"],
        ([_add_fk(fk) for fk in reversed(plan.fks)] + _create_views(plan) + _create_carried(plan))
        or ["SELECT 1 AS no_foreign_keys;"],
    )


def _reattach_fks(plan: Plan) -> Migration:
    header = (
        "What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL\n"
        "  printed for it at plan time; each is validated here against the converted data:\n" + _fk_lines(plan)
        + "\n  then every view dropped in step 02, with its definition, owner, grants and comments\n"
        "  (materialized views refilled WITH DATA, their indexes rebuilt):\n" + _view_lines(plan)
        + "\n  then every trigger and RLS policy dropped in step 02 (same name, definition, enabled state,\n"
        "  comment; row security settings of the tables are never touched):\n"
        + ("\n".join(f"    {o.display}" for o in _recreated(plan)) or "    (none)")
        + "\nProven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,\n"
        "  checks/no_orphan_references.sql"
    )
    return Migration(
        f"{plan.plan_id}_04_reattach_foreign_keys", "re-create foreign keys on the uuid columns", header,
        ([_add_fk(fk) for fk in plan.fks] + _create_views(plan) + _create_carried(plan))
        or ["SELECT 1 AS no_foreign_keys;"],
        (_drop_carried(plan) + _drop_views(plan) + [_drop_fk(fk) for fk in reversed(plan.fks)])
        or ["SELECT 1 AS no_foreign_keys;"],
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


def _reference_guards(plan: Plan) -> list[str]:
    """--reference columns have no FK: refuse, inside the migration, a value the target lacks.

    plan counted them already; this catches rows written between plan and migrate, so that no
    value is ever turned into a uuid that no row of the target has (exit 1, nothing changed).
    """
    out = []
    for col, target in plan.references.items():
        key = plan.target_of(target).key.column_name
        shown = f"{qualname(*col[:2])}.{col[2]}".replace("%", "%%")
        body = (
            "\nDECLARE\n    orphans bigint;\nBEGIN\n"
            + q("    SELECT count(*) INTO orphans FROM {} AS c\n    WHERE\n        c.{} IS NOT NULL\n"
                "        AND NOT EXISTS (SELECT 1 FROM {} AS t WHERE t.{} = c.{})",
                I(*col[:2]), I(col[2]), I(*target), I(key), I(col[2]))
            + "\n    IF orphans > 0 THEN\n"
            + q("        RAISE EXCEPTION {}, orphans\n        USING HINT = {}",
                L(f"keyshift: % row(s) of {shown} hold a value that is no {key.replace('%', '%%')} of "
                  + qualname(*target).replace("%", "%%")),
                L("fix or delete those rows (or set them NULL), then plan again"))
            + "\n    END IF;\nEND\n"
        )
        out.append(f"-- {shown} is declared a reference to {qualname(*target)} (--reference, no FK).\n"
                   f"DO {dollar_quoted(body)};")
    return out


def _convert(plan: Plan) -> Migration:
    apply = [_KEY_GUARD] + _reference_guards(plan)
    looked_up = [t for t in plan.targets if t.time_ordered and t.timestamp_column]
    apply += [_create_new_id_fn(t) for t in looked_up]
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
            elif c.default_expr is not None:
                clauses.append(q("ALTER COLUMN {} DROP DEFAULT", I(c.column_name))[:-1])
            clauses.append(q(
                "ALTER COLUMN {} TYPE uuid USING {}", I(c.column_name), _new_key_expr(plan, c, once=True)
            )[:-1])
        apply.append(
            f"-- {table[0]}.{table[1]}: {plan.row_counts.get(table, 0)} rows, one rewrite.\n"
            + q("ALTER TABLE {}\n{}", _tab(*table), sql.SQL(",\n".join(clauses)))
        )
        apply += [_converted_default(plan, c) for c in cols if not c.is_key and c.default_expr is not None]

    rollback = []
    for t in plan.targets:
        rollback.append("-- Rows inserted after the conversion have no old id yet: give them the next ones.\n" + q(
            "INSERT INTO {m} (old_id, new_id)\n"
            "SELECT\n    (SELECT coalesce(max(x.old_id), 0) FROM {m} AS x)\n"
            "    + row_number() OVER (ORDER BY t.{k}) AS old_id,\n"
            "    t.{k} AS new_id\nFROM {t} AS t\nWHERE NOT EXISTS (\n    SELECT 1 FROM {m} AS m\n    WHERE m.new_id = t.{k}\n)",
            m=_map(t), k=I(t.key.column_name), t=_tab(*t.table.key),
        ))
        body = q("SELECT old_id FROM {} WHERE new_id = $1", _map(t))[:-1]
        rollback.append(q(
            "CREATE FUNCTION {}(uuid) RETURNS bigint\nLANGUAGE sql STABLE\n"
            "AS {tag} {body} {tag}",
            _old_id_fn(t), tag=sql.SQL(_dollar_tag(body)), body=sql.SQL(body),
        ))
    for table in reversed(_tables_with_columns(plan)):
        clauses = []
        for c in plan.columns_of(table):
            fn = _old_id_fn(plan.target_of(c.root))
            restored = not c.is_key and c.default_expr is not None
            if restored:
                clauses.append(q("ALTER COLUMN {} DROP DEFAULT", I(c.column_name))[:-1])
            clauses.append(q(
                "ALTER COLUMN {} TYPE {} USING {}({})", I(c.column_name), sql.SQL(c.old_type), fn, I(c.column_name)
            )[:-1])
            if restored:
                clauses.append(q("ALTER COLUMN {} SET DEFAULT {}", I(c.column_name), sql.SQL(c.default_expr))[:-1])
        rollback.append(q("ALTER TABLE {}\n{}", _tab(*table), sql.SQL(",\n".join(clauses))))
    apply += [q("DROP FUNCTION {}(bigint)", _new_id_fn(t)) for t in looked_up]
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
        + "\n  Old sequences/identities are detached from the keys first. Keys:\n"
        + "\n".join(f"    {key_version_line(plan, t)}" for t in plan.targets)
        + "\nWhy: the same keyed function of the old id gives a key and all its references the same\n"
        "  uuid, so no join and no UPDATE is needed, and row triggers never fire. Columns referencing\n"
        "  a table keyed by a timestamp column cannot see that timestamp: they read the mapping.\n"
        "Proven by: checks/rows_unchanged_through_mapping.sql, checks/no_integer_key_left.sql"
    )
    return Migration(f"{plan.plan_id}_03_convert_key_columns", "convert keys and references to uuid",
                     header, apply, rollback)


def _converted_default(plan: Plan, c: Column) -> str:
    """A column whose default was an id of its target gets that row's new uuid as its default.

    The uuid exists only inside this transaction (the key is never written down), so the
    statement is built here with format(%L); an id deleted since plan is an error, never NULL.
    """
    target = plan.target_of(c.root)
    alter = q("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ", _tab(*c.table), I(c.column_name))[:-1]
    body = (
        "DECLARE\n    found uuid;\nBEGIN\n"
        + q("    SELECT m.new_id INTO found FROM {} AS m WHERE m.old_id = {}", _map(target), L(c.default_value))
        + "\n    IF found IS NULL THEN\n"
        + q("        RAISE EXCEPTION 'keyshift: the default % of % is no id of %', {}, {}, {}\n"
            "        USING HINT = {}", L(c.default_value), L(c.display), L(target.table.display),
            L("a row was deleted since plan: drop or change the default, then plan again"))
        + "\n    END IF;\n"
        + q("    EXECUTE format({}, found)", L(alter.replace("%", "%%") + "%L::uuid"))
        + "\nEND\n"
    )
    tag = _dollar_tag(body)
    return (f"-- {c.display}: its default {c.default_expr} becomes the new uuid of that id of "
            f"{target.table.display}.\nDO {tag}\n{body}{tag};")


def _do(statement: str) -> str:
    """Wrap one PL/pgSQL statement in a DO block: it runs, returns nothing, prints nothing."""
    body = "\n".join("    " + line for line in statement.splitlines())
    tag = _dollar_tag(body)
    return f"DO {tag}\nBEGIN\n{body}\nEND\n{tag};"


def dollar_quoted(body: str) -> str:
    """``body`` between dollar quotes whose tag does not occur in it: a user's name inside (a
    table called ``a$$b``) can never end the quoted text early. Every DO block and function body
    that holds a name goes through here."""
    tag = _dollar_tag(body)
    return f"{tag}{body}{tag}"


def _dollar_tag(body: str) -> str:
    """``$$``, or a ``$ksN$`` tag when the body holds ``$$`` (a user's name may): a name must
    never end the quoted body early."""
    tag, n = "$$", 0
    while tag in body:
        tag, n = f"$ks{n or ''}$", n + 1
    return tag


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
        apply.append(key_default_sql(plan, t))
        if k.sequence_kind == "serial":
            apply.append(q("DROP SEQUENCE {}", _tab(k.seq_schema, k.seq_name)))
        if _drops_plain_sequence(k):
            apply.append("-- A plain nextval() default whose sequence nothing else uses: no orphan is left.\n"
                         + q("DROP SEQUENCE {}", _tab(k.seq_schema, k.seq_name)))
    for t in reversed(plan.targets):
        k = t.key
        rollback.append(q("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", _tab(*t.table.key), I(k.column_name)))
        if k.sequence_kind == "serial":
            rollback.append(q(
                "CREATE {}SEQUENCE {} AS {}\n"
                "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
                sql.SQL("UNLOGGED " if k.seq_persistence == "u" else ""), _tab(k.seq_schema, k.seq_name), sql.SQL(k.seq_type), L(k.seq_increment), L(k.seq_min),
                L(k.seq_max), L(k.seq_start), L(k.seq_cache), sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            ))
            rollback.append(q("ALTER SEQUENCE {} OWNER TO {}", _tab(k.seq_schema, k.seq_name), I(k.seq_owner)))
            rollback.append(q("ALTER SEQUENCE {} OWNED BY {}", _tab(k.seq_schema, k.seq_name),
                              I(t.table.table_schema, t.table.table_name, k.column_name)))
            rollback += _sequence_privileges(k)
        if _drops_plain_sequence(k):
            rollback.append(q(
                "CREATE SEQUENCE {} AS {}\n"
                "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
                _tab(k.seq_schema, k.seq_name), sql.SQL(k.seq_type), L(k.seq_increment), L(k.seq_min),
                L(k.seq_max), L(k.seq_start), L(k.seq_cache), sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            ))
            rollback.append(q("ALTER SEQUENCE {} OWNER TO {}", _tab(k.seq_schema, k.seq_name), I(k.seq_owner)))
            rollback += _sequence_privileges(k)
    header = (
        "What: new rows get their key from the default of the chosen uuid version; the serial sequences\n"
        "  of the old keys are dropped (identity sequences went with DROP IDENTITY in step 03):\n"
        + "\n".join(f"    {key_version_line(plan, t)}"
                    + (f", drop sequence {t.key.seq_schema}.{t.key.seq_name}"
                       if t.key.sequence_kind == "serial" or _drops_plain_sequence(t.key) else "")
                    for t in plan.targets)
        + "\nProven by: checks/keys_are_uuid_primary_keys_with_default.sql, checks/no_integer_key_left.sql"
    )
    return Migration(f"{plan.plan_id}_05_set_uuid_defaults", "uuid defaults; old sequences dropped", header,
                     apply, rollback)


def _drops_plain_sequence(k) -> bool:
    """A key whose default was nextval() of a sequence no other default uses and nothing owns."""
    return k.sequence_kind == "default" and not k.seq_used_elsewhere


def _tables_with_columns(plan: Plan) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for c in plan.columns:
        if c.table not in seen:
            seen.append(c.table)
    return seen
