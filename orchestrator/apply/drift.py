"""Drift and checksums: the files on disk and the live catalog must still be what the plan saw.

Drift. ``plan`` records in the plan's manifest (``<plan_id>.plan.json``, apply/manifest.py)
a fingerprint of every catalog object the plan relies on (DESIGN.md §2: status shows drift):
the targets, the --reference columns, one digest per object (the columns of each touched
table, each target's key and its sequence, each foreign key, index, dependent view, each
CHECK or exclusion constraint, trigger and policy that uses a converted column, and each
blocking dependent), so a refusal can name what changed, and the fingerprint over all of
them. Row counts and sequence values are left out: rows may change freely between plan and
migrate, the shape may not.

``migrate`` re-reads the catalog for the plan's targets inside its transaction, before any
DDL, and refuses (exit 1, nothing changed) when an object differs; ``status`` prints the same
differences as ``DRIFT`` lines.

Checksums. yoyo hashes a migration's id, not its content, so an applied file edited later
goes unnoticed. At apply time we store the sha256 of each migration file and its
``.rollback.sql`` in ``_yoyo_keyshift_applied_file``, created next to yoyo's own tables (the first
schema of the search path) rather than in schema ``keyshift``: rollback drops that schema
with the last conversion, and the record of what was applied must live exactly as long as
yoyo's record of it. The ``_yoyo`` prefix is deliberate: every tool that already leaves yoyo's
bookkeeping out of dumps and schema comparisons (``--exclude-table='_yoyo*'``) leaves ours out too.
``migrate`` refuses to apply anything next to an edited applied file
(rollback would run the edited undo, and the files no longer say what the database holds);
``rollback`` refuses likewise (it would run the edited undo) unless ``--accept-edited``
takes the plan's edited files as they are (their new sha256 is recorded); ``status`` prints
``EDITED <id>`` and exits 0 with a warning.

Every sha256 is of the bytes keyshift read once (source.SourceMigration), the ones that run.

Pending files are compared with the sha256 the manifest records for them (execute.migrate
refuses a difference); ``status`` prints ``EDITED <id>`` for those too, ``UNPLANNED <id>`` for a
file inside a pending plan's numbering that its manifest does not list, and ``UNVERIFIED`` for
a plan whose manifest is missing or unreadable.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from orchestrator import catalog
from orchestrator.apply import manifest as manifestmod
from orchestrator.apply import source
from orchestrator.apply.lost_mappings import lost_mappings
from orchestrator.apply.manifest import Manifest
from orchestrator.apply.shape import differences, fingerprint, objects
from orchestrator.apply.source import plan_id_of
from orchestrator.catalog import Catalog, Snapshot
from orchestrator.errors import MigrationFailed
from orchestrator.plan.ownership import MIGRATION_TABLE

CHECKSUM_TABLE = "_yoyo_keyshift_applied_file"


# --- reading the live catalog -----------------------------------------------------------


class _ShapeCatalog(Catalog):
    """The catalog without row counts: drift is about shape, and counting rows inside the
    migrate transaction would read every table once more."""

    def row_count(self, schema: str, name: str) -> int:
        return 0


def table_columns(cat: Catalog, snap: Snapshot) -> dict[tuple[str, str], list[dict]]:
    return {key: [dict(r) for r in cat._rows("table_columns", {"relid": t.relid})] for key, t in snap.tables.items()}


def live_objects(
    conn: psycopg.Connection, targets: list[tuple[str, str]], references=(), polymorphic=()
) -> dict[str, str]:
    """Read the catalog for ``targets`` (and --reference columns, and the tables of generic
    relations) the same way at plan and at migrate time, whatever the mode; keep the
    connection's search_path."""
    path = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    try:
        cat = _ShapeCatalog(conn)
        found = []
        for schema, name in targets:
            table = cat.table(schema, name)
            if table is None or len(table.pk_columns) != 1:
                continue  # its "columns of"/"key" objects go missing: reported as gone
            found.append((table, cat.key_column(table.relid, table.pk_columns[0])))
        snap = catalog.snapshot(cat, found, references)
        generic = [t for t in (cat.table(*key) for key in polymorphic) if t is not None]
        columns = table_columns(cat, snap)
        columns.update({t.key: [dict(r) for r in cat._rows("table_columns", {"relid": t.relid})] for t in generic})
        return objects(snap, columns, generic)
    finally:
        conn.execute("SELECT set_config('search_path', %s, false)", (path,))


def drift_of(conn: psycopg.Connection, rec: Manifest) -> list[str]:
    """Differences between the catalog a plan's manifest records and the live catalog."""
    now = live_objects(conn, rec.targets, rec.references, rec.polymorphic)
    if fingerprint(rec.targets, now, rec.references) == rec.fingerprint:
        return []
    return differences(rec.objects, now) or ["the catalog fingerprint differs"]


# --- checksums --------------------------------------------------------------------------


def _recorded_sums(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (CHECKSUM_TABLE,)).fetchone()[0]
    if not exists:
        return {}
    q = sql.SQL("SELECT migration_id, file_sha256, rollback_sha256 FROM {}").format(sql.Identifier(CHECKSUM_TABLE))
    return {r[0]: (r[1], r[2]) for r in conn.execute(q)}


def edited(conn: psycopg.Connection, applied: list) -> list[tuple[str, str]]:
    """(migration id, which file) for every applied migration whose file changed since apply
    (the sha256 of the bytes keyshift read, source.SourceMigration, against the recorded one)."""
    sums = _recorded_sums(conn)
    out = []
    for m in applied:
        if m.id not in sums:
            continue
        m.load()
        if m.sha256 != sums[m.id][0]:
            out.append((m.id, Path(m.path).name))
        if sums[m.id][1] is not None and m.rollback_sha256 != sums[m.id][1]:
            out.append((m.id, m.rollback_path.name))
    return out


def unrecorded(conn: psycopg.Connection, applied: list) -> list[str]:
    sums = _recorded_sums(conn)
    return [m.id for m in applied if m.id not in sums]


def _record(conn: psycopg.Connection, pending: list) -> None:
    """Record the sha256 of each migration's bytes as read (and run) and of its undo's."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (\n"
            "    migration_id text PRIMARY KEY,\n"
            "    file_sha256 text NOT NULL,\n"
            "    rollback_sha256 text,\n"
            "    applied_at timestamptz NOT NULL DEFAULT now()\n)"
        ).format(sql.Identifier(CHECKSUM_TABLE))
    )
    for m in pending:
        m.load()
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (migration_id, file_sha256, rollback_sha256) VALUES (%s, %s, %s)"
                " ON CONFLICT (migration_id) DO UPDATE SET file_sha256 = excluded.file_sha256,"
                " rollback_sha256 = excluded.rollback_sha256, applied_at = excluded.applied_at"
            ).format(sql.Identifier(CHECKSUM_TABLE)),
            (m.id, m.sha256, m.rollback_sha256),
        )


# --- the two entry points ---------------------------------------------------------------


def _plans(migrations: list) -> list[str]:
    """The plan ids among ``migrations``, in order, each once."""
    return list(dict.fromkeys(pid for m in migrations if (pid := plan_id_of(m.id))))


def guard_migrate(conn: psycopg.Connection, migrations: list, pending: list, manifests: dict[str, Manifest]) -> None:
    """Called by execute.migrate inside its transaction, before any migration runs.

    Refuses (MigrationFailed, exit 1) when an applied file was edited, or when the catalog
    drifted from what a pending plan's manifest records; otherwise records the checksums of
    ``pending`` (same transaction: they are kept only if the migrations commit). A database
    error is one line (MigrationFailed), never a traceback.
    """
    try:
        _guard_migrate(conn, migrations, pending, manifests)
    except psycopg.Error as exc:
        raise _db_failed("migrate's drift and checksum check", exc) from None


def _db_failed(where: str, exc: psycopg.Error) -> MigrationFailed:
    message = exc.diag.message_primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return MigrationFailed(
        where, f"failed in the database ({message})", "nothing was committed; fix the cause and run the command again"
    )


def _guard_migrate(conn: psycopg.Connection, migrations: list, pending: list, manifests: dict[str, Manifest]) -> None:
    pending_ids = {m.id for m in pending}
    applied = [m for m in migrations if m.id not in pending_ids]
    changed = edited(conn, applied)
    if changed:
        listed = ", ".join(f"{name}" for _mid, name in changed)
        raise MigrationFailed(
            f"migration files {listed}",
            "were edited after they were applied (sha256 differs from the one recorded at apply time)",
            "restore them exactly as applied (e.g. git checkout) and run migrate again; nothing was changed",
        )
    for pid in _plans(pending):
        diffs = drift_of(conn, manifests[pid])
        if diffs:
            raise MigrationFailed(
                f"plan {pid}",
                "the database changed since it was planned: " + "; ".join(diffs),
                f"nothing was changed; re-plan: delete the unapplied {pid}_* files and run keyshift plan again",
            )
    _record(conn, pending)


#: What to do about a file that no plan wrote inside a plan's numbering.
UNPLANNED_FIX = "move it out of the plan's numbering (rename it after the plan's files) or delete it"


def unplanned(pending: list, pid: str, rec: Manifest | None) -> list:
    """The pending migrations whose file name starts with plan ``pid``'s id and ``_`` but
    that the plan's manifest does not list: no plan wrote them there."""
    files = rec.files if rec is not None else {}
    return [
        m for m in pending if plan_id_of(m.id) != pid and m.id.startswith(f"{pid}_") and Path(m.path).name not in files
    ]


def _applied_ids(conn: psycopg.Connection) -> set[str]:
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATION_TABLE,)).fetchone()[0]:
        return set()
    q = sql.SQL("SELECT migration_id FROM {}").format(sql.Identifier(MIGRATION_TABLE))
    return {r[0] for r in conn.execute(q)}


def guard_rollback(conn: psycopg.Connection, migrations: list, batch: list, accept_edited: bool) -> list:
    """Called by execute.rollback before anything runs.

    Rollback runs the .rollback.sql files of ``batch`` as keyshift read them: refuse when an
    applied migration or its undo was edited since it was applied (exit 1, nothing changed).
    With ``accept_edited`` the edited files of ``batch`` are taken as they are now and
    returned: :func:`record_checksums` records their new sha256 inside the rollback's
    transaction; an edited file of another plan is refused all the same. A database error is
    one line."""
    try:
        applied_ids = _applied_ids(conn)
        applied = [m for m in migrations if m.id in applied_ids]
        changed = edited(conn, applied)
    except psycopg.Error as exc:
        raise _db_failed("rollback's checksum check", exc) from None
    batch_ids = {m.id for m in batch}
    accepted = {mid for mid, _name in changed if accept_edited and mid in batch_ids}
    refused = [name for mid, name in changed if mid not in accepted]
    if refused:
        raise MigrationFailed(
            f"migration files {', '.join(refused)}",
            "were edited after they were applied, and rollback would run them as they are now",
            "restore them exactly as applied (e.g. git checkout) and roll back again, or pass --accept-edited "
            "to run the plan's files as they are now; nothing was changed",
        )
    return [m for m in batch if m.id in accepted]


def record_checksums(conn: psycopg.Connection, migrations: list) -> None:
    """Record the sha256 of ``migrations`` as keyshift read them (rollback --accept-edited)."""
    if not migrations:
        return
    try:
        _record(conn, migrations)
    except psycopg.Error as exc:
        raise _db_failed("rollback's checksum record", exc) from None


def status_lines(dsn: str, migrations_dir: Path) -> tuple[list[str], list[str]]:
    """(lines for stdout, warnings for stderr): EDITED, UNVERIFIED and DRIFT lines."""
    from orchestrator.connect import dsn as dsnmod

    migrations = list(source.load_dir(migrations_dir))
    lines, warnings = [], []
    with dsnmod.connect(dsn, autocommit=True) as conn:
        applied_ids = _applied_ids(conn)
        applied = [m for m in migrations if m.id in applied_ids]
        pending = [m for m in migrations if m.id not in applied_ids]
        for mid, name in edited(conn, applied):
            lines.append(f"EDITED {mid} ({name} changed since it was applied)")
        for mid in unrecorded(conn, applied):
            lines.append(f"UNVERIFIED {mid} (applied without a recorded checksum)")
        for pid in _plans(pending):
            try:
                rec = manifestmod.read(migrations_dir, pid)
            except MigrationFailed as exc:
                lines.append(f"UNVERIFIED plan {pid} ({exc.obj} {exc.reason}; migrate refuses it: {exc.fix})")
                continue
            ours = [m for m in pending if plan_id_of(m.id) == pid]
            if rec is None:
                lines.append(
                    f"UNVERIFIED plan {pid} (no manifest {manifestmod.file_name(pid)}; "
                    "migrate refuses it: plan it again)"
                )
                continue
            for m in unplanned(pending, pid, rec):
                lines.append(
                    f"UNPLANNED {m.id} ({Path(m.path).name} is in plan {pid}'s numbering but not in "
                    f"its manifest; migrate refuses it: {UNPLANNED_FIX})"
                )
            for m in ours:
                for path, how in rec.changed(m.digests()):
                    lines.append(
                        f"EDITED {m.id} ({path.name} {how} {pid}; migrate refuses it: plan again, "
                        "or migrate --accept-edited)"
                    )
            for d in drift_of(conn, rec):
                lines.append(f"DRIFT plan {pid}: {d}")
        for pid in sorted({plan_id_of(m.id) for m in applied} - {None}):
            for lost in lost_mappings(conn, pid):
                lines.append(f"NO ROLLBACK plan {pid}: {lost}; rollback refuses until it is restored")
    if any(x.startswith("EDITED") and "since it was applied" in x for x in lines):
        warnings.append("applied migration files were edited: restore them as applied; migrate refuses until then")
    if any(x.startswith("EDITED") and "after plan" in x for x in lines):
        warnings.append(
            "pending migration files differ from their plan's manifest: plan again, or run "
            "migrate --accept-edited to apply them as they are"
        )
    if any(x.startswith("UNPLANNED") for x in lines):
        warnings.append(
            "files no plan wrote sit inside a pending plan's numbering: migrate refuses until they are moved or deleted"
        )
    if any(x.startswith("DRIFT") for x in lines):
        warnings.append(
            "the database changed since a pending plan was written: delete its unapplied files "
            "and run keyshift plan again; migrate refuses until then"
        )
    return lines, warnings
