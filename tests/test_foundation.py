"""Foundation: the seed-000 schema converts, fails atomically, rolls back exactly, and bad
input is refused before anything is written. Every test runs the real CLI on a real server."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from conftest import convert, keyshift, load_seed000, pg_dump_schema, without_restrict

CHILDREN = [
    ("user_profile", "user_id"),
    ("verification_token", "user_id"),
    ("social_account", "user_id"),
]


def parent_of_each_child(conn) -> dict:
    """child table -> {child id: parent email}: who points at whom, independent of key type."""
    out = {}
    for table, col in CHILDREN:
        rows = conn.execute(
            f"SELECT c.id, u.email FROM {table} c JOIN custom_user u ON u.id = c.{col} ORDER BY c.id"
        ).fetchall()
        out[table] = dict(rows)
    return out


def schema_dump(dsn: str) -> str:
    """pg_dump --schema-only of the public schema, comments and SET lines stripped."""
    out = pg_dump_schema(dsn, "--no-owner", "--schema=public")
    return "\n".join(line for line in without_restrict(out) if line and not line.startswith(("--", "SET ", "SELECT ")))


def data_dump(conn) -> dict:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_yoyo%' "
            "AND tablename <> 'yoyo_lock' ORDER BY 1"
        )
    ]
    return {t: conn.execute(f"SELECT t::text FROM {t} t ORDER BY 1").fetchall() for t in tables}


def sequences(conn) -> list:
    return conn.execute(
        "SELECT sequencename, last_value, start_value, increment_by, max_value, data_type::text "
        "FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
    ).fetchall()


def test_seed000_converts_and_every_child_keeps_its_parent(dsn, conn, tmp_path):
    load_seed000(conn, scale=400)
    before = parent_of_each_child(conn)
    counts_before = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t, _ in CHILDREN}

    convert(dsn, tmp_path / "m", "public.custom_user")

    types = dict(
        conn.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND (column_name = 'user_id' OR (table_name = 'custom_user' AND column_name = 'id'))"
        ).fetchall()
    )
    assert types["custom_user.id"] == "uuid"
    for table, col in CHILDREN:
        assert types[f"{table}.{col}"] == "uuid"
    # The FK-less session column is not converted (the plan warns about it instead).
    assert types["django_session.user_id"] == "integer"
    fks = conn.execute(
        "SELECT conrelid::regclass::text, condeferrable, condeferred, convalidated, "
        "format_type(a.atttypid, a.atttypmod) FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE contype = 'f' AND confrelid = 'public.custom_user'::regclass ORDER BY 1"
    ).fetchall()
    assert [f[0] for f in fks] == ["social_account", "user_profile", "verification_token"]
    assert all(f[1] and f[2] and f[3] and f[4] == "uuid" for f in fks), fks
    assert parent_of_each_child(conn) == before
    assert {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t, _ in CHILDREN} == counts_before
    # New rows get a uuid from the default; the old sequence is gone with the identity.
    new_id = conn.execute(
        "INSERT INTO custom_user (password, email, username, is_active, is_staff, date_joined) "
        "VALUES ('x', 'fresh@example.com', 'fresh', true, false, now()) RETURNING id"
    ).fetchone()[0]
    assert str(new_id).count("-") == 4
    assert (
        conn.execute("SELECT count(*) FROM pg_sequences WHERE sequencename = 'custom_user_id_seq'").fetchone()[0] == 0
    )
    # The mapping is kept: one row per original user, old ids 1..N.
    assert conn.execute(
        "SELECT count(*), min(old_id), max(old_id) FROM keyshift.map_public__custom_user"
    ).fetchone() == (400, 1, 400)


def test_plan_again_after_migrate_says_nothing_to_do(dsn, conn, tmp_path):
    load_seed000(conn, scale=50)
    convert(dsn, tmp_path / "m", "public.custom_user")
    again = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=tmp_path / "m")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    assert len(list((tmp_path / "m").glob("*.sql"))) == 10
    second = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert second.returncode == 0 and "nothing to do" in second.stdout


def test_failed_check_leaves_database_exactly_as_before(dsn, conn, tmp_path):
    load_seed000(conn, scale=100)
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "always_fails.sql").write_text(
        "-- applies-to: keyshift.converted_table\n-- skip-reason: none\nSELECT 'planted' AS fault, 42 AS n;\n"
    )
    plan = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=tmp_path / "m")
    assert plan.returncode == 0, plan.stderr
    schema_before, data_before, seq_before = schema_dump(dsn), data_dump(conn), sequences(conn)

    result = keyshift(dsn, "migrate", "--checks", str(checks), migrations=tmp_path / "m")

    assert result.returncode == 1
    assert "checks/always_fails.sql" in result.stdout and "not ok (1 rows)" in result.stdout
    assert "planted" in result.stdout
    assert "nothing was committed" in result.stderr
    assert schema_dump(dsn) == schema_before
    assert data_dump(conn) == data_before
    assert sequences(conn) == seq_before
    assert conn.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None
    # yoyo's tables are created inside the transaction: the failed run left none of them.
    assert conn.execute(
        "SELECT to_regclass('_yoyo_migration') IS NULL AND to_regclass('_yoyo_log') IS NULL"
    ).fetchone()[0]
    status = keyshift(dsn, "status", migrations=tmp_path / "m")
    assert "0 applied, 5 pending" in status.stdout


def test_rollback_restores_integer_ids_sequences_and_constraints(dsn, conn, tmp_path):
    load_seed000(conn, scale=200)
    conn.execute("SELECT setval('verification_token_id_seq', 5000)")  # a serial sequence far ahead
    schema_before, data_before, seq_before = schema_dump(dsn), data_dump(conn), sequences(conn)

    convert(dsn, tmp_path / "m", "public.custom_user", "public.verification_token")
    assert schema_dump(dsn) != schema_before

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert back.returncode == 0, back.stdout + back.stderr
    assert schema_dump(dsn) == schema_before
    assert data_dump(conn) == data_before
    assert sequences(conn) == seq_before
    # the mappings rollback kept stand in the way of applying the plan again, until drop-map
    refused = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert refused.returncode == 1 and "keyshift drop-map --table public." in refused.stderr, refused.stderr
    dropped = keyshift(dsn, "drop-map", "--table", "public.custom_user", "--table", "public.verification_token")
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    assert conn.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None
    # and the conversion can be applied again afterwards
    again = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert again.returncode == 0, again.stdout + again.stderr


def test_rollback_gives_rows_added_after_conversion_the_next_ids(dsn, conn, tmp_path):
    load_seed000(conn, scale=30)
    convert(dsn, tmp_path / "m", "public.custom_user")
    uid = conn.execute(
        "INSERT INTO custom_user (password, email, username, is_active, is_staff, date_joined) "
        "VALUES ('x', 'late@example.com', 'late', true, false, now()) RETURNING id"
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO social_account (user_id, provider, uid, extra_data) VALUES (%s, 'gh', 'late', '{}')", (uid,)
    )

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")

    assert back.returncode == 0, back.stdout + back.stderr
    late = conn.execute("SELECT id FROM custom_user WHERE email = 'late@example.com'").fetchone()[0]
    assert late == 31
    assert conn.execute("SELECT user_id FROM social_account WHERE uid = 'late'").fetchone()[0] == 31
    nxt = conn.execute(
        "INSERT INTO custom_user (password, email, username, is_active, is_staff, date_joined) "
        "VALUES ('x', 'next@example.com', 'next', true, false, now()) RETURNING id"
    ).fetchone()[0]
    assert nxt == 32


def _refused(result, *words):
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    for w in words:
        assert w in line, line
    return line


@pytest.mark.parametrize(
    "setup, table, words",
    [
        ("", "public.no_such_table", ("public.no_such_table", "does not exist")),
        ("CREATE TABLE nokey (id integer)", "public.nokey", ("public.nokey", "no primary key")),
        (
            "CREATE TABLE already (id uuid PRIMARY KEY DEFAULT gen_random_uuid())",
            "public.already",
            ("public.already", "already a uuid"),
        ),
        ("CREATE TABLE pair (a int, b int, PRIMARY KEY (a, b))", "public.pair", ("public.pair", "composite")),
        ("CREATE TABLE texty (code text PRIMARY KEY)", "public.texty", ("public.texty", "not an integer")),
        ("CREATE VIEW v AS SELECT 1 AS id", "public.v", ("public.v", "is a view")),
        ("", "custom_user", ("custom_user", "SCHEMA.TABLE")),
    ],
)
def test_bad_table_is_refused_with_one_line_and_nothing_written(dsn, conn, tmp_path, setup, table, words):
    if setup:
        conn.execute(setup)
    result = keyshift(dsn, "plan", "--table", table, migrations=tmp_path / "m")
    _refused(result, *words)
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())


def test_fk_from_unconverted_key_is_refused(dsn, conn, tmp_path):
    conn.execute("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY REFERENCES a)")
    result = keyshift(dsn, "plan", "--table", "public.b", migrations=tmp_path / "m")
    _refused(result, "public.b", "--table public.a")


def test_unreachable_database_is_refused_without_the_password(tmp_path):
    dsn = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/nowhere"
    result = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=tmp_path / "m")
    line = _refused(result, "cannot connect", "127.0.0.1:1")
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()
    for command in ("migrate", "check", "status", "rollback"):
        (tmp_path / "m").mkdir(exist_ok=True)
        r = keyshift(dsn, command, **({} if command == "check" else {"migrations": tmp_path / "m"}))
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert "s3cr3t-pw" not in r.stdout + r.stderr, command
    assert "s3cr3t" not in line


def test_generated_migrations_pass_sqlfluff(dsn, conn, tmp_path):
    load_seed000(conn, scale=10)
    mig = tmp_path / "m"
    plan = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=mig)
    assert plan.returncode == 0, plan.stderr
    from conftest import ROOT

    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), str(mig)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]


def test_migrate_gives_up_on_a_held_lock_and_names_the_blocker(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    plan = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=tmp_path / "m")
    assert plan.returncode == 0, plan.stderr
    with psycopg.connect(dsn) as app:  # an application transaction holding a row lock
        app.execute("SELECT * FROM social_account WHERE id = 1 FOR UPDATE")
        result = keyshift(dsn, "migrate", "--lock-timeout", "300ms", "--lock-retries", "0", migrations=tmp_path / "m")
        app.rollback()
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    assert "lock_timeout 300ms" in err and "blocked by pid" in err and "FOR UPDATE" in err, err
    assert (
        conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'custom_user' AND column_name = 'id'"
        ).fetchone()[0]
        == "integer"
    )
    assert keyshift(dsn, "migrate", migrations=tmp_path / "m").returncode == 0


def test_second_plan_on_a_table_an_earlier_plan_touched(dsn, conn, tmp_path):
    """c references a and b; converting a, then b, must fingerprint c consistently."""
    conn.execute(
        "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);"
        "CREATE TABLE c (id int PRIMARY KEY, a_id int REFERENCES a, b_id int REFERENCES b);"
        "INSERT INTO a SELECT g FROM generate_series(1, 50) g; INSERT INTO b SELECT g FROM generate_series(1, 50) g;"
        "INSERT INTO c SELECT g, 51 - g, g FROM generate_series(1, 50) g"
    )
    convert(dsn, tmp_path / "m", "public.a")
    convert(dsn, tmp_path / "m", "public.b")
    rows = conn.execute(
        "SELECT c.id, ma.old_id, mb.old_id FROM c JOIN keyshift.map_public__a ma ON ma.new_id = c.a_id "
        "JOIN keyshift.map_public__b mb ON mb.new_id = c.b_id ORDER BY c.id"
    ).fetchall()
    assert rows == [(i, 51 - i, i) for i in range(1, 51)]
    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert back.returncode == 0, back.stdout + back.stderr
    assert (
        conn.execute(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'c'::regclass AND attname = 'b_id'"
        ).fetchone()[0]
        == "integer"
    )
