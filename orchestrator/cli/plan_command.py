"""keyshift plan: catalog -> plan -> render -> files on disk, and what it prints."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from pathlib import Path

from orchestrator import catalog
from orchestrator.apply import applied, source
from orchestrator.apply import manifest as manifestmod
from orchestrator.apply import shape as shapemod
from orchestrator.cli.arguments import parse_polymorphic, parse_polymorphic_type
from orchestrator.cli.plan_rehearsal import print_blockers, print_done, rehearsal_step, set_aside
from orchestrator.cli.settings import ini_key_settings, key_options, parse_reference
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import EXIT_OK, KeyshiftError, Refused
from orchestrator.names import parse_qualified, qualname, visible
from orchestrator.plan import external, ownership, planner, polymorphic, safety, window
from orchestrator.plan import model as planmodel
from orchestrator.plan import options as planoptions
from orchestrator.plan.functions import FunctionsBlocked
from orchestrator.plan.model import Plan
from orchestrator.plan.options import external_default
from orchestrator.render import checks as plancheck
from orchestrator.render import migrations as rendermod
from orchestrator.render.common import Migration
from orchestrator.render.keys import key_version_line


def parse_restart(text: str) -> tuple[str, str, int]:
    """``SCHEMA.TABLE=N`` (N a positive integer) -> (schema, table, N)."""
    name, sep, value = text.rpartition("=")
    if not sep or not re.fullmatch(r"\s*[0-9]+\s*", value) or int(value) < 1:
        raise Refused(
            f"--restart-sequence {text!r}",
            "is not of the form SCHEMA.TABLE=N with N a positive integer",
            "e.g. --restart-sequence public.users=400000",
        )
    schema, table = parse_qualified(name, "--restart-sequence")
    return (schema, table, int(value))


def _next_plan_id(migrations_dir: Path) -> str:
    ids = [int(pid) for p in migrations_dir.glob("*.sql") if (pid := source.plan_id_of(p.name))]
    return f"{(max(ids) if ids else 0) + 1:04d}"


def cmd_plan(args, step=rehearsal_step, into: Path | None = None) -> int:
    """``step(args, dsn, plan, held)`` gives what runs on the staged files
    (plan's rehearsal); ``into`` is where the files go instead of --migrations, which then only
    numbers the plan."""
    dsn = dsnmod.resolve(args.dsn)
    numbered = Path(args.migrations)
    migrations_dir = into or numbered
    names, references, options = _options(args)
    try:
        conn = dsnmod.connect(dsn, autocommit=True)
    except KeyshiftError as exc:
        raise Refused(exc.obj, exc.reason, exc.fix) from None
    with conn:
        cat = catalog.Catalog(conn)
        keyshift = cat.keyshift_schema(ownership.SCHEMA)
        safety.keyshift_schema(keyshift)  # before the registry is read: a foreign one is refused, not read
        targets = _targets(cat, names, args.mode)
        if not targets:
            print("nothing to do")
            return EXIT_OK
        _refuse_pending(migrations_dir, dsn)
        options = dataclasses.replace(options, **key_options(args, cat.server_facts()))
        request = catalog.Request(
            migration_table=ownership.MIGRATION_TABLE,
            mode=args.mode,
            keyshift=keyshift,
            polymorphic=options.polymorphic,
            django_admin_log=options.polymorphic_default and args.mode != "external",
            **external.wanted_names(options, targets),
        )
        snap = catalog.snapshot(cat, targets, references, request)
        plan_id = _next_plan_id(numbered) if numbered.is_dir() else "0001"
        rehearsing = not getattr(args, "no_rehearse", False)
        snap, held = set_aside(snap, rehearsing and args.mode != "external")
        try:
            the_plan = planner.make_plan(snap, options, plan_id)  # decides on the snapshot alone
        except FunctionsBlocked as exc:
            print_blockers(exc.blockers)
            raise
        polymorphic.refuse_dangling(cat.dangling_ids(polymorphic.dangling_questions(the_plan)))
        lock_window = _lock_window(args, conn, cat, the_plan)
    generic = [snap.polymorphic[(*p.table, p.type_column, p.id_column)].table for p in the_plan.polymorphic]
    shape = shapemod.objects(snap, snap.shape_columns, generic)
    rehearsal = step(args, dsn, the_plan, held) if rehearsing else None
    written = _write_plan(migrations_dir, the_plan, [t.key for t, _k in targets], references, shape, rehearsal)
    if args.mode == "external":
        _print_external_plan(the_plan, written[:-1], dsnmod.describe(dsn), lock_window)
    else:
        _print_plan(the_plan, written[:-1], dsn, lock_window)
        _print_sessions(the_plan)
    print_done(written[-1], rehearsing)
    return EXIT_OK


def _lock_window(args, conn, cat, the_plan: Plan):
    """The lock window plan prints: the locked tables' sizes at --throughput, or at the rate
    measured on this server (catalog.measure_throughput)."""
    given = getattr(args, "throughput", None)
    rate = window.given(given) if given else window.measured(*catalog.measure_throughput(conn))
    return window.estimate(the_plan, cat.table_sizes(planmodel.lock_order(the_plan)), rate)


def _options(args) -> tuple[list, list, planoptions.Options]:
    """The tables, the declared references and the options, refused before the database is read."""
    names = [parse_qualified(t) for t in args.table]
    references = [parse_reference(r) for r in (getattr(args, "reference", None) or [])]
    if len({c for c, _t in references}) < len(references):
        raise Refused("--reference", "names one column twice", "name each column once")
    options = planoptions.Options(
        tables=tuple(names),
        mode=args.mode,
        uuid=args.uuid,
        external_column=args.external_column,
        restarts=tuple(parse_restart(r) for r in args.restart_sequence),
        sessions=tuple(parse_qualified(s, "--invalidate-sessions") for s in args.invalidate_sessions),
        references=tuple(references),
        polymorphic=tuple(parse_polymorphic(p) for p in getattr(args, "polymorphic", None) or []),
        polymorphic_types=tuple(parse_polymorphic_type(p) for p in getattr(args, "polymorphic_type", None) or []),
        polymorphic_default=not getattr(args, "no_polymorphic_default", False),
    )
    planoptions.validate_options(options)
    if getattr(args, "rehearse_dsn", None) is not None:
        dsnmod.check(args.rehearse_dsn, "--rehearse-dsn")
    _refuse_replace_only_options(args)
    seen = set()
    for n in names:
        if n in seen:
            raise Refused(f"table {qualname(*n)}", "is named twice", "name each table once")
        seen.add(n)
    return names, references, options


def _targets(cat: catalog.Catalog, names: list, mode: str) -> list:
    """(table, key column) of each named table still to convert; the others are said done."""
    targets, done = [], []
    for n in names:
        table = cat.table(*n)
        conv = cat.converted(*n)
        if conv and conv.mode == "external":
            if mode != "external":
                raise Refused(
                    f"table {qualname(*n)}",
                    f"has external ids from plan {conv.plan_id} (external mode)",
                    "roll that plan back first to convert its key in replace mode",
                )
            done.append((n, conv))
            continue
        verdict = planner.validate_target(n, table, conv.plan_id if conv else None)
        if verdict == "done":
            done.append((n, conv))
            continue
        targets.append((table, cat.key_column(table.relid, table.pk_columns[0])))
    for n, conv in done:
        print(f"{qualname(*n)}: already converted by plan {conv.plan_id}; nothing to do")
    return targets


def _refuse_pending(migrations_dir: Path, dsn: str) -> None:
    pending = _pending_files(migrations_dir, applied.applied_ids(dsn))
    if pending:
        raise Refused(
            f"migrations directory {migrations_dir}",
            f"holds migrations that are written but not applied ({', '.join(pending[:3])}"
            f"{', ...' if len(pending) > 3 else ''})",
            "run keyshift migrate first, or delete them before planning again",
        )


def _write_plan(
    migrations_dir: Path, the_plan: Plan, target_keys: list, references: list, shape, rehearsal
) -> list[Path]:
    """The plan's migrations and its manifest written to disk once ``rehearsal(folder, migrations)``
    passes on them (``None``: at once); the paths, the manifest last."""
    migrations = rendermod.render(the_plan)
    files = _files(migrations)
    plan_id = the_plan.plan_id
    checks = [
        (f"{plancheck.folder_name(plan_id)}/{c.name}", c.text().encode("utf-8"))
        for c in plancheck.plan_checks(the_plan)
    ]
    the_manifest = manifestmod.Manifest(
        plan_id=plan_id,
        mode=the_plan.options.mode,
        locks=planmodel.lock_order(the_plan),
        targets=target_keys,
        references=list(references),
        fingerprint=shapemod.fingerprint(target_keys, shape, references),
        objects=shape,
        files={name: manifestmod.sha256(data) for name, data in files},
        sessions=[s.key for s in the_plan.sessions],
        sequences_and_views=planmodel.sequences_and_views(the_plan),
        checks={name.rpartition("/")[2]: manifestmod.sha256(data) for name, data in checks},
        polymorphic=[p.table for p in the_plan.polymorphic],
    )
    manifest = (manifestmod.file_name(plan_id), the_manifest.to_json().encode())
    return _write(
        migrations_dir, [*files, *checks], manifest, lambda staged: rehearsal and rehearsal(staged, migrations)
    )


#: Options that shape the new key of replace mode; external mode keeps the integer key.
_REPLACE_ONLY = (
    ("uuid_for", "--uuid-for"),
    ("timestamp_column", "--timestamp-column"),
    ("slug_column", "--slug-column"),
    ("slug_length", "--slug-length"),
    ("reference", "--reference"),
    ("polymorphic", "--polymorphic"),
    ("polymorphic_type", "--polymorphic-type"),
)


def _refuse_replace_only_options(args) -> None:
    """In external mode these options would be read and silently ignored: refuse them instead."""
    if args.mode != "external":
        return
    for attr, flag in _REPLACE_ONLY:
        value = getattr(args, attr, None)
        if value not in (None, []):
            shown = value[0] if isinstance(value, list) else value
            raise Refused(
                f"{flag} {shown}",
                "is for replace mode: external mode keeps every integer key and reference as it is "
                "and only adds a v4 external uuid column",
                f"leave {flag} out, or plan without --mode external",
            )
    # The same settings for this plan's tables in yoyo.ini would be ignored just as silently.
    per_table, columns = ini_key_settings({parse_qualified(t) for t in args.table})
    found = [f"uuid.{qualname(*t)} = {v}" for t, v in per_table.items()]
    found += [f"{key} = {c}" for key, cols in columns.items() for c in cols]
    if found:
        raise Refused(
            f"yoyo.ini [keyshift] {found[0]}",
            "is for replace mode: external mode keeps every integer key and reference as it is "
            "and only adds a v4 external uuid column",
            "remove that line for these tables, or plan without --mode external",
        )


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


def _write(migrations_dir: Path, files: list[tuple[str, bytes]], manifest: tuple[str, bytes], staged) -> list[Path]:
    """Write every file or none: all go to a temporary folder first, ``staged(folder)`` runs on
    them there (it raises to write nothing), then they move into place, the manifest last. A
    manifest left by a plan whose files were all deleted is replaced (the new plan takes its
    plan id only because none of its .sql files is left)."""
    if migrations_dir.is_dir():
        _clear_orphaned_checks(migrations_dir, manifest[0][: -len(manifestmod.SUFFIX)])
    for name in dict.fromkeys(Path(name).parts[0] for name, _ in files):
        if (migrations_dir / name).exists():
            raise Refused(
                f"file {migrations_dir / name}", "exists already", "remove it or plan into another --migrations"
            )
    plan_id = manifest[0][: -len(manifestmod.SUFFIX)]
    if (migrations_dir / manifest[0]).exists() and any(migrations_dir.glob(f"{plan_id}_*.sql")):
        raise Refused(
            f"file {migrations_dir / manifest[0]}",
            "exists already, with files of its plan",
            "remove them or plan into another --migrations",
        )
    near = migrations_dir if migrations_dir.is_dir() else None  # a folder plan does not create yet
    with tempfile.TemporaryDirectory(dir=near, prefix=".keyshift-plan-") as tmp:
        for name, data in [*files, manifest]:
            (Path(tmp) / name).parent.mkdir(exist_ok=True)
            (Path(tmp) / name).write_bytes(data)
        staged(Path(tmp))
        migrations_dir.mkdir(parents=True, exist_ok=True)
        # A plan's checks travel as one folder: each top-level entry moves once, the manifest last.
        entries = list(dict.fromkeys(Path(name).parts[0] for name, _ in [*files, manifest]))
        for entry in entries:
            if near is None:
                shutil.move(Path(tmp) / entry, migrations_dir / entry)
            else:
                os.replace(Path(tmp) / entry, migrations_dir / entry)
    return [migrations_dir / name for name, _ in [*files, manifest]]


def _clear_orphaned_checks(migrations_dir: Path, plan_id: str) -> None:
    """A plan whose .sql files were all deleted leaves its manifest and its checks folder; the
    new plan takes the plan id, so the check files that orphaned manifest lists are removed,
    and the folder with them when nothing else is in it (anything else stays, and is refused)."""
    folder = migrations_dir / plancheck.folder_name(plan_id)
    if not folder.is_dir() or any(migrations_dir.glob(f"{plan_id}_*.sql")):
        return
    try:
        old = manifestmod.read(migrations_dir, plan_id)
    except KeyshiftError:
        return
    for name in old.checks if old else ():
        (folder / name).unlink(missing_ok=True)
    if not any(folder.iterdir()):
        folder.rmdir()


def _print_plan(p: planmodel.Plan, written: list[Path], dsn: str, lock_window: window.Window) -> None:
    print(f"keyshift plan {p.plan_id} ({p.options.mode}, uuid {p.options.uuid}) on {dsnmod.describe(dsn)}")
    print("tables:")
    for t in p.tables:
        cols = p.columns_of(t.key)
        role = "target" if any(x.table.key == t.key for x in p.targets) else "references a target"
        print(
            f"  {t.display}: {p.row_counts.get(t.key, 0)} rows; converts "
            f"{', '.join(c.column_name + ' (' + c.old_type + ')' for c in cols) or 'nothing'} [{role}]"
        )
    print(f"foreign keys ({len(p.fks)}):")
    for fk in p.fks:
        print(f"  {fk.display}")
    for t in p.targets:
        kind = t.key.sequence_kind or "no sequence"
        print(
            f"key {t.table.display}.{t.key.column_name}: {t.key.data_type}, {kind}"
            + (f" {t.key.seq_schema}.{t.key.seq_name}" if t.key.seq_name else "")
            + f" -> {key_version_line(p, t).split(': ', 1)[1]}"
        )
    print(f"dependent objects ({len(p.views) + len(p.carried)}):")
    for v in p.views:
        print(f"  {v.display} (dropped in 02, re-created in 04)")
    for o in p.carried:
        how = "rebuilt by ALTER ... TYPE" if o.carry == "alter" else "dropped in 02, re-created in 04"
        print(f"  {o.display} ({how})")
    for c, t in p.references.items():
        print(
            f"declared reference {qualname(*c[:2])}.{c[2]} -> {qualname(*t)} (no FK; "
            f"{p.row_counts.get(c[:2], 0)} rows, every value checked against the target)"
        )
    for line in polymorphic.lines(p.polymorphic):
        print(line)
    print(*window.lines(lock_window), sep="\n")
    for w in p.warnings:
        print(f"WARN {visible(w)}")
    for path in written:
        if not path.name.endswith(".rollback.sql"):
            print(f"wrote {path} (+ .rollback.sql)")


def _print_external_plan(p: Plan, written, describe: str, lock_window: window.Window) -> None:
    print(f"keyshift plan {p.plan_id} (external, uuid {p.options.uuid}) on {describe}")
    print("integer keys and foreign keys stay as they are; external ids added:")
    for e in p.external_columns:
        print(
            f"  {e.table.display}.{e.column}: uuid NOT NULL UNIQUE ({e.constraint}) "
            f"DEFAULT {external_default(p.options)}; {e.rows} rows filled"
        )
    for r in p.restarts:
        print(
            f"restart {r.seq_display} ({r.table.display}.{r.key.column_name}, max {r.max_id}): new rows from {r.value}"
        )
    _print_sessions(p)
    print(*window.lines(lock_window), sep="\n")
    for w in p.warnings:
        print(f"WARN {visible(w)}")
    for path in written:
        if not path.name.endswith(".rollback.sql"):
            print(f"wrote {path} (+ .rollback.sql)")


def _print_sessions(p: Plan) -> None:
    for s in p.sessions:
        print(
            f"invalidate sessions {s.display}: {s.rows} rows emptied (TRUNCATE) in the migrate transaction; "
            "users log in again; rollback cannot restore them"
        )
