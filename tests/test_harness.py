"""The test harness itself: a real server (not a mock), and a forked CLI child that behaves
like ``python -m orchestrator`` as far as a test can see."""

import logging
import os
import subprocess
import sys
import warnings

from conftest import ROOT, _forked_cli

from orchestrator.cli import main as cli_main


def test_real_postgresql(conn):
    version = conn.execute("SHOW server_version_num").fetchone()[0]
    assert int(version) >= 130000
    assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"


def test_the_forked_cli_prints_what_a_new_interpreter_would(monkeypatch, tmp_path):
    """Warnings and logged warnings reach the child's own stderr (not pytest's recorders),
    undecodable text is escaped as Python's stderr does, and the exit code, environment and
    working directory are the child's."""

    def main(args):
        warnings.warn("careful", UserWarning)  # noqa: B028 - the warning the child must print
        logging.getLogger("keyshift.test").warning("logged")
        print("out", args)
        print("bad \udcff byte", file=sys.stderr)
        print(sorted(k for k in ("KEYSHIFT_X", "DATABASE_URL") if k in os.environ))
        print(os.getcwd())
        return 3

    monkeypatch.setattr(cli_main, "main", main)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"KEYSHIFT_X": "1"}
    # the forked path itself, also when KEYSHIFT_TEST_SPAWN=1 sends run_keyshift elsewhere
    result = _forked_cli([sys.executable, "-m", "orchestrator", "status"], ["status"], tmp_path, env)
    assert result.returncode == 3
    assert result.stdout.splitlines() == ["out ['status']", "['KEYSHIFT_X']", str(tmp_path)]
    assert "UserWarning: careful" in result.stderr and "logged" in result.stderr, result.stderr
    assert "bad \\udcff byte" in result.stderr


def test_the_spawned_cli_starts():
    """KEYSHIFT_TEST_SPAWN=1 and the tests that signal the process use python -m orchestrator."""
    spawned = subprocess.run(
        [sys.executable, "-m", "orchestrator", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert spawned.returncode == 0 and "plan" in spawned.stdout
