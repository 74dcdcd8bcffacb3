"""05 defaults: new rows draw their uuid from a default; the integer sequences are dropped."""

from __future__ import annotations

import json

from psycopg import sql

from orchestrator.names import Statement
from orchestrator.plan.model import Column, Plan
from orchestrator.render.common import (
    I,
    L,
    Migration,
    compose,
    dollar_quoted,
    map_ident,
    raise_text,
    reset_acl,
    stmt,
    table_ident,
)
from orchestrator.render.keys import key_default_sql, key_version_line


def converted_default(plan: Plan, c: Column) -> Statement:
    """A column whose default was an id of its target gets that row's new uuid as its default.

    The uuid exists only inside this transaction (the key is never written down), so the
    statement is built here with format(%L); an id deleted since plan is an error, never NULL.
    """
    target = plan.target_of(c.root)
    alter = compose("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT ", table_ident(*c.table), I(c.column_name))
    body = compose(
        "\nDECLARE\n    found uuid;\nBEGIN\n"
        "    SELECT m.new_id INTO found FROM {m} AS m WHERE m.old_id = {v};\n"
        "    IF found IS NULL THEN\n"
        "        RAISE EXCEPTION 'keyshift: the default % of % is no id of %', {v}, {shown}, {target}\n"
        "        USING HINT = {hint};\n"
        "    END IF;\n"
        "    EXECUTE format({fmt}, found);\nEND\n",
        m=map_ident(target),
        v=L(c.default_value),
        shown=L(c.display),
        target=L(target.table.display),
        hint=L("a row was deleted since plan: drop or change the default, then plan again"),
        fmt=L(raise_text(alter.as_string(None)) + "%L::uuid"),
    )
    return stmt(
        "DO {}",
        dollar_quoted(body),
        note=f"{c.display}: its default {c.default_expr} becomes the new uuid of that id of {target.table.display}.",
    )


def sequence_privileges(k) -> list[Statement]:
    """The sequence's ACL exactly as the plan read it, its comment, after it was created anew."""
    seq = table_ident(k.seq_schema, k.seq_name)
    out = [reset_acl("SEQUENCE", k.seq_schema, k.seq_name, k.seq_acl_is_set)]
    for privilege, grantee, grantable in json.loads(k.seq_grants):
        out.append(
            stmt(
                "GRANT {} ON SEQUENCE {} TO {}{}",
                sql.SQL(privilege),
                seq,
                sql.SQL("PUBLIC") if grantee is None else I(grantee),
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )
    if k.seq_comment is not None:
        out.append(stmt("COMMENT ON SEQUENCE {} IS {}", seq, L(k.seq_comment)))
    return out


def defaults_migration(plan: Plan) -> Migration:
    apply, rollback = [], []
    for t in plan.targets:
        k = t.key
        apply.append(key_default_sql(plan, t))
        if k.sequence_kind == "serial":
            apply.append(stmt("DROP SEQUENCE {}", table_ident(k.seq_schema, k.seq_name)))
        if _drops_plain_sequence(k):
            apply.append(
                stmt(
                    "DROP SEQUENCE {}",
                    table_ident(k.seq_schema, k.seq_name),
                    note="A plain nextval() default whose sequence nothing else uses: no orphan is left.",
                )
            )
    for t in reversed(plan.targets):
        rollback += _restore_default(t)
    header = (
        "What: new rows get their key from the default of the chosen uuid version; the serial sequences",
        "  of the old keys are dropped (identity sequences went with DROP IDENTITY in step 03):",
        *(
            f"    {key_version_line(plan, t)}"
            + (
                f", drop sequence {t.key.seq_schema}.{t.key.seq_name}"
                if t.key.sequence_kind == "serial" or _drops_plain_sequence(t.key)
                else ""
            )
            for t in plan.targets
        ),
        "Proven by: checks/keys_are_uuid_primary_keys_with_default.sql, checks/no_integer_key_left.sql",
    )
    return Migration(
        f"{plan.plan_id}_05_set_uuid_defaults", "uuid defaults; old sequences dropped", header, apply, rollback
    )


def _restore_default(t) -> list:
    """Rollback for one target: its key default dropped, and the sequence it had made again as it was."""
    out = []
    k = t.key
    out.append(stmt("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", table_ident(*t.table.key), I(k.column_name)))
    if k.sequence_kind == "serial" or _drops_plain_sequence(k):
        out.append(
            stmt(
                "CREATE {}SEQUENCE {} AS {}\nINCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
                sql.SQL("UNLOGGED " if k.sequence_kind == "serial" and k.seq_persistence == "u" else ""),
                table_ident(k.seq_schema, k.seq_name),
                sql.SQL(k.seq_type),
                L(k.seq_increment),
                L(k.seq_min),
                L(k.seq_max),
                L(k.seq_start),
                L(k.seq_cache),
                sql.SQL("CYCLE" if k.seq_cycle else "NO CYCLE"),
            )
        )
        out.append(stmt("ALTER SEQUENCE {} OWNER TO {}", table_ident(k.seq_schema, k.seq_name), I(k.seq_owner)))
    if k.sequence_kind == "serial":
        out.append(
            stmt(
                "ALTER SEQUENCE {} OWNED BY {}",
                table_ident(k.seq_schema, k.seq_name),
                I(t.table.table_schema, t.table.table_name, k.column_name),
            )
        )
    if k.sequence_kind == "serial" or _drops_plain_sequence(k):
        out += sequence_privileges(k)
    return out


def _drops_plain_sequence(k) -> bool:
    """A key whose default was nextval() of a sequence no other default uses and nothing owns."""
    return k.sequence_kind == "default" and not k.seq_used_elsewhere
