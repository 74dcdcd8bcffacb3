"""Real PostgreSQL for every test: one server per session via pytest-postgresql, one fresh
database per test.

As root, PostgreSQL refuses to start; pg_ctl then runs through a small wrapper that puts it
in a new user namespace (``unshare --user``), see DESIGN.md §5 and orchestrator/connect/embedded.py.
"""

from __future__ import annotations

import faulthandler
import importlib
import itertools
import logging
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pytest_postgresql import factories

from orchestrator.apply import redis_step  # noqa: F401 - imported once here, not in every forked CLI child
from orchestrator.cli import main as cli_main
from orchestrator.connect import embedded
from orchestrator.report import export  # noqa: F401 - imported once here, not in every forked CLI child

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _pg_ctl_executable() -> str:
    real = embedded.bindir() / "pg_ctl"
    if os.geteuid() != 0:
        return str(real)
    wrapper_dir = Path(tempfile.mkdtemp(prefix="keyshift-pgctl-"))
    wrapper = wrapper_dir / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec unshare --user "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(wrapper)


postgresql_proc = factories.postgresql_proc(
    executable=_pg_ctl_executable(),
    host="127.0.0.1",
    port=None,
    user="postgres",
    postgres_options="-c fsync=off -c full_page_writes=off -c max_connections=200",
)

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server(postgresql_proc):
    """(host, port, user) of the session's server."""
    return postgresql_proc


def _admin(proc) -> psycopg.Connection:
    return psycopg.connect(host=proc.host, port=proc.port, user=proc.user, dbname="postgres", autocommit=True)


@pytest.fixture
def dsn(postgresql_proc):
    """A fresh, empty database for this test; its libpq DSN."""
    name = f"t{os.getpid()}_{next(_counter)}"
    with _admin(postgresql_proc) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"host={postgresql_proc.host} port={postgresql_proc.port} user={postgresql_proc.user} dbname={name}"
    with _admin(postgresql_proc) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def conn(dsn):
    """An autocommit connection to the test's database."""
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


#: KEYSHIFT_TEST_SPAWN=1: every CLI call starts a new interpreter (``python -m orchestrator``).
SPAWN = os.environ.get("KEYSHIFT_TEST_SPAWN") == "1"


def run_keyshift(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process, as a user would: its own pid, environment, working
    directory, stdout, stderr and exit code.

    The child is forked from this already-started interpreter and calls the same
    ``orchestrator.cli.main.main()`` that ``python -m orchestrator`` calls, so it skips only Python's
    start-up and imports: about 0.3 s of the 0.4 s an average call took, over some 800 calls per
    suite run. Tests that signal or measure the process (SIGKILL, SIGINT, peak memory) start
    ``python -m orchestrator`` themselves, and KEYSHIFT_TEST_SPAWN=1 makes this function do it too.
    """
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if env:
        full_env.update(env)
    argv = [sys.executable, "-m", "orchestrator", *args]
    if SPAWN:
        return subprocess.run(argv, cwd=cwd or ROOT, env=full_env, capture_output=True, text=True, timeout=600)
    return _forked_cli(argv, list(args), cwd or ROOT, full_env)


def _forked_cli(argv: list[str], args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                # What a new interpreter would have: its own stdout and stderr (stderr with
                # backslashreplace, as Python's), warnings and logging printed there rather than
                # recorded by pytest's hooks, no pytest faulthandler.
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)
                faulthandler.disable()
                importlib.reload(warnings)  # out of pytest's catch_warnings: filters and printer anew
                logging.root.handlers.clear()
                sys.unraisablehook = sys.__unraisablehook__
                os.environ.clear()
                os.environ.update(env)
                os.chdir(cwd)
                sys.argv = [argv[0], *args]
                embedded.STATE = Path(os.environ.get("KEYSHIFT_HOME", ROOT / ".keyshift"))
                try:
                    code = cli_main.main(args)
                except SystemExit as exc:
                    if exc.code is not None and not isinstance(exc.code, int):
                        print(exc.code, file=sys.stderr)
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - a traceback, exit 1, as the interpreter would
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code if isinstance(code, int) else 1)
        deadline = time.monotonic() + 600
        try:
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(argv, 600)
                time.sleep(0.002)
        except BaseException:  # a timeout, or the test run interrupted: no child left behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        out.seek(0)
        err.seek(0)
        # as subprocess.run(text=True) reads them: universal newlines
        text = [f.read().decode().replace("\r\n", "\n").replace("\r", "\n") for f in (out, err)]
        return subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(status), *text)


def load_fixture(conn: psycopg.Connection, case: str) -> None:
    """Load tests/fixtures/<case>/schema.sql (and data.sql when present)."""
    for name in ("schema.sql", "data.sql"):
        path = FIXTURES / case / name
        if path.exists():
            conn.execute(path.read_text())


SAMPLE = ROOT / "sql" / "sample"


def load_sql(conn: psycopg.Connection, *paths: Path, scale: int | None = None) -> None:
    """Execute whole SQL files; data generators read their size from keyshift.sample_scale."""
    if scale is not None:
        conn.execute("SELECT set_config('keyshift.sample_scale', %s, false)", (str(scale),))
    for path in paths:
        conn.execute(path.read_text())


def load_seed000(conn: psycopg.Connection, scale: int = 300) -> None:
    load_sql(conn, SAMPLE / "seed000_schema.sql", SAMPLE / "seed000_data.sql", scale=scale)


#: KEYSHIFT_TEST_REHEARSE=1: every plan the helpers run rehearses (as a user's does by default).
REHEARSE = os.environ.get("KEYSHIFT_TEST_REHEARSE") == "1"


def keyshift(dsn: str, command: str, *args: str, migrations: Path | None = None) -> subprocess.CompletedProcess:
    """Run one keyshift command against ``dsn`` (and ``migrations``), as a user would. A plan
    runs with --no-rehearse unless its arguments hold ``--rehearse`` (taken out here) or
    KEYSHIFT_TEST_REHEARSE=1: the rehearsal has its own tests (tests/test_rehearse.py). A plan
    without --throughput gets one, sparing it the throughput probe, which has its own tests
    (tests/test_lock_window.py)."""
    if command == "plan" and "--rehearse" in args:
        args = tuple(a for a in args if a != "--rehearse")
    elif command == "plan" and not REHEARSE and "--no-rehearse" not in args:
        args = (*args, "--no-rehearse")
    if command == "plan" and not any(a.startswith("--throughput") for a in args):
        args = (*args, "--throughput", "100")
    full = [command, "--dsn", dsn, *args]
    if migrations is not None:
        full += ["--migrations", str(migrations)]
    return run_keyshift(*full)


def start(dsn: str, command: str, *args: str) -> subprocess.Popen:
    """The real CLI in a new interpreter (``python -m orchestrator``), not waited for: a test
    signals it, watches it from another connection, or runs threads meanwhile (no fork)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", command, "--dsn", dsn, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(fn, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def convert(dsn: str, migrations: Path, *tables: str, extra: tuple[str, ...] = ()) -> None:
    """plan + migrate; fails the test with the tool's own output when either does not exit 0."""
    args = [a for t in tables for a in ("--table", t)] + list(extra)
    planned = keyshift(dsn, "plan", *args, migrations=migrations)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr


def yoyo_was_here(dsn: str) -> None:
    """yoyo's bookkeeping tables, created by yoyo itself as on a database it managed before
    (keyshift creates them only inside a migrate transaction that commits)."""
    from yoyo import get_backend

    from orchestrator.connect import dsn as dsnmod
    from orchestrator.plan.ownership import MIGRATION_TABLE

    backend = get_backend(dsnmod.yoyo_uri(dsn), migration_table=MIGRATION_TABLE)
    backend.ensure_internal_schema_updated()
    backend.connection.close()


def _pg_dump(dsn: str, *options: str) -> str:
    """pg_dump of ``dsn`` with ``options``, yoyo's bookkeeping tables left out."""
    argv = [str(embedded.bindir() / "pg_dump"), "--exclude-table=public._yoyo*", "--exclude-table=public.yoyo_lock"]
    return subprocess.run([*argv, *options, "-d", dsn], capture_output=True, text=True, check=True).stdout


def pg_dump_schema(dsn: str, *extra: str) -> str:
    """pg_dump --schema-only of the user's objects: keyshift's registry and yoyo's tables left out."""
    return _pg_dump(dsn, "--schema-only", "--exclude-schema=keyshift", *extra)


def pg_dump_data(dsn: str) -> list[str]:
    """Schema and data of every schema (keyshift's registry and mappings included, sequence
    values too), yoyo's bookkeeping left out, pg_dump's restrict lines dropped."""
    return without_restrict(_pg_dump(dsn))


def without_restrict(dump: str) -> list[str]:
    """pg_dump 15.18+ brackets its output with \\restrict/\\unrestrict and a random token."""
    return [line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]
