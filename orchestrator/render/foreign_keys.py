"""02 detach and 04 reattach foreign keys: dropped before the key types change, added back validated."""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement
from orchestrator.plan.model import Plan
from orchestrator.render.common import I, L, Migration, stmt, table_ident
from orchestrator.render.facts import fk_lines, recreated_lines, view_lines
from orchestrator.render.views import about, create_carried, create_views, drop_carried, drop_views


def _drop_fk(fk) -> Statement:
    return stmt("ALTER TABLE {} DROP CONSTRAINT {}", table_ident(*fk.child), I(fk.name))


def _add_fk(fk) -> list[Statement]:
    """The FK with its exact definition, as PostgreSQL printed it, and its comment: a dropped
    constraint loses it."""
    add = stmt("ALTER TABLE {} ADD CONSTRAINT {} {}", table_ident(*fk.child), I(fk.name), sql.SQL(fk.definition))
    if fk.comment is None:
        return about(fk.display, [add])
    return about(
        fk.display,
        [add, stmt("COMMENT ON CONSTRAINT {} ON {} IS {}", I(fk.name), table_ident(*fk.child), L(fk.comment))],
    )


def _add_fks(fks) -> list[Statement]:
    return [s for fk in fks for s in _add_fk(fk)]


_NO_FOREIGN_KEYS = stmt("SELECT 1 AS no_foreign_keys")


def detach(plan: Plan) -> Migration:
    header = (
        "What: drops every foreign key that involves a converted column:",
        *fk_lines(plan),
        "  and every view that reads one, dependents first:",
        *view_lines(plan),
        "  and every trigger and RLS policy that uses one:",
        *recreated_lines(plan),
        "Why: a key and the columns that reference it cannot change type while an FK or a view ties them.",
        f"  {plan.plan_id}_04 re-creates each one with its exact definition (ON DELETE/UPDATE, MATCH,",
        "  DEFERRABLE, INITIALLY DEFERRED, NOT VALID; view text, owner, grants, comments, indexes).",
        "Proven by: checks/foreign_keys_restored.sql",
    )
    return Migration(
        f"{plan.plan_id}_02_detach_foreign_keys",
        "detach foreign keys from converted columns",
        header,
        (drop_carried(plan) + drop_views(plan) + [_drop_fk(fk) for fk in plan.fks]) or [_NO_FOREIGN_KEYS],
        (_add_fks(reversed(plan.fks)) + create_views(plan) + create_carried(plan)) or [_NO_FOREIGN_KEYS],
    )


def reattach(plan: Plan) -> Migration:
    header = (
        "What: re-creates every foreign key dropped in step 02, with the definition PostgreSQL",
        "  printed for it at plan time; each is validated here against the converted data:",
        *fk_lines(plan),
        "  then every view dropped in step 02, with its definition, owner, grants and comments",
        "  (materialized views refilled WITH DATA, their indexes rebuilt):",
        *view_lines(plan),
        "  then every trigger and RLS policy dropped in step 02 (same name, definition, enabled state,",
        "  comment; row security settings of the tables are never touched):",
        *recreated_lines(plan),
        "Proven by: checks/foreign_keys_restored.sql, checks/foreign_keys_match_key_type.sql,",
        f"  {plan.plan_id}.checks/no_orphan_references.sql",
    )
    return Migration(
        f"{plan.plan_id}_04_reattach_foreign_keys",
        "re-create foreign keys on the uuid columns",
        header,
        (_add_fks(plan.fks) + create_views(plan) + create_carried(plan)) or [_NO_FOREIGN_KEYS],
        (drop_carried(plan) + drop_views(plan) + [_drop_fk(fk) for fk in reversed(plan.fks)]) or [_NO_FOREIGN_KEYS],
    )
