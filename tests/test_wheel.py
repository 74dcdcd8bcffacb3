"""keyshift as a user installs it: a wheel built from the repository, installed into a fresh venv
outside it, and run from an unrelated directory.

The wheel is built from a copy of the package's sources (pyproject.toml, orchestrator/, sql/,
checks/), so nothing is written into the repository. The fresh venv holds the wheel alone; its
dependencies come from the running interpreter's site-packages through a ``.pth`` line, so the
test needs no network. From a project directory under the test's tmp dir it runs ``--version``,
``init``, then plan -> migrate -> check -> rollback against the test's PostgreSQL, and asserts
that every file of checks/ ran from the wheel's own copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import psycopg
import pytest
from conftest import ROOT, load_seed000

import orchestrator

SOURCES = ("orchestrator", "sql", "checks")


def _run(argv: list, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def build_wheel(tmp: Path) -> Path:
    """``pip wheel`` of a copy of the sources; the path of the one wheel it wrote."""
    src = tmp / "src"
    src.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", src)
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src], tmp, timeout=300))
    (wheel,) = (tmp / "dist").glob("keyshift-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """A fresh venv holding the wheel; its dependencies read from this interpreter's
    site-packages. The path of its ``keyshift`` script."""
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv], venv.parent))
    python = venv / "bin" / "python"
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel], venv.parent))
    site = _ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], venv.parent)).strip()
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site) / "keyshift_dependencies.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    return venv / "bin" / "keyshift"


def reported_checks(stdout: str) -> dict[str, str]:
    """check's lines ``checks/NAME.sql .... STATUS``: {NAME.sql: STATUS}."""
    return {m[1]: m[2] for m in re.finditer(r"^checks/(\S+\.sql) \.+ (.+)$", stdout, re.M)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    return install(build_wheel(tmp), tmp / "venv")


def test_the_installed_wheel_carries_sql_and_checks_inside_its_package(installed):
    python = installed.parent / "python"
    where = _ok(
        _run(
            [python, "-c", "from orchestrator import resources as r; print(r.SQL_DIR); print(r.CHECKS_DIR)"],
            installed.parent,
        )
    )
    sql_dir, checks_dir = (Path(line) for line in where.split())
    venv = installed.parent.parent
    assert sql_dir.is_relative_to(venv) and checks_dir.is_relative_to(venv), where
    shipped = sorted(p.relative_to(ROOT / "sql") for p in (ROOT / "sql").rglob("*.sql"))
    assert sorted(p.relative_to(sql_dir) for p in sql_dir.rglob("*.sql")) == shipped
    assert sorted(p.name for p in checks_dir.glob("*.sql")) == sorted(p.name for p in (ROOT / "checks").glob("*.sql"))


def test_installed_keyshift_runs_from_any_directory(installed, dsn, tmp_path):
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_seed000(conn)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _ok(_run([installed, "--version"], elsewhere)).strip() == f"keyshift {orchestrator.__version__}"

    _ok(_run([installed, "init", "project"], elsewhere))
    project = elsewhere / "project"
    assert "[keyshift]" in (project / "yoyo.ini").read_text() and not any((project / "migrations").iterdir())
    again = _run([installed, "init", "project"], elsewhere)
    assert again.returncode == 3 and len(again.stderr.splitlines()) == 1, again.stderr
    assert "already exists" in again.stderr

    _ok(_run([installed, "plan", "--dsn", dsn, "--table", "public.custom_user"], project))
    assert sorted((project / "migrations").glob("*_05_*.sql")), "plan wrote no migration into ./migrations"
    _ok(_run([installed, "migrate", "--dsn", dsn], project))
    checked = _run([installed, "check", "--dsn", dsn], project)
    ran = reported_checks(checked.stdout)
    files = sorted(p.name for p in (ROOT / "checks").glob("*.sql"))
    assert checked.returncode == 0 and sorted(ran) == files, checked.stdout + checked.stderr
    assert all(status == "ok" or status.startswith("skipped (") for status in ran.values()), checked.stdout
    _ok(_run([installed, "rollback", "--dsn", dsn], project))
    with psycopg.connect(dsn) as conn:
        key_type = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'public.custom_user'::regclass AND attname = 'id'"
        ).fetchone()[0]
    assert key_type in ("integer", "bigint"), key_type


def test_installed_check_without_its_check_files_fails_loudly(installed, dsn, tmp_path):
    venv = installed.parent.parent
    broken = tmp_path / "venv"
    shutil.copytree(venv, broken, symlinks=True)
    (checks_dir,) = broken.glob("lib/python*/site-packages/orchestrator/checks")
    shutil.rmtree(checks_dir)
    result = _run([broken / "bin" / "python", "-m", "orchestrator", "check", "--dsn", dsn], tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "does not exist" in result.stderr and str(checks_dir) in result.stderr, result.stderr
    assert "0 checks" not in result.stdout + result.stderr
