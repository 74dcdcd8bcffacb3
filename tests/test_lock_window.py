"""keyshift plan's lock window: each table the plan locks with its size, and the estimated time
migrate holds the locks at a throughput given with --throughput or measured by plan's probe.

Every number is read back from plan's output and compared with the catalog or with another
run's numbers; no assertion depends on how fast this machine is.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from conftest import run_keyshift
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from orchestrator import catalog
from orchestrator.plan import window

SCHEMA = """
CREATE TABLE public.users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.orders (id serial PRIMARY KEY, user_id integer REFERENCES public.users (id), note text);
CREATE TABLE public.order_lines (id serial PRIMARY KEY, order_id integer REFERENCES public.orders (id));
CREATE TABLE public.unrelated (id serial PRIMARY KEY);
INSERT INTO public.users (name) SELECT 'u' || g FROM generate_series(1, 500) AS g;
INSERT INTO public.orders (user_id, note) SELECT 1 + g % 500, repeat('x', 50) FROM generate_series(1, 3000) AS g;
INSERT INTO public.order_lines (order_id) SELECT 1 + g % 3000 FROM generate_series(1, 2000) AS g;
INSERT INTO public.unrelated SELECT generate_series(1, 1000);
"""

TABLE_LINE = re.compile(r"^  (\S+): (\d+ (?:bytes|kB|MB|GB|TB|PB)), rewrite (.+)$")
TOTAL_LINE = re.compile(r"^  total: (\d+ \S+), locked for (.+) at (\S+) MB/s \((.+)\)$")
SECONDS = {"s": 1, "min": 60, "h": 3600}


def seconds(text: str) -> float:
    m = re.fullmatch(r"about (\d+\.\d) (s|min|h)", text)
    assert m, text
    return float(m.group(1)) * SECONDS[m.group(2)]


def plan(dsn: str, migrations, *extra: str):
    """plan --table public.orders (--no-rehearse); (stdout, {table: (size, time text)}, total match, locks)."""
    result = run_keyshift("plan", "--dsn", dsn, "--table", "public.orders", "--no-rehearse",
                          "--migrations", str(migrations), *extra)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("lock window (an estimate):"))
    tables = {}
    for line in lines[start + 1 :]:
        if not (m := TABLE_LINE.match(line)):
            break
        tables[m.group(1)] = (m.group(2), m.group(3))
    total = next((m for line in lines if (m := TOTAL_LINE.match(line))), None)
    locks = json.loads((migrations / "0001.plan.json").read_text())["locks"]
    return result.stdout, tables, total, [".".join(k) for k in locks]


def sizes(conn, tables) -> dict[str, str]:
    """Each table's pg_total_relation_size as plan shows it."""
    q = "SELECT pg_total_relation_size(%s::regclass)"
    return {t: window.size_text(conn.execute(q, (t,)).fetchone()[0]) for t in tables}


def test_plan_prints_each_locked_table_its_size_and_a_measured_estimate(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    out, tables, total, locks = plan(dsn, tmp_path / "m")
    assert list(tables) == locks == ["public.orders", "public.order_lines"]  # users and unrelated: not locked
    assert {t: size for t, (size, _time) in tables.items()} == sizes(conn, locks)
    assert total, out
    probe = re.fullmatch(r"measured on this server: rewriting the key of a (\d+) kB temporary table took (\S+) s",
                         total.group(4))  # fmt: skip
    assert probe, total.group(4)
    rate = float(total.group(3))
    assert rate == pytest.approx(int(probe.group(1)) / 1024 / float(probe.group(2)), rel=0.02)
    total_bytes = conn.execute(
        "SELECT sum(pg_total_relation_size(t::regclass))::bigint FROM unnest(%s::text[]) AS t", (locks,)
    ).fetchone()[0]
    assert total.group(1) == window.size_text(total_bytes)
    expected = total_bytes / window.MB / rate
    if expected < 0.1:
        assert total.group(2) == "under 0.1 s"
    else:
        assert seconds(total.group(2)) == pytest.approx(expected, rel=0.02, abs=0.05)
    assert "several times longer" in out


def test_throughput_scales_the_estimate(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    _out, slow, slow_total, _locks = plan(dsn, tmp_path / "slow", "--throughput", "0.02")
    out, fast, fast_total, _locks = plan(dsn, tmp_path / "fast", "--throughput=0.05")
    assert "at 0.05 MB/s (given with --throughput)" in out
    assert [size for size, _t in slow.values()] == [size for size, _t in fast.values()]
    for table in slow:
        assert seconds(slow[table][1]) == pytest.approx(2.5 * seconds(fast[table][1]), rel=0.05)
    assert seconds(slow_total.group(2)) == pytest.approx(2.5 * seconds(fast_total.group(2)), rel=0.02)
    assert "measured" not in out


def test_without_a_measurement_plan_prints_sizes_and_asks_for_a_throughput(dsn, conn, tmp_path):
    """A read-only default transaction stops the probe (CREATE TEMPORARY TABLE is refused): plan
    still writes its files, prints each table's size, says why it measured nothing and what to give."""
    conn.execute(SCHEMA)
    dbname = sql.Identifier(conninfo_to_dict(dsn)["dbname"])
    conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(dbname))
    try:
        out, tables, total, locks = plan(dsn, tmp_path / "m")
    finally:
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(dbname))
    assert list(tables) == locks
    assert all(time == "?" for _size, time in tables.values())
    assert total is None
    assert "throughput not measured on this server (cannot execute CREATE TABLE in a read-only transaction)" in out
    assert "no time estimate: give --throughput MB_PER_S" in out


def test_the_probe_leaves_nothing_and_sizes_count_partitions(dsn, conn):
    conn.execute("CREATE TABLE public.parted (id integer PRIMARY KEY) PARTITION BY RANGE (id)")
    conn.execute("CREATE TABLE public.parted_1 PARTITION OF public.parted FOR VALUES FROM (0) TO (1000)")
    conn.execute("CREATE TABLE public.parted_2 PARTITION OF public.parted FOR VALUES FROM (1000) TO (2000)")
    conn.execute("INSERT INTO public.parted SELECT generate_series(0, 1999)")
    with psycopg.connect(dsn, autocommit=True) as own:
        cat = catalog.Catalog(own)
        probe = catalog.measure_throughput(own)
        assert probe.error is None and probe.bytes > 1024 * 1024 and probe.seconds > 0
        assert own.execute("SELECT to_regclass('pg_temp.keyshift_throughput_probe')").fetchone()[0] is None
        assert own.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        found = cat.table_sizes([("public", "parted"), ("public", "parted_1"), ("public", "absent")])
    part = [conn.execute("SELECT pg_total_relation_size(%s::regclass)", (p,)).fetchone()[0] for p in ("public.parted_1", "public.parted_2")]  # fmt: skip
    assert found == {("public", "parted"): sum(part), ("public", "parted_1"): part[0]}
    assert sum(part) > 0
