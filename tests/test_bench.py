"""make bench, smoke only: at N=2,000 it runs every approach on its own copy of one template
and writes a JSON result whose numbers describe what happened (keyshift with v4 keys and, with --v7, a real --uuid v7
conversion). No timing is asserted."""

from __future__ import annotations

import json

import psycopg
import pytest

from orchestrator.report import report
from orchestrator.tools import bench
from orchestrator.verify import checks


@pytest.mark.slow
def test_bench_runs_and_writes_json(dsn, tmp_path):
    out = tmp_path / "bench.json"
    assert bench.main(["--dsn", dsn, "--scale", "2000", "--repeat", "1", "--v7", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    (result,) = doc["results"]
    assert result["scale"] == 2000 and result["rows"]["order_items"] == 60000
    s = result["summary"]
    assert set(s) == {"floor", "keyshift", "keyshift_v7", "naive"}
    for row in s.values():
        assert row["seconds"] > 0 and row["wal_bytes"] > 0 and row["size_bytes"] > 0
    assert s["floor"]["ratio_to_floor"] == 1.0
    # The naive way leaves dead row versions behind; keyshift and the floor leave none.
    assert s["naive"]["size_ratio_to_fresh"] > 1.5
    # At N=2,000 the tables are a few MiB, so free-space and visibility-map forks, which a fresh
    # rewrite may not have yet, weigh several percent (5.7% seen on PostgreSQL 16); the 2% target
    # is measured at scale by make bench, not here. Dead rows would show as ~2x.
    assert s["keyshift"]["size_ratio_to_fresh"] < 1.10 and s["floor"]["size_ratio_to_fresh"] < 1.10
    for name in ("keyshift", "keyshift_v7"):
        assert 0 < s[name]["peak_rss_mib"] < 1024
        assert set(s[name]["steps"]) >= {"01_map_keys", "03_convert_key_columns", "checks"}
        assert s[name]["size_ratio_to_fresh"] < 1.10
    # Every copy is dropped again; the template stays for the next run.
    with psycopg.connect(dsn, autocommit=True) as conn:
        left = {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'keyshift_bench%'")}
    assert left == {"keyshift_bench_tpl_2000"}


def test_slow_checks_get_their_own_timing_line_and_the_bench_reads_it():
    """Where the checks' time goes: migrate prints a line per check that took 0.1 s or more,
    and the bench files it under the check's name, apart from the migration steps."""
    results = [
        checks.CheckResult("checks/fast.sql", seconds=0.01),
        checks.CheckResult("checks/rows_unchanged_through_mapping.sql", seconds=7.43),
    ]
    out = "\n".join(
        [
            f"{'0001_03_convert_key_columns':<40} {21.5:8.2f} s",
            f"{'checks':<40} {7.44:8.2f} s",
            *report.slow_check_lines(results),
            *report.check_lines(results),
            "committed 5 migration(s) in 29.00 s",
        ]
    )
    assert report.slow_check_lines(results) == ["  checks/rows_unchanged_through_mapping.sql     7.43 s"]
    assert bench.parse_steps(out) == {
        "steps": {"03_convert_key_columns": 21.5, "checks": 7.44},
        "checks": {"rows_unchanged_through_mapping": 7.43},
    }


def test_a_check_timed_in_some_runs_only_is_the_median_of_those_runs():
    def run(seconds, slow):
        return {
            "seconds": seconds,
            "wal_bytes": 1,
            "size_bytes": 1,
            "fresh_size_bytes": 1,
            "plan_seconds": 0.1,
            "peak_rss_kib": 1024,
            "steps": {"checks": seconds / 2},
            "checks": slow,
        }

    floor = {"seconds": 1.0, "wal_bytes": 1, "size_bytes": 1, "fresh_size_bytes": 1, "steps": {"vacuum full": 1.0}}
    summary = bench.summarize(
        {"floor": [floor], "keyshift": [run(2.0, {"a": 0.12, "b": 1.0}), run(2.2, {"b": 1.2}), run(2.4, {"b": 1.4})]}
    )
    assert summary["keyshift"]["checks"] == {"a": 0.12, "b": 1.2}
    assert summary["keyshift"]["checks_runs"] == {"a": 1, "b": 3}
    lines = bench.table_lines(
        {"scale": 1, "rows": {"orders": 10, "order_items": 30}, "repeat": 3, "naive_repeat": 3, "summary": summary}
    )
    assert "  keyshift checks (>= 0.1 s): a 0.12 s (1 of 3 runs), b 1.20 s" in lines
