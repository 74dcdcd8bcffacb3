"""Render: a Plan becomes five ordered migrations, each with its .rollback.sql.

Every statement is an ``orchestrator.names.Statement``: a psycopg.sql composition (names as
Identifier, values as orchestrator.literal.Literal, psycopg's quoting without its leading
space) and the prose comment above it. Statements become text only in ``Migration.text`` and
``Migration.rollback_text``, and every comment line, headers included, is written by
``names.comment_block``. The only raw text embedded is PostgreSQL's own deparse (constraint,
view, index, trigger and policy definitions) read from the catalog, and the files shipped in
``sql/``.

The conversion key: existing rows get ``keyed_uuid_v4(key || salt, old_id)``, where the key
is drawn by the server itself for this transaction only (``set_config(..., true)``), so it
never appears in any file, log or WAL record, and the new ids cannot be guessed from the old
ones. Because the function is deterministic, a key column and every column that references
it convert independently with one ``ALTER ... TYPE uuid USING`` each: no join, no UPDATE.
The mapping table written first is the permanent record of old -> new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from psycopg import sql

from orchestrator import SQL_DIR, external, ownership
from orchestrator.names import qualname
from orchestrator.names import Literal
from orchestrator.names import Statement, comment_block
from orchestrator.plan import Column, Plan, Target, lock_order, short_name
from orchestrator.plan import slug_constraint_name as plan_slug_constraint_name

I = sql.Identifier
L = Literal

#: The session setting that carries the per-transaction conversion key.
KEY_SETTING = "keyshift.key"


@dataclass(frozen=True)
class Migration:
    """One migration file pair: ``name.sql`` and ``name.rollback.sql``.

    ``header`` is prose, one line per element (a name with a line break in it stays on its
    line, escaped); ``apply`` and ``rollback`` are the statements in the order they run."""

    name: str
    title: str
    header: tuple[str, ...]
    apply: list[Statement]
    rollback: list[Statement]

    def text(self, depends: str | None) -> str:
        head = comment_block((f"{self.name}: {self.title}", "", *self.header, f"depends: {depends or ''}",
                              *_LINT_DIRECTIVES))
        return head + "\n\n" + _written(self.apply)

    def rollback_text(self) -> str:
        head = comment_block((f"{self.name}.rollback: undo of {self.title}",
                              "Statements run top-down, in undo order.", *_LINT_DIRECTIVES))
        return head + "\n\n" + _written(self.rollback)


def _written(statements: list[Statement]) -> str:
    return "\n\n".join(s.text() for s in statements) + "\n"


#: sqlfluff settings of every generated file. Every identifier is quoted by psycopg and is the
#: user's own name, spaces and all: sqlfluff must not ask for it to be renamed. A foreign key
#: is written as PostgreSQL printed it, ``REFERENCES s.t(col)``, with no space after the table.
_LINT_DIRECTIVES = (
    "sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none",
    "sqlfluff:layout:type:table_reference:spacing_after:any",
)


@dataclass(frozen=True)
class Unlinted(Statement):
    """A statement sqlfluff is told to leave alone: PostgreSQL's own deparse of a view,
    trigger, policy or index (restyling it would change the stored text), or a privilege the
    linter's dialect does not parse yet."""

    def text(self) -> str:
        return (comment_block((*self.comment, "noqa: disable=all")) + "\n" + Statement(self.body).text()
                + "\n" + comment_block(("noqa: enable=all",)))


def compose(template: str, *args, **kwargs) -> sql.Composed:
    """One piece of SQL: ``template`` with names (Identifier) and values (Literal) filled in."""
    return sql.SQL(template).format(*args, **kwargs)


def stmt(template: str, *args, note: str | tuple[str, ...] = (), **kwargs) -> Statement:
    """One statement, with ``note`` (a line, or a tuple of lines) as the comment above it."""
    return Statement(compose(template, *args, **kwargs), (note,) if isinstance(note, str) else tuple(note))


def _do(template: str, *, declare: str = "", **kwargs) -> sql.Composed:
    """A DO block running the PL/pgSQL statements of ``template``: it runs, returns nothing,
    prints nothing. The template is indented before names and values are filled in, so a line
    break inside a name is never touched."""
    body = "\n".join("    " + line for line in template.split("\n"))
    return compose("DO {}", dollar_quoted(compose("\n" + declare + "BEGIN\n" + body + "\nEND\n", **kwargs)))


def dollar_quoted(body: str | sql.Composable) -> sql.SQL:
    """``body`` between dollar quotes whose tag does not occur in it: a user's name inside (a
    table called ``a$$b``) can never end the quoted text early. Every DO block and function body
    that holds a name goes through here."""
    text = body if isinstance(body, str) else body.as_string(None)
    tag = _dollar_tag(text)
    return sql.SQL(tag + text + tag)


def _dollar_tag(body: str) -> str:
    """``$$``, or a ``$ksN$`` tag when the body holds ``$$`` (a user's name may): a name must
    never end the quoted body early."""
    tag, n = "$$", 0
    while tag in body:
        tag, n = f"$ks{n or ''}$", n + 1
    return tag


def _file(path: str) -> Statement:
    """A file shipped in sql/, included verbatim."""
    return Statement(sql.SQL((SQL_DIR / path).read_text().strip()), verbatim=True)


def _tab(schema: str, name: str) -> sql.Identifier:
    return I(schema, name)


def _map(target_or_col) -> sql.Identifier:
    return I("keyshift", target_or_col.map_table)


def _regclass(schema: str, name: str) -> sql.Composable:
    """The quoted name of a relation as a text value (for setval, to_regclass)."""
    return L(I(schema, name).as_string(None))


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
    return sql.SQL(
        "coalesce(CASE WHEN {ts} >= {lo}::timestamptz AND {ts} < {hi}::timestamptz THEN {ts} END, {fb})"
    ).format(ts=ts, lo=L(low), hi=L(high), fb=fallback)


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


def _create_new_id_fn(target: Target) -> Statement:
    """old id -> new uuid through the mapping; an id the mapping lacks is an error, never NULL."""
    body = compose(
        "\nDECLARE\n    found uuid;\nBEGIN\n"
        "    IF $1 IS NULL THEN\n        RETURN NULL;\n    END IF;\n"
        "    SELECT m.new_id INTO found FROM {m} AS m WHERE m.old_id = $1;\n"
        "    IF found IS NULL THEN\n"
        "        RAISE EXCEPTION 'keyshift: id % of % is referenced but has no row', $1, {shown}\n"
        "        USING HINT = 'a NOT VALID foreign key lets orphans in: delete or fix them, then migrate';\n"
        "    END IF;\n    RETURN found;\nEND\n",
        m=_map(target), shown=L(target.table.display),
    )
    return stmt("CREATE FUNCTION {fn}(bigint) RETURNS uuid\nLANGUAGE plpgsql STABLE\nAS {body}",
                fn=_new_id_fn(target), body=dollar_quoted(body))


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


def key_default_sql(plan: Plan, target: Target) -> Statement:
    """The statement that gives the new key its default for new rows."""
    tab, col = _tab(*target.table.key), I(target.key.column_name)

    def set_default(native: bool) -> sql.Composed:
        return compose("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", tab, col,
                       sql.SQL(key_default_expr(target, native)))

    if target.uuid_version != "v7":
        return Statement(set_default(False))
    body = compose(
        "\nBEGIN\n    IF {} THEN\n        {};\n    ELSE\n        {};\n    END IF;\nEND\n",
        sql.SQL(_HAS_UUIDV7), set_default(True), set_default(False),
    )
    return stmt("DO {}", dollar_quoted(body),
                note="PostgreSQL 18 has uuidv7() built in; older servers use keyshift.uuid_v7().")


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


def _max_id_statement(target: Target) -> Statement:
    """Step 01: read max(old id) into the setting; refuse a span that would run before the epoch."""
    return Statement(_do(
        "PERFORM set_config({s}, coalesce(max(t.{k}), 0)::text, TRUE)\nFROM {t} AS t;\n"
        "{why}\n"
        "PERFORM set_config(\n    {b},\n    (\n        (\n"
        "            ('x' || encode(timestamptz_send(transaction_timestamp()), 'hex'))::bit(64)::bigint\n"
        "            {base}\n    )::text,\n    TRUE\n);\n"
        "IF (SELECT max(t.{k})::numeric - min(t.{k}) FROM {t} AS t)\n"
        "    > extract(EPOCH FROM transaction_timestamp()) * 1000 THEN\n"
        "    RAISE EXCEPTION 'keyshift: ids of % span more milliseconds than have passed since 1970', {shown}\n"
        "    USING HINT = 'use --timestamp-column for this table, or --uuid v4';\nEND IF;",
        s=L(max_id_setting(target)), k=I(target.key.column_name), t=_tab(*target.table.key),
        shown=L(target.table.display), b=L(time_base_setting(target)),
        why=sql.SQL(comment_block(
            "the id-order time of id is base + (id - max id) ms (base: v7 unix ms, v6 100-ns since 1582)")),
        base=sql.SQL(
            "+ 946684800000000\n            ) / 1000" if target.uuid_version == "v7"
            else "* 10 + 131659776000000000\n            )"
        ),
    ), (f"{target.table.display}: max old id for the id-order time of existing {target.uuid_version} keys.",))


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
        apply.append(stmt("ALTER TABLE {} ADD COLUMN {} text", tab, col,
                          note=f"{t.table.display}.{t.slug_column}: {t.rows} rows at plan time, "
                               f"{t.slug_length} chars."))
        apply.append(stmt(
            "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS\nSELECT\n    m.new_id,\n"
            "    keyshift.base62(keyshift.keyed_uuid_v4(current_setting({}) || {}, m.old_id), {}) AS slug\n"
            "FROM {} AS m",
            _slug_table(t), L(KEY_SETTING), L(t.salt + "slug:"), n, _map(t),
        ))
        apply.append(stmt("ALTER TABLE {} ADD PRIMARY KEY (new_id)", _slug_table(t)))
        apply.append(Statement(_do(
            "LOOP\n    UPDATE {s} AS s SET slug = keyshift.random_slug({n})\n"
            "    FROM (\n        SELECT\n            d.new_id,\n"
            "            row_number() OVER (PARTITION BY d.slug ORDER BY d.new_id) AS n\n"
            "        FROM {s} AS d\n    ) AS dup\n    WHERE dup.new_id = s.new_id AND dup.n > 1;\n"
            "    EXIT WHEN NOT found;\nEND LOOP;",
            s=_slug_table(t), n=n,
        ), ("Redraw duplicates until every slug is unique.",)))
        body = compose(" SELECT slug FROM {} WHERE new_id = $1 ", _slug_table(t))
        apply.append(stmt("CREATE FUNCTION {}(uuid) RETURNS text\nLANGUAGE sql STABLE\nAS {}",
                          _slug_fn(t), dollar_quoted(body)))
        apply.append(stmt(
            "ALTER TABLE {}\nALTER COLUMN {c} TYPE text USING {}({}),\nALTER COLUMN {c} SET NOT NULL,\n"
            "ALTER COLUMN {c} SET DEFAULT {},\nADD CONSTRAINT {} UNIQUE ({c})",
            tab, _slug_fn(t), I(t.key.column_name), _slug_default(t), I(slug_constraint_name(t)), c=col,
            note="One rewrite fills every row; no row trigger fires.",
        ))
        apply.append(stmt("COMMENT ON COLUMN {} IS {}", I(*t.table.key, t.slug_column), L(
            f"keyshift plan {plan.plan_id}: unique Base62 slug of {t.slug_length} characters; "
            "the default redraws a slug that a row already holds")))
        apply.append(stmt("DROP FUNCTION {}(uuid)", _slug_fn(t)))
        apply.append(stmt("DROP TABLE {}", _slug_table(t)))
    for t in reversed(targets):
        rollback.append(stmt("ALTER TABLE {} DROP COLUMN {}", _tab(*t.table.key), I(t.slug_column)))
    header = (
        "What: adds a unique Base62 [0-9a-zA-Z] slug column to each table below and fills every row:",
        *(f"    {t.table.display}.{t.slug_column}: {t.slug_length} chars, "
          f"default {_slug_default(t).as_string(None)}, UNIQUE {slug_constraint_name(t)}" for t in targets),
        "Why: short public identifiers that reveal neither the old id nor the key. Existing rows get a keyed",
        "  hash of the old id; any duplicate is redrawn before the UNIQUE constraint is added. New rows",
        "  draw a random slug, redrawn while a row already holds it (keyshift.unique_slug); the UNIQUE",
        "  constraint still refuses the one remaining race, two concurrent INSERTs drawing the same slug.",
        "Proven by: checks/slugs_are_unique_base62.sql",
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
    stmt("SET LOCAL maintenance_work_mem = '1GB'", note=(
        "For this transaction only: index rebuilds and the checks' joins sort in memory, and the",
        "mapping's keys are computed by parallel workers.")),
    stmt("SET LOCAL work_mem = '256MB'"),
    stmt("SET LOCAL parallel_setup_cost = 0"),
    stmt("SET LOCAL parallel_tuple_cost = 0"),
)


def _map_keys(plan: Plan) -> Migration:
    pid = L(plan.plan_id)
    apply = [
        stmt("SET CONSTRAINTS ALL IMMEDIATE",
             note="Deferred constraints (every Django FK) must not hold trigger events across ALTER TABLE."),
        *_SESSION_SETTINGS,
        _file("schema.sql"),
        stmt("GRANT USAGE ON SCHEMA keyshift TO public", note=(
            "New rows' key and slug defaults (keyshift.uuid_v7(), uuid_v6(), unique_slug()) run as the",
            "inserting role, which therefore needs USAGE here; it gives no access to the mapping and",
            "registry tables, which keep their owner's privileges only (public: every role).")),
        _file("registry.sql"),
        _file("functions/statement_setting.sql"),
        _file("functions/keyed_uuid_v4.sql"),
        _file("functions/keyed_uuid_v7.sql"),
        _file("functions/keyed_uuid_v6.sql"),
        _file("functions/uuid_v7.sql"),
        _file("functions/uuid_v6.sql"),
        _file("functions/base62.sql"),
        _file("functions/table_fingerprint.sql"),
        lock_statement(plan),
        stmt("DO {}", dollar_quoted(
            "\nBEGIN\n    PERFORM set_config('keyshift.key', gen_random_uuid()::text, TRUE);\nEND\n"), note=(
            "The conversion key: drawn by the server, lives for this transaction only, never in any file",
            "or output (PERFORM returns nothing, so no client prints it).")),
    ]
    # --invalidate-sessions: emptied before anything is fingerprinted, so the checks agree.
    apply += external.session_statements(plan)
    apply += [_max_id_statement(t) for t in plan.targets if t.time_ordered]
    for t in plan.targets:
        apply.append(stmt(
            "INSERT INTO keyshift.converted_table\n"
            "(plan_id, table_schema, table_name, key_column, old_type, mode, uuid_version, key_default, map_table)\n"
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            pid, L(t.table.table_schema), L(t.table.table_name), L(t.key.column_name),
            L(t.key.data_type), L(plan.options.mode), L(int(t.uuid_version[1:])), key_default_value_sql(t),
            L(t.map_table),
        ))
        if t.slug_column:
            apply.append(stmt(
                "INSERT INTO keyshift.converted_slug\n"
                "(plan_id, table_schema, table_name, column_name, length, constraint_name)\n"
                "VALUES ({}, {}, {}, {}, {}, {})",
                pid, L(t.table.table_schema), L(t.table.table_name), L(t.slug_column), L(t.slug_length),
                L(slug_constraint_name(t)),
            ))
    for c in plan.columns:
        apply.append(stmt(
            "INSERT INTO keyshift.converted_column\n"
            "(plan_id, table_schema, table_name, column_name, old_type, map_table, is_key)\n"
            "VALUES ({}, {}, {}, {}, {}, {}, {})",
            pid, L(c.table_schema), L(c.table_name), L(c.column_name), L(c.old_type), L(c.map_table),
            sql.SQL("TRUE" if c.is_key else "FALSE"),
        ))
    for fk in plan.fks:
        apply.append(stmt(
            "INSERT INTO keyshift.converted_constraint\n"
            "(plan_id, table_schema, table_name, constraint_name, constraint_type, definition)\n"
            "VALUES ({}, {}, {}, {}, 'f', {})",
            pid, L(fk.child_schema), L(fk.child_table), L(fk.name), L(fk.definition),
        ))
    for table, indexes in plan.indexes.items():
        for ix in indexes:
            apply.append(stmt(
                "INSERT INTO keyshift.converted_index\n"
                "(plan_id, table_schema, table_name, index_name, constraint_name, definition)\n"
                "VALUES ({}, {}, {}, {}, {}, {})",
                pid, L(table[0]), L(table[1]), L(ix.index_name), L(ix.constraint_name), L(ix.definition),
            ))
    for v in plan.views:
        apply.append(stmt(
            "INSERT INTO keyshift.converted_view\n"
            "(plan_id, view_schema, view_name, relkind, owner, acl, column_names, definition)\n"
            "SELECT\n    {} AS plan_id,\n    n.nspname AS view_schema,\n    c.relname AS view_name,\n"
            "    c.relkind,\n    pg_get_userbyid(c.relowner) AS owner,\n    c.relacl::text AS acl,\n"
            "    array(\n        SELECT a.attname\n        FROM pg_attribute AS a\n"
            "        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped\n"
            "        ORDER BY a.attnum\n    ) AS column_names,\n    pg_get_viewdef(c.oid) AS definition\n"
            "FROM pg_class AS c\nINNER JOIN pg_namespace AS n ON c.relnamespace = n.oid\n"
            "WHERE c.oid = to_regclass({})",
            pid, _regclass(v.view_schema, v.view_name),
        ))
    recorded = {(table, ix.index_name) for table, indexes in plan.indexes.items() for ix in indexes}
    for obj in plan.carried:
        if obj.kind == "index" and (obj.table, obj.name) not in recorded:
            apply.append(stmt(
                "INSERT INTO keyshift.converted_index\n"
                "(plan_id, table_schema, table_name, index_name, constraint_name, definition)\n"
                "VALUES ({}, {}, {}, {}, '', {})",
                pid, L(obj.table_schema), L(obj.table_name), L(obj.name), L(obj.definition),
            ))
    for t in plan.targets:
        k = t.key
        if k.seq_name:
            apply.append(stmt(
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
        apply.append(stmt(
            "CREATE TABLE {} AS\nSELECT\n    {}::bigint AS old_id,\n    {} AS new_id\nFROM {}",
            _map(t), I(t.key.column_name), _new_key_expr(plan, col), _tab(*t.table.key),
            note=f"{t.table.display}: {t.rows} rows at plan time.",
        ))
        # NOT NULL on new_id too: with its unique index, PostgreSQL itself then enforces what
        # checks/mapping_is_bijection.sql would otherwise prove by scanning (see that file).
        apply.append(stmt(
            "ALTER TABLE {}\nALTER COLUMN new_id SET NOT NULL,\nADD PRIMARY KEY (old_id),\nADD UNIQUE (new_id)",
            _map(t)))
        apply.append(stmt(
            "COMMENT ON TABLE {} IS {}", _map(t),
            L(f"keyshift plan {plan.plan_id}: old {t.key.column_name} -> new uuid of {t.table.display}"),
        ))
    for table in _tables_with_columns(plan):
        apply.append(stmt(
            "INSERT INTO keyshift.fingerprint (plan_id, table_schema, table_name, row_count, fingerprint)\n"
            "SELECT\n    {} AS plan_id,\n    {} AS table_schema,\n    {} AS table_name,\n    f.row_count,\n"
            "    f.fingerprint\nFROM keyshift.table_fingerprint({}, {}, FALSE) AS f",
            pid, L(table[0]), L(table[1]), L(table[0]), L(table[1]),
        ))

    rollback = list(ownership.refuse_mapping_users(plan.plan_id, [t.map_table for t in plan.targets]))
    rollback += [stmt("DROP TABLE {}", _map(t)) for t in reversed(plan.targets)]
    rollback += external.session_rollback_note(plan)
    rollback += external.forget(pid, ("converted_view", "converted_slug", "fingerprint", "saved_sequence",
                                      "invalidated_session", "converted_index", "converted_constraint",
                                      "converted_column", "converted_table"))
    header = (
        "What: records in the keyshift registry what this plan converts, saves the state of each key",
        "  sequence, fingerprints every touched table (rows read in old-id terms), and writes the",
        "  permanent old -> new mapping of each target:",
        *(f"    keyshift.{t.map_table} <- {t.table.display} ({t.rows} rows at plan time)" for t in plan.targets),
        "  New keys (version, default for new rows, where the time of existing keys comes from):",
        *(f"    {key_version_line(plan, t)}" for t in plan.targets),
        "Why: the mapping is what rollback, audits, caches and old URLs need; the fingerprints let the",
        "  checks prove, inside this transaction, that no row and no reference changed.",
        *external.session_header(plan),
        "Proven by: checks/mapping_is_bijection.sql, checks/rows_unchanged_through_mapping.sql",
        *_plan_facts(plan),
    )
    return Migration(f"{plan.plan_id}_01_map_keys", "map old integer keys to new uuid keys", header, apply, rollback)


def lock_statement(plan: Plan) -> Statement:
    """LOCK TABLE of every table the plan locks (plan.lock_order), in both modes."""
    return stmt("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", sql.SQL(", ").join(_tab(*k) for k in lock_order(plan)),
                note="Parents before children, so no application transaction can deadlock us halfway.")


# --- 02 / 04 -----------------------------------------------------------------------------

def _drop_fk(fk) -> Statement:
    return stmt("ALTER TABLE {} DROP CONSTRAINT {}", _tab(*fk.child), I(fk.name))


def _add_fk(fk) -> list[Statement]:
    """The FK with its exact definition, as PostgreSQL printed it, and its comment: a dropped
    constraint loses it."""
    add = stmt("ALTER TABLE {} ADD CONSTRAINT {} {}", _tab(*fk.child), I(fk.name), sql.SQL(fk.definition))
    if fk.comment is None:
        return [add]
    return [add, stmt("COMMENT ON CONSTRAINT {} ON {} IS {}", I(fk.name), _tab(*fk.child), L(fk.comment))]


def _add_fks(fks) -> list[Statement]:
    return [s for fk in fks for s in _add_fk(fk)]


def _view_kind(view) -> sql.SQL:
    return sql.SQL("MATERIALIZED VIEW" if view.is_materialized else "VIEW")


def _drop_view(view) -> Statement:
    return stmt("DROP {} {}", _view_kind(view), _tab(*view.key))


def _create_view(view) -> list[Statement]:
    """The view as it was: definition, options, owner, grants, comments, indexes, triggers.

    The definition is PostgreSQL's own deparse (pg_get_viewdef), kept byte for byte; sqlfluff
    is told not to restyle it, since changing its layout would change the stored text.
    """
    tab = _tab(*view.key)
    kind = _view_kind(view)
    options = sql.SQL(" WITH ({})").format(sql.SQL(", ".join(view.options))) if view.options else sql.SQL("")
    body = view.definition.rstrip().rstrip(";")
    out: list[Statement] = [
        Unlinted(compose("CREATE {} {}{} AS\n{}{}", kind, tab, options, sql.SQL(body),
                         sql.SQL("\nWITH DATA" if view.is_materialized else "")),
                 (f"{view.display}: depth {view.depth} from a converted column, owner {view.owner}.",)),
        stmt("ALTER {} {} OWNER TO {}", kind, tab, I(view.owner)),
    ]
    # An explicit ACL, the owner's own entry included: start from empty, grant in stored order.
    out.append(_reset_acl("TABLE", view.view_schema, view.view_name, view.acl_is_set))
    for (column, grantee, grantable), privileges in _grouped_grants(view.grants):
        who = I(grantee) if grantee is not None else sql.SQL("PUBLIC")
        cols = sql.SQL(" ({})").format(I(column)) if column is not None else sql.SQL("")
        grant = compose("GRANT {}{} ON {} TO {}{}", sql.SQL(", ").join(sql.SQL(p) for p in privileges), cols, tab,
                        who, sql.SQL(" WITH GRANT OPTION" if grantable else ""))
        # PostgreSQL 17+ has MAINTAIN, which sqlfluff does not parse yet: valid SQL, kept as is.
        out.append(Unlinted(grant) if any(p not in _LINTER_KNOWS for p in privileges) else Statement(grant))
    if view.comment is not None:
        out.append(stmt("COMMENT ON {} {} IS {}", kind, tab, L(view.comment)))
    for c in view.column_comments:
        out.append(stmt("COMMENT ON COLUMN {} IS {}", I(view.view_schema, view.view_name, c["column"]),
                        L(c["comment"])))
    for definition in (*view.indexes, *view.triggers):
        out.append(Unlinted(sql.SQL(definition.rstrip(";"))))
    for c in view.index_comments:
        out.append(stmt("COMMENT ON INDEX {} IS {}", I(view.view_schema, c["name"]), L(c["comment"])))
    for c in view.trigger_comments:
        out.append(stmt("COMMENT ON TRIGGER {} ON {} IS {}", I(c["name"]), tab, L(c["comment"])))
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


def _view_lines(plan: Plan) -> list[str]:
    return [f"    {v.display} (owner {v.owner})" for v in plan.views] or ["    (none)"]


def _drop_views(plan: Plan) -> list[Statement]:
    """Dependents first: the reverse of creation order."""
    return [_drop_view(v) for v in reversed(plan.views)]


def _create_views(plan: Plan) -> list[Statement]:
    return [s for v in plan.views for s in _create_view(v)]


def _fk_lines(plan: Plan) -> list[str]:
    return [f"    {fk.display} ({plan.row_counts.get(fk.child, 0)} rows)" for fk in plan.fks] or ["    (none)"]


def _plan_facts(plan: Plan) -> list[str]:
    """Tables with row counts, FKs, dependent objects and warnings, as the plan saw them."""
    lines = ["Tables (rows at plan time):"]
    lines += [f"    {t.display}: {plan.row_counts.get(t.key, 0)} rows" for t in plan.tables]
    lines += ["Foreign keys:", *_fk_lines(plan)]
    lines.append("Dependent objects carried across:")
    if plan.views:
        lines += _view_lines(plan)
    if plan.carried or not plan.views:
        lines += _carried_lines(plan)
    if plan.references:
        lines.append("Declared references (--reference, no FK; converted through the target's mapping):")
        lines += [f"    {qualname(*c[:2])}.{c[2]} -> {qualname(*t)}" for c, t in plan.references.items()]
    if plan.warnings:
        lines.append("Warnings (references the catalog cannot see; not converted):")
        lines += [f"    WARN {w}" for w in plan.warnings]
    return lines


def _carried_lines(plan: Plan) -> list[str]:
    how = {"alter": "rebuilt by ALTER ... TYPE", "recreate": "dropped in 02, re-created in 04"}
    return [f"    {o.display} ({how[o.carry]})" for o in plan.carried] or ["    (none)"]


def _recreated(plan: Plan) -> list:
    return [o for o in plan.carried if o.carry == "recreate"]


def _recreated_lines(plan: Plan) -> list[str]:
    return [f"    {o.display}" for o in _recreated(plan)] or ["    (none)"]


def _drop_carried(plan: Plan) -> list[Statement]:
    out = []
    for o in reversed(_recreated(plan)):
        what = sql.SQL("POLICY" if o.kind == "policy" else "TRIGGER")
        out.append(stmt("DROP {} {} ON {}", what, I(o.name), _tab(*o.table)))
    return out


_TRIGGER_STATE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}


def _create_carried(plan: Plan) -> list[Statement]:
    """Each trigger and policy as it was: PostgreSQL's own definition, enabled state, comment."""
    from orchestrator.catalog import policy_sql

    out: list[Statement] = []
    for o in _recreated(plan):
        text = policy_sql(o, o.table_ident) if o.kind == "policy" else o.definition.rstrip(";")
        out.append(Unlinted(sql.SQL(text), (o.display,)))
        if o.kind == "trigger" and o.enabled in _TRIGGER_STATE:
            out.append(stmt("ALTER TABLE {} {} {}", _tab(*o.table), sql.SQL(_TRIGGER_STATE[o.enabled]), I(o.name)))
        if o.comment is not None:
            what = sql.SQL("POLICY" if o.kind == "policy" else "TRIGGER")
            out.append(stmt("COMMENT ON {} {} ON {} IS {}", what, I(o.name), _tab(*o.table), L(o.comment)))
    return out


_NO_FOREIGN_KEYS = stmt("SELECT 1 AS no_foreign_keys")


def _detach_fks(plan: Plan) -> Migration:
    header = (
        "What: drops every foreign key that involves a converted column:", *_fk_lines(plan),
        "  and every view that reads one, dependents first:", *_view_lines(plan),
        "  and every trigger and RLS policy that uses one:", *_recreated_lines(plan),
        "Why: a key and the columns that reference it cannot change type while an FK or a view ties them.",
        f"  {plan.plan_id}_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,",
        "  DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).",
        "Proven by: checks/foreign_keys_restored.sql",
    )
    return Migration(
        f"{plan.plan_id}_02_detach_foreign_keys", "detach foreign keys from converted columns", header,
        (_drop_carried(plan) + _drop_views(plan) + [_drop_fk(fk) for fk in plan.fks]) or [_NO_FOREIGN_KEYS],
        (_add_fks(reversed(plan.fks)) + _create_views(plan) + _create_carried(plan)) or [_NO_FOREIGN_KEYS],
    )


def _reattach_fks(plan: Plan) -> Migration:
    header = (
        "What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL",
        "  printed for it at plan time; each is validated here against the converted data:", *_fk_lines(plan),
        "  then every view dropped in step 02, with its definition, owner, grants and comments",
        "  (materialized views refilled WITH DATA, their indexes rebuilt):", *_view_lines(plan),
        "  then every trigger and RLS policy dropped in step 02 (same name, definition, enabled state,",
        "  comment; row security settings of the tables are never touched):", *_recreated_lines(plan),
        "Proven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,",
        "  checks/no_orphan_references.sql",
    )
    return Migration(
        f"{plan.plan_id}_04_reattach_foreign_keys", "re-create foreign keys on the uuid columns", header,
        (_add_fks(plan.fks) + _create_views(plan) + _create_carried(plan)) or [_NO_FOREIGN_KEYS],
        (_drop_carried(plan) + _drop_views(plan) + [_drop_fk(fk) for fk in reversed(plan.fks)])
        or [_NO_FOREIGN_KEYS],
    )


# --- 03 ------------------------------------------------------------------------------------

_KEY_GUARD = stmt(
    "DO {}",
    dollar_quoted(
        "\nBEGIN\n"
        "    IF coalesce(current_setting('keyshift.key', TRUE), '') = '' THEN\n"
        "        RAISE EXCEPTION 'keyshift: the conversion key is not set'\n"
        "        USING HINT = 'apply all migrations of a plan in one transaction: keyshift migrate';\n"
        "    END IF;\nEND\n"
    ),
    note="Refuse to run outside the transaction that drew the key in step 01 (keyshift migrate).",
)


def _old_id_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_old_id_", target.map_table))


def _format_text(text: str) -> str:
    """``text`` inside the format string of RAISE, where ``%`` is a placeholder."""
    return text.replace("%", "%%")


def _reference_guards(plan: Plan) -> list[Statement]:
    """--reference columns have no FK: refuse, inside the migration, a value the target lacks.

    plan counted them already; this catches rows written between plan and migrate, so that no
    value is ever turned into a uuid that no row of the target has (exit 1, nothing changed).
    """
    out = []
    for col, target in plan.references.items():
        key = plan.target_of(target).key.column_name
        shown = f"{qualname(*col[:2])}.{col[2]}"
        body = compose(
            "\nDECLARE\n    orphans bigint;\nBEGIN\n"
            "    SELECT count(*) INTO orphans FROM {c} AS c\n    WHERE\n        c.{col} IS NOT NULL\n"
            "        AND NOT EXISTS (SELECT 1 FROM {t} AS t WHERE t.{key} = c.{col});\n"
            "    IF orphans > 0 THEN\n"
            "        RAISE EXCEPTION {msg}, orphans\n        USING HINT = {hint};\n"
            "    END IF;\nEND\n",
            c=I(*col[:2]), col=I(col[2]), t=I(*target), key=I(key),
            msg=L("keyshift: % row(s) of " + _format_text(shown) + " hold a value that is no "
                  + _format_text(key) + " of " + _format_text(qualname(*target))),
            hint=L("fix or delete those rows (or set them NULL), then plan again"),
        )
        out.append(stmt("DO {}", dollar_quoted(body),
                        note=f"{shown} is declared a reference to {qualname(*target)} (--reference, no FK)."))
    return out


def _convert(plan: Plan) -> Migration:
    apply = [_KEY_GUARD, *_reference_guards(plan)]
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
                    apply.append(stmt("ALTER TABLE {} ALTER COLUMN {} DROP IDENTITY", _tab(*table),
                                      I(c.column_name)))
                elif plan.target_of(c.root).key.default_expr:
                    clauses.append(compose("ALTER COLUMN {} DROP DEFAULT", I(c.column_name)))
            elif c.default_expr is not None:
                clauses.append(compose("ALTER COLUMN {} DROP DEFAULT", I(c.column_name)))
            clauses.append(compose(
                "ALTER COLUMN {} TYPE uuid USING {}", I(c.column_name), _new_key_expr(plan, c, once=True)
            ))
        apply.append(stmt("ALTER TABLE {}\n{}", _tab(*table), sql.SQL(",\n").join(clauses),
                          note=f"{table[0]}.{table[1]}: {plan.row_counts.get(table, 0)} rows, one rewrite."))
        apply += [_converted_default(plan, c) for c in cols if not c.is_key and c.default_expr is not None]

    rollback = []
    for t in plan.targets:
        rollback.append(stmt(
            "INSERT INTO {m} (old_id, new_id)\n"
            "SELECT\n    (SELECT coalesce(max(x.old_id), 0) FROM {m} AS x)\n"
            "    + row_number() OVER (ORDER BY t.{k}) AS old_id,\n"
            "    t.{k} AS new_id\nFROM {t} AS t\nWHERE NOT EXISTS (\n    SELECT 1 FROM {m} AS m\n    WHERE m.new_id = t.{k}\n)",
            m=_map(t), k=I(t.key.column_name), t=_tab(*t.table.key),
            note="Rows inserted after the conversion have no old id yet: give them the next ones.",
        ))
        body = compose(" SELECT old_id FROM {} WHERE new_id = $1 ", _map(t))
        rollback.append(stmt("CREATE FUNCTION {}(uuid) RETURNS bigint\nLANGUAGE sql STABLE\nAS {}",
                             _old_id_fn(t), dollar_quoted(body)))
    for table in reversed(_tables_with_columns(plan)):
        clauses = []
        for c in plan.columns_of(table):
            fn = _old_id_fn(plan.target_of(c.root))
            restored = not c.is_key and c.default_expr is not None
            if restored:
                clauses.append(compose("ALTER COLUMN {} DROP DEFAULT", I(c.column_name)))
            clauses.append(compose(
                "ALTER COLUMN {} TYPE {} USING {}({})", I(c.column_name), sql.SQL(c.old_type), fn, I(c.column_name)
            ))
            if restored:
                clauses.append(compose("ALTER COLUMN {} SET DEFAULT {}", I(c.column_name), sql.SQL(c.default_expr)))
        rollback.append(stmt("ALTER TABLE {}\n{}", _tab(*table), sql.SQL(",\n").join(clauses)))
    apply += [stmt("DROP FUNCTION {}(bigint)", _new_id_fn(t)) for t in looked_up]
    for t in plan.targets:
        k = t.key
        kind = k.sequence_kind
        if kind.startswith("identity"):
            rollback.append(stmt(
                "ALTER TABLE {} ALTER COLUMN {} ADD GENERATED {} AS IDENTITY (\n"
                "    SEQUENCE NAME {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}\n)",
                _tab(*t.table.key), I(k.column_name),
                sql.SQL("ALWAYS" if kind == "identity_always" else "BY DEFAULT"),
                _tab(k.seq_schema, k.seq_name), L(k.seq_increment), L(k.seq_min), L(k.seq_max),
                L(k.seq_start), L(k.seq_cache), sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            ))
            rollback += _sequence_privileges(k)
        elif k.default_expr:
            rollback.append(stmt(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}",
                _tab(*t.table.key), I(k.column_name), sql.SQL(k.default_expr),
            ))
        if k.seq_name:
            rollback.append(Statement(_do(
                "PERFORM setval(\n    {seq},\n"
                "    greatest(s.last_value, coalesce((SELECT max(t.{k}) FROM {t} AS t), s.last_value)),\n"
                "    s.is_called OR coalesce((SELECT max(t.{k}) FROM {t} AS t), s.last_value) > s.last_value\n"
                ")\nFROM keyshift.saved_sequence AS s\n"
                "WHERE s.table_schema = {ts} AND s.table_name = {tn} AND s.column_name = {kc};",
                seq=_regclass(k.seq_schema, k.seq_name), k=I(k.column_name),
                t=_tab(*t.table.key), ts=L(t.table.table_schema), tn=L(t.table.table_name),
                kc=L(k.column_name),
            ), ("The sequence continues where it was, or after the rows added since.",)))
    for t in plan.targets:
        rollback.append(stmt("DROP FUNCTION {}(uuid)", _old_id_fn(t)))

    header = (
        "What: converts every key and every column that references one, each table in ONE rewrite:",
        *(f"    {table[0]}.{table[1]}: " + ", ".join(c.column_name for c in plan.columns_of(table))
          for table in _tables_with_columns(plan)),
        "  Old sequences/identities are detached from the keys first. Keys:",
        *(f"    {key_version_line(plan, t)}" for t in plan.targets),
        "Why: the same keyed function of the old id gives a key and all its references the same",
        "  uuid, so no join and no UPDATE is needed, and row triggers never fire. Columns referencing",
        "  a table keyed by a timestamp column cannot see that timestamp: they read the mapping.",
        "Proven by: checks/rows_unchanged_through_mapping.sql, checks/no_integer_key_left.sql",
    )
    return Migration(f"{plan.plan_id}_03_convert_key_columns", "convert keys and references to uuid",
                     header, apply, rollback)


def _converted_default(plan: Plan, c: Column) -> Statement:
    """A column whose default was an id of its target gets that row's new uuid as its default.

    The uuid exists only inside this transaction (the key is never written down), so the
    statement is built here with format(%L); an id deleted since plan is an error, never NULL.
    """
    target = plan.target_of(c.root)
    alter = compose("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ", _tab(*c.table), I(c.column_name))
    body = compose(
        "\nDECLARE\n    found uuid;\nBEGIN\n"
        "    SELECT m.new_id INTO found FROM {m} AS m WHERE m.old_id = {v};\n"
        "    IF found IS NULL THEN\n"
        "        RAISE EXCEPTION 'keyshift: the default % of % is no id of %', {v}, {shown}, {target}\n"
        "        USING HINT = {hint};\n"
        "    END IF;\n"
        "    EXECUTE format({fmt}, found);\nEND\n",
        m=_map(target), v=L(c.default_value), shown=L(c.display), target=L(target.table.display),
        hint=L("a row was deleted since plan: drop or change the default, then plan again"),
        fmt=L(_format_text(alter.as_string(None)) + "%L::uuid"),
    )
    return stmt("DO {}", dollar_quoted(body),
                note=f"{c.display}: its default {c.default_expr} becomes the new uuid of that id of "
                     f"{target.table.display}.")


def _reset_acl(kind: str, schema: str, name: str, owner_too: bool) -> Statement:
    """Revoke every privilege a just-created view, materialized view or sequence was given by
    default privileges (ALTER DEFAULT PRIVILEGES) or by its creation, from every grantee but its
    owner (and from the owner too when ``owner_too``), so the GRANTs that follow rebuild exactly
    the ACL the plan read. Grantees are found in the catalog at run time: nothing is assumed."""
    return Statement(_do(
        "FOR grantee IN\n"
        "    SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'\n"
        "        ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END\n"
        "    FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a\n"
        "    WHERE c.oid = {rel}::regclass AND ({owner_too} OR a.grantee <> c.relowner)\n"
        "LOOP\n"
        "    EXECUTE pg_catalog.format({revoke}, {rel}::regclass, grantee);\n"
        "END LOOP;",
        declare="DECLARE\n    grantee text;\n",
        rel=_regclass(schema, name), owner_too=sql.SQL("true" if owner_too else "false"),
        revoke=L("REVOKE ALL ON SEQUENCE %s FROM %s" if kind == "SEQUENCE" else "REVOKE ALL ON TABLE %s FROM %s"),
    ), ("Privileges it was created with go; the ACL the plan read is granted below.",))


def _sequence_privileges(k) -> list[Statement]:
    """The sequence's ACL exactly as the plan read it, its comment, after it was created anew."""
    seq = _tab(k.seq_schema, k.seq_name)
    out = [_reset_acl("SEQUENCE", k.seq_schema, k.seq_name, k.seq_acl_is_set)]
    for privilege, grantee, grantable in json.loads(k.seq_grants):
        out.append(stmt(
            "GRANT {} ON SEQUENCE {} TO {}{}", sql.SQL(privilege), seq,
            sql.SQL("PUBLIC") if grantee is None else I(grantee),
            sql.SQL(" WITH GRANT OPTION" if grantable else ""),
        ))
    if k.seq_comment is not None:
        out.append(stmt("COMMENT ON SEQUENCE {} IS {}", seq, L(k.seq_comment)))
    return out


# --- 05 ------------------------------------------------------------------------------------

def _defaults(plan: Plan) -> Migration:
    apply, rollback = [], []
    for t in plan.targets:
        k = t.key
        apply.append(key_default_sql(plan, t))
        if k.sequence_kind == "serial":
            apply.append(stmt("DROP SEQUENCE {}", _tab(k.seq_schema, k.seq_name)))
        if _drops_plain_sequence(k):
            apply.append(stmt("DROP SEQUENCE {}", _tab(k.seq_schema, k.seq_name),
                              note="A plain nextval() default whose sequence nothing else uses: no orphan is left."))
    for t in reversed(plan.targets):
        k = t.key
        rollback.append(stmt("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", _tab(*t.table.key), I(k.column_name)))
        if k.sequence_kind == "serial" or _drops_plain_sequence(k):
            rollback.append(stmt(
                "CREATE {}SEQUENCE {} AS {}\n"
                "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
                sql.SQL("UNLOGGED " if k.sequence_kind == "serial" and k.seq_persistence == "u" else ""),
                _tab(k.seq_schema, k.seq_name), sql.SQL(k.seq_type), L(k.seq_increment), L(k.seq_min),
                L(k.seq_max), L(k.seq_start), L(k.seq_cache), sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            ))
            rollback.append(stmt("ALTER SEQUENCE {} OWNER TO {}", _tab(k.seq_schema, k.seq_name), I(k.seq_owner)))
        if k.sequence_kind == "serial":
            rollback.append(stmt("ALTER SEQUENCE {} OWNED BY {}", _tab(k.seq_schema, k.seq_name),
                                 I(t.table.table_schema, t.table.table_name, k.column_name)))
        if k.sequence_kind == "serial" or _drops_plain_sequence(k):
            rollback += _sequence_privileges(k)
    header = (
        "What: new rows get their key from the default of the chosen uuid version; the serial sequences",
        "  of the old keys are dropped (identity sequences went with DROP IDENTITY in step 03):",
        *(f"    {key_version_line(plan, t)}"
          + (f", drop sequence {t.key.seq_schema}.{t.key.seq_name}"
             if t.key.sequence_kind == "serial" or _drops_plain_sequence(t.key) else "")
          for t in plan.targets),
        "Proven by: checks/keys_are_uuid_primary_keys_with_default.sql, checks/no_integer_key_left.sql",
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
