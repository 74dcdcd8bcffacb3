"""plan's rehearsal step: what is set aside from the snapshot to be named with the rehearsal's
blockers, and the blocker lines printed before the one-line summary."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from orchestrator.plan import functions
from orchestrator.plan.model import Plan
from orchestrator.rehearse import Blocked, rehearse
from orchestrator.render.common import Migration


def set_aside(snap, rehearsing: bool) -> tuple:
    """Rehearsed, the functions that use a key as an integer are named with every other blocker:
    the plan is made without them (``held``), and the rehearsal reports them."""
    if not rehearsing:
        return snap, []
    held = functions.blockers(snap)
    return dataclasses.replace(snap, function_uses=[u for u in snap.function_uses if not u.strong]), held


def print_blockers(found: list) -> None:
    for blocker in found:
        print(f"keyshift: {' '.join(blocker.line().split())}", file=sys.stderr)


def rehearsal_step(args, dsn: str, the_plan: Plan, held: list):
    """What runs on the staged files before they move into --migrations: the rehearsal, whose
    blockers (``held``: the plan's own, named first) are printed one line each before its
    summary line."""

    def run(staged: Path, migrations: list[Migration]) -> None:
        try:
            rehearse(dsn, staged, the_plan, migrations, getattr(args, "rehearse_dsn", None), known=held)
        except Blocked as exc:
            print_blockers(exc.blockers)
            raise

    return run


def print_done(manifest: Path, rehearsing: bool) -> None:
    print(
        f"wrote {manifest} (locks, catalog fingerprint and sha256 of every file: migrate runs the files only as planned)"
    )
    if rehearsing:
        print(
            "rehearsed on a schema-only copy: migrate, its checks and rollback passed; the schema came back unchanged"
        )
    else:
        print("rehearsal skipped (--no-rehearse): migrate may still fail on an object that cannot follow the new type")
