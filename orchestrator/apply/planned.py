"""What runs, compared with what was planned: every file of a plan against the plan's manifest
(``<plan_id>.plan.json``), before the transaction opens.

A plan without a manifest, a file in a plan's numbering that its manifest does not list, a file
that differs from the sha256 the manifest records, a plan only partly applied: each is refused in
one line, nothing changed. With --accept-edited a differing file runs as it is, and
``record_accepted`` writes its sha256 into the manifest after COMMIT.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from orchestrator.apply import drift, source
from orchestrator.apply import manifest as manifestmod
from orchestrator.apply.messages import to_stderr
from orchestrator.apply.source import plan_id_of
from orchestrator.errors import MigrationFailed
from orchestrator.verify import checks

#: The folder of a plan's own checks, next to its migrations (orchestrator/render/checks.py writes it).
CHECKS_SUFFIX = ".checks"


def manifests_of(migrations_dir: Path, batch: list) -> OrderedDict[str, manifestmod.Manifest | None]:
    """The manifest of every plan in ``batch`` (by plan id, in batch order); None for a plan
    that has none. Migrations that no plan wrote have no plan id and no manifest."""
    out: OrderedDict = OrderedDict()
    for m in batch:
        pid = plan_id_of(m.id)
        if pid is not None and pid not in out:
            out[pid] = manifestmod.read(migrations_dir, pid)
    return out


def refuse_unplanned(manifests: dict, fix: str) -> None:
    for pid, found in manifests.items():
        if found is None:
            raise MigrationFailed(
                f"plan {pid}",
                f"has no manifest {manifestmod.file_name(pid)}, so what runs cannot be compared with what was planned",
                fix,
            )


def refuse_unplanned_files(pending: list, manifests: dict) -> None:
    """A pending file inside a pending plan's numbering (``<plan_id>_...``) that the plan's
    manifest does not list was written by no plan: refuse it (--accept-edited does not take it)."""
    for pid, found in manifests.items():
        for m in drift.unplanned(pending, pid, found):
            raise MigrationFailed(
                f"migration file {Path(m.path).name}",
                f"is in plan {pid}'s numbering but not in its manifest {manifestmod.file_name(pid)}",
                f"{drift.UNPLANNED_FIX}; nothing was changed",
            )


def pending_files(migrations_dir: Path, pending: list, manifests: dict) -> list[tuple[str, Path, str | None]]:
    """(plan id, path, sha256) of every file of the pending plans: each sha256 is of the bytes
    load() read, the ones that run (nothing is read twice), and a planned file that no pending
    migration reads is read for its sha256 (None: deleted)."""
    files = [(pid, path, digest) for m in pending if (pid := plan_id_of(m.id)) for path, digest in m.digests().items()]
    seen = {(pid, path) for pid, path, _d in files}
    for pid, found in manifests.items():
        files += [
            (pid, migrations_dir / name, _digest_of(migrations_dir / name))
            for name in sorted(found.files)
            if (pid, migrations_dir / name) not in seen
        ]
    return files


def refuse_edited(manifests: dict, files: list[tuple[str, Path, str | None]], accept: bool, fix: str) -> list:
    """Compare ``files`` ((plan id, path, sha256 of the bytes read; None: no such file))
    with their plans' manifests. Without ``accept``, refuse any that differs, in one line;
    with it, return (manifest, {path: sha256}) to record once the transaction has committed."""
    changed: list[tuple[str, Path, str]] = []
    digests: dict[Path, str | None] = {}
    for pid, path, digest in files:
        digests[path] = digest
        changed += [(pid, p, how) for p, how in manifests[pid].changed({path: digest})]
    if not changed:
        return []
    if not accept:
        named = ", ".join(f"{p.name} ({how} {pid})" for pid, p, how in changed)
        raise MigrationFailed(
            f"migration file{'s' if len(changed) > 1 else ''} {named}",
            "differ" + ("" if len(changed) > 1 else "s") + " from what the plan's manifest records "
            f"({', '.join(sorted({manifestmod.file_name(pid) for pid, _p, _h in changed}))})",
            fix,
        )
    to_record: dict[str, dict[Path, str | None]] = {}
    for pid, path, _how in changed:
        to_record.setdefault(pid, {})[path] = digests[path]
    return [(manifests[pid], recorded) for pid, recorded in to_record.items()]


def _digest_of(path: Path) -> str | None:
    """sha256 of a file that does not run (a planned file no pending migration reads)."""
    data = source.read_bytes(path)
    return None if data is None else source.sha256(data)


def record_accepted(to_record: list, notice=None) -> None:
    """After COMMIT: the files that ran as edited (--accept-edited) are the plan now. A
    manifest that cannot be rewritten is said on stderr; what committed stays committed. The
    sha256 recorded is that of the bytes that ran, never of the file read again."""
    for found, paths in to_record:
        try:
            found.record(paths)
        except OSError as exc:
            (notice or to_stderr)(
                f"plan manifest {found.path}: could not record "
                f"{', '.join(p.name for p in paths)} as run ({exc}); the migration is "
                "committed; pass --accept-edited to rollback for these files"
            )


def refuse_partial_plans(pending, applied_ids: set[str]) -> None:
    for m in pending:
        pid = plan_id_of(m.id)
        if pid and any(plan_id_of(a) == pid for a in applied_ids):
            raise MigrationFailed(
                f"plan {pid}",
                f"is partly applied already, and {m.id} is pending",
                "a plan's migrations share a per-transaction key and must be applied together; "
                "roll back the applied part (keyshift rollback) and migrate again",
            )


def plan_checks(migrations_dir: Path, manifests: dict) -> list[checks.Check]:
    """The check files of every plan in ``manifests`` (``<plan_id>.checks/*.sql``), each read
    once and compared with the sha256 its manifest records: a check file edited, added or
    deleted since plan is refused, in one line, before anything runs (--accept-edited does not
    take it: a claim is not edited into passing)."""
    loaded = []
    for pid, found in manifests.items():
        folder = migrations_dir / f"{pid}{CHECKS_SUFFIX}"
        on_disk = sorted(p.name for p in folder.glob("*.sql")) if folder.is_dir() else []
        for name in sorted({*on_disk, *found.checks}):
            data = source.read_bytes(folder / name)
            recorded = found.checks.get(name)
            digest = None if data is None else source.sha256(data)
            if digest != recorded:
                how = (
                    "added after plan"
                    if recorded is None
                    else "deleted after plan"
                    if data is None
                    else "edited after plan"
                )
                raise MigrationFailed(
                    f"check file {folder.name}/{name}",
                    f"was {how}: it differs from what {manifestmod.file_name(pid)} records",
                    "restore it as plan wrote it (e.g. git checkout), or plan again; nothing was changed",
                )
            loaded.append(checks.check_of(f"{folder.name}/{name}", folder / name, data, pid))
    return loaded
