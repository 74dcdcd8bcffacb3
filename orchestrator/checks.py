"""Run checks/*.sql: each file is one claim, zero rows = pass (dbt tests / pgTAP style).

Inside ``migrate`` the checks run on the migrating connection before COMMIT, each in a
savepoint; standalone they run in a transaction that is always rolled back, so a check can
never change the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from orchestrator import CHECKS_DIR

SAMPLE_ROWS = 5


@dataclass
class CheckResult:
    name: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.rows

    def as_json(self) -> dict:
        return {
            "check": self.name,
            "status": "ok" if self.ok else ("error" if self.error else "not ok"),
            "rows": len(self.rows),
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "sample": [dict(zip(self.columns, map(_plain, r))) for r in self.rows[:SAMPLE_ROWS]],
        }


def _plain(v):
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def check_files(checks_dir: Path = CHECKS_DIR) -> list[Path]:
    return sorted(checks_dir.glob("*.sql"))


def run(conn: psycopg.Connection, checks_dir: Path = CHECKS_DIR) -> list[CheckResult]:
    """Run every check on ``conn``, which must be inside a transaction (savepoint per check)."""
    results = []
    for path in check_files(checks_dir):
        name = f"checks/{path.name}"
        t0 = time.monotonic()
        try:
            with conn.transaction():  # a savepoint: a failing check does not poison the others
                with conn.cursor() as cur:
                    cur.execute(path.read_text())
                    columns = [d.name for d in cur.description] if cur.description else []
                    rows = cur.fetchall() if cur.description else []
            results.append(CheckResult(name, columns, rows, seconds=time.monotonic() - t0))
        except psycopg.Error as exc:
            results.append(CheckResult(name, error=str(exc).strip().splitlines()[0], seconds=time.monotonic() - t0))
    return results


def registry_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]


def run_standalone(conn: psycopg.Connection, checks_dir: Path = CHECKS_DIR) -> list[CheckResult]:
    """Run every check in a transaction that is rolled back afterwards."""
    with conn.transaction(force_rollback=True):
        if not registry_exists(conn):
            return [CheckResult(f"checks/{p.name}") for p in check_files(checks_dir)]
        return run(conn, checks_dir)
