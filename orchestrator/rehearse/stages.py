"""keyshift rehearse's stages on the throwaway copy: restore, migrate, check, rollback and the
schema compared with the start, each timed, each with its result; blockers named as plan's
rehearsal names them."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.apply import execute
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, KeyshiftError
from orchestrator.plan.model import Plan, lock_order
from orchestrator.rehearse import blockers as blockersmod
from orchestrator.rehearse import sample, standins
from orchestrator.rehearse.copy import EXCLUDED, schema_copy, schema_lines
from orchestrator.rehearse.rehearsal import Blocked, fingerprint_of_copy
from orchestrator.render.common import Migration
from orchestrator.verify import checks
from orchestrator.verify.check_result import CheckResult

#: How many differing schema lines the comparison shows.
SHOWN_DIFFERENCES = 5


@dataclass
class Stage:
    """One stage: its name, how long it took, ``ok`` / ``failed`` / ``refused``, and one line."""

    name: str
    seconds: float
    result: str
    detail: str = ""


@dataclass
class Outcome:
    """What the rehearsal found, stage by stage; ``exit_code`` follows errors.py's codes."""

    stages: list[Stage] = field(default_factory=list)
    blockers: list = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    #: None until the comparison ran; then the differing lines (empty: identical).
    differences: list[str] | None = None
    compared_lines: int = 0
    exit_code: int = EXIT_OK

    def fail(self, code: int) -> None:
        self.exit_code = max(self.exit_code, code)  # EXIT_REFUSED (3) outranks EXIT_FAILED (1)

    def note(self, detail: str, result: str | None = None) -> None:
        """The last stage's line (and result) once its block ended."""
        self.stages[-1].detail = detail
        if result is not None:
            self.stages[-1].result = result

    def record(self, name: str, started: float, result: str = "ok", detail: str = "") -> None:
        self.stages.append(Stage(name, time.monotonic() - started, result, detail))

    @contextlib.contextmanager
    def stage(self, name: str, detail: str = ""):
        """Time the block as stage ``name``; a KeyshiftError it raises is recorded and raised again."""
        started = time.monotonic()
        try:
            yield
        except Blocked:
            self.record(name, started, "refused", "blockers found, each named below")
            raise
        except KeyshiftError as exc:
            self.record(name, started, "refused" if exc.exit_code == EXIT_REFUSED else "failed", exc.line())
            raise
        self.record(name, started, "ok", detail)


@dataclass(frozen=True)
class Copy:
    """Where the copy comes from and what goes into it: ``sample_rows`` rows per touched table."""

    dsn: str
    rehearse_dsn: str | None = None
    sample_rows: int = 0


def run(source: Copy, staged: Path, plan: Plan, migrations: list[Migration], held: list, out) -> None:
    """Every stage after plan, on a throwaway copy of ``source.dsn``, recorded in ``out``; raises
    Blocked naming every blocker, ``held`` (the plan's own, each with ``line()``) first."""
    known = list(held)
    started = time.monotonic()
    with schema_copy(source.dsn, plan.plan_id, source.rehearse_dsn) as copy:
        where = "--rehearse-dsn" if source.rehearse_dsn else "a throwaway database"
        out.record("copy", started, "ok", f"schema-only dump restored into {where}")
        if source.sample_rows:
            with out.stage("sample"):
                copied = sample.copy_rows(source.dsn, copy, lock_order(plan), source.sample_rows)
            out.note(f"{copied} rows copied (at most {source.sample_rows} per touched table, and their parents)")
        refused = standins.plant(copy, plan)
        if refused is not None:
            raise Blocked(plan.plan_id, [*known, refused])
        if not known:
            with tempfile.TemporaryDirectory(prefix="keyshift-rehearse-") as tmp:
                folder = Path(tmp) / "migrations"
                shutil.copytree(staged, folder)
                fingerprint_of_copy(copy, folder, plan.plan_id)
                if _round_trip(copy, folder, out):
                    return
        with dsnmod.connect(copy, autocommit=True) as conn:
            found = blockersmod.find(conn, plan, migrations)
    if known or found:
        raise Blocked(plan.plan_id, [*known, *found])


def _round_trip(copy: str, folder: Path, out: Outcome) -> bool:
    """migrate, check, rollback, compare; False when migrate failed (blockers are looked for)."""
    before = schema_lines(copy, *EXCLUDED)
    try:
        with out.stage("migrate"):
            done = execute.migrate(copy, folder, lock_retries=0)
        out.note(f"{len(done.applied) - 1} migration(s) and {len(done.checks)} checks committed")
    except execute.ChecksFailed as exc:
        out.checks = exc.results
        out.fail(EXIT_FAILED)
        return True
    except KeyshiftError:
        out.fail(EXIT_FAILED)
        return False
    _check(copy, out)
    try:
        with out.stage("rollback"):
            execute.rollback(copy, folder, lock_retries=0)
    except KeyshiftError:
        out.fail(EXIT_FAILED)
        return True
    with out.stage("compare"):
        after = schema_lines(copy, *EXCLUDED)
        out.compared_lines = len(before)
        out.differences = differing(before, after)
    if out.differences:
        out.note(f"{len(out.differences)} line(s) differ from the start", "failed")
        out.fail(EXIT_FAILED)
    else:
        out.note(f"identical to the start ({len(before)} lines of pg_dump --schema-only)")
    return True


def _check(copy: str, out: Outcome) -> None:
    """keyshift check on the converted copy: every check file and the plan's own checks."""
    try:
        with out.stage("check"), dsnmod.connect(copy) as conn:
            out.checks = checks.run_standalone(conn, where="the rehearsal's copy")
            if not checks.proved_anything(out.checks):
                raise checks.nothing_proved(out.checks, "the rehearsal's copy")
    except KeyshiftError:
        out.fail(EXIT_FAILED)
        return
    bad = [r for r in out.checks if not r.ok]
    if bad:
        out.note(f"{len(bad)} of {len(out.checks)} checks failed", "failed")
        out.fail(EXIT_FAILED)
    else:
        out.note(f"{len(out.checks)} checks")


def differing(before: list[bytes], after: list[bytes]) -> list[str]:
    """The lines of one dump that the other lacks, each marked - (gone) or + (new), first few."""
    gone = set(after)
    new = set(before)
    lines = [b"- " + line for line in before if line not in gone] + [b"+ " + line for line in after if line not in new]
    return [line.decode("utf-8", "replace") for line in lines[:SHOWN_DIFFERENCES]] if lines else []
