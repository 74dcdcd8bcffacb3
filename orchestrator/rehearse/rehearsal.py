"""The rehearsal: a plan's files migrated, checked and rolled back on a schema-only copy of the
target, through the same code migrate and rollback run; the schema compared with the start."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from orchestrator.apply import drift, execute, shape
from orchestrator.apply import manifest as manifestmod
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import KeyshiftError, Refused
from orchestrator.plan.model import Plan
from orchestrator.rehearse import blockers as blockersmod
from orchestrator.rehearse import standins
from orchestrator.rehearse.copy import EXCLUDED, schema_copy, schema_lines
from orchestrator.render.common import Migration


class Blocked(Refused):
    """The rehearsal found objects that cannot follow the new type. ``blockers`` are printed
    one line each before this error's own line (the summary)."""

    def __init__(self, plan_id: str, found: list[blockersmod.Blocker]):
        self.blockers = found
        super().__init__(
            f"plan {plan_id}",
            f"the rehearsal on a schema-only copy found {len(found)} blocker(s), each named above",
            "nothing was written and the target is untouched",
        )


def rehearse(
    dsn: str,
    staged: Path,
    plan: Plan,
    migrations: list[Migration],
    rehearse_dsn: str | None = None,
    known: list | None = None,
) -> None:
    """Migrate ``staged`` (the plan's files, not yet in --migrations) on a copy, with the checks,
    roll it back, and compare the schema with the start; raises Blocked naming every blocker,
    ``known`` (the plan's own, each with ``line()``) first."""
    known = list(known or [])
    failure = None
    with schema_copy(dsn, plan.plan_id, rehearse_dsn) as copy:
        refused = standins.plant(copy, plan)
        if refused is not None:
            raise Blocked(plan.plan_id, [*known, refused])
        if not known:
            failure = _round_trip(copy, staged, plan.plan_id)
            if failure is None:
                return
        with dsnmod.connect(copy, autocommit=True) as conn:
            found = known + blockersmod.find(conn, plan, migrations)
    if not found and failure is not None:
        found = [failure]
    raise Blocked(plan.plan_id, found)


def _round_trip(copy: str, staged: Path, plan_id: str) -> blockersmod.Blocker | None:
    """migrate (files, checks, COMMIT), rollback, and the schema compared; the first failure."""
    with tempfile.TemporaryDirectory(prefix="keyshift-rehearsal-") as tmp:
        folder = Path(tmp) / "migrations"
        shutil.copytree(staged, folder)
        fingerprint_of_copy(copy, folder, plan_id)
        return _migrate_and_roll_back(copy, folder)


def fingerprint_of_copy(copy: str, folder: Path, plan_id: str) -> None:
    """The rehearsal's manifest records the copy's catalog shape, not the target's: a restore
    may store the same grants in another order, which is no drift of the target."""
    recorded = manifestmod.read(folder, plan_id)
    with dsnmod.connect(copy) as conn:
        now = drift.live_objects(conn, recorded.targets, recorded.references, recorded.polymorphic)
    ours = dataclasses.replace(
        recorded, objects=now, fingerprint=shape.fingerprint(recorded.targets, now, recorded.references)
    )
    (folder / manifestmod.file_name(plan_id)).write_text(ours.to_json())


def _migrate_and_roll_back(copy: str, staged: Path) -> blockersmod.Blocker | None:
    before = schema_lines(copy, *EXCLUDED)
    try:
        execute.migrate(copy, staged, lock_retries=0)
    except KeyshiftError as exc:
        return blockersmod.Blocker("keyshift migrate", exc.line(), "fix the objects named, then plan again")
    try:
        execute.rollback(copy, staged, lock_retries=0, notice=_unsaid)  # the mappings kept on the copy are no news
    except KeyshiftError as exc:
        return blockersmod.Blocker("keyshift rollback", exc.line(), "report this: rollback must always succeed")
    after = schema_lines(copy, *EXCLUDED)
    if before != after:
        changed = [line for line in after if line not in set(before)] or [
            line for line in before if line not in set(after)
        ]
        shown = changed[0].decode("utf-8", "replace") if changed else ""
        return blockersmod.Blocker(
            "keyshift rollback",
            f"the schema differs from the start after migrate and rollback (first differing line: {shown!r})",
            "report this: rollback must restore the schema exactly",
        )
    return None


def _unsaid(_line: str) -> None:
    """What the rollback on the copy kept there: the copy is thrown away, the user is not told."""
