"""The keyshift command (DESIGN.md §2): plan, migrate, check, rollback, status.

Exit codes: 0 done or nothing to do; 1 failed (nothing changed); 3 plan refused (nothing
written). Every error is one line naming the object, the reason and the fix.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import psycopg

from orchestrator import CHECKS_DIR, DEFAULT_MIGRATIONS, catalog, checks, drift, dsn as dsnmod, execute, plan as planmod
from orchestrator import safety
from orchestrator import render as rendermod, report
from orchestrator.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, KeyshiftError, Refused


def parse_qualified(text: str, what: str = "--table", parts: int = 2) -> tuple[str, ...]:
    """Split ``schema.table`` (each part optionally "double-quoted") into its parts."""
    token = r'(?:"((?:[^"]|"")+)"|([^."]+))'
    m = re.fullmatch(r"\.".join([token] * parts), text.strip())
    if not m:
        shape = "SCHEMA.TABLE" if parts == 2 else "SCHEMA.TABLE.COLUMN"
        raise Refused(f"{what} {text!r}", f"is not a qualified name of the form {shape}",
                      'always name the schema; quote parts with double quotes, e.g. public."Order"')
    out = []
    for i in range(parts):
        quoted, bare = m.group(2 * i + 1), m.group(2 * i + 2)
        out.append(quoted.replace('""', '"') if quoted is not None else bare)
    return tuple(out)


def _next_plan_id(migrations_dir: Path) -> str:
    ids = [int(m.group(1)) for p in migrations_dir.glob("*.sql") if (m := execute.PLAN_RE.match(p.name))]
    return f"{(max(ids) if ids else 0) + 1:04d}"


def _applied_ids(dsn: str) -> set[str]:
    """Migration ids yoyo recorded as applied, read without creating yoyo's tables."""
    with dsnmod.connect(dsn, autocommit=True) as conn:  # default search_path, as yoyo sees it
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (execute.MIGRATION_TABLE,)).fetchone()[0]
        if not exists:
            return set()
        q = psycopg.sql.SQL("SELECT migration_id FROM {}").format(psycopg.sql.Identifier(execute.MIGRATION_TABLE))
        return {r[0] for r in conn.execute(q)}


def cmd_plan(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    migrations_dir = Path(args.migrations)
    names = [parse_qualified(t) for t in args.table]
    seen = set()
    for n in names:
        if n in seen:
            raise Refused(f"table {catalog.qualname(*n)}", "is named twice", "name each table once")
        seen.add(n)
    try:
        conn = dsnmod.connect(dsn, autocommit=True)
    except KeyshiftError as exc:
        raise Refused(exc.obj, exc.reason, exc.fix) from None
    with conn:
        cat = catalog.Catalog(conn)
        targets, done = [], []
        for n in names:
            table = cat.table(*n)
            conv = cat.converted(*n)
            verdict = planmod.validate_target(n, table, conv.plan_id if conv else None)
            if verdict == "done":
                done.append((n, conv))
                continue
            targets.append((table, cat.key_column(table.relid, table.pk_columns[0])))
        for n, conv in done:
            print(f"{catalog.qualname(*n)}: already converted by plan {conv.plan_id}; nothing to do")
        if not targets:
            print("nothing to do")
            return EXIT_OK
        pending = _pending_files(migrations_dir, _applied_ids(dsn))
        if pending:
            raise Refused(
                f"migrations directory {migrations_dir}",
                f"holds migrations that are written but not applied ({', '.join(pending[:3])}"
                f"{', ...' if len(pending) > 3 else ''})",
                "run keyshift migrate first, or delete them before planning again",
            )
        snap = catalog.snapshot(safety.guarded(cat), targets)
        safety.refuse_unsafe(cat, snap)
        shape = drift.objects(snap, drift.table_columns(cat, snap))
    plan_id = _next_plan_id(migrations_dir) if migrations_dir.is_dir() else "0001"
    options = planmod.Options(tables=tuple(names), mode=args.mode, uuid=args.uuid)
    the_plan = planmod.build(snap, options, plan_id)
    migrations = rendermod.render(the_plan)
    migrations = drift.stamp(migrations, [t.table.key for t in the_plan.targets], shape)
    written = _write(migrations_dir, migrations)
    _print_plan(the_plan, written, dsn)
    return EXIT_OK


def _pending_files(migrations_dir: Path, applied: set[str]) -> list[str]:
    if not migrations_dir.is_dir():
        return []
    ids = sorted(p.name[:-4] for p in migrations_dir.glob("*.sql") if not p.name.endswith(".rollback.sql"))
    return [i for i in ids if i not in applied]


def _write(migrations_dir: Path, migrations: list[rendermod.Migration]) -> list[Path]:
    """Write every file or none: all go to a temporary folder first, then move into place."""
    migrations_dir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, str]] = []
    previous = None
    for m in migrations:
        files.append((f"{m.name}.sql", m.text(previous)))
        files.append((f"{m.name}.rollback.sql", m.rollback_text()))
        previous = m.name
    for name, _ in files:
        if (migrations_dir / name).exists():
            raise Refused(f"file {migrations_dir / name}", "exists already", "remove it or plan into another --migrations")
    with tempfile.TemporaryDirectory(dir=migrations_dir, prefix=".keyshift-plan-") as tmp:
        for name, text in files:
            (Path(tmp) / name).write_text(text)
        for name, _ in files:
            os.replace(Path(tmp) / name, migrations_dir / name)
    return [migrations_dir / name for name, _ in files]


def _print_plan(p: planmod.Plan, written: list[Path], dsn: str) -> None:
    print(f"keyshift plan {p.plan_id} ({p.options.mode}, uuid {p.options.uuid}) on {dsnmod.describe(dsn)}")
    print("tables:")
    for t in p.tables:
        cols = p.columns_of(t.key)
        role = "target" if any(x.table.key == t.key for x in p.targets) else "references a target"
        print(f"  {t.display}: {p.row_counts.get(t.key, 0)} rows; converts "
              f"{', '.join(c.column_name + ' (' + c.old_type + ')' for c in cols) or 'nothing'} [{role}]")
    print(f"foreign keys ({len(p.fks)}):")
    for fk in p.fks:
        print(f"  {fk.display}")
    for t in p.targets:
        kind = t.key.sequence_kind or "no sequence"
        print(f"key {t.table.display}.{t.key.column_name}: {t.key.data_type}, {kind}"
              + (f" {t.key.seq_schema}.{t.key.seq_name}" if t.key.seq_name else "")
              + " -> uuid DEFAULT gen_random_uuid()")
    for w in p.warnings:
        print(f"WARN {w}")
    for path in written:
        if not path.name.endswith(".rollback.sql"):
            print(f"wrote {path} (+ .rollback.sql)")


def cmd_migrate(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    outcome = None
    try:
        outcome = execute.migrate(dsn, Path(args.migrations), Path(args.checks), lock_timeout=args.lock_timeout)
    except execute.ChecksFailed as exc:
        for line in report.check_lines(exc.results):
            print(line)
        raise
    if outcome.nothing_to_do:
        print("nothing to do: every migration is applied")
        return EXIT_OK
    for mid, secs in outcome.applied:
        print(f"{mid:<40} {secs:8.2f} s")
    for line in report.check_lines(outcome.checks):
        print(line)
    print(f"committed {len(outcome.applied) - 1} migration(s) in {outcome.seconds:.2f} s")
    return EXIT_OK


def cmd_check(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    with dsnmod.connect(dsn) as conn:
        results = checks.run_standalone(conn, Path(args.checks))
    if args.json:
        print(report.checks_json(results))
    else:
        for line in report.check_lines(results):
            print(line)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def cmd_rollback(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    drift.refuse_edited_before_rollback(dsn, Path(args.migrations))
    outcome = execute.rollback(dsn, Path(args.migrations))
    if outcome.nothing_to_do:
        print("nothing to roll back: no migration is applied")
        return EXIT_OK
    for mid, secs in outcome.applied:
        print(f"rolled back {mid:<40} {secs:8.2f} s")
    print(f"committed rollback of {len(outcome.applied)} migration(s) in {outcome.seconds:.2f} s")
    return EXIT_OK


def cmd_status(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    state = execute.status(dsn, Path(args.migrations))
    if not state:
        print("no migrations")
    for mid, applied in state.items():
        print(f"{'applied' if applied else 'pending'}  {mid}")
    print(f"{sum(state.values())} applied, {len(state) - sum(state.values())} pending")
    lines, warnings = drift.status_lines(dsn, Path(args.migrations))
    for line in lines:
        print(line)
    for w in warnings:
        print(f"keyshift: warning: {w}", file=sys.stderr)
    return EXIT_OK


def ini_defaults(path: Path | None = None) -> dict[str, str]:
    """Plan and migrate defaults from the [keyshift] section of yoyo.ini (command-line options win)."""
    import configparser

    ini = configparser.ConfigParser()
    ini.read([path or Path.cwd() / "yoyo.ini"])
    return dict(ini["keyshift"]) if ini.has_section("keyshift") else {}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="keyshift", description="Convert integer primary keys to UUID keys.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, migrations=True):
        sp.add_argument("--dsn", help="libpq DSN or URL (default: DATABASE_URL, then the embedded cluster)")
        if migrations:
            sp.add_argument("--migrations", default=str(DEFAULT_MIGRATIONS), help="migrations directory")
        return sp

    defaults = ini_defaults()
    sp = common(sub.add_parser("plan", help="write reviewable migrations for the given tables"))
    sp.add_argument("--table", action="append", required=True, help="SCHEMA.TABLE to convert (repeatable)")
    sp.add_argument("--mode", default=defaults.get("mode", "replace"), choices=planmod.MODES)
    sp.add_argument("--uuid", default=defaults.get("uuid", "v4"), choices=planmod.UUID_VERSIONS)
    sp.set_defaults(func=cmd_plan)

    sp = common(sub.add_parser("migrate", help="apply pending migrations and checks in one transaction"))
    sp.add_argument("--lock-timeout", default=defaults.get("lock_timeout", "5s"),
                    help="give up waiting for a table lock after this long (PostgreSQL interval, default 5s)")
    sp.add_argument("--checks", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_migrate)

    sp = common(sub.add_parser("check", help="run checks/*.sql"), migrations=False)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--checks", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_check)

    sp = common(sub.add_parser("rollback", help="undo the last conversion in one transaction"))
    sp.set_defaults(func=cmd_rollback)

    sp = common(sub.add_parser("status", help="applied and pending migrations"))
    sp.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyshiftError as exc:
        print(f"keyshift: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("keyshift: interrupted; nothing was committed", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
