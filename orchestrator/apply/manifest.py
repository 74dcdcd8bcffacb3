"""The plan manifest: ``<migrations>/<plan_id>.plan.json``, written by ``keyshift plan`` with
the plan's .sql files (yoyo reads only .sql and .py files, so it never takes it for one).

It holds, from the Plan structure, what migrate and rollback need without reading SQL back:

- ``mode``, ``locks`` and ``sequences_and_views``: the tables the plan locks, in order
  (``plan.lock_order``), then its key sequences and views (``plan.sequences_and_views``), as
  [schema, name]; migrate takes every one of these locks before its drift check, rollback
  before it changes anything (apply/locks.take_every_lock).
- ``targets``, ``references``, ``fingerprint`` and ``objects``: the catalog the plan relied
  on (shape.objects / shape.fingerprint); migrate refuses when it changed.
- ``checks``: the sha256 of every check file of the plan (``<plan_id>.checks/<claim>.sql``, the
  claims that read the plan's own tables); migrate refuses one that differs, is missing or was
  added, and runs them with checks/*.sql.
- ``files``: the sha256 of every .sql and .rollback.sql file written for the plan. migrate
  (and rollback, for a .rollback.sql) refuses a file that differs: what was reviewed is what
  runs. ``--accept-edited`` runs it as it is and records its new sha256 here. Each name is
  a plain file name of the plan (``<plan_id>_*.sql``), never a path.

A manifest is read as untrusted input: every lock entry must be a table whose columns the
manifest fingerprints (a target or a table that references one), so a lock list can name no
catalog or other table, and a table that is gone is named by the drift check. The manifest
catches accidental and unreviewed edits of the files; whoever can write the files can also
rewrite it. Files already applied are checked against the checksums recorded in the
database (orchestrator/apply/drift.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import MigrationFailed

FORMAT = 1
SUFFIX = ".plan.json"


def file_name(plan_id: str) -> str:
    return f"{plan_id}{SUFFIX}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    plan_id: str
    mode: str
    locks: list[tuple[str, str]]
    targets: list[tuple[str, str]]
    references: list[tuple[tuple[str, ...], tuple[str, ...]]]
    fingerprint: str
    objects: dict[str, str]
    files: dict[str, str]
    #: external mode's --invalidate-sessions tables: locked and emptied, not fingerprinted
    sessions: list[tuple[str, str]] = field(default_factory=list)
    #: the key sequences and views locked after the tables (none in a manifest written without them)
    sequences_and_views: list[tuple[str, str]] = field(default_factory=list)
    #: the sha256 of each of the plan's check files, by file name inside ``<plan_id>.checks/``
    checks: dict[str, str] = field(default_factory=dict)
    #: the tables of the generic relations the plan remaps (--polymorphic): locked and fingerprinted
    polymorphic: list[tuple[str, str]] = field(default_factory=list)
    path: Path | None = field(default=None, compare=False)

    def to_json(self) -> str:
        data = {
            "format": FORMAT,
            "plan_id": self.plan_id,
            "mode": self.mode,
            "locks": [list(t) for t in self.locks],
            "sequences_and_views": [list(t) for t in self.sequences_and_views],
            "targets": [list(t) for t in self.targets],
            "references": [[list(c), list(t)] for c, t in self.references],
            "fingerprint": self.fingerprint,
            "objects": dict(sorted(self.objects.items())),
            "files": dict(sorted(self.files.items())),
            "checks": dict(sorted(self.checks.items())),
        }
        if self.sessions:
            data["sessions"] = [list(t) for t in self.sessions]
        if self.polymorphic:
            data["polymorphic"] = [list(t) for t in self.polymorphic]
        return json.dumps(data, indent=2, ensure_ascii=True) + "\n"

    def changed(self, digests: dict[Path, str | None]) -> list[tuple[Path, str]]:
        """(file, how) for each file of ``digests`` (path -> sha256 of the bytes read, None:
        no such file) that is not as planned: "edited after plan", "added after plan" (no
        record), or "deleted after plan" (recorded, gone)."""
        out = []
        for path, now in digests.items():
            recorded = self.files.get(path.name)
            if recorded == now:
                continue
            how = (
                "added after plan" if recorded is None else "deleted after plan" if now is None else "edited after plan"
            )
            out.append((path, how))
        return out

    def record(self, digests: dict[Path, str | None]) -> None:
        """Take the files as they ran as planned (``--accept-edited``; path -> sha256 of the
        bytes that ran, None: no such file), rewriting the manifest in place atomically."""
        for path, now in digests.items():
            if now is None:
                self.files.pop(path.name, None)
            else:
                self.files[path.name] = now
        assert self.path is not None
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keyshift-manifest-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(self.to_json().encode("utf-8"))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _bad(path: Path, why: str) -> MigrationFailed:
    return MigrationFailed(
        f"plan manifest {path}",
        why,
        "restore it as plan wrote it (e.g. git checkout), or plan again; nothing was changed",
    )


def _pair(value, n: int, path: Path) -> tuple[str, ...]:
    if not (isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value)):
        raise _bad(path, f"holds {json.dumps(value, ensure_ascii=True)[:80]} where a list of {n} names belongs")
    return tuple(value)


def _plain_file_name(name: str, plan_id: str) -> bool:
    """A file name of plan ``plan_id`` (``<plan_id>_*.sql``) with no directory part."""
    return (
        name.startswith(f"{plan_id}_")
        and name.endswith(".sql")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and Path(name).name == name
    )


def _columns_of(schema: str, table: str) -> str:
    """The name under which shape.objects fingerprints a table's columns."""
    from orchestrator.names import qualname

    return f"columns of {qualname(schema, table)}"


def _check(path: Path, found: Manifest) -> Manifest:
    """Refuse a manifest whose file names or lock entries keyshift plan cannot have written."""
    for name in found.files:
        if not _plain_file_name(name, found.plan_id):
            raise _bad(
                path,
                f"lists the file {json.dumps(name, ensure_ascii=True)[:80]}, which is not a plain "
                f"file name of plan {found.plan_id} ({found.plan_id}_*.sql)",
            )
    for name in found.checks:
        if not (name.endswith(".sql") and Path(name).name == name and "\\" not in name and "\0" not in name):
            raise _bad(
                path,
                f"lists the check file {json.dumps(name, ensure_ascii=True)[:80]}, which is not a plain file "
                f"name in {found.plan_id}.checks/",
            )
    sessions = set(found.sessions)
    for schema, table in [*found.locks, *found.sessions]:
        if (
            schema.startswith("pg_")
            or schema == "information_schema"
            or (_columns_of(schema, table) not in found.objects and (schema, table) not in sessions)
        ):
            raise _bad(
                path,
                f"locks {json.dumps([schema, table], ensure_ascii=True)[:80]}, which is not a table "
                "the plan fingerprints or empties",
            )
    for schema, name in found.sequences_and_views:
        if schema.startswith("pg_") or schema == "information_schema":
            raise _bad(
                path,
                f"locks {json.dumps([schema, name], ensure_ascii=True)[:80]}, which is in a system schema",
            )
    return found


def read(migrations_dir: Path, plan_id: str) -> Manifest | None:
    """The manifest of plan ``plan_id``; None when there is none. A file that is not the
    manifest keyshift writes is refused by name."""
    path = migrations_dir / file_name(plan_id)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("plan_id") != plan_id:
        raise _bad(path, f"is not a format-{FORMAT} manifest of plan {plan_id}")
    try:
        # A manifest without "checks" predates the plan's own checks: its plan has none to compare.
        files, objects, checks = data["files"], data["objects"], data.get("checks", {})
        if not (
            isinstance(files, dict)
            and isinstance(objects, dict)
            and isinstance(checks, dict)
            and all(isinstance(v, str) for v in [*files.values(), *objects.values(), *checks.values()])
        ):
            raise _bad(path, "has files, objects or checks that are not name -> digest maps")
        return _check(
            path,
            Manifest(
                plan_id=plan_id,
                mode=str(data["mode"]),
                locks=[_pair(t, 2, path) for t in data["locks"]],
                targets=[_pair(t, 2, path) for t in data["targets"]],
                references=[(_pair(c, 3, path), _pair(t, 2, path)) for c, t in data["references"]],
                fingerprint=str(data["fingerprint"]),
                objects=dict(objects),
                files=dict(files),
                sessions=[_pair(t, 2, path) for t in data.get("sessions", [])],
                sequences_and_views=[_pair(t, 2, path) for t in data.get("sequences_and_views", [])],
                checks=dict(checks),
                polymorphic=[_pair(t, 2, path) for t in data.get("polymorphic", [])],
                path=path,
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, f"lacks or mangles {exc}") from None
