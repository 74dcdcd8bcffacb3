"""Crashes, locks and concurrent traffic, on a real server with the real CLI.

A run is stopped at a chosen point by a *hook*: a statement ``SELECT pg_advisory_xact_lock(HOOK)``
inserted into a copy of the generated migrations (or a check file that does the same) while
the test holds that advisory lock. keyshift's session then waits there, visibly in
pg_stat_activity, with everything before the hook done inside its open transaction. The test
kills it there (pg_terminate_backend, or SIGKILL of the keyshift process) and compares the
whole database (pg_dump of schema and data, sequences, yoyo's bookkeeping) with the state
before the run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from conftest import ROOT, keyshift, load_seed000, start, wait_for, without_restrict, yoyo_was_here
from psycopg.conninfo import conninfo_to_dict

from orchestrator.connect import embedded
from orchestrator.resources import CHECKS_DIR

HOOK = 4242
HOOK_SQL = f"\nSELECT pg_advisory_xact_lock({HOOK});\n"
HOOK_CHECK = (
    "-- applies-to: keyshift.converted_table\n-- skip-reason: none\n"
    f"SELECT 'hook' AS fault FROM (SELECT pg_advisory_xact_lock({HOOK})::text AS v) AS h "
    "WHERE h.v <> '';\n"
)
APP_NAME = "keyshift migrate"


# --- helpers ---------------------------------------------------------------------------------


def full_dump(dsn: str) -> list[str]:
    """pg_dump of schema AND data of the whole database (keyshift's schema, yoyo's tables and
    sequences included); only yoyo_lock's rows are left out (a dead run's row is stale, not data)."""
    out = subprocess.run(
        [str(embedded.bindir() / "pg_dump"), "--no-owner", "--exclude-table-data=public.yoyo_lock", "-d", dsn],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return without_restrict(out)


def waiting_backend(conn, query_like: str, app: str = APP_NAME):
    """pid of keyshift's session while it waits for a lock in a statement like ``query_like``."""
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s"
        " AND wait_event_type = 'Lock' AND query LIKE %s",
        (app, query_like),
    ).fetchone()
    return row[0] if row else None


def hook_waiter(conn, app: str = APP_NAME):
    """pid of keyshift's session while it waits for the hook's advisory lock. Read from pg_locks,
    not from the query text: a migration file is sent whole, and pg_stat_activity keeps only the
    first track_activity_query_size bytes of it."""
    row = conn.execute(
        "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE a.datname = current_database() AND a.application_name = %s AND l.locktype = 'advisory'"
        " AND NOT l.granted AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1",
        (app, HOOK),
    ).fetchone()
    return row[0] if row else None


def queued_since(conn):
    """Start of the transaction in which keyshift waits for a table lock (each retry is a new one)."""
    row = conn.execute(
        "SELECT xact_start FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s"
        " AND wait_event_type = 'Lock' AND query LIKE '%%LOCK TABLE%%'",
        (APP_NAME,),
    ).fetchone()
    return row[0] if row else None


def backend_alive(conn, pid: int) -> bool:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] > 0


def user_key_type(conn) -> str:
    return conn.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'custom_user' AND column_name = 'id'"
    ).fetchone()[0]


def planned(dsn: str, conn, tmp_path: Path, scale: int = 1000) -> Path:
    load_seed000(conn, scale=scale)
    mdir = tmp_path / "m"
    plan = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=mdir)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # keyshift creates yoyo's tables only inside its transaction; here yoyo itself was used on
    # this database before, so the before-state has them (and a killed run leaves its lock row).
    yoyo_was_here(dsn)
    return mdir


def _after(pattern: str):
    def edit(text: str) -> str:
        m = re.search(pattern, text, re.M)
        assert m, pattern
        return text[: m.end()] + HOOK_SQL + text[m.end() :]

    return edit


def _at_end(text: str) -> str:
    return text + HOOK_SQL


#: Where a run is stopped: (name, migration file suffix or None for the checks, edit).
POINTS = [
    ("01 tables locked", "01_map_keys", _after(r"IN ACCESS EXCLUSIVE MODE;$")),
    ("01 mapping written", "01_map_keys", _at_end),
    ("02 foreign keys dropped", "02_detach_foreign_keys", _at_end),
    ("03 first column rewritten", "03_convert_key_columns", _after(r"TYPE uuid USING [^;]*;$")),
    ("03 every column rewritten", "03_convert_key_columns", _at_end),
    ("04 foreign keys re-added", "04_reattach_foreign_keys", _at_end),
    ("05 defaults set", "05_set_uuid_defaults", _at_end),
    ("checks half run", "m_hook.sql", None),
    ("just before COMMIT", "zz_hook.sql", None),
]
#: SIGKILL costs about a second more per point (the orphaned session notices its dead client
#: after client_connection_check_interval): six points spread over the run.
KILL_POINTS = [POINTS[i] for i in (0, 2, 3, 5, 7, 8)]


def hooked(mdir: Path, tmp_path: Path, point) -> tuple[Path, Path]:
    """A copy of the migrations and of the checks with the hook at ``point``."""
    name, where, edit = point
    slug = re.sub(r"\W+", "_", name)
    hdir, cdir = tmp_path / f"m_{slug}", tmp_path / f"c_{slug}"
    shutil.rmtree(hdir, ignore_errors=True)
    shutil.rmtree(cdir, ignore_errors=True)
    shutil.copytree(mdir, hdir)
    shutil.copytree(CHECKS_DIR, cdir)
    if edit is None:
        (cdir / where).write_text(HOOK_CHECK)
    else:
        (path,) = [p for p in hdir.glob(f"*_{where}.sql")]
        path.write_text(edit(path.read_text()))
    return hdir, cdir


class Hook:
    """The test's own session holding the hook lock (and any other lock it is told to take)."""

    def __init__(self, dsn: str):
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("SELECT pg_advisory_lock(%s)", (HOOK,))

    def release(self):
        self.conn.close()


def stop_at(dsn: str, conn, hdir: Path, cdir: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    """Start migrate, return (process, backend pid) once it waits at the hook. The hook was
    added to a planned file by hand: --accept-edited runs it."""
    proc = start(
        dsn,
        "migrate",
        "--migrations",
        str(hdir),
        "--checks",
        str(cdir),
        "--lock-timeout",
        "60s",
        "--accept-edited",
        *extra,
    )
    try:
        pid = wait_for(lambda: hook_waiter(conn) or (proc.poll() is not None and -1), what="keyshift to reach the hook")
    except AssertionError:
        proc.kill()
        raise
    assert pid != -1, proc.communicate()
    return proc, pid


# --- crashes ---------------------------------------------------------------------------------


def test_backend_terminated_at_every_step_leaves_the_database_exactly_as_before(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=400)  # about 2,000 rows over 5 tables
    before = full_dump(dsn)
    for point in POINTS:
        hdir, cdir = hooked(mdir, tmp_path, point)
        hook = Hook(dsn)
        proc, pid = stop_at(dsn, conn, hdir, cdir)
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        out, err = proc.communicate(timeout=60)
        hook.release()
        assert proc.returncode == 1, (point[0], out, err)
        assert "database connection: was lost before COMMIT" in err and "nothing was committed" in err, (point[0], err)
        assert "Traceback" not in err, err
        assert full_dump(dsn) == before, f"database changed after a kill at {point[0]}"
    # The run holding yoyo's lock row died with its session: the next run clears the row and converts.
    again = keyshift(dsn, "migrate", migrations=mdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "removed a stale yoyo lock" in again.stderr
    assert user_key_type(conn) == "uuid"
    check = keyshift(dsn, "check")
    assert check.returncode == 0, check.stdout


def test_keyshift_killed_at_every_step_leaves_the_database_exactly_as_before(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=400)  # about 2,000 rows over 5 tables
    before = full_dump(dsn)
    for point in KILL_POINTS:
        hdir, cdir = hooked(mdir, tmp_path, point)
        hook = Hook(dsn)
        proc, pid = stop_at(dsn, conn, hdir, cdir)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        # The orphaned server session notices its dead client by itself (client_connection_check_interval)
        # while still waiting, rolls back and frees every lock: the hook is still held here.
        wait_for(lambda pid=pid: not backend_alive(conn, pid), timeout=10, what=f"the orphaned session {pid} to end")
        hook.release()
        assert full_dump(dsn) == before, f"database changed after SIGKILL at {point[0]}"
        stale = conn.execute("SELECT count(*) FROM yoyo_lock").fetchone()[0]
        assert stale == 1, "yoyo's lock row of the killed run is expected to survive (that is the hazard)"
    again = keyshift(dsn, "migrate", migrations=mdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "removed a stale yoyo lock" in again.stderr
    assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone()[0] == 0
    assert keyshift(dsn, "check").returncode == 0


def test_a_killed_run_does_not_block_the_next_one(dsn, conn, tmp_path):
    """SIGKILL mid-conversion, then migrate at once: it must not wait for yoyo's 10 s lock timeout."""
    mdir = planned(dsn, conn, tmp_path, scale=300)
    hdir, cdir = hooked(mdir, tmp_path, POINTS[3])  # after the first ALTER ... TYPE uuid
    hook = Hook(dsn)
    proc, pid = stop_at(dsn, conn, hdir, cdir)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    hook.release()  # no waiting for the orphan: the next run copes with it
    t0 = time.monotonic()
    again = keyshift(dsn, "migrate", migrations=mdir)
    elapsed = time.monotonic() - t0
    assert again.returncode == 0, again.stdout + again.stderr
    assert "removed a stale yoyo lock left by process" in again.stderr, again.stderr
    assert elapsed < 9.5, f"migrate after a killed run took {elapsed:.1f} s"
    assert user_key_type(conn) == "uuid"


def test_a_second_keyshift_while_one_runs_exits_1_naming_its_pid(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=100)
    hdir, cdir = hooked(mdir, tmp_path, POINTS[1])
    hook = Hook(dsn)
    proc, pid = stop_at(dsn, conn, hdir, cdir)
    second = keyshift(dsn, "migrate", "--lock-timeout", "300ms", migrations=mdir)
    hook.release()
    out, err = proc.communicate(timeout=60)
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"another keyshift run is working on this database (pid {pid} (keyshift migrate" in second.stderr
    assert "nothing was changed" in second.stderr and "pg_terminate_backend" in second.stderr
    assert "stale" not in second.stderr  # the live run's yoyo lock row was left alone
    assert proc.returncode == 0, out + err
    assert user_key_type(conn) == "uuid"


# --- locks -----------------------------------------------------------------------------------


def test_tables_are_locked_up_front_parent_before_children(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=50)
    locked = json.loads(next(mdir.glob("*.plan.json")).read_text())["locks"]  # what migrate locks first
    assert locked[0] == ["public", "custom_user"], locked
    with psycopg.connect(dsn) as app:  # an application transaction reading the parent
        app.execute("SELECT count(*) FROM custom_user")
        proc = start(dsn, "migrate", "--migrations", str(mdir), "--lock-timeout", "60s")
        pid = wait_for(lambda: waiting_backend(conn, "%LOCK TABLE%"), what="keyshift to queue for the parent")
        held = conn.execute(
            "SELECT c.relname, l.mode, l.granted FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
            (pid,),
        ).fetchall()
        # Waiting for the parent, holding no child yet: children are never locked before the parent.
        assert held == [("custom_user", "AccessExclusiveLock", False)], held
        app.rollback()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err


def test_waiting_keyshift_never_holds_application_queries_longer_than_lock_timeout_and_retries(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=100)
    holder = psycopg.connect(dsn)  # idle in transaction, holding a row lock on a child table
    holder.execute("SELECT id FROM social_account ORDER BY id LIMIT 1 FOR UPDATE")
    proc = start(
        dsn,
        "migrate",
        "--migrations",
        str(mdir),
        "--lock-timeout",
        "1s",
        "--lock-retries",
        "6",
        "--lock-retry-delay",
        "0.2",
    )
    # keyshift queues for the child (holding the parent for half of deadlock_timeout at most,
    # then nothing): application reads of both wait, each at most what is left of lock_timeout.
    first = wait_for(lambda: queued_since(conn), what="keyshift to queue behind the holder")
    waits = []
    with psycopg.connect(dsn, autocommit=True) as reader:
        for table in ("custom_user", "social_account", "custom_user"):
            t0 = time.monotonic()
            reader.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(table)))
            waits.append(time.monotonic() - t0)
    assert max(waits) < 1 + 2, f"an application read waited {waits} s behind keyshift's queued lock"
    assert proc.poll() is None  # still retrying
    # The first attempt gives up after lock_timeout: wait for a retry (a new transaction) to queue.
    wait_for(lambda: queued_since(conn) not in (None, first), what="a retry to queue")
    holder.commit()
    holder.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    retries = [line for line in err.splitlines() if "retry" in line]
    assert retries and "lock_timeout 1s" in retries[0] and "blocked by pid" in retries[0], err
    assert "nothing was changed; retry 1 of 6 in" in retries[0], err
    assert user_key_type(conn) == "uuid"


def test_the_lock_wait_is_bounded_in_all_not_per_table(dsn, conn, tmp_path):
    """lock_timeout bounds each table's wait; with two children held one after the other,
    a per-table bound would keep application reads of the parent waiting about twice as long."""
    mdir = planned(dsn, conn, tmp_path, scale=50)
    first = psycopg.connect(dsn)  # releases social_account after 1.5 s ...
    first.execute("SELECT id FROM social_account ORDER BY id LIMIT 1 FOR UPDATE")
    second = psycopg.connect(dsn)  # ... while verification_token stays held
    second.execute("SELECT id FROM verification_token ORDER BY id LIMIT 1 FOR UPDATE")
    proc = start(dsn, "migrate", "--migrations", str(mdir), "--lock-timeout", "2s", "--lock-retries", "0")
    try:
        wait_for(lambda: waiting_backend(conn, "%LOCK TABLE%"), what="keyshift to queue behind the holders")
        release = threading.Timer(1.5, first.rollback)
        release.start()
        with psycopg.connect(dsn, autocommit=True) as reader:
            t0 = time.monotonic()
            reader.execute("SELECT count(*) FROM custom_user")
            waited = time.monotonic() - t0
        out, err = proc.communicate(timeout=60)
        release.join()
    finally:
        second.rollback()
        second.close()
        first.close()
    assert proc.returncode == 1, out + err
    assert "not all locked within it" in err and "blocked by pid" in err, err
    assert waited < 2 + 0.5, f"an application read of the parent waited {waited:.2f} s with --lock-timeout 2s"
    assert user_key_type(conn) == "integer"


def test_an_application_locking_child_then_parent_is_never_a_deadlock_victim(dsn, conn, tmp_path):
    """An application that locks a child and then the parent would close a cycle with a tool
    that holds the parent and waits for the child. keyshift waits for a lock only while it holds
    none, or for half of deadlock_timeout at most: the application's read goes through, no
    deadlock is ever detected, and migrate succeeds without a retry."""
    mdir = planned(dsn, conn, tmp_path, scale=50)
    deadlocks = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]
    app = psycopg.connect(dsn)
    app.execute("SELECT id FROM social_account ORDER BY id LIMIT 1 FOR UPDATE")
    proc = start(dsn, "migrate", "--migrations", str(mdir), "--lock-timeout", "30s", "--lock-retries", "0")
    wait_for(lambda: waiting_backend(conn, "%LOCK TABLE%"), what="keyshift to queue for the held child")
    t0 = time.monotonic()
    app.execute("SELECT count(*) FROM custom_user")  # the application's next lock: the parent
    waited = time.monotonic() - t0
    app.commit()
    app.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "deadlock" not in err and "retry" not in err, err
    assert waited < 1.0, f"the application waited {waited:.2f} s for the parent (deadlock_timeout is 1 s)"
    assert (
        conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]
        == deadlocks
    )
    assert "lock window: " in out, out
    assert user_key_type(conn) == "uuid"


def test_a_dba_cancelling_the_lock_wait_stops_keyshift_without_a_retry(dsn, conn, tmp_path):
    """pg_cancel_backend on keyshift's session while it queues for its locks is the DBA saying
    stop: one line, exit 1, nothing changed, and no retry that queues again."""
    mdir = planned(dsn, conn, tmp_path, scale=20)
    with psycopg.connect(dsn) as app:
        app.execute("SELECT * FROM custom_user WHERE id = 1 FOR UPDATE")
        proc = start(dsn, "migrate", "--migrations", str(mdir), "--lock-timeout", "30s", "--lock-retries", "3")
        pid = wait_for(lambda: waiting_backend(conn, "%LOCK TABLE%"), what="keyshift to queue for its locks")
        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=60)
        app.rollback()
    assert proc.returncode == 1, out + err
    assert "was cancelled (pg_cancel_backend)" in err and "retry" not in err, err
    assert user_key_type(conn) == "integer"


def test_lock_retries_give_up_with_exit_1_and_nothing_changed(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=50)
    before = full_dump(dsn)
    with psycopg.connect(dsn) as app:
        app.execute("SELECT * FROM verification_token WHERE id = 1 FOR UPDATE")
        t0 = time.monotonic()
        result = keyshift(
            dsn,
            "migrate",
            "--lock-timeout",
            "200ms",
            "--lock-retries",
            "2",
            "--lock-retry-delay",
            "0.1",
            migrations=mdir,
        )
        elapsed = time.monotonic() - t0
        app.rollback()
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert [bool(re.search(r"retry \d of 2 in", line)) for line in lines] == [True, True, False], lines
    assert "gave up after 3 attempts" in lines[-1] and "FOR UPDATE" in lines[-1], lines
    assert elapsed < 10
    assert full_dump(dsn) == before


def test_lock_options_are_read_from_yoyo_ini(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=20)
    (tmp_path / "yoyo.ini").write_text(
        "[keyshift]\nlock_timeout = 150ms\nlock_retries = 1\nlock_retry_delay = 0.1\nstatement_timeout = 1min\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    with psycopg.connect(dsn) as app:
        app.execute("SELECT * FROM user_profile WHERE id = 1 FOR UPDATE")
        result = subprocess.run(
            [sys.executable, "-m", "orchestrator", "migrate", "--dsn", dsn, "--migrations", str(mdir)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        app.rollback()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "lock_timeout 150ms" in result.stderr and "retry 1 of 1" in result.stderr, result.stderr
    assert "gave up after 2 attempts" in result.stderr


def test_statement_timeout_cancels_a_slow_step_and_changes_nothing(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=50)
    slow = tmp_path / "slow"
    shutil.copytree(mdir, slow)
    (path,) = slow.glob("*_03_convert_key_columns.sql")
    path.write_text(path.read_text() + "\nSELECT pg_sleep(1.5);\n")
    before = full_dump(dsn)
    # The sleep is added by hand: --accept-edited runs the file as it is now.
    result = keyshift(dsn, "migrate", "--statement-timeout", "500ms", "--accept-edited", migrations=slow)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ran longer than statement_timeout 500ms" in result.stderr, result.stderr
    assert "raise --statement-timeout" in result.stderr
    assert full_dump(dsn) == before
    # The default (0, no limit) overrides a database-wide statement_timeout the DBA set for applications.
    dbname = conninfo_to_dict(dsn)["dbname"]
    conn.execute(
        psycopg.sql.SQL("ALTER DATABASE {} SET statement_timeout = '1s'").format(psycopg.sql.Identifier(dbname))
    )
    result = keyshift(dsn, "migrate", "--accept-edited", migrations=slow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_timeout_values_are_refused_before_anything(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=20)
    for option in ("--lock-timeout", "--statement-timeout"):
        result = keyshift(dsn, "migrate", option, "soon", migrations=mdir)
        assert result.returncode == 2, result.stderr
        assert f"{option} 'soon': is not a valid duration" in result.stderr, result.stderr
    assert user_key_type(conn) == "integer"


# --- re-runs ---------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op_and_rollback_then_migrate_again_works(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=100)
    first = keyshift(dsn, "migrate", migrations=mdir)
    assert first.returncode == 0, first.stderr
    converted = full_dump(dsn)
    second = keyshift(dsn, "migrate", migrations=mdir)
    assert second.returncode == 0 and "nothing to do" in second.stdout
    assert full_dump(dsn) == converted
    back = keyshift(dsn, "rollback", migrations=mdir)
    assert back.returncode == 0, back.stderr
    assert user_key_type(conn) == "integer"
    # the mapping rollback kept holds the name the plan's mapping needs: refused until drop-map
    kept = keyshift(dsn, "migrate", migrations=mdir)
    assert kept.returncode == 1 and "keyshift drop-map --table public.custom_user" in kept.stderr, kept.stderr
    assert keyshift(dsn, "drop-map", "--table", "public.custom_user").returncode == 0
    third = keyshift(dsn, "migrate", migrations=mdir)
    assert third.returncode == 0, third.stdout + third.stderr
    assert user_key_type(conn) == "uuid"
    assert keyshift(dsn, "check").returncode == 0


def test_rollback_waits_at_most_lock_timeout_then_retries(dsn, conn, tmp_path):
    mdir = planned(dsn, conn, tmp_path, scale=50)
    assert keyshift(dsn, "migrate", migrations=mdir).returncode == 0
    converted = full_dump(dsn)
    with psycopg.connect(dsn) as app:
        app.execute("SELECT * FROM social_account LIMIT 1 FOR UPDATE")
        result = keyshift(
            dsn,
            "rollback",
            "--lock-timeout",
            "200ms",
            "--lock-retries",
            "1",
            "--lock-retry-delay",
            "0.1",
            migrations=mdir,
        )
        app.rollback()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rollback of plan 0001" in result.stderr and "retry 1 of 1" in result.stderr, result.stderr
    assert "blocked by pid" in result.stderr
    assert full_dump(dsn) == converted


# --- concurrent traffic ----------------------------------------------------------------------

PGBENCH_SCRIPT = """\
BEGIN;
INSERT INTO custom_user (password, email, username, is_active, is_staff, date_joined)
VALUES ('x', 'pgb-' || md5(random()::text || clock_timestamp()::text), 'pgb-' || md5(random()::text), true, false, now())
RETURNING id AS new_id \\gset
INSERT INTO user_profile (bio, user_id) VALUES ('pgbench', :new_id);
COMMIT;
"""


def test_application_inserts_keep_working_and_none_is_lost(dsn, conn, tmp_path, pg_server):
    assert shutil.which("pgbench"), "pgbench is needed (Debian package postgresql: make setup installs it)"
    mdir = planned(dsn, conn, tmp_path, scale=1000)
    users_before = conn.execute("SELECT count(*) FROM custom_user").fetchone()[0]
    profiles_before = conn.execute("SELECT count(*) FROM user_profile").fetchone()[0]
    script = tmp_path / "app.sql"
    script.write_text(PGBENCH_SCRIPT)
    # Extended protocol: each statement is parsed anew, so `:new_id` is a parameter whose type
    # the server infers from the column: integer before COMMIT, uuid after.
    bench = subprocess.Popen(
        [
            "pgbench",
            "-n",
            "-M",
            "extended",
            "-c",
            "4",
            "-T",
            "8",
            "-f",
            str(script),
            "-h",
            pg_server.host,
            "-p",
            str(pg_server.port),
            "-U",
            pg_server.user,
            conninfo_to_dict(dsn)["dbname"],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: conn.execute("SELECT count(*) FROM user_profile WHERE bio = 'pgbench'").fetchone()[0] > 100,
        what="pgbench traffic",
    )
    holder = psycopg.connect(dsn)  # a long application transaction on another child: keyshift must wait
    holder.execute("SELECT id FROM verification_token ORDER BY id LIMIT 1 FOR UPDATE")
    proc = start(
        dsn,
        "migrate",
        "--migrations",
        str(mdir),
        "--lock-timeout",
        "500ms",
        "--lock-retries",
        "8",
        "--lock-retry-delay",
        "0.2",
    )
    wait_for(lambda: waiting_backend(conn, "%LOCK TABLE%"), what="keyshift to queue behind the holder")
    time.sleep(1.2)  # at least one lock timeout and retry while the application keeps writing
    holder.commit()
    holder.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert bench.poll() is None, "pgbench ended before keyshift committed: traffic after COMMIT not exercised"
    bout, berr = bench.communicate(timeout=60)
    assert bench.returncode == 0, bout + berr  # no application transaction failed
    processed = int(re.search(r"number of transactions actually processed: (\d+)", bout).group(1))
    assert "retry 1 of 8" in err, err
    assert user_key_type(conn) == "uuid"
    # Every transaction pgbench counted as committed is there: one user and one profile each.
    users_after = conn.execute("SELECT count(*) FROM custom_user").fetchone()[0]
    profiles_after = conn.execute("SELECT count(*) FROM user_profile").fetchone()[0]
    assert users_after == users_before + processed
    assert profiles_after == profiles_before + processed
    # Rows from before COMMIT went through the mapping; rows after got uuids from the new default.
    mapped, fresh = conn.execute(
        "SELECT count(*) FILTER (WHERE m.new_id IS NOT NULL), count(*) FILTER (WHERE m.new_id IS NULL)"
        " FROM custom_user u JOIN user_profile p ON p.user_id = u.id"
        " LEFT JOIN keyshift.map_public__custom_user m ON m.new_id = u.id WHERE p.bio = 'pgbench'"
    ).fetchone()
    assert mapped > 0 and fresh > 0, (mapped, fresh)
    assert mapped + fresh == processed
    assert (
        conn.execute(
            "SELECT count(*) FROM custom_user u LEFT JOIN keyshift.map_public__custom_user m"
            " ON m.new_id = u.id WHERE m.new_id IS NULL"
            " AND substr(u.id::text, 15, 1) <> '4'"
        ).fetchone()[0]
        == 0
    )  # v4 default
    check = keyshift(dsn, "check")
    assert check.returncode == 0, check.stdout
