"""What runs is exactly what plan wrote, in one piece; migrate decides nothing by re-reading SQL.

Migration files are read whole (orchestrator/apply/source.py), checked with PostgreSQL's own parser
before the transaction opens, and sent to the server one file at a time; no SQL splitter ever
sees them. The plan's manifest (``<plan_id>.plan.json``, orchestrator/apply/manifest.py) holds the
lock list, the catalog fingerprint and the sha256 of every file: an edited pending file is
refused unless ``--accept-edited``.
"""

from __future__ import annotations

import hashlib
import json

import psycopg
import pytest
import sqlparse
import yoyo.migrations
from conftest import keyshift, pg_dump_schema, without_restrict, yoyo_was_here
from pglast import parser as pgparser

from orchestrator.apply import manifest, messages, run_lock, runner, source
from orchestrator.errors import MigrationFailed

SCHEMA = """
CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE post (id serial PRIMARY KEY, account_id int NOT NULL REFERENCES account, body text);
INSERT INTO account (name) SELECT 'a' || g FROM generate_series(1, 20) g;
INSERT INTO post (account_id, body) SELECT 1 + g % 20, 'p' || g FROM generate_series(1, 60) g;
"""

#: A legal column name that sqlparse takes for an escaped quote, and a table name that ends a
#: statement and starts two of its own once the boundaries have shifted.
HOSTILE_COLUMN = 'c\\"x'
HOSTILE_TABLE = 't2"; ALTER ROLE mallory SUPERUSER; COMMIT; --'


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plan(dsn, mig, *tables):
    planned = keyshift(dsn, "plan", *[a for t in tables or ("public.account",) for a in ("--table", t)], migrations=mig)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return planned


def _key_type(conn, table="account", column="id"):
    return conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relnamespace = 'public'::regnamespace AND c.relname = %s AND a.attname = %s",
        (table, column),
    ).fetchone()[0]


def _applied_rows(conn) -> int:
    if conn.execute("SELECT to_regclass('_yoyo_migration') IS NULL").fetchone()[0]:
        return 0
    return conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0]


def _pending_file(mig, step="03"):
    return next(p for p in sorted(mig.glob(f"0001_{step}_*.sql")) if not p.name.endswith(".rollback.sql"))


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# --- refused statements: nothing runs ---------------------------------------------------

REFUSED = {
    "COMMIT;": "COMMIT",
    "SET ROLE x;": "SET ROLE",
    "RESET ROLE;": "RESET ROLE",
    "SET SESSION AUTHORIZATION x;": "SET SESSION AUTHORIZATION",
    "ALTER ROLE x SUPERUSER;": "ALTER ROLE",
    "RESET ALL;": "RESET ALL",
    "SAVEPOINT s;": "SAVEPOINT",
    "GRANT pg_read_all_data TO x;": "GRANT or REVOKE of a role",
    "CREATE ROLE y;": "CREATE ROLE",
    "ALTER DATABASE postgres SET role = x;": "ALTER DATABASE ... SET ROLE",
    "SET standard_conforming_strings = off;": "SET standard_conforming_strings",
    "RESET backslash_quote;": "RESET backslash_quote",
}


@pytest.mark.parametrize("statement", list(REFUSED))
def test_a_hand_added_transaction_or_role_statement_is_refused_and_nothing_runs(dsn, conn, tmp_path, statement):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    target = _pending_file(mig)
    text = target.read_text()
    line = text.count("\n") + 2  # after a blank line at the end
    target.write_text(text + "\n" + statement + "\n")
    before = without_restrict(pg_dump_schema(dsn))

    # --accept-edited: the edit is accepted, the statement is not.
    migrated = keyshift(dsn, "migrate", "--accept-edited", migrations=mig)
    assert migrated.returncode == 1, migrated.stdout + migrated.stderr
    err = _one_line(migrated.stderr)
    assert f"migration file {target.name} line {line}: holds {REFUSED[statement]}" in err, err
    assert "nothing was changed" in err
    assert _applied_rows(conn) == 0
    assert _key_type(conn) == "integer"
    assert conn.execute("SELECT to_regnamespace('keyshift') IS NULL").fetchone()[0]
    assert without_restrict(pg_dump_schema(dsn)) == before
    # Refused: the manifest still records the file as planned, not as edited.
    recorded = manifest.read(mig, "0001").files[target.name]
    assert recorded != hashlib.sha256(target.read_bytes()).hexdigest()


def test_a_file_postgresql_cannot_parse_is_refused_naming_file_and_line(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    target = _pending_file(mig, "02")
    text = target.read_text()
    target.write_text(text + "\nSELEC 1;\n")
    migrated = keyshift(dsn, "migrate", "--accept-edited", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert f"migration file {target.name} line {text.count(chr(10)) + 2}: does not parse as PostgreSQL" in err, err
    assert _applied_rows(conn) == 0 and _key_type(conn) == "integer"


def test_a_file_that_is_not_utf8_is_refused_by_name(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    target = _pending_file(mig)
    target.write_bytes(target.read_bytes() + b"\n-- caf\xe9\n")
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert target.name in err and "is not valid UTF-8" in err, err
    assert _applied_rows(conn) == 0


def test_a_server_error_names_the_migration_and_the_line(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    target = _pending_file(mig, "04")
    text = target.read_text()
    target.write_text(text + "\nSELECT 1;\nSELECT\n    no_such_column FROM account;\n")
    migrated = keyshift(dsn, "migrate", "--accept-edited", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert (
        f'migration {target.name[:-4]} line {text.count(chr(10)) + 4}: column "no_such_column" does not exist' in err
    ), err
    assert _applied_rows(conn) == 0 and _key_type(conn) == "integer"


# --- hostile names: the text goes to PostgreSQL whole -----------------------------------


def _mallory(conn) -> bool:
    return conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'").fetchone()[0]


def _no_splitter(*_args, **_kwargs):
    raise AssertionError("keyshift called a SQL splitter")


def test_names_that_would_shift_a_splitter_convert_and_no_role_changes(dsn, conn, tmp_path, monkeypatch):
    conn.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mallory') THEN "
        "CREATE ROLE mallory NOSUPERUSER; END IF; END $$"
    )
    conn.execute("ALTER ROLE mallory NOSUPERUSER")
    col, tab = _q(HOSTILE_COLUMN), _q(HOSTILE_TABLE)
    conn.execute(
        f"CREATE TABLE account (id serial PRIMARY KEY, {col} text);"
        f"CREATE TABLE a_child (id serial PRIMARY KEY, {col} int NOT NULL REFERENCES account);"
        f"CREATE TABLE {tab} (id serial PRIMARY KEY, {col} int NOT NULL REFERENCES account);"
        f"INSERT INTO account ({col}) SELECT 'a' || g FROM generate_series(1, 10) g;"
        f"INSERT INTO a_child ({col}) SELECT 1 + g % 10 FROM generate_series(1, 20) g;"
        f"INSERT INTO {tab} ({col}) SELECT 1 + g % 10 FROM generate_series(1, 30) g;"
    )
    pairs = conn.execute(f"SELECT t.id, a.{col} FROM {tab} t JOIN account a ON a.id = t.{col} ORDER BY 1").fetchall()
    mig = tmp_path / "m"
    _plan(dsn, mig)

    # The hazard is real: sqlparse, which does not follow PostgreSQL's quoting, would cut the
    # written files so that ALTER ROLE mallory SUPERUSER becomes a statement of its own.
    texts = [p.read_text() for p in sorted(mig.glob("0001_*.sql"))]
    assert any(HOSTILE_TABLE.replace('"', '""') in t for t in texts)
    assert any(len([s for s in sqlparse.split(t) if s.strip()]) != len(pgparser.parse_sql(t)) for t in texts)
    assert any(piece.strip().startswith("ALTER ROLE mallory SUPERUSER") for t in texts for piece in sqlparse.split(t))

    # The CLI runs in a child forked from this process: it inherits these patches, so any use of
    # yoyo's splitting reader (or sqlparse itself) fails the command.
    monkeypatch.setattr(yoyo.migrations, "read_sql_migration", _no_splitter)
    monkeypatch.setattr(sqlparse, "split", _no_splitter)
    monkeypatch.setattr(yoyo.migrations.Migration, "process_steps", _no_splitter)
    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0, status.stdout + status.stderr
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert not _mallory(conn)
    assert _key_type(conn) == "uuid" and _key_type(conn, HOSTILE_TABLE, HOSTILE_COLUMN) == "uuid"
    assert conn.execute(f"SELECT count(*) FROM {tab} t JOIN account a ON a.id = t.{col}").fetchone()[0] == 30
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not _mallory(conn)

    rolled = keyshift(dsn, "rollback", migrations=mig)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert not _mallory(conn)
    assert _key_type(conn) == "integer" and _key_type(conn, HOSTILE_TABLE, HOSTILE_COLUMN) == "integer"
    assert (
        conn.execute(f"SELECT t.id, a.{col} FROM {tab} t JOIN account a ON a.id = t.{col} ORDER BY 1").fetchall()
        == pairs
    )


# --- the manifest: what was reviewed is what runs ---------------------------------------


def test_plan_writes_a_manifest_with_locks_catalog_and_file_digests(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    planned = _plan(dsn, mig)
    data = json.loads((mig / "0001.plan.json").read_text())
    assert "0001.plan.json" in planned.stdout
    assert data["mode"] == "replace" and data["locks"] == [["public", "account"], ["public", "post"]]
    assert data["targets"] == [["public", "account"]] and data["references"] == []
    assert data["fingerprint"].startswith("sha256:") and "columns of public.post" in data["objects"]
    written = sorted(p.name for p in mig.glob("*.sql"))
    assert len(written) == 10 and sorted(data["files"]) == written
    for name in written:
        assert data["files"][name] == hashlib.sha256((mig / name).read_bytes()).hexdigest()
    for name in written:  # no header line carries the fingerprint any more
        assert "keyshift-catalog" not in (mig / name).read_text()


def test_external_mode_writes_a_manifest_too(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    planned = keyshift(dsn, "plan", "--mode", "external", "--table", "public.account", migrations=mig)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    data = json.loads((mig / "0001.plan.json").read_text())
    assert data["mode"] == "external" and data["locks"] == [["public", "account"]]
    assert sorted(data["files"]) == sorted(p.name for p in mig.glob("*.sql")) and len(data["files"]) == 2
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    rolled = keyshift(dsn, "rollback", migrations=mig)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr


def test_an_edited_pending_file_is_refused_shown_as_edited_and_runs_with_accept_edited(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    target = _pending_file(mig)
    target.write_text(target.read_text() + "\nSELECT 1;\n")

    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"EDITED {target.name[:-4]} ({target.name} edited after plan 0001" in status.stdout, status.stdout
    assert "--accept-edited" in status.stderr

    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1, migrated.stdout + migrated.stderr
    err = _one_line(migrated.stderr)
    assert target.name in err and "edited after plan" in err and "plan again" in err and "--accept-edited" in err
    assert _applied_rows(conn) == 0 and _key_type(conn) == "integer"

    migrated = keyshift(dsn, "migrate", "--accept-edited", migrations=mig)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _key_type(conn) == "uuid"
    assert manifest.read(mig, "0001").files[target.name] == hashlib.sha256(target.read_bytes()).hexdigest()
    status = keyshift(dsn, "status", migrations=mig)
    assert "EDITED" not in status.stdout and not status.stderr, status.stdout + status.stderr


def test_a_rollback_file_added_after_plan_is_refused_and_runs_with_accept_edited(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    extra = mig / "0001_06_note.sql"
    extra.write_text(
        "-- 0001_06_note: added by hand\n-- depends: 0001_05_set_uuid_defaults\n\nCREATE TABLE public.note (id int);\n"
    )
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1 and "0001_06_note.sql (added after plan 0001)" in migrated.stderr, migrated.stderr
    migrated = keyshift(dsn, "migrate", "--accept-edited", migrations=mig)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "0001_06_note.sql" in manifest.read(mig, "0001").files

    undo = mig / "0001_06_note.rollback.sql"
    undo.write_text("DROP TABLE public.note;\n")
    refused = keyshift(dsn, "rollback", migrations=mig)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    err = _one_line(refused.stderr)
    assert "0001_06_note.rollback.sql (added after plan 0001)" in err and "--accept-edited" in err, err
    assert _key_type(conn) == "uuid"
    rolled = keyshift(dsn, "rollback", "--accept-edited", migrations=mig)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert _key_type(conn) == "integer"
    assert conn.execute("SELECT to_regclass('public.note') IS NULL").fetchone()[0]


def test_a_rollback_file_with_a_role_statement_is_refused(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    assert keyshift(dsn, "migrate", migrations=mig).returncode == 0
    # Edited after apply: the recorded checksum refuses it first, as before.
    undo = next(mig.glob("0001_05_*.rollback.sql"))
    undo.write_text(undo.read_text() + "\nRESET ROLE;\n")
    refused = keyshift(dsn, "rollback", migrations=mig)
    assert refused.returncode == 1 and "edited after they were applied" in refused.stderr, refused.stderr
    # Even with its record taken as it is now, PostgreSQL's parser finds the statement.
    digest = hashlib.sha256(undo.read_bytes()).hexdigest()
    conn.execute(
        "UPDATE _yoyo_keyshift_applied_file SET rollback_sha256 = %s WHERE migration_id = %s",
        (digest, undo.name[: -len(".rollback.sql")]),
    )
    refused = keyshift(dsn, "rollback", "--accept-edited", migrations=mig)
    assert refused.returncode == 1
    err = _one_line(refused.stderr)
    assert f"migration file {undo.name} line" in err and "holds RESET ROLE" in err, err
    assert _key_type(conn) == "uuid"


def test_a_pending_plan_without_a_manifest_is_refused(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    (mig / "0001.plan.json").unlink()
    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0 and "UNVERIFIED plan 0001" in status.stdout, status.stdout + status.stderr
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert "plan 0001" in err and "no manifest 0001.plan.json" in err and "plan it again" in err, err
    assert _applied_rows(conn) == 0 and _key_type(conn) == "integer"


def test_replanning_after_deleting_a_plans_files_replaces_its_orphaned_manifest(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    for f in mig.glob("0001_*"):
        f.unlink()
    _plan(dsn, mig)
    assert sorted(manifest.read(mig, "0001").files) == sorted(p.name for p in mig.glob("*.sql"))


# --- the loader and the one-piece run ---------------------------------------------------


def test_run_text_sends_several_statements_in_one_piece(conn):
    with conn.transaction():
        runner.run_text(
            conn, "CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\n-- 100% sure\nINSERT INTO a VALUES (2);"
        )
    assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 2
    with pytest.raises(psycopg.errors.InvalidTextRepresentation) as caught:
        with conn.transaction():
            runner.run_text(conn, "INSERT INTO a VALUES (3);\n-- é\nINSERT INTO a VALUES ('x');")
    error = messages.db_error(
        "migration m", caught.value, "INSERT INTO a VALUES (3);\n-- é\nINSERT INTO a VALUES ('x');"
    )
    assert error.obj == "migration m line 3", error.line()
    assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 2


def test_directives_come_from_the_leading_comment_block_only():
    text = (
        "-- 0001_02_x: title\n--\n-- depends: 0001_01_a\n-- transactional: true\n\n"
        "SELECT 1;\n-- depends: 0001_99_late\n"
    )
    assert source.directives(text) == {"depends": "0001_01_a", "transactional": "true"}
    assert source.directives("-- depends: a\n-- depends: b\n") == {"depends": "a b"}


def test_plan_ids_are_read_without_patterns():
    assert source.plan_id_of("0007_03_convert_keys") == "0007"
    for other in ("0007-03_x", "007_03_x", "0007_3_x", "abcd_03_x", "0007_03", "2024_01_"):
        assert source.plan_id_of(other) is None, other


def test_validate_names_file_and_line_of_a_refused_statement():
    text = "-- header\nCREATE TABLE t (x int);\n\n/* a\n comment */ -- and more\n  COMMIT;\n"
    with pytest.raises(MigrationFailed) as caught:
        source.validate("f.sql", text)
    assert caught.value.obj == "migration file f.sql line 6", caught.value.line()
    assert "holds COMMIT" in caught.value.reason
    source.validate("ok.sql", "SELECT 'COMMIT; ALTER ROLE x SUPERUSER';\nCREATE TABLE \"SET ROLE x\" (x int);\n")


def test_a_planned_file_deleted_before_migrate_is_refused(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    gone = _pending_file(mig, "05")
    gone.unlink()
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert f"{gone.name} (deleted after plan 0001)" in err, err
    assert _applied_rows(conn) == 0 and _key_type(conn) == "integer"


# --- the server reads each file as PostgreSQL's parser read it, in one transaction -------------

SMUGGLED_COMMIT = "CREATE TABLE smuggled (x int);\nSELECT 'x\\''; COMMIT; --';\nSELECT 1/0;\n"


def test_standard_conforming_strings_off_for_the_database_cannot_smuggle_a_commit(dsn, conn, tmp_path):
    # With standard_conforming_strings off the server would read a COMMIT that pglast reads as
    # part of a string: keyshift pins it on for every file, so the file fails whole.
    conn.execute(
        psycopg.sql.SQL("ALTER DATABASE {} SET standard_conforming_strings = off").format(
            psycopg.sql.Identifier(conn.info.dbname)
        )
    )
    mig = tmp_path / "m"
    mig.mkdir()
    (mig / "0001_a.sql").write_text("CREATE TABLE first_file (x int);\n")
    (mig / "0002_b.sql").write_text(SMUGGLED_COMMIT)
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert "migration 0002_b" in err and "division by zero" in err and "nothing was committed" in err, err
    assert conn.execute("SELECT to_regclass('smuggled') IS NULL AND to_regclass('first_file') IS NULL").fetchone()[0]
    assert _applied_rows(conn) == 0


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TABLE half (x int); COMMIT;",
        "CREATE TABLE half (x int); COMMIT; BEGIN; CREATE TABLE other (x int);",
        "CREATE TABLE half (x int); COMMIT; SELECT 1/0;",
    ],
    ids=["commit", "commit and begin", "commit then error"],
)
def test_a_file_that_ends_the_transaction_says_part_may_be_committed(dsn, text):
    # What no parser can see is caught at run time: run_file is given text validate() would refuse.
    with psycopg.connect(dsn) as c:
        c.execute("SELECT 1")  # keyshift's transaction is open
        with pytest.raises(MigrationFailed) as caught:
            runner.run_file(c, "migration 0001_x", text)
        c.rollback()
    line = caught.value.line()
    assert line.startswith("migration 0001_x: ended keyshift's transaction") and "\n" not in line, line
    assert "part of the work may have been committed" in line and "keyshift status" in line, line
    assert "nothing was committed" not in line


def _role(conn) -> str:
    name = f"ks_mallory_{conn.info.backend_pid}"
    conn.execute(psycopg.sql.SQL("CREATE ROLE {}").format(psycopg.sql.Identifier(name)))
    conn.execute(psycopg.sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(psycopg.sql.Identifier(name)))
    return name


@pytest.mark.parametrize(
    "change",
    [
        "SELECT set_config('role', '{role}', false);",
        "DO $$BEGIN EXECUTE 'SET ROLE {role}'; END$$;",
        "SELECT set_config('session_authorization', '{role}', false);",
    ],
    ids=["set_config role", "SET ROLE inside DO", "set_config session_authorization"],
)
def test_a_role_change_no_parser_sees_fails_the_file_and_commits_nothing(dsn, conn, tmp_path, change):
    role = _role(conn)
    try:
        mig = tmp_path / "m"
        mig.mkdir()
        (mig / "0001_a.sql").write_text("CREATE TABLE before_change (x int);\n")
        (mig / "0002_x.sql").write_text(change.format(role=role) + "\nCREATE TABLE t_role (x int);\n")
        migrated = keyshift(dsn, "migrate", migrations=mig)
        assert migrated.returncode == 1, migrated.stdout + migrated.stderr
        err = _one_line(migrated.stderr)
        assert err.startswith("keyshift: migration 0002_x: changed the role it runs as") and role in err, err
        assert "nothing was committed" in err
        assert conn.execute("SELECT to_regclass('t_role') IS NULL AND to_regclass('before_change') IS NULL").fetchone()[
            0
        ]
        assert _applied_rows(conn) == 0
    finally:
        conn.execute(psycopg.sql.SQL("DROP OWNED BY {}").format(psycopg.sql.Identifier(role)))
        conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


# --- what was compared is what runs ---------------------------------------------------------------


def _waiting_for_run_lock(conn) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND objid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        (run_lock.RUN_KEY,),
    ).fetchone()[0]


def _migrate_restoring_meanwhile(dsn, conn, mig, target, planned: str, *args):
    """migrate while another run holds the database; the file is put back as planned while
    migrate waits (after it read the file, before it compares it with the manifest)."""
    import threading
    import time

    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (run_lock.RUN_KEY,))
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("r", keyshift(dsn, "migrate", *args, migrations=mig)))
    thread.start()
    deadline = time.monotonic() + 20
    while not _waiting_for_run_lock(conn):
        assert time.monotonic() < deadline, "migrate never waited for the run lock"
        time.sleep(0.05)
    target.write_text(planned)
    holder.close()
    thread.join()
    return out["r"]


def test_the_bytes_compared_and_recorded_are_the_bytes_that_run(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    target = _pending_file(mig, "05")
    planned = target.read_text()
    edited = planned + "\nCREATE TABLE unreviewed (x int);\n"

    target.write_text(edited)
    refused = _migrate_restoring_meanwhile(dsn, conn, mig, target, planned)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    err = _one_line(refused.stderr)
    assert f"{target.name} (edited after plan 0001)" in err, err
    assert conn.execute("SELECT to_regclass('unreviewed') IS NULL").fetchone()[0] and _applied_rows(conn) == 0

    target.write_text(edited)
    accepted = _migrate_restoring_meanwhile(dsn, conn, mig, target, planned, "--accept-edited")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert conn.execute("SELECT to_regclass('unreviewed') IS NOT NULL").fetchone()[0]  # the edited text ran
    ran = hashlib.sha256(edited.encode()).hexdigest()
    recorded = conn.execute(
        "SELECT file_sha256 FROM _yoyo_keyshift_applied_file WHERE migration_id = %s", (target.stem,)
    ).fetchone()[0]
    assert recorded == ran and manifest.read(mig, "0001").files[target.name] == ran
    status = keyshift(dsn, "status", migrations=mig)  # the file on disk is not what ran
    assert status.returncode == 0 and f"EDITED {target.stem} ({target.name} changed" in status.stdout, status.stdout


# --- files and manifests no plan wrote ------------------------------------------------------------


@pytest.mark.parametrize("name", ["0001_99z.sql", "0001_02a.sql"])
def test_a_file_no_plan_wrote_inside_a_plans_numbering_is_refused(dsn, conn, tmp_path, name):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    (mig / name).write_text("DELETE FROM public.post WHERE id = 1;\n")
    for args in ((), ("--accept-edited",)):
        migrated = keyshift(dsn, "migrate", *args, migrations=mig)
        assert migrated.returncode == 1, migrated.stdout + migrated.stderr
        err = _one_line(migrated.stderr)
        assert f"migration file {name}: is in plan 0001's numbering but not in its manifest 0001.plan.json" in err
        assert "rename it after the plan's files" in err and "nothing was changed" in err, err
    assert conn.execute("SELECT count(*) FROM post").fetchone()[0] == 60 and _applied_rows(conn) == 0
    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"UNPLANNED {name[:-4]} ({name} is in plan 0001's numbering but not in its manifest" in status.stdout


def _rewrite_manifest(mig, change) -> None:
    path = mig / "0001.plan.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda d: d["locks"].append(["pg_catalog", "pg_authid"]), 'locks ["pg_catalog", "pg_authid"]'),
        (lambda d: d["locks"].append(["public", "no_such_table"]), 'locks ["public", "no_such_table"]'),
        (
            lambda d: d["files"].update({"../../../../etc/hostname": "0" * 64}),
            'lists the file "../../../../etc/hostname"',
        ),
        (lambda d: d["files"].update({"/dev/zero": "0" * 64}), 'lists the file "/dev/zero"'),
        (lambda d: d["files"].update({"0002_01_x.sql": "0" * 64}), 'lists the file "0002_01_x.sql"'),
    ],
    ids=["catalog table", "unfingerprinted table", "path", "device", "other plan"],
)
def test_a_manifest_plan_cannot_have_written_is_refused_and_status_goes_on(dsn, conn, tmp_path, change, why):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    _rewrite_manifest(mig, change)
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert "plan manifest" in err and why in err and "nothing was changed" in err, err
    assert _applied_rows(conn) == 0 and _key_type(conn) == "integer"
    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stdout + status.stderr
    assert f"UNVERIFIED plan 0001 (plan manifest {mig / '0001.plan.json'}" in status.stdout, status.stdout
    assert why in status.stdout and "pending" in status.stdout


def test_rollback_accept_edited_runs_an_undo_edited_after_apply(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    assert keyshift(dsn, "migrate", migrations=mig).returncode == 0
    undo = next(mig.glob("0001_05_*.rollback.sql"))
    undo.write_text(undo.read_text() + "\nCREATE TABLE public.undo_marker (x int);\n")
    refused = keyshift(dsn, "rollback", migrations=mig)
    assert refused.returncode == 1
    err = _one_line(refused.stderr)
    assert f"migration files {undo.name}: were edited after they were applied" in err and "--accept-edited" in err
    assert _key_type(conn) == "uuid"
    rolled = keyshift(dsn, "rollback", "--accept-edited", migrations=mig)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert _key_type(conn) == "integer"
    assert conn.execute("SELECT to_regclass('public.undo_marker') IS NOT NULL").fetchone()[0]
    assert manifest.read(mig, "0001").files[undo.name] == hashlib.sha256(undo.read_bytes()).hexdigest()


# --- database errors around the files: one line ---------------------------------------------------


def test_errors_in_yoyos_bookkeeping_and_the_checksum_table_are_one_line(dsn, conn, tmp_path):
    mig = tmp_path / "m"
    mig.mkdir()
    yoyo_was_here(dsn)  # yoyo's tables, as yoyo itself creates them
    (mig / "0001_a.sql").write_text("CREATE TABLE a (x int);\n")
    conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'log refused'; END$$"
    )
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON _yoyo_log FOR EACH ROW EXECUTE FUNCTION refuse()")
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert "migration 0001_a (yoyo's bookkeeping): log refused" in err and "nothing was committed" in err, err
    conn.execute("DROP TRIGGER refuse ON _yoyo_log")
    conn.execute("CREATE TABLE _yoyo_keyshift_applied_file (migration_id text)")  # not keyshift's shape
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1
    err = _one_line(migrated.stderr)
    assert "migrate's drift and checksum check: failed in the database" in err and "file_sha256" in err, err
    assert conn.execute("SELECT to_regclass('a') IS NULL").fetchone()[0] and _applied_rows(conn) == 0
