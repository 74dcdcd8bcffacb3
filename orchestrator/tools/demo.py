"""make demo: the main job, end to end, on the embedded cluster (or DATABASE_URL).

Loads the seed-000 sample (custom_user and the tables that reference it), plans the
conversion of public.custom_user, migrates in one transaction with every check, and prints
a short report. The database is left converted for ``make psql``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from orchestrator.apply import drop_map, execute
from orchestrator.catalog import mappings
from orchestrator.cli.main import main as keyshift_main
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import KeyshiftError
from orchestrator.report import report
from orchestrator.resources import PROJECT, SQL_DIR
from orchestrator.verify import checks

SAMPLE_TABLES = ["django_session", "social_account", "verification_token", "user_profile", "custom_user"]
MARK = "keyshift demo sample (seed 000)"
DEMO_DIR = PROJECT / ".keyshift" / "demo"


def _reset(conn: psycopg.Connection, dsn: str, migrations: Path) -> None:
    """Undo what a previous demo left; refuse to touch tables the demo did not create.

    The previous demo's conversion is undone by keyshift's own rollback and the mappings it kept of
    the sample tables by drop-map, which drop from schema keyshift only what keyshift created and
    nothing a user still uses; then the sample tables go, each by name, children before the table
    they reference."""
    marked = conn.execute("SELECT obj_description(to_regclass('public.custom_user'), 'pg_class')").fetchone()[0]
    exists = conn.execute("SELECT to_regclass('public.custom_user') IS NOT NULL").fetchone()[0]
    if exists and marked != MARK:
        raise KeyshiftError(
            "table public.custom_user",
            "exists and was not created by the demo",
            "run the demo on the embedded cluster (unset DATABASE_URL) or on an empty database",
        )
    if not exists:
        return
    if migrations.is_dir() and any(execute.status(dsn, migrations).values()):
        execute.rollback(dsn, migrations)
    kept = [(m.table_schema, m.table_name) for m in mappings.kept(conn) if m.table_schema == "public"]
    kept = [k for k in kept if k[1] in SAMPLE_TABLES]
    if kept:  # the sample tables go below; so do the mappings rollback kept of them
        drop_map.drop_maps(dsn, kept)
    if conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]:
        left = conn.execute(
            "SELECT plan_id FROM keyshift.converted_table WHERE table_schema = 'public' AND table_name = ANY(%s)",
            (SAMPLE_TABLES,),
        ).fetchone()
        if left:
            raise KeyshiftError(
                "table public.custom_user",
                f"is converted by keyshift plan {left[0]}, whose migrations are not in {_shown(migrations)}",
                "roll that plan back first (keyshift rollback --migrations DIR), or run the demo on an empty database",
            )
    for t in SAMPLE_TABLES:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("public", t)))


def run(users: int, migrations: Path = DEMO_DIR / "migrations") -> int:
    dsn = dsnmod.resolve(None)
    steps: list[tuple[str, float]] = []
    print(f"keyshift demo on {dsnmod.describe(dsn)}: seed-000 sample with {users} users")
    t0 = time.monotonic()
    with dsnmod.connect(dsn, autocommit=True) as conn:
        _reset(conn, dsn, migrations)
        conn.execute("SELECT set_config('keyshift.sample_scale', %s, false)", (str(users),))
        for name in ("seed000_schema.sql", "seed000_data.sql"):
            conn.execute((SQL_DIR / "sample" / name).read_text())
        conn.execute(sql.SQL("COMMENT ON TABLE public.custom_user IS {}").format(sql.Literal(MARK)))
        conn.execute("ANALYZE")
    steps.append(("load sample", time.monotonic() - t0))

    shutil.rmtree(migrations, ignore_errors=True)
    t0 = time.monotonic()
    print(f"\n$ keyshift plan --table public.custom_user --migrations {_shown(migrations)}")
    code = keyshift_main(["plan", "--dsn", dsn, "--table", "public.custom_user", "--migrations", str(migrations)])
    if code:
        return code
    steps.append(("plan", time.monotonic() - t0))

    print(f"\n$ keyshift migrate --migrations {_shown(migrations)}")
    outcome = execute.migrate(dsn, migrations)
    for mid, secs in outcome.applied:
        steps.append((f"migrate: {mid}", secs))

    with dsnmod.connect(dsn) as conn:
        standalone = checks.run_standalone(conn)
        summary = conn.execute(
            "SELECT (SELECT count(*) FROM keyshift.converted_table),"
            " (SELECT count(*) FROM keyshift.converted_constraint),"
            " (SELECT count(DISTINCT (table_schema, table_name)) FROM keyshift.converted_column),"
            " (SELECT coalesce(sum(row_count), 0) FROM keyshift.fingerprint)"
        ).fetchone()
    print("\nreport")
    print(
        f"  converted tables: {summary[0]} (public.custom_user)   tables touched: {summary[2]}"
        f"   foreign keys repointed: {summary[1]}   rows rewritten: {summary[3]}"
    )
    print("  seconds per step:")
    for name, secs in steps:
        print(f"    {name:<42} {secs:8.2f}")
    print("  checks inside the migrate transaction:")
    for line in report.check_lines(outcome.checks):
        print("    " + line)
    print("  checks again, standalone (keyshift check):")
    for line in report.check_lines(standalone):
        print("    " + line)
    print("\nThe converted database is left running: `make psql` opens it, `make db-stop` stops it.")
    return 0 if all(r.ok for r in standalone + outcome.checks) else 1


def _shown(path: Path) -> str:
    """The migrations directory as the reader typed it: relative to the project when inside it."""
    return str(path.relative_to(PROJECT)) if path.is_relative_to(PROJECT) else str(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="keyshift-demo")
    p.add_argument("--users", type=int, default=50000)
    p.add_argument(
        "--migrations",
        type=Path,
        default=DEMO_DIR / "migrations",
        help="where the demo writes its plan (emptied first)",
    )
    args = p.parse_args(argv)
    try:
        return run(args.users, args.migrations.resolve())
    except KeyshiftError as exc:
        print(f"keyshift demo: {exc.line()}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
