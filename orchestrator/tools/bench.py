"""make bench: keyshift against the floor and the naive way, on fresh copies of one database.

    python -m orchestrator.tools.bench --scale N [--repeat R] [--scales 20000,100000,300000]
                                 [--json PATH] [--png PATH] [--v7]

Per scale: builds a template database once (sql/bench/schema.sql + data.sql: N users with a
self-FK, 10N orders, 30N order items, N/10 sessions), then for each repetition, interleaved,
makes a fresh copy (CREATE DATABASE ... TEMPLATE) for each approach and measures it:

- floor: VACUUM FULL of the four tables, then every FK validated once (sql/bench/floor_validate.sql);
- keyshift: the real CLI as a subprocess, ``plan`` (timed apart) then ``migrate`` converting
  public.users and public.orders end to end, checks included; its peak RSS comes from wait4;
  with --v7 a second keyshift run plans ``--uuid v7`` (approach ``keyshift_v7``);
- naive: ADD COLUMN, UPDATE backfill, UPDATE ... FROM each child, swap (sql/bench/naive.sql).

For each run: seconds, WAL bytes (pg_current_wal_lsn() difference; the cluster should serve
nothing else meanwhile), the four tables' size with indexes (pg_total_relation_size) and the
same size after a VACUUM FULL of the result (so "size ratio" 1.00 means no bloat left behind).
Prints medians and ratios to the floor, writes JSON, and with several scales draws a PNG of
seconds against scale (matplotlib, the optional ``bench`` dependency group).

Runs against DATABASE_URL / --dsn, else the embedded cluster. Databases it creates are named
keyshift_bench_*; nothing else is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import KeyshiftError
from orchestrator.resources import PROJECT, SQL_DIR
from orchestrator.tools.bench_chart import draw
from orchestrator.tools.bench_summary import summarize, table_lines

BENCH_SQL = SQL_DIR / "bench"
TABLES = ("users", "orders", "order_items", "sessions")
TARGETS = ("public.users", "public.orders")
APPROACHES = ("floor", "keyshift", "naive")
PREFIX = "keyshift_bench"
RESULTS = PROJECT / "bench" / "results"


def _with_db(dsn: str, dbname: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


def _template_mark() -> str:
    """Changes whenever the benchmark data would: a stale template is rebuilt, not reused."""
    digest = hashlib.sha256()
    for name in ("schema.sql", "data.sql"):
        digest.update((BENCH_SQL / name).read_bytes())
    return "keyshift bench template " + digest.hexdigest()[:16]


def _drop_database(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def build_template(admin: psycopg.Connection, base_dsn: str, scale: int, log) -> str:
    name = f"{PREFIX}_tpl_{scale}"
    mark = _template_mark()
    found = admin.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    if found and found[0] == mark:
        log(f"template {name}: reused")
        return name
    t0 = time.monotonic()
    _drop_database(admin, name)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(_with_db(base_dsn, name), autocommit=True) as conn:
        conn.execute("SELECT set_config('keyshift.bench_scale', %s, false)", (str(scale),))
        with conn.transaction():
            conn.execute((BENCH_SQL / "schema.sql").read_text())
            conn.execute((BENCH_SQL / "data.sql").read_text())
        # Frozen and analysed once, so no copy pays for hint bits or statistics.
        conn.execute("VACUUM (FREEZE, ANALYZE)")
    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(mark)))
    log(f"template {name}: built in {time.monotonic() - t0:.1f} s")
    return name


def fresh_copy(admin: psycopg.Connection, template: str) -> str:
    name = f"{PREFIX}_run"
    _drop_database(admin, name)
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    )
    return name


def _size(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT sum(pg_total_relation_size(to_regclass(t)))::bigint FROM unnest(%s::text[]) AS t",
        (list(TABLES),),
    ).fetchone()[0]


def _vacuum_full(conn: psycopg.Connection) -> None:
    for t in TABLES:
        conn.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(t)))


# --- the approaches: each gets a fresh database and returns extra facts -------------------


def run_floor(dsn: str, work: Path) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        t0 = time.monotonic()
        _vacuum_full(conn)
        t1 = time.monotonic()
        with conn.transaction():
            conn.execute((BENCH_SQL / "floor_validate.sql").read_text())
        t2 = time.monotonic()
    return {"steps": {"vacuum full": t1 - t0, "validate fks": t2 - t1}}


def run_naive(dsn: str, work: Path) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.transaction():
            conn.execute((BENCH_SQL / "naive.sql").read_text())
    return {}


def _keyshift(args: list[str]) -> tuple[float, int, str]:
    """Run the real CLI; return seconds, peak RSS of that process (KiB) and its output."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise KeyshiftError(
            f"keyshift {args[0]}", f"exited {proc.returncode}: {out.strip()[-2000:]}", "see the output above"
        )
    return seconds, usage.ru_maxrss, out


def run_keyshift(dsn: str, work: Path, v7: bool = False) -> dict:
    migrations = work / "migrations"
    shutil.rmtree(migrations, ignore_errors=True)
    tables = [a for t in TARGETS for a in ("--table", t)]
    version = ["--uuid", "v7"] if v7 else []
    plan_s, plan_rss, _ = _keyshift(["plan", "--dsn", dsn, *tables, *version, "--migrations", str(migrations)])
    migrate_s, rss, out = _keyshift(["migrate", "--dsn", dsn, "--migrations", str(migrations)])
    return {
        "plan_seconds": plan_s,
        "peak_rss_kib": rss,
        "plan_peak_rss_kib": plan_rss,
        "migrate_seconds": migrate_s,
        **parse_steps(out),
    }


def parse_steps(out: str) -> dict[str, dict[str, float]]:
    """From migrate's output: seconds per migration step and for all checks ("steps"), and
    per check for each check that printed its own timing line (took 0.1 s or more: "checks")."""
    steps, slow_checks = {}, {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+([\d.]+) s$", line)
        if m:
            steps[re.sub(r"^\d{4}_", "", m.group(1))] = float(m.group(2))
        m = re.match(r"^  (?:\d+\.)?checks/(\S+)\.sql\s+([\d.]+) s$", line)
        if m:
            slow_checks[m.group(1)] = float(m.group(2))
    return {"steps": steps, "checks": slow_checks}


def measure(admin: psycopg.Connection, base_dsn: str, template: str, approach: str, work: Path) -> dict:
    name = fresh_copy(admin, template)
    dsn = _with_db(base_dsn, name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            size_before = _size(conn)
            conn.execute("CHECKPOINT")
            lsn0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        t0 = time.monotonic()
        if approach == "floor":
            extra = run_floor(dsn, work)
        elif approach == "naive":
            extra = run_naive(dsn, work)
        else:
            extra = run_keyshift(dsn, work, v7=approach == "keyshift_v7")
        seconds = time.monotonic() - t0
        with psycopg.connect(dsn, autocommit=True) as conn:
            wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", (lsn0,)).fetchone()[0]
            size = _size(conn)
            _vacuum_full(conn)
            fresh = _size(conn)
    finally:
        _drop_database(admin, name)
    if approach.startswith("keyshift"):
        # keyshift's own time is plan + migrate as the user runs them; plan is reported apart.
        seconds = extra["migrate_seconds"]
    return {
        "seconds": seconds,
        "wal_bytes": wal,
        "size_bytes": size,
        "fresh_size_bytes": fresh,
        "size_before_bytes": size_before,
        **extra,
    }


def bench_scale(admin, base_dsn: str, scale: int, repeat: int, naive_repeat: int, v7: bool, log) -> dict:
    template = build_template(admin, base_dsn, scale, log)
    order = ["floor", "keyshift"] + (["keyshift_v7"] if v7 else []) + ["naive"]
    runs: dict[str, list[dict]] = {a: [] for a in order}
    with tempfile.TemporaryDirectory(prefix="keyshift-bench-") as tmp:
        for i in range(repeat):
            for approach in order:
                if approach == "naive" and i >= naive_repeat:
                    continue
                r = measure(admin, base_dsn, template, approach, Path(tmp))
                runs[approach].append(r)
                log(
                    f"  N={scale} run {i + 1}/{repeat} {approach:<12} {r['seconds']:8.2f} s"
                    f"  wal {r['wal_bytes'] / 2**20:8.1f} MiB  size {r['size_bytes'] / 2**20:8.1f} MiB"
                )
    return {
        "scale": scale,
        "rows": {"users": scale, "orders": 10 * scale, "order_items": 30 * scale, "sessions": max(scale // 10, 1)},
        "repeat": repeat,
        "naive_repeat": min(naive_repeat, repeat),
        "summary": summarize(runs),
        "runs": runs,
    }


def combine(paths: list[Path], out: Path, png: Path | None) -> int:
    """Merge result files of separate runs (e.g. a long N=300,000 run apart) into one."""
    docs = [json.loads(p.read_text()) for p in paths]
    results = sorted((r for d in docs for r in d["results"]), key=lambda r: r["scale"])
    doc = {
        "when": max(d["when"] for d in docs),
        "postgres": docs[0]["postgres"],
        "cores": docs[0]["cores"],
        "machine": docs[0]["machine"],
        "commands": [d["command"] for d in docs],
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    for r in results:
        print("\n".join(table_lines(r)))
    if png:
        draw(results, png)
        print(f"wrote {png}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m orchestrator.tools.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=300000, help="users N (default 300000)")
    p.add_argument("--scales", help="comma-separated list of N; overrides --scale, draws the PNG")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per approach, median reported (default 3)")
    p.add_argument(
        "--naive-repeat",
        type=int,
        help="repetitions of the slow naive approach (default: --repeat below N=100000, else 1; 0 skips it)",
    )
    p.add_argument(
        "--v7", action="store_true", help="also run keyshift with --uuid v7 (keys in old-id order, no timestamp column)"
    )
    p.add_argument("--dsn", help="server to use (default DATABASE_URL, then the embedded cluster)")
    p.add_argument("--json", type=Path, help="result file (default bench/results/bench-<time>.json)")
    p.add_argument("--png", type=Path, help="plot of seconds against scale (default with --scales: next to JSON)")
    p.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="no run: merge earlier result files (one scale each or more) into --json and --png",
    )
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.combine:
        return combine(args.combine, args.json or RESULTS / "combined.json", args.png)
    scales = [int(s.replace("_", "")) for s in args.scales.split(",")] if args.scales else [args.scale]

    def log(msg: str) -> None:
        print(msg, flush=True)

    try:
        base = dsnmod.resolve(args.dsn)
        admin_dsn = _with_db(base, "postgres")
        results = []
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            version = admin.execute("SHOW server_version").fetchone()[0]
            log(f"keyshift bench on {dsnmod.describe(base)} (PostgreSQL {version}, {os.cpu_count()} cores)")
            for scale in scales:
                naive_repeat = (
                    args.naive_repeat if args.naive_repeat is not None else (args.repeat if scale < 100000 else 1)
                )
                if naive_repeat == 0:
                    log(f"N={scale}: naive approach skipped (--naive-repeat 0)")
                elif naive_repeat < args.repeat:
                    log(f"N={scale}: naive approach run {naive_repeat} time(s) only, to save time")
                results.append(bench_scale(admin, base, scale, args.repeat, naive_repeat, args.v7, log))
                print("\n".join(table_lines(results[-1])), flush=True)
    except KeyshiftError as exc:
        print(f"keyshift bench: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    _write_results(args, argv, scales, version, results)
    return 0


def _write_results(args: argparse.Namespace, argv, scales: list[int], version: str, results: list[dict]) -> None:
    """The JSON result file, and the plot when asked for or when there are several scales."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.json or RESULTS / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": stamp,
        "postgres": version,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "command": "python -m orchestrator.tools.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "results": results,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    if args.png or len(scales) > 1:
        png = args.png or out.with_suffix(".png")
        try:
            draw(results, png)
            print(f"wrote {png}")
        except ImportError:
            print("no plot: matplotlib is missing (pip install '.[bench]', which `make bench` does)")


if __name__ == "__main__":
    sys.exit(main())
