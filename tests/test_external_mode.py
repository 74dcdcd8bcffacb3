"""External (dual-ID) mode, --restart-sequence and --invalidate-sessions.

Every test runs the real CLI against a real PostgreSQL server, on the seed-002 shop fixture
(the schema as it was BEFORE its dual-ID change), plus a session table and audit triggers.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import FIXTURES, ROOT, keyshift, load_sql, pg_dump_schema, without_restrict

SHOP = FIXTURES / "seed002_shop"
SCALE = 60
TABLES = ("users", "orders", "order_items", "carts", "cart_items", "order_status_history", "user_sessions")
CHECK = "external_ids_are_unique_not_null_with_default.sql"
RESTARTS = ("--restart-sequence", "public.users=400000", "--restart-sequence", "public.orders=3422000")

EXTRAS = """
CREATE TABLE user_sessions (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    token text NOT NULL
);
INSERT INTO user_sessions (user_id, token) SELECT u.id, md5(u.id::text) FROM users AS u WHERE u.id % 2 = 0;
-- Any row-level write by the conversion would leave a row here (and touch created_at).
CREATE TABLE audit (tab text, op text, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (tab, op) VALUES (TG_TABLE_NAME, TG_OP);
    IF TG_OP = 'UPDATE' THEN NEW.created_at := now(); END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER users_audit BEFORE INSERT OR UPDATE OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER orders_audit BEFORE INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW EXECUTE FUNCTION audit_row();
"""


@pytest.fixture
def shop(dsn, conn) -> psycopg.Connection:
    load_sql(conn, SHOP / "schema.sql", SHOP / "data.sql", scale=SCALE)
    conn.execute(EXTRAS)
    return conn


def plan(dsn: str, migrations: Path, *args: str) -> subprocess.CompletedProcess:
    return keyshift(dsn, "plan", "--mode", "external", *args, migrations=migrations)


def data(conn, table: str, leave_out: str = "external_id") -> list[tuple]:
    cols = [
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
            " AND attname <> %s ORDER BY attnum",
            (f"public.{table}", leave_out),
        )
    ]
    q = psycopg.sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)), psycopg.sql.Identifier("public", table)
    )
    return conn.execute(q).fetchall()


def sequences(conn) -> dict[str, tuple]:
    out = {}
    for (name,) in conn.execute(
        "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences WHERE schemaname = 'public'"
    ).fetchall():
        out[name] = conn.execute(
            psycopg.sql.SQL("SELECT last_value, is_called FROM {}").format(psycopg.sql.SQL(name))
        ).fetchone()
    return out


def foreign_keys(conn) -> list[tuple]:
    return conn.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
        " WHERE contype = 'f' ORDER BY 1, 2"
    ).fetchall()


def run_check(conn, name: str = CHECK) -> list[dict]:
    with conn.transaction(force_rollback=True):
        with conn.cursor() as cur:
            cur.execute((ROOT / "checks" / name).read_text())
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]


def lint(path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the whole journey on seed 002 ------------------------------------------------------------


def test_external_mode_on_the_shop_keeps_every_id_and_rolls_back_exactly(dsn, shop, tmp_path):
    conn = shop
    migrations = tmp_path / "m"
    before = {t: data(conn, t) for t in TABLES}
    schema_before = without_restrict(pg_dump_schema(dsn))
    seq_before = sequences(conn)
    fks_before = foreign_keys(conn)
    max_user, max_order = conn.execute("SELECT (SELECT max(id) FROM users), (SELECT max(id) FROM orders)").fetchone()
    assert max_user < 400000 and max_order < 3422000

    planned = plan(
        dsn,
        migrations,
        "--table",
        "public.users",
        "--table",
        "public.orders",
        *RESTARTS,
        "--invalidate-sessions",
        "public.user_sessions",
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    out = planned.stdout
    assert "public.users.external_id" in out and "public.orders.external_id" in out
    assert "new rows from 400000" in out and "new rows from 3422000" in out
    assert "invalidate sessions public.user_sessions" in out
    files = sorted(p.name for p in migrations.glob("*.sql"))
    assert files == ["0001_01_add_external_ids.rollback.sql", "0001_01_add_external_ids.sql"]
    text = (migrations / files[1]).read_text()
    assert "users_external_id_key" in text and "RESTART WITH 400000" in text and "TRUNCATE TABLE" in text
    assert "Proven by: checks/external_ids_are_unique_not_null_with_default.sql" in text
    statements = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    assert not re.search(r"\bUPDATE\b", statements, re.I)  # ADD COLUMN ... DEFAULT fills the rows
    assert "NOT restored by this rollback" in (migrations / files[0]).read_text()
    lint(migrations)

    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert ", 0 not ok" in migrated.stdout, migrated.stdout

    # Historical ids, every other value and every FK untouched; no trigger fired.
    for t in TABLES:
        if t != "user_sessions":
            assert data(conn, t) == before[t], t
    assert foreign_keys(conn) == fks_before
    assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM user_sessions").fetchone()[0] == 0
    assert conn.execute("SELECT plan_id, rows_deleted FROM keyshift.invalidated_session").fetchall() == [
        ("0001", len(before["user_sessions"]))
    ]
    for t in ("users", "orders"):
        n, distinct, nulls, notnull, typ = conn.execute(
            psycopg.sql.SQL(
                "SELECT count(*), count(DISTINCT external_id), count(*) FILTER (WHERE external_id IS NULL),"
                " (SELECT attnotnull FROM pg_attribute WHERE attrelid = {r}::regclass AND attname = 'external_id'),"
                " (SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = {r}::regclass"
                "  AND attname = 'external_id') FROM {t}"
            ).format(r=psycopg.sql.Literal(f"public.{t}"), t=psycopg.sql.Identifier(t))
        ).fetchone()
        assert n == len(before[t]) and distinct == n and nulls == 0 and notnull and typ == "uuid", t
    assert conn.execute(
        "SELECT mode, key_column, external_column, map_table FROM keyshift.converted_table ORDER BY table_name"
    ).fetchall() == [("external", "id", "external_id", None), ("external", "id", "external_id", None)]

    # New rows continue from the chosen starts and get a v4 external id.
    uid, uext = conn.execute("INSERT INTO users (first_name) VALUES ('New') RETURNING id, external_id").fetchone()
    oid_, oext = conn.execute("INSERT INTO orders (user_id) VALUES (%s) RETURNING id, external_id", (uid,)).fetchone()
    assert uid == 400000 and oid_ == 3422000
    assert uuid.UUID(str(uext)).version == 4 and uuid.UUID(str(oext)).version == 4

    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"checks/{CHECK}" in checked.stdout
    again = plan(dsn, migrations, "--table", "public.users", "--table", "public.orders", *RESTARTS)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to do" in again.stdout
    assert sorted(p.name for p in migrations.glob("*.sql")) == files

    # Rollback: the new rows go first (rollback keeps rows; see the test below for that case).
    conn.execute("DELETE FROM orders WHERE id = 3422000; DELETE FROM users WHERE id = 400000; DELETE FROM audit")
    rolled = keyshift(dsn, "rollback", migrations=migrations)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert without_restrict(pg_dump_schema(dsn)) == schema_before
    assert sequences(conn) == seq_before
    assert foreign_keys(conn) == fks_before
    for t in TABLES:
        if t != "user_sessions":
            assert data(conn, t) == before[t], t
    assert conn.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None
    assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0


def test_rollback_after_new_rows_continues_past_them_and_identity_keys_restart(dsn, conn, tmp_path):
    conn.execute(
        "CREATE TABLE thing (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text);"
        "INSERT INTO thing (label) SELECT 't' || g FROM generate_series(1, 20) AS g;"
        "CREATE TABLE part (id serial PRIMARY KEY, thing_id integer REFERENCES thing (id));"
        "INSERT INTO part (thing_id) SELECT g FROM generate_series(1, 20) AS g;"
    )
    seq_before = sequences(conn)
    migrations = tmp_path / "m"
    planned = plan(
        dsn,
        migrations,
        "--table",
        "public.thing",
        "--table",
        "public.part",
        "--restart-sequence",
        "public.thing=1000",
        "--external-column",
        "public_id",
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    lint(migrations)
    assert keyshift(dsn, "migrate", migrations=migrations).returncode == 0
    assert conn.execute("INSERT INTO thing (label) VALUES ('new') RETURNING id").fetchone()[0] == 1000
    assert conn.execute("INSERT INTO part (thing_id) VALUES (1000) RETURNING id").fetchone()[0] == 21
    assert conn.execute("SELECT count(DISTINCT public_id) FROM thing").fetchone()[0] == 21
    assert run_check(conn) == []
    rolled = keyshift(dsn, "rollback", migrations=migrations)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    # The row 1000 stays: the sequence must never hand out 1000 again.
    after = sequences(conn)
    assert after["public.thing_id_seq"] == (1000, True)
    assert after["public.part_id_seq"] == (21, True) and seq_before["public.part_id_seq"] == (20, True)


def test_restart_below_values_already_handed_out_is_planned_with_a_warning(dsn, conn, tmp_path):
    conn.execute(
        "CREATE TABLE thing (id bigserial PRIMARY KEY); INSERT INTO thing SELECT FROM generate_series(1, 30);"
        "DELETE FROM thing WHERE id > 10"
    )
    planned = plan(dsn, tmp_path / "m", "--table", "public.thing", "--restart-sequence", "public.thing=20")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert re.search(r"WARN .*handed out values up to 30; ids from 20 to 30", planned.stdout), planned.stdout
    quiet = plan(dsn, tmp_path / "n", "--table", "public.thing", "--restart-sequence", "public.thing=31")
    assert quiet.returncode == 0 and "WARN" not in quiet.stdout, quiet.stdout
    assert conn.execute("SELECT count(*) FROM pg_attribute WHERE attname = 'public_id'").fetchone()[0] == 0


# --- bad input: exit 3, nothing written -----------------------------------------------------------

BAD_INPUT = [
    (("--table", "public.users", "--restart-sequence", "public.users=201520"), "not above every existing id"),
    (("--table", "public.users", "--restart-sequence", "public.users=1000"), "not above every existing id"),
    (("--table", "public.users", "--restart-sequence", "public.carts=10"), "is not a target of this plan"),
    (("--table", "public.users", "--restart-sequence", "public.users"), "SCHEMA.TABLE=N"),
    (("--table", "public.users", "--restart-sequence", "public.users=abc"), "SCHEMA.TABLE=N"),
    (("--table", "public.users", "--restart-sequence", "users=400000"), "qualified name"),
    (
        (
            "--table",
            "public.users",
            "--restart-sequence",
            "public.users=400000",
            "--restart-sequence",
            "public.users=500000",
        ),
        "given twice",
    ),
    (("--table", "public.no_seq", "--restart-sequence", "public.no_seq=10"), "draws from no sequence"),
    (("--table", "public.users", "--invalidate-sessions", "public.sessions"), "no such table"),
    (("--table", "public.users", "--invalidate-sessions", "public.users"), "is referenced by foreign keys"),
    (("--table", "public.users", "--external-column", "first_name"), "public.users.first_name: exists already"),
    (("--table", "public.users", "--external-column", "x" * 64), "1 to 63 bytes"),
    (("--table", "public.users", "--uuid", "v7"), "gen_random_uuid() (v4)"),
]


def test_bad_input_is_refused_and_nothing_is_written(dsn, shop, tmp_path):
    """One database for every case (each is one real CLI run): exit 3, no file, no keyshift schema."""
    shop.execute("CREATE TABLE no_seq (id bigint PRIMARY KEY); INSERT INTO no_seq VALUES (1)")
    schema_before = without_restrict(pg_dump_schema(dsn))
    for args, message in BAD_INPUT:
        migrations = tmp_path / "m"
        result = plan(dsn, migrations, *args)
        assert result.returncode == 3, (args, result.stdout + result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert not migrations.exists() or not list(migrations.iterdir()), args
    assert shop.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None
    assert without_restrict(pg_dump_schema(dsn)) == schema_before


@pytest.mark.parametrize(
    "args, message",
    [
        (("--restart-sequence", "public.users=400000"), "is for --mode external only"),
        (("--external-column", "ext"), "is for --mode external only"),
    ],
)
def test_external_options_are_refused_in_replace_mode(dsn, shop, tmp_path, args, message):
    migrations = tmp_path / "m"
    result = keyshift(dsn, "plan", "--table", "public.users", *args, migrations=migrations)
    assert result.returncode == 3, result.stdout + result.stderr
    assert message in result.stderr
    assert not migrations.exists()


# --- migrate time --------------------------------------------------------------------------------


def test_row_above_the_restart_arriving_after_plan_makes_migrate_fail_with_nothing_committed(dsn, shop, tmp_path):
    migrations = tmp_path / "m"
    planned = plan(
        dsn,
        migrations,
        "--table",
        "public.users",
        "--table",
        "public.orders",
        *RESTARTS,
        "--invalidate-sessions",
        "public.user_sessions",
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    shop.execute("INSERT INTO users (id, first_name) VALUES (400001, 'Early')")
    seq_before = sequences(shop)
    sessions = shop.execute("SELECT count(*) FROM user_sessions").fetchone()[0]
    result = keyshift(dsn, "migrate", migrations=migrations)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--restart-sequence public.users=400000: max(id) is now 400001" in result.stderr
    assert "nothing was committed" in result.stderr
    assert sequences(shop) == seq_before
    assert shop.execute("SELECT count(*) FROM user_sessions").fetchone()[0] == sessions > 0
    assert (
        shop.execute(
            "SELECT count(*) FROM pg_attribute WHERE attname = 'external_id'"
            " AND attrelid IN ('users'::regclass, 'orders'::regclass)"
        ).fetchone()[0]
        == 0
    )
    assert shop.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None


def test_failing_check_leaves_sessions_and_sequences_untouched(dsn, shop, tmp_path):
    migrations = tmp_path / "m"
    planned = plan(
        dsn, migrations, "--table", "public.users", *RESTARTS[:2], "--invalidate-sessions", "public.user_sessions"
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    (migrations / "0001_02_corrupt.sql").write_text(
        "-- 0001_02_corrupt: a deliberate fault for the checks to find\n"
        "-- depends: 0001_01_add_external_ids\n\n"
        "ALTER TABLE public.users ALTER COLUMN external_id DROP DEFAULT;\n"
    )
    seq_before = sequences(shop)
    sessions = shop.execute("SELECT count(*) FROM user_sessions").fetchone()[0]
    result = keyshift(dsn, "migrate", "--accept-edited", migrations=migrations)  # a file added to the plan
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.findall(r"checks/(\S+\.sql) \.+ not ok", result.stdout) == [CHECK], result.stdout
    assert shop.execute("SELECT count(*) FROM user_sessions").fetchone()[0] == sessions > 0
    assert sequences(shop) == seq_before
    assert shop.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None


def test_invalidate_sessions_in_replace_mode(dsn, shop, tmp_path):
    migrations = tmp_path / "m"
    # user_sessions references users: it is converted too, after it was emptied and fingerprinted empty.
    planned = keyshift(
        dsn, "plan", "--table", "public.users", "--invalidate-sessions", "public.user_sessions", migrations=migrations
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "invalidate sessions public.user_sessions" in planned.stdout
    first = (migrations / "0001_01_map_keys.sql").read_text()
    assert "TRUNCATE TABLE" in first and "Rollback cannot restore them" in first
    lint(migrations)
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert shop.execute("SELECT count(*) FROM user_sessions").fetchone()[0] == 0
    assert (
        shop.execute(
            "SELECT format_type(atttypid, NULL) FROM pg_attribute"
            " WHERE attrelid = 'user_sessions'::regclass AND attname = 'user_id'"
        ).fetchone()[0]
        == "uuid"
    )
    rolled = keyshift(dsn, "rollback", migrations=migrations)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert shop.execute("SELECT count(*) FROM user_sessions").fetchone()[0] == 0


# --- the new check: silent when healthy, loud when corrupted ---------------------------------------


@pytest.fixture
def external(dsn, shop, tmp_path) -> psycopg.Connection:
    migrations = tmp_path / "m"
    planned = plan(dsn, migrations, "--table", "public.users", "--table", "public.orders")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return shop


def test_check_is_silent_on_a_healthy_external_conversion(dsn, external):
    assert run_check(external) == []
    for name in sorted(p.name for p in (ROOT / "checks").glob("*.sql")):
        assert run_check(external, name) == [], name


CORRUPTIONS = [
    ("ALTER TABLE users ALTER COLUMN external_id DROP DEFAULT", "default differs from the planned default"),
    (
        "ALTER TABLE users ALTER COLUMN external_id DROP NOT NULL;"
        "UPDATE users SET external_id = NULL WHERE id = (SELECT min(id) FROM users)",
        "external column is nullable",
    ),
    (
        "ALTER TABLE users DROP CONSTRAINT users_external_id_key;"
        "ALTER TABLE users ADD CONSTRAINT users_external_id_key UNIQUE (external_id) DEFERRABLE",
        "unique constraint (not deferrable) on the external column alone missing",
    ),
    (
        "ALTER TABLE users DROP CONSTRAINT users_external_id_key",
        "unique constraint (not deferrable) on the external column alone missing",
    ),
    ("ALTER TABLE users DROP COLUMN external_id", "external column no longer exists"),
    ("ALTER TABLE users ALTER COLUMN external_id TYPE text", "external column is not uuid"),
    ("ALTER TABLE orders DROP CONSTRAINT orders_pkey CASCADE", "integer key is no longer the primary key alone"),
    ("ALTER TABLE orders ALTER COLUMN id TYPE numeric", "integer key changed type"),
]


def test_check_reports_a_corrupted_external_id(dsn, external):
    """Each corruption alone, in a transaction rolled back afterwards; then one committed, via the CLI."""
    external.execute("ALTER TABLE users DISABLE TRIGGER USER; ALTER TABLE orders DISABLE TRIGGER USER")
    for corruption, problem in CORRUPTIONS:
        with external.transaction(force_rollback=True):
            external.execute(corruption)
            with external.cursor() as cur:
                cur.execute((ROOT / "checks" / CHECK).read_text())
                rows = [dict(zip([d.name for d in cur.description], r)) for r in cur.fetchall()]
        assert problem in {r["problem"] for r in rows}, (corruption, rows)
    assert run_check(external) == []
    external.execute(CORRUPTIONS[0][0])
    result = keyshift(dsn, "check")
    assert result.returncode == 1
    assert re.search(rf"checks/{re.escape(CHECK)} \.+ not ok \(\d+ rows\)", result.stdout), result.stdout


def test_replace_and_external_plans_side_by_side_pass_every_check(dsn, shop, tmp_path):
    """A replace-mode plan, then an external-mode plan on the same registry; then both undone."""
    migrations = tmp_path / "m"
    schema_before = without_restrict(pg_dump_schema(dsn))
    first = keyshift(dsn, "plan", "--table", "public.carts", migrations=migrations)
    assert first.returncode == 0, first.stdout + first.stderr
    assert keyshift(dsn, "migrate", migrations=migrations).returncode == 0
    second = plan(dsn, migrations, "--table", "public.users", "--restart-sequence", "public.users=400000")
    assert second.returncode == 0, second.stdout + second.stderr
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert ", 0 not ok" in migrated.stdout, migrated.stdout
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert shop.execute("SELECT table_name, mode FROM keyshift.converted_table ORDER BY 1").fetchall() == [
        ("carts", "replace"),
        ("users", "external"),
    ]
    refused = keyshift(dsn, "plan", "--table", "public.users", migrations=migrations)
    assert refused.returncode == 3 and "has external ids from plan 0002" in refused.stderr, refused.stderr
    for _ in range(2):
        rolled = keyshift(dsn, "rollback", migrations=migrations)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert without_restrict(pg_dump_schema(dsn)) == schema_before
