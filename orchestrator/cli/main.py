"""The keyshift command (DESIGN.md §2): plan, migrate, check, rollback, status.

Exit codes: 0 done or nothing to do; 1 failed (nothing changed); 3 plan refused (nothing
written) or nothing to check; 4 keyshift check found no usable check file. Every error is one
line naming the object, the reason and the fix.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
from pathlib import Path

import psycopg

from orchestrator import CHECKS_DIR, DEFAULT_MIGRATIONS, catalog
from orchestrator.apply import drift, execute, manifest as manifestmod
from orchestrator.verify import checks
from orchestrator.apply import source
from orchestrator.report import report
from orchestrator.connect import dsn as dsnmod
from orchestrator.plan import external, model as planmodel, options as planoptions, planner, safety
from orchestrator.render import migrations as rendermod
from orchestrator.render.common import Migration
from orchestrator.render.keys import key_version_line
from orchestrator.errors import EXIT_FAILED, EXIT_NO_CHECKS, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, KeyshiftError, Refused
from orchestrator.names import parse_qualified, qualname


def parse_restart(text: str) -> tuple[str, str, int]:
    """``SCHEMA.TABLE=N`` (N a positive integer) -> (schema, table, N)."""
    name, sep, value = text.rpartition("=")
    if not sep or not re.fullmatch(r"\s*[0-9]+\s*", value) or int(value) < 1:
        raise Refused(f"--restart-sequence {text!r}", "is not of the form SCHEMA.TABLE=N with N a positive integer",
                      "e.g. --restart-sequence public.users=400000")
    schema, table = parse_qualified(name, "--restart-sequence")
    return (schema, table, int(value))


def _next_plan_id(migrations_dir: Path) -> str:
    ids = [int(pid) for p in migrations_dir.glob("*.sql") if (pid := source.plan_id_of(p.name))]
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
    references = [_parse_reference(r) for r in (getattr(args, "reference", None) or [])]
    if len({c for c, _t in references}) < len(references):
        raise Refused("--reference", "names one column twice", "name each column once")
    options = planoptions.Options(
        tables=tuple(names), mode=args.mode, uuid=args.uuid, external_column=args.external_column,
        restarts=tuple(parse_restart(r) for r in args.restart_sequence),
        sessions=tuple(parse_qualified(s, "--invalidate-sessions") for s in args.invalidate_sessions),
        references=tuple(references),
    )
    planoptions.validate_options(options)
    _refuse_replace_only_options(args)
    seen = set()
    for n in names:
        if n in seen:
            raise Refused(f"table {qualname(*n)}", "is named twice", "name each table once")
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
            if conv and conv.mode == "external":
                if args.mode != "external":
                    raise Refused(f"table {qualname(*n)}",
                                  f"has external ids from plan {conv.plan_id} (external mode)",
                                  "roll that plan back first to convert its key in replace mode")
                done.append((n, conv))
                continue
            verdict = planner.validate_target(n, table, conv.plan_id if conv else None)
            if verdict == "done":
                done.append((n, conv))
                continue
            targets.append((table, cat.key_column(table.relid, table.pk_columns[0])))
        for n, conv in done:
            print(f"{qualname(*n)}: already converted by plan {conv.plan_id}; nothing to do")
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
        if args.mode == "external":
            snap = external.snapshot(safety.guarded(cat), targets)
        else:
            snap = catalog.snapshot(safety.guarded(cat), targets, references)
        safety.keyshift_names(cat, targets, args.mode)
        safety.refuse_unsafe(cat, snap)
        shape = drift.live_objects(conn, [t.key for t, _k in targets], references)
        server = cat.server_facts()
        # Before read_facts: it checks the names the key options will create (slug constraints).
        options = dataclasses.replace(options, **key_options(args, server))
        facts = external.read_facts(conn, options, targets, cat.table)
    plan_id = _next_plan_id(migrations_dir) if migrations_dir.is_dir() else "0001"
    the_plan = planner.build(snap, options, plan_id)
    external.validate(the_plan, facts)
    v6 = [t for t in the_plan.targets if t.uuid_version == "v6"]
    if v6:  # versions are known only now, per table (--uuid, --uuid-for, yoyo.ini)
        with dsnmod.connect(dsn) as conn:
            safety.v6_id_range(conn, v6)
    migrations = rendermod.render(the_plan)
    files = _files(migrations)
    target_keys = [t.key for t, _k in targets]
    the_manifest = manifestmod.Manifest(
        plan_id=plan_id, mode=args.mode, locks=planmodel.lock_order(the_plan), targets=target_keys,
        references=list(references), fingerprint=drift.fingerprint(target_keys, shape, references),
        objects=shape, files={name: manifestmod.sha256(data) for name, data in files},
    )
    written = _write(migrations_dir, files, (manifestmod.file_name(plan_id), the_manifest.to_json().encode()))
    if args.mode == "external":
        external.print_plan(the_plan, written[:-1], dsnmod.describe(dsn))
    else:
        _print_plan(the_plan, written[:-1], dsn)
        external.print_sessions(the_plan)
    print(f"wrote {written[-1]} (locks, catalog fingerprint and sha256 of every file: "
          "migrate runs the files only as planned)")
    return EXIT_OK


#: Options that shape the new key of replace mode; external mode keeps the integer key.
_REPLACE_ONLY = (("uuid_for", "--uuid-for"), ("timestamp_column", "--timestamp-column"),
                 ("slug_column", "--slug-column"), ("slug_length", "--slug-length"), ("reference", "--reference"))


def _refuse_replace_only_options(args) -> None:
    """In external mode these options would be read and silently ignored: refuse them instead."""
    if args.mode != "external":
        return
    for attr, flag in _REPLACE_ONLY:
        value = getattr(args, attr, None)
        if value not in (None, []):
            shown = value[0] if isinstance(value, list) else value
            raise Refused(f"{flag} {shown}",
                          "is for replace mode: external mode keeps every integer key and reference as it is "
                          "and only adds a v4 external uuid column",
                          f"leave {flag} out, or plan without --mode external")
    # The same settings for this plan's tables in yoyo.ini would be ignored just as silently.
    per_table, columns = _ini_key_settings({parse_qualified(t) for t in args.table})
    found = [f"uuid.{qualname(*t)} = {v}" for t, v in per_table.items()]
    found += [f"{key} = {c}" for key, cols in columns.items() for c in cols]
    if found:
        raise Refused(f"yoyo.ini [keyshift] {found[0]}",
                      "is for replace mode: external mode keeps every integer key and reference as it is "
                      "and only adds a v4 external uuid column",
                      "remove that line for these tables, or plan without --mode external")


def _parse_reference(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``SCHEMA.TABLE.COL=SCHEMA.TARGET`` -> ((schema, table, col), (schema, target))."""
    column, sep, target = text.partition("=")
    if not sep:
        raise Refused(f"--reference {text!r}", "has no '=TARGET'",
                      "write --reference SCHEMA.TABLE.COLUMN=SCHEMA.TARGET_TABLE")
    return (parse_qualified(column, "--reference", parts=3), parse_qualified(target, "--reference", parts=2))


def _pending_files(migrations_dir: Path, applied: set[str]) -> list[str]:
    if not migrations_dir.is_dir():
        return []
    ids = sorted(p.name[:-4] for p in migrations_dir.glob("*.sql") if not p.name.endswith(".rollback.sql"))
    return [i for i in ids if i not in applied]


def _files(migrations: list[Migration]) -> list[tuple[str, bytes]]:
    """(file name, UTF-8 bytes) of every .sql and .rollback.sql file of the plan, in order."""
    files: list[tuple[str, bytes]] = []
    previous = None
    for m in migrations:
        files.append((f"{m.name}.sql", m.text(previous).encode("utf-8")))
        files.append((f"{m.name}.rollback.sql", m.rollback_text().encode("utf-8")))
        previous = m.name
    return files


def _write(migrations_dir: Path, files: list[tuple[str, bytes]], manifest: tuple[str, bytes]) -> list[Path]:
    """Write every file or none: all go to a temporary folder first, then move into place; the
    manifest moves last. A manifest left by a plan whose files were all deleted is replaced
    (the new plan takes its plan id only because none of its .sql files is left)."""
    migrations_dir.mkdir(parents=True, exist_ok=True)
    for name, _ in files:
        if (migrations_dir / name).exists():
            raise Refused(f"file {migrations_dir / name}", "exists already", "remove it or plan into another --migrations")
    plan_id = manifest[0][: -len(manifestmod.SUFFIX)]
    if (migrations_dir / manifest[0]).exists() and any(migrations_dir.glob(f"{plan_id}_*.sql")):
        raise Refused(f"file {migrations_dir / manifest[0]}", "exists already, with files of its plan",
                      "remove them or plan into another --migrations")
    with tempfile.TemporaryDirectory(dir=migrations_dir, prefix=".keyshift-plan-") as tmp:
        for name, data in [*files, manifest]:
            (Path(tmp) / name).write_bytes(data)
        for name, _ in [*files, manifest]:
            os.replace(Path(tmp) / name, migrations_dir / name)
    return [migrations_dir / name for name, _ in [*files, manifest]]


def _print_plan(p: planmodel.Plan, written: list[Path], dsn: str) -> None:
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
              + f" -> {key_version_line(p, t).split(': ', 1)[1]}")
    print(f"dependent objects ({len(p.views) + len(p.carried)}):")
    for v in p.views:
        print(f"  {v.display} (dropped in 02, re-created in 04)")
    for o in p.carried:
        how = "rebuilt by ALTER ... TYPE" if o.carry == "alter" else "dropped in 02, re-created in 04"
        print(f"  {o.display} ({how})")
    for c, t in p.references.items():
        print(f"declared reference {qualname(*c[:2])}.{c[2]} -> {qualname(*t)} (no FK; "
              f"{p.row_counts.get(c[:2], 0)} rows, every value checked against the target)")
    for w in p.warnings:
        print(f"WARN {w}")
    for path in written:
        if not path.name.endswith(".rollback.sql"):
            print(f"wrote {path} (+ .rollback.sql)")


def cmd_migrate(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    from orchestrator.apply import redis_step

    redis_url, redis_jobs = redis_step.jobs_from_migrate_args(args)  # checked before anything changes
    outcome = None
    try:
        outcome = execute.migrate(dsn, Path(args.migrations), Path(args.checks), lock_timeout=args.lock_timeout,
                                  before_commit=redis_step.mappings_before_commit(redis_jobs),
                                  accept_edited=args.accept_edited, **_safety_kwargs(args))
    except execute.ChecksFailed as exc:
        for line in report.slow_check_lines(exc.results) + report.check_lines(exc.results):
            print(line)
        raise
    if outcome.nothing_to_do:
        print("nothing to do: every migration is applied")
        return redis_step.run_after_commit(dsn, redis_url, redis_jobs, args.redis_action, args.redis_batch)
    for mid, secs in outcome.applied:
        print(f"{mid:<40} {secs:8.2f} s")
    for line in report.slow_check_lines(outcome.checks):
        print(line)
    for line in report.check_lines(outcome.checks):
        print(line)
    print(f"committed {len(outcome.applied) - 1} migration(s) in {outcome.seconds:.2f} s")
    return redis_step.run_after_commit(dsn, redis_url, redis_jobs, args.redis_action, args.redis_batch)


#: keyshift check's exit codes, as its --help prints them.
CHECK_EXIT_CODES = f"""exit codes:
  {EXIT_OK}  every check that applies passed (skipped ones proved nothing and fail nothing)
  {EXIT_FAILED}  a check returned rows or could not run (or the database cannot be reached)
  {EXIT_REFUSED}  nothing to check: the keyshift registry (keyshift.converted_table) does not exist
     or records no conversion, or every check was skipped
  {EXIT_NO_CHECKS}  no check file was found, or one lacks its '-- applies-to:' / '-- skip-reason:' lines
Each check prints ok, not ok (N rows) with the first rows, or skipped (why): a check is
skipped when the registry holds no row of what it proves (its '-- applies-to:' line)."""


def cmd_check(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    where = dsnmod.describe(dsn)
    try:
        with dsnmod.connect(dsn) as conn:
            results = checks.run_standalone(conn, Path(args.checks), where)
    except checks.ChecksUnusable as exc:
        exc.exit_code = EXIT_NO_CHECKS
        raise
    if args.json:
        print(report.checks_json(results))
    else:
        for line in report.check_lines(results):
            print(line)
    if not checks.proved_anything(results):
        raise checks.nothing_proved(results, where)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def cmd_rollback(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    drift.refuse_edited_before_rollback(dsn, Path(args.migrations))
    outcome = execute.rollback(dsn, Path(args.migrations), lock_timeout=args.lock_timeout,
                               accept_edited=args.accept_edited, **_safety_kwargs(args))
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


def cmd_drop_map(args) -> int:
    """Retire the old -> new mapping of converted tables: the checks stop asking for it."""
    dsn = dsnmod.resolve(args.dsn)
    names = [parse_qualified(t) for t in args.table]
    Ident, SQL = psycopg.sql.Identifier, psycopg.sql.SQL
    with dsnmod.connect(dsn) as conn, conn.transaction():
        if conn.execute("SELECT to_regclass('keyshift.converted_table') IS NULL").fetchone()[0]:
            raise Refused("keyshift registry", "does not exist: nothing was converted in this database",
                          "check --dsn")
        conn.execute("ALTER TABLE keyshift.converted_table ADD COLUMN IF NOT EXISTS map_dropped_at timestamptz")
        dropped = []
        for schema, table in names:
            row = conn.execute(
                "SELECT plan_id, map_table, map_dropped_at, mode, key_column, external_column"
                " FROM keyshift.converted_table WHERE table_schema = %s AND table_name = %s FOR UPDATE",
                (schema, table),
            ).fetchone()
            shown = qualname(schema, table)
            if row is None:
                raise Refused(f"table {shown}", "was not converted by keyshift, so it has no mapping",
                              "name a table that keyshift status lists as converted")
            plan_id, map_table, dropped_at, mode, key_column, external_column = row
            if mode == "external" or map_table is None:
                raise external.no_mapping(shown, plan_id, key_column, external_column, "drop")
            if dropped_at is not None:
                raise Refused(f"mapping keyshift.{map_table} of {shown}", f"was retired already at {dropped_at}",
                              "nothing to do")
            conn.execute(SQL("DROP TABLE IF EXISTS {}").format(Ident("keyshift", map_table)))
            conn.execute("UPDATE keyshift.converted_table SET map_dropped_at = now() "
                         "WHERE table_schema = %s AND table_name = %s", (schema, table))
            dropped.append((shown, map_table, plan_id))
    for shown, map_table, plan_id in dropped:
        print(f"dropped keyshift.{map_table} ({shown}); plan {plan_id} can no longer be rolled back "
              "or exported, and old ids no longer resolve")
    return EXIT_OK


def cmd_export_map(args) -> int:
    from orchestrator.report import export

    dsn = dsnmod.resolve(args.dsn)
    names = [parse_qualified(t) for t in args.table]
    counts = export.export_map(dsn, names, args.format, args.output)
    where = "stdout" if args.output == "-" else args.output
    print(f"export-map: wrote {sum(counts.values())} rows ({', '.join(f'{t} {n}' for t, n in counts.items())})"
          f" as {args.format} to {where} from {dsnmod.describe(dsn)}", file=sys.stderr)
    return EXIT_OK


def cmd_redis_rewrite(args) -> int:
    from orchestrator.apply import redis_step

    return redis_step.cmd_redis_rewrite(args)


def _ini_key_settings(names: set) -> tuple[dict, dict[str, list[str]]]:
    """The per-table key settings of yoyo.ini's [keyshift] that concern this plan's tables
    (yoyo.ini serves many plans): {(schema, table): version} from uuid.S.T lines, and the
    timestamp_column / slug_column entries naming one of them."""
    ini = ini_defaults()
    per_table = {parse_qualified(t, "uuid."): v for t, v in ini_table_uuid().items()
                 if parse_qualified(t, "uuid.") in names}
    columns = {key: [c for c in ini.get(key, "").split() if parse_qualified(c, key, 3)[:2] in names]
               for key in ("timestamp_column", "slug_column")}
    return per_table, columns


def key_options(args, facts: dict) -> dict:
    """The key options of a plan (--uuid-for, --timestamp-column, --slug-column, --slug-length),
    command line first, then the [keyshift] section of yoyo.ini; plus what the server offers."""
    ini = ini_defaults()
    per_table, from_ini = _ini_key_settings({parse_qualified(t) for t in args.table})
    for item in args.uuid_for or []:
        name, sep, version = item.rpartition("=")
        if not sep:
            raise Refused(f"--uuid-for {item!r}", "has no version", "write SCHEMA.TABLE=v7 (v4, v7 or v6)")
        per_table[parse_qualified(name, "--uuid-for")] = version.strip()
    ts_cols = args.timestamp_column if args.timestamp_column is not None else from_ini["timestamp_column"]
    slug_cols = args.slug_column if args.slug_column is not None else from_ini["slug_column"]
    length = args.slug_length if args.slug_length is not None else ini.get("slug_length", planoptions.SLUG_DEFAULT)
    try:
        length = int(length)
    except ValueError:
        raise Refused(f"slug_length {length!r}", "is not a number", "give a length from 10 to 22") from None
    return dict(
        uuid_tables=tuple((s, t, v) for (s, t), v in per_table.items()),
        timestamp_columns=tuple(parse_qualified(c, "--timestamp-column", 3) for c in ts_cols),
        slug_columns=tuple(parse_qualified(c, "--slug-column", 3) for c in slug_cols),
        slug_length=length,
        native_uuidv7=bool(facts["has_native_uuidv7"]),
        server_version_num=int(facts["server_version_num"]),
    )


def _read_ini(path: Path | None, case_sensitive: bool = False):
    """yoyo.ini (in the current directory) parsed; a malformed file is refused by name."""
    import configparser

    ini = configparser.ConfigParser()
    if case_sensitive:
        ini.optionxform = str  # table names are case-sensitive
    where = path or Path.cwd() / "yoyo.ini"
    try:
        ini.read([where])
    except configparser.Error as exc:
        reason = " ".join(str(exc).split())
        raise Refused(f"{where}", f"cannot be read as an ini file ({reason})",
                      "fix that line (each option once per section: list several tables "
                      "space-separated on one line)") from None
    return ini


def ini_table_uuid(path: Path | None = None) -> dict[str, str]:
    """``uuid.SCHEMA.TABLE = v7`` lines of [keyshift] in yoyo.ini, names case preserved."""
    ini = _read_ini(path, case_sensitive=True)
    if not ini.has_section("keyshift"):
        return {}
    return {k[len("uuid."):]: v.strip() for k, v in ini["keyshift"].items() if k.lower().startswith("uuid.")}


def ini_defaults(path: Path | None = None) -> dict[str, str]:
    """Plan and migrate defaults from the [keyshift] section of yoyo.ini (command-line options win)."""
    ini = _read_ini(path)
    return dict(ini["keyshift"]) if ini.has_section("keyshift") else {}


def _safety_kwargs(args) -> dict:
    return {"statement_timeout": args.statement_timeout, "lock_retries": args.lock_retries,
            "lock_retry_delay": args.lock_retry_delay}


def _non_negative(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative {kind.__name__}")
        return value
    return parse


def safety_options(sp, defaults: dict, lock_timeout: bool = True) -> None:
    """Lock and statement limits of migrate and rollback; yoyo.ini [keyshift] gives defaults."""
    if lock_timeout:
        sp.add_argument("--lock-timeout", default=defaults.get("lock_timeout", "5s"),
                        help="give up waiting for a table lock after this long (PostgreSQL interval, default 5s)")
    sp.add_argument("--statement-timeout", default=defaults.get("statement_timeout", "0"),
                    help="cancel (and roll back) a conversion statement running longer than this "
                         "(PostgreSQL interval; default 0 = no limit, overriding any server setting)")
    sp.add_argument("--lock-retries", type=_non_negative(int), default=_non_negative(int)(defaults.get("lock_retries", "3")),
                    help="after a lock timeout, try again this many times, each in a fresh transaction (default 3)")
    sp.add_argument("--lock-retry-delay", type=_non_negative(float),
                    default=_non_negative(float)(defaults.get("lock_retry_delay", "1")),
                    help="seconds before the first retry; doubles each retry, with random jitter (default 1)")


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
    sp.add_argument("--mode", default=defaults.get("mode", "replace"), choices=planoptions.MODES)
    sp.add_argument("--uuid", default=defaults.get("uuid", "v4"), metavar="{v4,v7,v6}",
                    help="key version for every target (default v4); a bad value is refused with exit 3")
    sp.add_argument("--uuid-for", action="append", metavar="SCHEMA.TABLE=VERSION",
                    help="key version for one target, overriding --uuid (repeatable)")
    sp.add_argument("--timestamp-column", action="append", metavar="SCHEMA.TABLE.COL",
                    help="existing rows of that v7/v6 target get keys timed by this column (repeatable)")
    sp.add_argument("--slug-column", action="append", metavar="SCHEMA.TABLE.COL",
                    help="add a unique Base62 slug column to that target (repeatable)")
    sp.add_argument("--slug-length", type=int, default=None, metavar="N",
                    help=f"slug length, {planoptions.SLUG_MIN}-{planoptions.SLUG_MAX} (default {planoptions.SLUG_DEFAULT})")
    sp.add_argument("--reference", action="append", default=[], metavar="SCHEMA.TABLE.COL=SCHEMA.TARGET",
                    help="an integer column without an FK that holds ids of a --table target: "
                         "converted with it (repeatable)")
    sp.add_argument("--external-column", default=defaults.get("external_column"), metavar="NAME",
                    help="external mode: name of the added uuid column (default external_id)")
    sp.add_argument("--restart-sequence", action="append", default=[], metavar="SCHEMA.TABLE=N",
                    help="external mode: new rows of that target continue from N (repeatable)")
    sp.add_argument("--invalidate-sessions", action="append", default=[], metavar="SCHEMA.TABLE",
                    help="empty that session table inside the migrate transaction (repeatable)")
    sp.set_defaults(func=cmd_plan)

    sp = common(sub.add_parser("migrate", help="apply pending migrations and checks in one transaction"))
    sp.add_argument("--lock-timeout", default=defaults.get("lock_timeout", "5s"),
                    help="give up waiting for a table lock after this long (PostgreSQL interval, default 5s)")
    safety_options(sp, defaults, lock_timeout=False)
    sp.add_argument("--checks", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    sp.add_argument("--accept-edited", action="store_true",
                    help="run pending files edited after plan as they are now, and record them in the plan's manifest")
    from orchestrator.apply import redis_step

    redis_step.add_migrate_options(sp)
    sp.set_defaults(func=cmd_migrate)

    sp = common(sub.add_parser("check", help="run checks/*.sql", epilog=CHECK_EXIT_CODES,
                               formatter_class=argparse.RawDescriptionHelpFormatter), migrations=False)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--checks", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_check)

    sp = common(sub.add_parser("rollback", help="undo the last conversion in one transaction"))
    safety_options(sp, defaults)
    sp.add_argument("--accept-edited", action="store_true",
                    help="run .rollback.sql files edited after plan as they are now, and record them in the manifest")
    sp.set_defaults(func=cmd_rollback)

    sp = common(sub.add_parser("drop-map", help="retire the old -> new mapping of converted tables"),
                migrations=False)
    sp.add_argument("--table", action="append", required=True, help="SCHEMA.TABLE whose mapping to drop")
    sp.set_defaults(func=cmd_drop_map)

    sp = common(sub.add_parser("status", help="applied and pending migrations"))
    sp.set_defaults(func=cmd_status)

    sp = common(sub.add_parser("export-map", help="stream old integer id -> new uuid pairs of converted tables"),
                migrations=False)
    sp.add_argument("--table", action="append", required=True, help="converted SCHEMA.TABLE (repeatable)")
    sp.add_argument("--format", default="csv", choices=("csv", "jsonl"))
    sp.add_argument("--output", default="-", help="file to write (atomically), or - for stdout (default)")
    sp.set_defaults(func=cmd_export_map)

    sp = common(sub.add_parser("redis-rewrite", help="rename or delete Redis keys that embed old integer ids"),
                migrations=False)
    redis_step.add_rewrite_options(sp)
    sp.set_defaults(func=cmd_redis_rewrite)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)  # reads yoyo.ini for the defaults
        return args.func(args)
    except KeyshiftError as exc:
        print(f"keyshift: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("keyshift: interrupted; nothing was committed", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
