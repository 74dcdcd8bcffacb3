"""Views and carried objects: the dependent views, constraints, indexes, triggers and policies that are
dropped and re-created (or rebuilt by ALTER ... TYPE) around the conversion."""

from __future__ import annotations

import dataclasses

from psycopg import sql

from orchestrator.catalog.model import policy_sql
from orchestrator.names import Statement
from orchestrator.plan.model import Plan
from orchestrator.render.common import I, L, Unlinted, compose, reset_acl, stmt, table_ident


def _view_kind(view) -> sql.SQL:
    return sql.SQL("MATERIALIZED VIEW" if view.is_materialized else "VIEW")


def _drop_view(view) -> Statement:
    return stmt("DROP {} {}", _view_kind(view), table_ident(*view.key))


def _create_view(view) -> list[Statement]:
    """The view as it was: definition, options, owner, grants, comments, indexes, triggers.

    The definition is PostgreSQL's own deparse (pg_get_viewdef), kept byte for byte; sqlfluff
    is told not to restyle it, since changing its layout would change the stored text.
    """
    tab = table_ident(*view.key)
    kind = _view_kind(view)
    options = sql.SQL(" WITH ({})").format(sql.SQL(", ".join(view.options))) if view.options else sql.SQL("")
    space = sql.SQL(" TABLESPACE {}").format(I(view.tablespace)) if view.tablespace else sql.SQL("")
    body = view.definition.rstrip().rstrip(";")
    out: list[Statement] = [
        Unlinted(
            compose(
                "CREATE {} {}{}{} AS\n{}{}",
                kind,
                tab,
                options,
                space,
                sql.SQL(body),
                sql.SQL("\nWITH DATA" if view.is_materialized else ""),
            ),
            (f"{view.display}: depth {view.depth} from a converted column, owner {view.owner}.",),
        ),
        stmt("ALTER {} {} OWNER TO {}", kind, tab, I(view.owner)),
    ]
    # An explicit ACL, the owner's own entry included: start from empty, grant in stored order.
    out.append(reset_acl("TABLE", view.view_schema, view.view_name, view.acl_is_set))
    for (column, grantee, grantable), privileges in _grouped_grants(view.grants):
        who = I(grantee) if grantee is not None else sql.SQL("PUBLIC")
        cols = sql.SQL(" ({})").format(I(column)) if column is not None else sql.SQL("")
        grant = compose(
            "GRANT {}{} ON {} TO {}{}",
            sql.SQL(", ").join(sql.SQL(p) for p in privileges),
            cols,
            tab,
            who,
            sql.SQL(" WITH GRANT OPTION" if grantable else ""),
        )
        # PostgreSQL 17+ has MAINTAIN, which sqlfluff does not parse yet: valid SQL, kept as is.
        out.append(Unlinted(grant) if any(p not in _LINTER_KNOWS for p in privileges) else Statement(grant))
    if view.comment is not None:
        out.append(stmt("COMMENT ON {} {} IS {}", kind, tab, L(view.comment)))
    for c in view.column_comments:
        out.append(
            stmt("COMMENT ON COLUMN {} IS {}", I(view.view_schema, view.view_name, c["column"]), L(c["comment"]))
        )
    for definition in (*view.indexes, *view.triggers):
        out.append(Unlinted(sql.SQL(definition.rstrip(";"))))
    out += _kept_settings(view)
    if view.clustered_index is not None:
        out.append(stmt("ALTER MATERIALIZED VIEW {} CLUSTER ON {}", tab, I(view.clustered_index)))
    for c in view.index_comments:
        out.append(stmt("COMMENT ON INDEX {} IS {}", I(view.view_schema, c["name"]), L(c["comment"])))
    for c in view.trigger_comments:
        out.append(stmt("COMMENT ON TRIGGER {} ON {} IS {}", I(c["name"]), tab, L(c["comment"])))
    return out


_STORAGE = {"p": "PLAIN", "e": "EXTERNAL", "m": "MAIN", "x": "EXTENDED"}


def _kept_settings(view) -> list[Statement]:
    """What a materialized view's columns and indexes keep beside their definitions: each
    column's statistics target and storage, each index's tablespace and the statistics targets
    of its expression columns (pg_get_indexdef prints neither)."""
    tab, out = table_ident(*view.key), []
    for c in view.column_settings:
        if c["statistics"] is not None:
            out.append(
                stmt(
                    "ALTER MATERIALIZED VIEW {} ALTER COLUMN {} SET STATISTICS {}",
                    tab,
                    I(c["column"]),
                    L(int(c["statistics"])),
                )
            )
        if c["storage"] is not None:
            storage = sql.SQL(_STORAGE[c["storage"]])
            out.append(stmt("ALTER MATERIALIZED VIEW {} ALTER COLUMN {} SET STORAGE {}", tab, I(c["column"]), storage))
    for ix in view.index_settings:
        index = I(view.view_schema, ix["name"])
        if ix["tablespace"] is not None:
            out.append(stmt("ALTER INDEX {} SET TABLESPACE {}", index, I(ix["tablespace"])))
        for attnum, target in ix["statistics"] or ():
            out.append(
                stmt(
                    "ALTER INDEX {} ALTER COLUMN {} SET STATISTICS {}",
                    index,
                    L(int(attnum)),
                    L(int(target)),
                )
            )
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


def about(subject: str, statements: list[Statement]) -> list[Statement]:
    """``statements`` marked as re-creating ``subject`` (the rehearsal runs them under one savepoint
    each and names ``subject`` when PostgreSQL refuses one); their text is unchanged."""
    return [dataclasses.replace(s, subject=subject) for s in statements]


def drop_views(plan: Plan) -> list[Statement]:
    """Dependents first: the reverse of creation order."""
    return [_drop_view(v) for v in reversed(plan.views)]


def create_views(plan: Plan) -> list[Statement]:
    return [s for v in plan.views for s in about(v.display, _create_view(v))]


def recreated(plan: Plan) -> list:
    return [o for o in plan.carried if o.carry == "recreate"]


def drop_carried(plan: Plan) -> list[Statement]:
    out = []
    for o in reversed(recreated(plan)):
        what = sql.SQL("POLICY" if o.kind == "policy" else "TRIGGER")
        out.append(stmt("DROP {} {} ON {}", what, I(o.name), table_ident(*o.table)))
    return out


_TRIGGER_STATE = {"D": "DISABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER"}


def create_carried(plan: Plan) -> list[Statement]:
    """Each trigger and policy as it was: PostgreSQL's own definition, enabled state, comment."""
    return [s for o in recreated(plan) for s in about(o.display, _create_one_carried(o))]


def _create_one_carried(o) -> list[Statement]:
    text = policy_sql(o, o.table_ident) if o.kind == "policy" else o.definition.rstrip(";")
    out: list[Statement] = [Unlinted(sql.SQL(text), (o.display,))]
    if o.kind == "trigger" and o.enabled in _TRIGGER_STATE:
        out.append(stmt("ALTER TABLE {} {} {}", table_ident(*o.table), sql.SQL(_TRIGGER_STATE[o.enabled]), I(o.name)))
    if o.comment is not None:
        what = sql.SQL("POLICY" if o.kind == "policy" else "TRIGGER")
        out.append(stmt("COMMENT ON {} {} ON {} IS {}", what, I(o.name), table_ident(*o.table), L(o.comment)))
    return out
