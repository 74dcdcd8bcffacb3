"""The plan facts that migration headers state: tables and row counts, foreign keys, dependent objects."""

from __future__ import annotations

from orchestrator.names import qualname
from orchestrator.plan.model import Plan
from orchestrator.render.views import recreated


def plan_facts(plan: Plan) -> list[str]:
    """Tables with row counts, FKs, dependent objects and warnings, as the plan saw them."""
    lines = ["Tables (rows at plan time):"]
    lines += [f"    {t.display}: {plan.row_counts.get(t.key, 0)} rows" for t in plan.tables]
    lines += ["Foreign keys:", *fk_lines(plan)]
    lines.append("Dependent objects carried across:")
    if plan.views:
        lines += view_lines(plan)
    if plan.carried or not plan.views:
        lines += carried_lines(plan)
    if plan.references:
        lines.append("Declared references (--reference, no FK; converted through the target's mapping):")
        lines += [f"    {qualname(*c[:2])}.{c[2]} -> {qualname(*t)}" for c, t in plan.references.items()]
    if plan.warnings:
        lines.append("Warnings (references the catalog cannot see; not converted):")
        lines += [f"    WARN {w}" for w in plan.warnings]
    return lines


def fk_lines(plan: Plan) -> list[str]:
    return [f"    {fk.display} ({plan.row_counts.get(fk.child, 0)} rows)" for fk in plan.fks] or ["    (none)"]


def view_lines(plan: Plan) -> list[str]:
    return [f"    {v.display} (owner {v.owner})" for v in plan.views] or ["    (none)"]


def carried_lines(plan: Plan) -> list[str]:
    how = {"alter": "rebuilt by ALTER ... TYPE", "recreate": "dropped in 02, re-created in 04"}
    return [f"    {o.display} ({how[o.carry]})" for o in plan.carried] or ["    (none)"]


def recreated_lines(plan: Plan) -> list[str]:
    return [f"    {o.display}" for o in recreated(plan)] or ["    (none)"]
