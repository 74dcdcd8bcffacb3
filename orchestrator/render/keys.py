"""Conversion key expressions: how each new uuid is computed from the old key, and the defaults
that draw new ones.

The conversion key: existing rows get ``keyed_uuid_v4(key || salt, old_id)``, where the key
is drawn by the server itself for this transaction only (``set_config(..., true)``), so it
never appears in any file, log or WAL record, and the new ids cannot be guessed from the old
ones. Because the function is deterministic, a key column and every column that references
it convert independently with one ``ALTER ... TYPE uuid USING`` each: no join, no UPDATE.
The mapping table written first is the permanent record of old -> new.
"""

from __future__ import annotations

import hashlib

from psycopg import sql

from orchestrator.names import Statement, comment_block
from orchestrator.plan.model import Column, Plan, Target, short_name
from orchestrator.render.common import I, L, compose, do_block, dollar_quoted, map_ident, stmt, table_ident

# Key versions (--uuid v4|v7|v6, --timestamp-column)
#
# Existing rows get a key that is a deterministic function of (conversion key, table salt,
# old id), so a key column and every column that references it convert independently:
#   v4: keyed_uuid_v4(key || salt, id)
#   v7/v6 without a timestamp column: the time of transaction_timestamp() - (max id - id) ms.
#     The newest old row gets the conversion's own time, the others follow id order one
#     millisecond apart; so old rows sort before every new row. The time field therefore
#     shows the id order and the DIFFERENCES of the old ids (the id itself to anyone who knows
#     one row's old id, or the max id): docs/commands.md, "Choosing keys". max id and the time base
#     (the conversion's unix ms; for v6 its 100-ns count since 1582) are read once per table
#     in step 01 into transaction-local settings, so per row the time is
#     keyed_uuid_v7_at(base + (id - max id), ...) / keyed_uuid_v6_at(base + (id - max id) * 10000, ...):
#     integer arithmetic that cannot overflow (id - max id is at most the refused span).
#   v7/v6 with a timestamp column: ts = coalesce(column, the id-order time above), for the
#     key column itself; the columns that reference it cannot see the parent's timestamp,
#     so they convert through the mapping table (a lookup function, see new_id_fn).

#: The session setting that carries the per-transaction conversion key.
KEY_SETTING = "keyshift.key"


def _setting(name: str, once: bool) -> sql.Composed:
    """A transaction-local setting in an expression: read per row (current_setting), or, with
    ``once``, once per statement (keyshift.statement_setting, sql/functions/statement_setting.sql),
    which only step 03's ALTER TABLE uses: there no plan is ever printed, so the key may become
    a constant of the statement."""
    fn = "keyshift.statement_setting" if once else "current_setting"
    return sql.SQL("{}({})").format(sql.SQL(fn), L(name))


def max_id_setting(target: Target) -> str:
    """The transaction-local setting that holds a target's max old id during the conversion."""
    return "keyshift.max_id_" + hashlib.md5(target.map_table.encode()).hexdigest()[:12]


def time_base_setting(target: Target) -> str:
    """The transaction-local setting that holds a target's id-order time base (see above)."""
    return "keyshift.time_base_" + hashlib.md5(target.map_table.encode()).hexdigest()[:12]


def _id_order_time(target: Target, column: str, once: bool = False) -> sql.Composed:
    return sql.SQL("transaction_timestamp() - ({}::bigint - {}::bigint) * interval '1 millisecond'").format(
        _setting(max_id_setting(target), once), I(column)
    )


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
TIME_RANGE = {
    "v7": ("1970-01-01 00:00:00+00", "10000-01-01 00:00:00+00"),
    "v6": ("1582-10-15 00:00:00+00", "5236-01-01 00:00:00+00"),
}


def new_key_expr(plan: Plan, col: Column, once: bool = False) -> sql.Composed:
    """The USING expression that turns ``col`` (an old integer id) into its new uuid.

    ``once``: read the key and the time settings once per statement (step 03's ALTER TABLE);
    else once per row (step 01's CREATE TABLE ... AS). Both give the same uuids."""
    target = plan.target_of(col.root)
    k = sql.SQL("{} || {}").format(_setting(KEY_SETTING, once), L(target.salt))
    if not target.time_ordered:
        return sql.SQL("keyshift.keyed_uuid_v4({}, {}::bigint)").format(k, I(col.column_name))
    if target.timestamp_column is not None and not col.is_key:
        return sql.SQL("{}({}::bigint)").format(new_id_fn(target), I(col.column_name))
    if target.timestamp_column is None:
        fn, step = (
            ("keyshift.keyed_uuid_v7_at", sql.SQL(""))
            if target.uuid_version == "v7"
            else ("keyshift.keyed_uuid_v6_at", sql.SQL(" * 10000"))
        )
        return sql.SQL("{}({}::bigint + ({}::bigint - {}::bigint){}, {}, {}::bigint)").format(
            sql.SQL(fn),
            _setting(time_base_setting(target), once),
            I(col.column_name),
            _setting(max_id_setting(target), once),
            step,
            k,
            I(col.column_name),
        )
    fn = sql.SQL("keyshift.keyed_uuid_v7" if target.uuid_version == "v7" else "keyshift.keyed_uuid_v6")
    return sql.SQL("{}({}, {}, {}::bigint)").format(
        fn, key_time_expr(target, col.column_name, once), k, I(col.column_name)
    )


def new_id_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_new_id_", target.map_table))


def create_new_id_fn(target: Target) -> Statement:
    """old id -> new uuid through the mapping; an id the mapping lacks is an error, never NULL."""
    body = compose(
        "\nDECLARE\n    found uuid;\nBEGIN\n"
        "    IF $1 IS NULL THEN\n        RETURN NULL;\n    END IF;\n"
        "    SELECT m.new_id INTO found FROM {m} AS m WHERE m.old_id = $1;\n"
        "    IF found IS NULL THEN\n"
        "        RAISE EXCEPTION 'keyshift: id % of % is referenced but has no row', $1, {shown}\n"
        "        USING HINT = 'a NOT VALID foreign key lets orphans in: delete or fix them, then migrate';\n"
        "    END IF;\n    RETURN found;\nEND\n",
        m=map_ident(target),
        shown=L(target.table.display),
    )
    return stmt(
        "CREATE FUNCTION {fn}(bigint) RETURNS uuid\nLANGUAGE plpgsql STABLE\nAS {body}",
        fn=new_id_fn(target),
        body=dollar_quoted(body),
    )


def key_default_expr(target: Target, native_uuidv7: bool = False) -> str:
    """The DEFAULT of the new key, as pg_get_expr prints it."""
    if target.uuid_version == "v7":
        return "uuidv7()" if native_uuidv7 else "keyshift.uuid_v7()"
    if target.uuid_version == "v6":
        return "keyshift.uuid_v6()"
    return "gen_random_uuid()"


def key_default_value_sql(target: Target) -> sql.Composable:
    """The key default as a SQL text value (for keyshift.converted_table.key_default)."""
    if target.uuid_version == "v7":
        return sql.SQL("CASE WHEN {} THEN {} ELSE {} END").format(
            sql.SQL(HAS_UUIDV7), L(key_default_expr(target, True)), L(key_default_expr(target, False))
        )
    return L(key_default_expr(target))


def key_default_sql(plan: Plan, target: Target) -> Statement:
    """The statement that gives the new key its default for new rows."""
    tab, col = table_ident(*target.table.key), I(target.key.column_name)

    def set_default(native: bool) -> sql.Composed:
        return compose(
            "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", tab, col, sql.SQL(key_default_expr(target, native))
        )

    if target.uuid_version != "v7":
        return Statement(set_default(False))
    body = compose(
        "\nBEGIN\n    IF {} THEN\n        {};\n    ELSE\n        {};\n    END IF;\nEND\n",
        sql.SQL(HAS_UUIDV7),
        set_default(True),
        set_default(False),
    )
    return stmt(
        "DO {}", dollar_quoted(body), note="PostgreSQL 18 has uuidv7() built in; older servers use keyshift.uuid_v7()."
    )


def key_version_line(plan: Plan, target: Target) -> str:
    """One human line: version, default, where the time of existing keys comes from."""
    default = key_default_expr(target, plan.options.native_uuidv7)
    if target.uuid_version == "v7":
        server = plan.options.server_version_num
        default = (
            f"{default} (chosen at plan time: server {server} "
            f"{'has' if plan.options.native_uuidv7 else 'lacks'} uuidv7(); rechecked at migrate time)"
        )
    line = f"{target.table.display}.{target.key.column_name}: uuid {target.uuid_version}, default {default}"
    if target.timestamp_column:
        line += (
            f"; existing keys timed by {target.timestamp_column} ({target.timestamp_type}), rows where it is "
            "NULL (or out of range) in old-id order at the conversion time"
        )
    elif target.time_ordered:
        line += "; existing keys in old-id order, 1 ms apart, ending at the conversion time"
    if target.slug_column:
        line += f"; slug {target.slug_column} ({target.slug_length} chars)"
    return line


def max_id_statement(target: Target) -> Statement:
    """Step 01: read max(old id) into the setting; refuse a span that would run before the epoch."""
    return Statement(
        do_block(
            "PERFORM set_config({s}, coalesce(max(t.{k}), 0)::text, TRUE)\nFROM {t} AS t;\n"
            "{why}\n"
            "PERFORM set_config(\n    {b},\n    (\n        (\n"
            "            ('x' || encode(timestamptz_send(transaction_timestamp()), 'hex'))::bit(64)::bigint\n"
            "            {base}\n    )::text,\n    TRUE\n);\n"
            "IF (SELECT max(t.{k})::numeric - min(t.{k}) FROM {t} AS t)\n"
            "    > extract(EPOCH FROM transaction_timestamp()) * 1000 THEN\n"
            "    RAISE EXCEPTION 'keyshift: ids of % span more milliseconds than have passed since 1970', {shown}\n"
            "    USING HINT = 'use --timestamp-column for this table, or --uuid v4';\nEND IF;",
            s=L(max_id_setting(target)),
            k=I(target.key.column_name),
            t=table_ident(*target.table.key),
            shown=L(target.table.display),
            b=L(time_base_setting(target)),
            why=sql.SQL(
                comment_block(
                    "the id-order time of id is base + (id - max id) ms (base: v7 unix ms, v6 100-ns since 1582)"
                )
            ),
            base=sql.SQL(
                "+ 946684800000000\n            ) / 1000"
                if target.uuid_version == "v7"
                else "* 10 + 131659776000000000\n            )"
            ),
        ),
        (f"{target.table.display}: max old id for the id-order time of existing {target.uuid_version} keys.",),
    )


#: Decided when the migration runs: a plan written on PostgreSQL 18 must not fail on 15.
HAS_UUIDV7 = "to_regprocedure('pg_catalog.uuidv7()') IS NOT NULL"
