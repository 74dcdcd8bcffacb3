"""Render: a Plan becomes its ordered migrations (each with its .rollback.sql), by mode."""

from __future__ import annotations

from orchestrator.plan.model import Plan
from orchestrator.render import external
from orchestrator.render.common import Migration
from orchestrator.render.convert import convert_migration
from orchestrator.render.defaults import defaults_migration
from orchestrator.render.foreign_keys import detach, reattach
from orchestrator.render.map_keys import map_keys_migration
from orchestrator.render.slugs import slugs_migration


def render(plan: Plan) -> list[Migration]:
    """The plan's migrations in the order they run: external mode's one, or replace mode's steps."""
    if plan.options.mode == "external":
        return external.render(plan)
    migrations = [
        map_keys_migration(plan),
        detach(plan),
        convert_migration(plan),
        reattach(plan),
        defaults_migration(plan),
    ]
    slugs = slugs_migration(plan)
    return migrations + ([slugs] if slugs else [])


def file_names(plan: Plan) -> list[str]:
    return [m.name for m in render(plan)]
