"""The application side of the cutover: export-map and the Redis step.

Real PostgreSQL (conftest) and a real redis-server started by this module on a free port.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import redis  # a project dependency: a missing one must fail, not skip
from conftest import ROOT, convert, keyshift, load_seed000
from psycopg import sql

PASSWORD = "s3cret-Redis-pw"


# --- redis-server ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    """A private redis-server (no persistence) with a password; its URL. Stopped after the module."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: make setup (or apt-get install redis-server)")
    tmp = tempfile.mkdtemp(prefix="keyshift-redis-")
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
            "--requirepass",
            PASSWORD,
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


# --- data ------------------------------------------------------------------------------------


def _users(conn, rows: int) -> None:
    conn.execute("CREATE TABLE public.custom_user (id bigserial PRIMARY KEY, name text NOT NULL)")
    conn.execute("INSERT INTO public.custom_user (name) SELECT 'user ' || g FROM generate_series(1, %s) AS g", (rows,))


def _mapping(conn, table="custom_user") -> dict[int, uuid.UUID]:
    (map_table,) = conn.execute(
        "SELECT map_table FROM keyshift.converted_table WHERE table_name = %s", (table,)
    ).fetchone()
    query = sql.SQL("SELECT old_id, new_id FROM {}").format(sql.Identifier("keyshift", map_table))
    return dict(conn.execute(query).fetchall())


def _snapshot(client) -> dict[bytes, tuple[bytes, int]]:
    return {k: (client.dump(k), client.ttl(k)) for k in client.scan_iter(count=1000)}


# --- export-map ------------------------------------------------------------------------------


def test_export_map_round_trip_csv_and_jsonl(dsn, conn, tmp_path):
    """Exported pairs equal the mapping table; old ids are the ids that were there, new ids the keys now."""
    load_seed000(conn, scale=120)
    conn.execute('CREATE TABLE public."Odd, ""name""" (id serial PRIMARY KEY, label text)')
    conn.execute('INSERT INTO public."Odd, ""name""" (label) SELECT \'l\' || g FROM generate_series(1, 7) AS g')
    before = dict(conn.execute("SELECT id, email FROM public.custom_user").fetchall())
    odd_before = dict(conn.execute('SELECT id, label FROM public."Odd, ""name"""').fetchall())
    convert(dsn, tmp_path / "m", "public.custom_user", 'public."Odd, ""name"""')
    users = _mapping(conn)
    odd = _mapping(conn, 'Odd, "name"')
    assert set(users) == set(before) and len(users) == 120
    after = dict(conn.execute("SELECT id, email FROM public.custom_user").fetchall())

    out = tmp_path / "map.csv"
    done = keyshift(
        dsn, "export-map", "--table", "public.custom_user", "--table", 'public."Odd, ""name"""', "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "wrote 127 rows" in done.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "table,old_id,new_id"
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 127
    got_users = {int(x["old_id"]): uuid.UUID(x["new_id"]) for x in rows if x["table"] == "public.custom_user"}
    got_odd = {int(x["old_id"]): uuid.UUID(x["new_id"]) for x in rows if x["table"] == 'public."Odd, ""name"""'}
    assert got_users == users and got_odd == odd
    assert set(got_users.values()) == set(after)  # new ids are the current keys
    for old, new in got_users.items():  # ... of the very row the old id named
        assert after[new] == before[old]
    assert [int(x["old_id"]) for x in rows[:120]] == sorted(before)

    done = keyshift(
        dsn, "export-map", "--table", 'public."Odd, ""name"""', "--table", "public.custom_user", "--format", "jsonl"
    )
    assert done.returncode == 0, done.stderr
    objs = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(objs) == 127
    assert {o["table"] for o in objs} == {"public.custom_user", 'public."Odd, ""name"""'}
    assert {o["old_id"]: uuid.UUID(o["new_id"]) for o in objs if o["table"] == "public.custom_user"} == users
    odd_json = {o["old_id"]: uuid.UUID(o["new_id"]) for o in objs if o["table"] != "public.custom_user"}
    assert odd_json == odd and set(odd_json) == set(odd_before)
    assert all(isinstance(o["old_id"], int) for o in objs)


def test_export_map_refuses_unconverted_table_and_lost_mapping(dsn, conn, tmp_path):
    _users(conn, 5)
    conn.execute("CREATE TABLE public.other (id serial PRIMARY KEY)")
    out = tmp_path / "map.csv"
    out.write_text("previous export\n")

    no_registry = keyshift(dsn, "export-map", "--table", "public.custom_user", "--output", str(out))
    assert no_registry.returncode == 3, no_registry.stderr
    assert "public.custom_user" in no_registry.stderr and "keyshift plan" in no_registry.stderr

    convert(dsn, tmp_path / "m", "public.custom_user")
    unconverted = keyshift(
        dsn, "export-map", "--table", "public.custom_user", "--table", "public.other", "--output", str(out)
    )
    assert unconverted.returncode == 3
    assert "public.other: was not converted" in unconverted.stderr
    assert out.read_text() == "previous export\n"  # nothing written, not even the first table

    (map_table,) = conn.execute("SELECT map_table FROM keyshift.converted_table").fetchone()
    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("keyshift", map_table)))
    dropped = keyshift(dsn, "export-map", "--table", "public.custom_user", "--output", str(out))
    assert dropped.returncode == 3
    assert f"keyshift.{map_table}" in dropped.stderr and "restore it from a backup" in dropped.stderr
    assert out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".map.csv")] == []

    missing_dir = keyshift(
        dsn, "export-map", "--table", "public.custom_user", "--output", str(tmp_path / "nope" / "map.csv")
    )
    assert missing_dir.returncode == 3 and "does not exist" in missing_dir.stderr


def _peak_rss_kib(dsn: str, *args: str) -> tuple[int, int]:
    """Run export-map in a child; (its own peak RSS in KiB, bytes written)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "export-map", "--dsn", dsn, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.returncode == 0
        out.seek(0, os.SEEK_END)
        return usage.ru_maxrss, out.tell()


@pytest.mark.slow
def test_export_map_memory_is_constant(dsn, conn, tmp_path):
    """200k pairs cost no more memory than 10: the rows stream from COPY to the file."""
    rows = 200_000
    _users(conn, rows)
    conn.execute("CREATE TABLE public.tiny (id serial PRIMARY KEY)")
    conn.execute("INSERT INTO public.tiny SELECT FROM generate_series(1, 10)")
    convert(dsn, tmp_path / "m", "public.custom_user", "public.tiny")
    for fmt in ("csv", "jsonl"):
        small, small_bytes = _peak_rss_kib(dsn, "--table", "public.tiny", "--format", fmt)
        big, big_bytes = _peak_rss_kib(dsn, "--table", "public.custom_user", "--format", fmt)
        assert big_bytes > rows * 50  # the big export really happened
        # Measured: no growth at all. Merely holding the 200k CSV lines as bytes costs ~11 MiB;
        # Python rows (tuples, ints, UUIDs) far more.
        assert big - small < 4 * 1024, (fmt, small, big)

    # A reader that stops early (| head) gets a one-line error, not a traceback, and exit 1.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "export-map", "--dsn", dsn, "--table", "public.custom_user"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.read(20) == b"table,old_id,new_id\n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 1
    assert err.startswith("keyshift: stdout: was closed by its reader") and "Traceback" not in err


# --- redis-rewrite ---------------------------------------------------------------------------


def _populate(client, mapping: dict[int, uuid.UUID]) -> None:
    pipe = client.pipeline(transaction=False)
    for old in mapping:
        pipe.set(f"user_sessions:{old}", f"session of {old}")
        if old % 3 == 0:
            pipe.expire(f"user_sessions:{old}", 5000)
    pipe.set("user_sessions:999999", "unknown id")  # no such user
    pipe.set("user_sessions:abc", "not an id")
    pipe.set("user_sessions:007", "not as the application writes id 7: not guessed")
    pipe.set("user_session:1", "other prefix")
    pipe.set("cache:1", "unrelated")
    pipe.hset("user_sessions:2:meta", mapping={"a": "1"})  # id part '2:meta' is no integer
    pipe.execute()


def test_redis_rewrite_renames_keeps_values_and_ttls_and_is_idempotent(dsn, conn, tmp_path, r, redis_url):
    _users(conn, 1500)
    convert(dsn, tmp_path / "m", "public.custom_user")
    mapping = _mapping(conn)
    _populate(r, mapping)
    # An application already wrote the new-form key for user 5: it must not be overwritten.
    r.set(f"user_sessions:{mapping[5]}", "newer session")
    unrelated = {
        k: r.dump(k)
        for k in (
            b"user_sessions:999999",
            b"user_sessions:abc",
            b"user_session:1",
            b"cache:1",
            b"user_sessions:2:meta",
            b"user_sessions:007",
        )
    }

    args = (
        "--redis-url",
        redis_url,
        "--table",
        "public.custom_user",
        "--pattern",
        "user_sessions:{id}",
        "--batch",
        "100",
    )
    done = keyshift(dsn, "redis-rewrite", *args)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "1499 key(s) renamed" in done.stdout
    assert "1 unknown id(s)" in done.stdout
    assert "no mapping for this id (left alone): user_sessions:999999" in done.stdout
    assert "1 conflict(s)" in done.stdout and "user_sessions:5 -> " in done.stdout

    for old, new in mapping.items():
        if old == 5:
            continue
        assert not r.exists(f"user_sessions:{old}")
        assert r.get(f"user_sessions:{new}") == f"session of {old}".encode()
        ttl = r.ttl(f"user_sessions:{new}")
        assert (4900 < ttl <= 5000) if old % 3 == 0 else ttl == -1
    assert r.get("user_sessions:5") == b"session of 5"
    assert r.get(f"user_sessions:{mapping[5]}") == b"newer session"
    assert {k: r.dump(k) for k in unrelated} == unrelated

    before = _snapshot(r)
    again = keyshift(dsn, "redis-rewrite", *args)
    assert again.returncode == 0, again.stderr
    assert "0 key(s) renamed, 1500 already new" in again.stdout
    assert {k: v[0] for k, v in _snapshot(r).items()} == {k: v[0] for k, v in before.items()}


def test_redis_rewrite_dry_run_and_delete(dsn, conn, tmp_path, r, redis_url):
    _users(conn, 250)
    convert(dsn, tmp_path / "m", "public.custom_user")
    mapping = _mapping(conn)
    _populate(r, mapping)
    args = (
        "--redis-url",
        redis_url,
        "--table",
        "public.custom_user",
        "--pattern",
        "user_sessions:{id}",
        "--batch",
        "40",
    )

    r.set(f"user_sessions:{mapping[5]}", "newer session")
    before = _snapshot(r)
    dry = keyshift(dsn, "redis-rewrite", *args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "249 key(s) would be renamed" in dry.stdout and "dry run: nothing changed" in dry.stdout
    assert "1 conflict(s)" in dry.stdout and "1 unknown id(s)" in dry.stdout
    assert {k: v[0] for k, v in _snapshot(r).items()} == {k: v[0] for k, v in before.items()}

    deleted = keyshift(dsn, "redis-rewrite", *args, "--action", "delete")
    assert deleted.returncode == 0, deleted.stderr
    assert "250 key(s) deleted" in deleted.stdout
    left = set(r.scan_iter(count=1000))
    assert left == {
        b"user_sessions:999999",
        b"user_sessions:abc",
        b"user_session:1",
        b"cache:1",
        b"user_sessions:2:meta",
        b"user_sessions:007",
        f"user_sessions:{mapping[5]}".encode(),
    }


def test_redis_rewrite_refuses_before_touching_redis(dsn, conn, tmp_path, r, redis_url):
    _users(conn, 3)
    r.set("user_sessions:1", "x")
    unconverted = keyshift(
        dsn,
        "redis-rewrite",
        "--redis-url",
        redis_url,
        "--table",
        "public.custom_user",
        "--pattern",
        "user_sessions:{id}",
    )
    assert unconverted.returncode == 3 and "was not converted" in unconverted.stderr
    bad = keyshift(
        dsn, "redis-rewrite", "--redis-url", redis_url, "--table", "public.custom_user", "--pattern", "user_sessions:*"
    )
    assert bad.returncode == 3 and "{id}" in bad.stderr
    assert r.get("user_sessions:1") == b"x"


def test_redis_password_never_printed(dsn, conn, tmp_path, redis_url):
    _users(conn, 3)
    convert(dsn, tmp_path / "m", "public.custom_user")
    wrong = redis_url.replace(PASSWORD, "Wr0ng-pw-XYZ")
    for url in (wrong, f"redis://127.0.0.1:1/0?password={PASSWORD}"):  # refused port, password as a query
        failed = keyshift(
            dsn, "redis-rewrite", "--redis-url", url, "--table", "public.custom_user", "--pattern", "user_sessions:{id}"
        )
        out = failed.stdout + failed.stderr
        assert failed.returncode == 1, out
        assert "cannot connect" in out and "***" in out
        assert PASSWORD not in out and "Wr0ng-pw-XYZ" not in out
    ok = keyshift(
        dsn,
        "redis-rewrite",
        "--table",
        "public.custom_user",
        "--pattern",
        "user_sessions:{id}",
        "--redis-url",
        redis_url,
    )
    assert ok.returncode == 0 and PASSWORD not in ok.stdout + ok.stderr


def test_migrate_runs_the_redis_step_after_commit(dsn, conn, tmp_path, r, redis_url):
    _users(conn, 30)
    r.set("user_sessions:7", "seven")
    migrations = tmp_path / "m"
    planned = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=migrations)
    assert planned.returncode == 0, planned.stderr

    # Redis unreachable: refused before the database changes.
    dead = keyshift(
        dsn,
        "migrate",
        "--redis-url",
        "redis://:" + PASSWORD + "@127.0.0.1:1/0",
        "--redis-key",
        "public.custom_user=user_sessions:{id}",
        migrations=migrations,
    )
    assert dead.returncode == 1 and PASSWORD not in dead.stdout + dead.stderr
    assert conn.execute("SELECT to_regclass('keyshift.converted_table')").fetchone()[0] is None

    done = keyshift(
        dsn,
        "migrate",
        "--redis-url",
        redis_url,
        "--redis-key",
        "public.custom_user=user_sessions:{id}",
        migrations=migrations,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert done.stdout.index("committed") < done.stdout.index("1 key(s) renamed")
    new = _mapping(conn)[7]
    assert r.get(f"user_sessions:{new}") == b"seven" and not r.exists("user_sessions:7")


def test_redact_redis_urls():
    from orchestrator.apply.redis_step import redact

    assert redact("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact("rediss://user:pw@h:6380/1") == "rediss://user:***@h:6380/1"
    assert redact("redis://pw@h/0") == "redis://***@h/0"
    assert redact("unix:///tmp/r.sock?db=0&password=pw") == "unix:///tmp/r.sock?db=0&password=***"
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
