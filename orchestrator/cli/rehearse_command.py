"""keyshift rehearse: plan -> migrate -> check -> rollback -> schema compared with the start, on a
throwaway database restored from a schema-only dump of the target, and a one-page report.

plan reads the target as keyshift plan does (it writes nothing there) and writes its files into
a temporary folder; every other stage runs on the copy. The project's --migrations folder is
only read, to number the plan after the plans already in it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import psycopg

from orchestrator.cli.arguments import non_negative
from orchestrator.cli.plan_command import cmd_plan
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, KeyshiftError
from orchestrator.names import comment
from orchestrator.plan.functions import FunctionsBlocked
from orchestrator.plan.model import Plan
from orchestrator.rehearse import Blocked, stages
from orchestrator.report.report import check_lines

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  every stage passed: migrate and its checks, keyshift check, rollback, and the
     schema after rollback is the schema before migrate
  {EXIT_FAILED}  a check failed, migrate or rollback failed, or the schema came back different
  {EXIT_REFUSED}  plan refused, an object cannot follow the new type (each blocker is named),
     or the copy cannot be made (pg_dump, psql, a role that may not create databases)
The target database is only read, and the project's --migrations folder is only read."""

#: The stages in the order they run; the sample only with --sample-rows.
STAGES = ("plan", "copy", "sample", "migrate", "check", "rollback", "compare")
#: The lock window is not part of the report: plan is given a throughput instead of timing a
#: rewrite on the target.
NOMINAL_THROUGHPUT = 100.0


def add_rehearse_command(sub, common, plan_options) -> None:
    """``common`` and ``plan_options`` are plan's own option definitions (cli/main.py)."""
    sp = common(
        sub.add_parser(
            "rehearse",
            help="CI: plan, migrate, check, rollback and compare the schema on a throwaway copy; a report",
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    plan_options(sp)
    sp.add_argument(
        "--sample-rows",
        type=non_negative(int),
        default=0,
        metavar="N",
        help="copy up to N rows of each table the plan touches into the copy, with the rows they "
        "reference (default 0: schema only)",
    )
    sp.set_defaults(func=cmd_rehearse)


def cmd_rehearse(args) -> int:
    out = stages.Outcome()
    started = time.monotonic()
    if args.throughput is None:
        args.throughput = NOMINAL_THROUGHPUT

    def step(args, dsn, the_plan, held):
        def run(staged: Path, migrations) -> None:
            out.record("plan", started, "ok", f"{len(migrations)} migrations: {_summary(the_plan)}")
            source = stages.Copy(dsn, args.rehearse_dsn, args.sample_rows)
            stages.run(source, staged, the_plan, migrations, held, out)

        return run

    printed = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="keyshift-rehearse-") as tmp:
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
                cmd_plan(args, step=step, into=Path(tmp) / "migrations")
        except (Blocked, FunctionsBlocked) as exc:
            out.blockers = exc.blockers
            _error(out, started, "blockers found, each named below", EXIT_REFUSED)
        except KeyshiftError as exc:
            _error(out, started, exc.line(), exc.exit_code)
        except psycopg.Error as exc:
            _error(out, started, f"database error: {_first_line(exc)}", EXIT_FAILED)
    if not out.stages:
        out.record("plan", started, "ok", " ".join(printed.getvalue().split()) or "nothing to do")
    _print_report(args, out)
    return out.exit_code


def _error(out: stages.Outcome, started: float, line: str, code: int) -> None:
    """An error that ended the run: plan's own (no stage recorded yet), or one a stage recorded."""
    result = "refused" if code == EXIT_REFUSED else "failed"
    if not out.stages:
        out.record("plan", started, result, line)
    elif out.stages[-1].result == "ok":
        out.stages.append(stages.Stage("error", 0.0, result, line))
    out.fail(code)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _summary(p: Plan) -> str:
    targets = ", ".join(t.table.display for t in p.targets)
    return (
        f"plan {p.plan_id} ({p.options.mode}) of {targets}: {len(p.tables)} tables, "
        f"{len(p.fks)} foreign keys, {len(p.views) + len(p.carried)} dependent objects"
    )


def _print_report(args, out: stages.Outcome) -> None:
    tables = ", ".join(args.table)
    print(f"keyshift rehearse {comment(tables)} on {dsnmod.describe(dsnmod.resolve(args.dsn))}")
    done = {s.name: s for s in out.stages}
    for name in [*STAGES, "error"]:
        if name == "sample" and not args.sample_rows:
            continue
        s = done.get(name)
        if s is None:
            if name != "error":
                print(f"  {name:<9} {'':>8}   not run")
            continue
        print(f"  {name:<9} {s.seconds:7.2f} s  {s.result:<7} {comment(s.detail)}".rstrip())
    print(f"blockers ({len(out.blockers)}):" if out.blockers else "blockers: none")
    for b in out.blockers:
        print(f"  {comment(' '.join(b.line().split()))}")
    if out.checks:
        print("checks:")
        for line in check_lines(out.checks):
            print(f"  {line}")
    else:
        print("checks: not run")
    _print_comparison(out)
    verdict = {EXIT_OK: "passed", EXIT_FAILED: "failed", EXIT_REFUSED: "refused"}.get(out.exit_code, "failed")
    print(f"rehearsal {verdict} (exit {out.exit_code}); the target and {comment(args.migrations)} were only read")


def _print_comparison(out: stages.Outcome) -> None:
    if out.differences is None:
        print("schema: not compared")
    elif not out.differences:
        print(f"schema: after rollback identical to the start ({out.compared_lines} lines of pg_dump --schema-only)")
    else:
        print(f"schema: after rollback differs from the start (first {len(out.differences)} differing lines):")
        for line in out.differences:
            print(f"  {comment(line)}")
