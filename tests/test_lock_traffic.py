"""Application traffic during migrate and rollback, on a real server with the real CLI.

Several application connections write all the time: inserts into a child, updates of a parent,
new parents through the key's default (nextval() before migrate, the uuid default after it),
short transactions holding row locks on a parent and a child in both orders, reads of a view.
keyshift takes every lock before it changes anything and never waits while holding one, so no
application transaction is aborted (by a deadlock or by keyshift), no write is lost, and no
application statement waits longer than the lock window migrate prints plus the time keyshift
spent queueing for its locks (at most --lock-timeout per attempt).
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field

import psycopg
from conftest import keyshift, start, wait_for

SCHEMA = """
CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL UNIQUE, n integer NOT NULL DEFAULT 0);
CREATE TABLE child (
    id serial PRIMARY KEY,
    parent_id integer NOT NULL REFERENCES parent (id),
    tag text NOT NULL,
    n integer NOT NULL DEFAULT 0
);
CREATE INDEX ON child (parent_id);
CREATE VIEW parent_names AS SELECT id, name FROM parent;
INSERT INTO parent (name) SELECT 'seed-' || g FROM generate_series(1, 3000) AS g;
INSERT INTO child (parent_id, tag) SELECT id, 'seed' FROM parent;
"""

WORKERS = 3
LOCK_TIMEOUT = 2.0


@dataclass
class Traffic:
    """What the application committed, what failed, and its slowest statement."""

    dsn: str
    stop: threading.Event = field(default_factory=threading.Event)
    committed: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    slowest: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, name: str, transaction) -> None:
        """``transaction(cur)`` again and again in its own connection, counting commits."""
        with psycopg.connect(self.dsn, prepare_threshold=None, application_name="app") as conn:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    with conn.transaction():
                        transaction(conn)
                except psycopg.Error as exc:
                    with self.lock:
                        self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    return
                with self.lock:
                    self.committed[name] = self.committed.get(name, 0) + 1
                    self.slowest = max(self.slowest, time.monotonic() - t0)
                time.sleep(random.uniform(0.02, 0.06))  # think time between requests

    def __enter__(self):
        self.threads = []
        for k in range(WORKERS):
            for name, body in _transactions(k).items():
                thread = threading.Thread(target=self.run, args=(name, body), daemon=True)
                thread.start()
                self.threads.append(thread)
        wait_for(lambda: sum(self.committed.values()) > 50, what="application traffic")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def _transactions(k: int) -> dict:
    """One worker's transactions, each on rows of its own (so they never wait for each other)."""

    def insert_child(conn):
        conn.execute("INSERT INTO child (parent_id, tag) SELECT id, %s FROM parent WHERE name = %s", (f"w{k}", f"p{k}"))

    def update_parent(conn):
        conn.execute("UPDATE parent SET n = n + 1 WHERE name = %s", (f"u{k}",))

    def new_parent(conn):
        conn.execute("INSERT INTO parent (name) VALUES (%s)", (f"new-{k}-{time.monotonic_ns()}",))

    def parent_then_child(conn):
        conn.execute("UPDATE parent SET n = n + 1 WHERE name = %s", (f"a{k}",))
        time.sleep(0.005)
        conn.execute("UPDATE child SET n = n + 1 WHERE tag = %s", (f"a{k}",))

    def child_then_parent(conn):
        conn.execute("UPDATE child SET n = n + 1 WHERE tag = %s", (f"b{k}",))
        time.sleep(0.005)
        conn.execute("UPDATE parent SET n = n + 1 WHERE name = %s", (f"b{k}",))

    def read_view(conn):
        conn.execute("SELECT count(*) FROM parent_names WHERE name LIKE 'new-%%'").fetchone()

    return {
        f"insert_child_{k}": insert_child,
        f"update_parent_{k}": update_parent,
        f"new_parent_{k}": new_parent,
        f"parent_then_child_{k}": parent_then_child,
        f"child_then_parent_{k}": child_then_parent,
        f"read_view_{k}": read_view,
    }


def _load(conn) -> None:
    conn.execute(SCHEMA)
    for k in range(WORKERS):
        for prefix in ("p", "u", "a", "b"):
            conn.execute("INSERT INTO parent (name) VALUES (%s)", (f"{prefix}{k}",))
        for prefix in ("a", "b"):
            conn.execute(
                "INSERT INTO child (parent_id, tag) SELECT id, %s FROM parent WHERE name = %s",
                (f"{prefix}{k}", f"{prefix}{k}"),
            )


def _deadlocks(conn) -> int:
    return conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def _written(conn, k: int) -> dict:
    """What the database holds of worker k's committed work, by transaction name."""
    one = lambda q, *a: conn.execute(q, a).fetchone()[0]  # noqa: E731
    return {
        f"insert_child_{k}": one("SELECT count(*) FROM child WHERE tag = %s", f"w{k}"),
        f"update_parent_{k}": one("SELECT n FROM parent WHERE name = %s", f"u{k}"),
        f"new_parent_{k}": one("SELECT count(*) FROM parent WHERE name LIKE %s", f"new-{k}-%"),
        f"parent_then_child_{k}": one("SELECT n FROM child WHERE tag = %s", f"a{k}"),
        f"child_then_parent_{k}": one("SELECT n FROM parent WHERE name = %s", f"b{k}"),
    }


def _under_traffic(dsn: str, conn, command: str, mdir) -> tuple[Traffic, str]:
    """``command`` run while the application writes; every transaction it committed is there."""
    deadlocks = _deadlocks(conn)
    before = [_written(conn, k) for k in range(WORKERS)]
    with Traffic(dsn) as traffic:
        proc = start(
            dsn, command, "--migrations", str(mdir), "--lock-timeout", f"{LOCK_TIMEOUT}s", "--lock-retries", "10"
        )
        out, err = proc.communicate(timeout=120)
        time.sleep(0.5)  # the application goes on after COMMIT, on the new keys
    assert proc.returncode == 0, out + err
    assert traffic.errors == [], traffic.errors
    assert _deadlocks(conn) == deadlocks, "a deadlock was detected during " + command
    for k in range(WORKERS):
        written = {name: n - before[k][name] for name, n in _written(conn, k).items()}
        assert written == {name: traffic.committed.get(name, 0) for name in written}, (written, traffic.committed)
    return traffic, out


def _key_type(conn) -> str:
    return conn.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'parent' AND column_name = 'id'"
    ).fetchone()[0]


def _window(out: str) -> float:
    m = re.search(r"lock window: \d+ tables, sequences and views locked.* for ([0-9.]+) s", out)
    assert m, out
    return float(m.group(1))


def test_traffic_during_migrate_and_rollback_is_never_aborted_and_never_lost(dsn, conn, tmp_path):
    _load(conn)
    mdir = tmp_path / "m"
    plan = keyshift(dsn, "plan", "--table", "public.parent", migrations=mdir)
    assert plan.returncode == 0, plan.stdout + plan.stderr

    traffic, out = _under_traffic(dsn, conn, "migrate", mdir)
    assert _key_type(conn) == "uuid"
    # No statement waited longer than keyshift's queueing (lock_timeout) plus the window it printed.
    assert traffic.slowest < LOCK_TIMEOUT + _window(out) + 1.0, (traffic.slowest, out)

    traffic, out = _under_traffic(dsn, conn, "rollback", mdir)
    assert _key_type(conn) == "integer"
    assert traffic.slowest < LOCK_TIMEOUT + _window(out) + 1.0, (traffic.slowest, out)
    # The next INSERT after rollback works through the restored sequence.
    conn.execute("INSERT INTO parent (name) VALUES ('after rollback')")


def test_an_open_nextval_transaction_is_waited_for_before_any_rewrite(dsn, conn, tmp_path):
    """An application transaction that called nextval() on the key's sequence holds a lock the
    migration needs at its end (the sequence is dropped). keyshift takes that lock up front:
    it queues for the sequence holding nothing (no table of the plan locked, nothing rewritten),
    gives up after --lock-timeout, names the holder, and retries until it is gone."""
    _load(conn)
    mdir = tmp_path / "m"
    plan = keyshift(dsn, "plan", "--table", "public.parent", migrations=mdir)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    holder = psycopg.connect(dsn, application_name="app")
    holder.execute("SELECT nextval('parent_id_seq')")
    options = ("--lock-timeout", "1s", "--lock-retries", "8", "--lock-retry-delay", "0.2")
    proc = start(dsn, "migrate", "--migrations", str(mdir), *options)
    try:
        # Seen while it waits for the sequence: keyshift holds no lock on the plan's tables.
        pid = wait_for(
            lambda: conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'keyshift migrate' AND wait_event_type = 'Lock'"
                " AND query LIKE 'ALTER SEQUENCE%%' AND NOT EXISTS (SELECT FROM pg_locks AS l"
                " WHERE l.pid = pg_stat_activity.pid AND l.granted"
                " AND l.relation IN ('parent'::regclass, 'child'::regclass))"
            ).fetchone(),
            what="keyshift to queue for the sequence holding nothing",
        )[0]
        assert pid
        time.sleep(2.5)  # longer than --lock-timeout: the first attempt gives up and a retry queues
        assert proc.poll() is None
    finally:
        holder.commit()
        holder.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    first = next(line for line in err.splitlines() if "retry 1 of 8" in line)
    assert "nextval" in first and "nothing was changed" in first, err
    assert "lock window: " in out
