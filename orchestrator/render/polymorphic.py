"""Generic relations (plan/polymorphic.py): the id column of each follows the converted tables
its type column names, in one ALTER TABLE per relation, and rollback gives it back.

In step 01, once the mappings exist and before the tables are fingerprinted: the rows per type value
and a hash of their ids are recorded for the checks (a temporary table of migrate's
transaction), then an integer id column becomes uuid (each id through its type's mapping; an id
the mapping lacks is an error, never NULL) and a text id column gets the new key's text where
its text is exactly an old id (other text is left as it is). Rollback, in step 03's undo once
the rows written since migrate have their old ids in the mapping, reads each id back through it.
"""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement, qualname
from orchestrator.plan.model import Plan, short_name
from orchestrator.plan.polymorphic import Polymorphic, Remap
from orchestrator.render.common import I, L, compose, do_block, dollar_quoted, raise_text, stmt, table_ident

#: The temporary table that holds, per generic relation and type value, the rows and their ids' hash.
BEFORE = I("pg_temp", "keyshift_polymorphic_before")
#: Text that is a uuid as PostgreSQL prints it.
UUID_TEXT = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: Text that is an integer as PostgreSQL prints a bigint (its exact text is compared too).
INTEGER_TEXT = "^-?[0-9]{1,19}$"
#: The bounds of bigint, which every old id is within.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def _fn(prefix: str, r: Remap) -> sql.Identifier:
    return I("pg_temp", short_name(prefix, r.map_table))


def _map(r: Remap) -> sql.Identifier:
    return I("keyshift", r.map_table)


def _by_map(plan: Plan, to_uuid: bool) -> list[Remap]:
    """One remap per mapping table used by the relations whose id column becomes uuid (or not)."""
    seen: dict[str, Remap] = {}
    for p in plan.polymorphic:
        if p.to_uuid == to_uuid:
            for r in p.remaps:
                seen.setdefault(r.map_table, r)
    return list(seen.values())


def _case(p: Polymorphic, each, otherwise: sql.Composable | None) -> sql.Composed:
    """CASE over the type column's text: each remap's expression, else ``otherwise`` (NULL when None)."""
    if not p.remaps:
        return compose("{}", otherwise) if otherwise is not None else sql.SQL("NULL")
    whens = sql.SQL(" ").join(compose("WHEN {} THEN {}", L(r.value), each(r)) for r in p.remaps)
    tail = compose(" ELSE {}", otherwise) if otherwise is not None else sql.SQL("")
    return compose("CASE {}::text {}{} END", I(p.type_column), whens, tail)


def apply(plan: Plan) -> list[Statement]:
    """Record the rows per type, then remap every relation's id column (none: no statement)."""
    if not plan.polymorphic:
        return []
    out = [
        stmt(
            "CREATE TEMPORARY TABLE {} (\n    table_schema text,\n    table_name text,\n    type_value text,\n"
            "    row_count bigint,\n    id_hash numeric\n) ON COMMIT DROP",
            I("keyshift_polymorphic_before"),
            note="Rows per type value of each generic relation, and a hash of their ids, for the checks.",
        )
    ]
    out += [_record(p) for p in plan.polymorphic]
    out += [_new_uuid_fn(r) for r in _by_map(plan, True)] + [_new_text_fn(r) for r in _by_map(plan, False)]
    for p in plan.polymorphic:
        if p.to_uuid:
            out.append(_refuse_unresolved(p, "migrate"))
            using = _case(p, lambda r, p=p: compose("{}({})", _fn("keyshift_poly_uuid_", r), I(p.id_column)), None)
            new_type = sql.SQL("uuid")
        elif p.remaps:
            using = _case(
                p, lambda r, p=p: compose("{}({})", _fn("keyshift_poly_text_", r), I(p.id_column)), I(p.id_column)
            )
            new_type = sql.SQL(p.id_type)
        else:
            continue
        out.append(
            stmt(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}",
                table_ident(*p.table),
                I(p.id_column),
                new_type,
                using,
                note=_note(p),
            )
        )
    out += [stmt("DROP FUNCTION {}(bigint)", _fn("keyshift_poly_uuid_", r)) for r in _by_map(plan, True)]
    out += [stmt("DROP FUNCTION {}(text)", _fn("keyshift_poly_text_", r)) for r in _by_map(plan, False)]
    return out


def header(plan: Plan) -> tuple[str, ...]:
    """01's header lines about the generic relations it remaps (none without one)."""
    if not plan.polymorphic:
        return ()
    return (
        "  Generic relations (no foreign key) follow the mapping before anything is fingerprinted:",
        *(f"    {p.display}" for p in plan.polymorphic),
        f"  Proven by: {plan.plan_id}.checks/polymorphic_ids_resolve.sql, "
        f"{plan.plan_id}.checks/polymorphic_rows_unchanged.sql",
    )


def _note(p: Polymorphic) -> tuple[str, ...]:
    becomes = "becomes uuid" if p.to_uuid else "gets the new key's text where it is exactly an old id"
    return (
        f"Generic relation {p.display}: the id {becomes}, by type:",
        *(f"  {r.value!r} -> {qualname(*r.target)} ({r.how})" for r in p.remaps),
        *(f"  {'NULL' if v is None else repr(v)}: left as it is" for v, _n in p.untouched),
    )


def _record(p: Polymorphic) -> Statement:
    return stmt(
        "INSERT INTO {before} (table_schema, table_name, type_value, row_count, id_hash)\n"
        "SELECT\n    {s} AS table_schema,\n    {t} AS table_name,\n    c.{type}::text AS type_value,\n"
        "    count(*) AS row_count,\n    coalesce(sum(hashtext(coalesce(c.{id}::text, ''))), 0) AS id_hash\n"
        "FROM {table} AS c\nGROUP BY c.{type}::text",
        before=BEFORE,
        s=L(p.table_schema),
        t=L(p.table_name),
        type=I(p.type_column),
        id=I(p.id_column),
        table=table_ident(*p.table),
    )


def _new_uuid_fn(r: Remap) -> Statement:
    """old id -> new uuid through the mapping; an id the mapping lacks is an error, never NULL."""
    body = compose(
        "\nDECLARE\n    found uuid;\nBEGIN\n"
        "    IF $1 IS NULL THEN\n        RETURN NULL;\n    END IF;\n"
        "    SELECT m.new_id INTO found FROM {m} AS m WHERE m.old_id = $1;\n"
        "    IF found IS NULL THEN\n"
        "        RAISE EXCEPTION {msg}, $1\n        USING HINT = {hint};\n"
        "    END IF;\n    RETURN found;\nEND\n",
        m=_map(r),
        msg=L(
            f"keyshift: a generic relation holds id % of type {raise_text(r.value)}, which "
            f"{raise_text(qualname(*r.target))} has no row of"
        ),
        hint=L("delete or fix that row (or set its id NULL), then migrate"),
    )
    return stmt(
        "CREATE FUNCTION {}(bigint) RETURNS uuid\nLANGUAGE plpgsql STABLE\nAS {}",
        _fn("keyshift_poly_uuid_", r),
        dollar_quoted(body),
    )


def _new_text_fn(r: Remap) -> Statement:
    """Text that is exactly an old id -> the new key's text; any other text as it is."""
    body = compose(
        "\n    SELECT coalesce((\n        SELECT m.new_id::text FROM {m} AS m\n"
        "        WHERE\n            m.old_id = (\n                CASE WHEN $1 ~ {int} AND $1::numeric BETWEEN {lo} AND {hi}\n"
        "                THEN $1::numeric::bigint END\n            )\n            AND m.old_id::text = $1\n"
        "    ), $1)\n",
        m=_map(r),
        int=L(INTEGER_TEXT),
        lo=L(BIGINT_MIN),
        hi=L(BIGINT_MAX),
    )
    return stmt(
        "CREATE FUNCTION {}(text) RETURNS text\nLANGUAGE sql STABLE\nAS {}",
        _fn("keyshift_poly_text_", r),
        dollar_quoted(body),
    )


def _old_text_fn(r: Remap) -> Statement:
    """Text that is exactly a new key -> its old id's text; any other text as it is."""
    body = compose(
        "\n    SELECT coalesce((\n        SELECT m.old_id::text FROM {m} AS m\n"
        "        WHERE m.new_id = (CASE WHEN $1 ~ {uuid} THEN $1::uuid END)\n    ), $1)\n",
        m=_map(r),
        uuid=L(UUID_TEXT),
    )
    return stmt(
        "CREATE FUNCTION {}(text) RETURNS text\nLANGUAGE sql STABLE\nAS {}",
        _fn("keyshift_poly_old_", r),
        dollar_quoted(body),
    )


def _refuse_unresolved(p: Polymorphic, step: str) -> Statement:
    """An id whose type names no converted table (or, in rollback, whose uuid the mapping lacks)
    has no value to become: refuse before anything changes."""
    values = (
        compose("c.{}::text NOT IN ({})", I(p.type_column), sql.SQL(", ").join(L(r.value) for r in p.remaps))
        if p.remaps
        else sql.SQL("TRUE")
    )
    missing = sql.SQL("")
    if step == "rollback":
        missing = sql.SQL("").join(
            compose(
                "\n        OR (c.{type}::text = {v} AND NOT EXISTS (SELECT 1 FROM {m} AS m WHERE m.new_id = c.{id}))",
                type=I(p.type_column),
                v=L(r.value),
                m=_map(r),
                id=I(p.id_column),
            )
            for r in p.remaps
        )
    return Statement(
        do_block(
            "SELECT count(*) INTO rows_left FROM {table} AS c\n"
            "WHERE c.{id} IS NOT NULL AND (\n    c.{type} IS NULL OR {values}{missing}\n);\n"
            "IF rows_left > 0 THEN\n    RAISE EXCEPTION {msg}, rows_left\n    USING HINT = {hint};\nEND IF;",
            declare="DECLARE\n    rows_left bigint;\n",
            table=table_ident(*p.table),
            id=I(p.id_column),
            type=I(p.type_column),
            values=values,
            missing=missing,
            msg=L(
                f"keyshift: % row(s) of {raise_text(p.display)} hold an id that no converted table gives a "
                f"value for ({step})"
            ),
            hint=L("delete or fix those rows (or set their id NULL), then run it again"),
        ),
        (f"{p.display}: every id must have a value to become ({step}).",),
    )


def rollback(plan: Plan, old_id_fn) -> list[Statement]:
    """Each relation's ids back to what they were; ``old_id_fn(target)`` is 03's uuid -> old id
    function (it exists once the mapping holds the rows written since migrate)."""
    if not plan.polymorphic:
        return []
    out = [_old_text_fn(r) for r in _by_map(plan, False)]
    for p in plan.polymorphic:
        if p.to_uuid:
            out.append(_refuse_unresolved(p, "rollback"))
            using = _case(
                p, lambda r, p=p: compose("{}({})", old_id_fn(plan.target_of(r.target)), I(p.id_column)), None
            )
        elif p.remaps:
            using = _case(
                p, lambda r, p=p: compose("{}({})", _fn("keyshift_poly_old_", r), I(p.id_column)), I(p.id_column)
            )
        else:
            continue
        out.append(
            stmt(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}",
                table_ident(*p.table),
                I(p.id_column),
                sql.SQL(p.id_type),
                using,
                note=f"Generic relation {p.display}: its ids as they were before migrate.",
            )
        )
    out += [stmt("DROP FUNCTION {}(text)", _fn("keyshift_poly_old_", r)) for r in _by_map(plan, False)]
    return out
