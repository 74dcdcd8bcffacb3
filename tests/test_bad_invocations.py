"""Bad invocations: every one ends in one line on stderr, a non-zero exit and an unchanged catalog.

One database with a planned (not applied) conversion serves the table of bad invocations: each
is run through the real CLI, and the catalog fingerprint (pg_class, pg_attribute, pg_namespace,
pg_constraint, pg_proc) must be the same after it as before. Then the cases that change the
database on purpose: a table dropped between plan and migrate, a role that owns nothing, a
database whose transactions are read-only by default, a server below the supported version.
"""

from __future__ import annotations

import os

import psycopg
import pytest
from conftest import keyshift, run_keyshift
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator.apply import preflight
from orchestrator.errors import MigrationFailed

SCHEMA = """
CREATE TABLE public.users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE public.orders (id serial PRIMARY KEY, user_id integer REFERENCES public.users (id), total int);
CREATE VIEW public.user_orders AS SELECT u.id, o.total FROM public.users AS u JOIN public.orders AS o ON o.user_id = u.id;
INSERT INTO public.users (name) SELECT 'u' || g FROM generate_series(1, 20) AS g;
INSERT INTO public.orders (user_id, total) SELECT 1 + g % 20, g FROM generate_series(1, 60) AS g;
"""

#: Every user relation, column, schema, constraint and function: what a bad invocation must not change.
FINGERPRINT = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
    SELECT format('class %s.%s %s %s %s', n.nspname, c.relname, c.relkind, c.relowner::regrole, c.relfilenode)
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
    UNION ALL
    SELECT format('attribute %s.%s %s %s %s', a.attrelid::regclass, a.attname, a.atttypid::regtype,
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
    UNION ALL
    SELECT format('namespace %s %s', nspname, nspowner::regrole) FROM pg_namespace
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint
    UNION ALL
    SELECT format('function %s.%s(%s)', n.nspname, p.proname, oidvectortypes(p.proargtypes))
    FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
) AS t (x)
"""

PASSWORD_ROLE = "ks_password_role"


def fingerprint(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(FINGERPRINT).fetchone()[0]


def yoyo_and_keyshift(conn) -> list[str]:
    """What a refused run must not leave: yoyo's tables and schema keyshift."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT relname::text FROM pg_class WHERE relname LIKE '%%yoyo%%'"
            " UNION ALL SELECT nspname::text FROM pg_namespace WHERE nspname = 'keyshift'"
        )
    ]


def assert_one_line(result, *expected: str) -> str:
    """Non-zero exit, exactly one line on stderr, no traceback; returns the line."""
    where = f"argv {result.args[3:]}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode != 0, where
    assert "Traceback" not in result.stderr, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, where
    assert lines[0].startswith("keyshift: "), where
    for text in expected:
        assert text in lines[0], where
    return lines[0]


def with_params(dsn: str, **changes) -> str:
    params = conninfo_to_dict(dsn)
    params.update(changes)
    return make_conninfo(**params)


@pytest.fixture(scope="module")
def world(postgresql_proc, tmp_path_factory):
    """A database with users/orders planned (not applied), the files the cases need, and a
    role whose password the server checks."""
    base = f"host={postgresql_proc.host} port={postgresql_proc.port} user={postgresql_proc.user}"
    name = f"bad{os.getpid()}"
    admin = psycopg.connect(f"{base} dbname=postgres", autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = f"{base} dbname={name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    tmp = tmp_path_factory.mktemp("bad")
    mdir = tmp / "migrations"
    planned = keyshift(dsn, "plan", "--table", "public.users", migrations=mdir)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    (tmp / "a_file").write_text("not a directory\n")
    (tmp / "garbage").mkdir()
    (tmp / "garbage" / "0001_x.sql").write_bytes(b"\x00\xff\xfe\x89PNG garbage \xc3\x28")
    (tmp / "dangling").mkdir()
    (tmp / "dangling" / "0001_x.sql").symlink_to(tmp / "nowhere.sql")
    hba = _require_password(admin, name)
    yield {
        "dsn": dsn,
        "mdir": str(mdir),
        "file": str(tmp / "a_file"),
        "absent": str(tmp / "absent"),
        "garbage": str(tmp / "garbage"),
        "dangling": str(tmp / "dangling"),
        "missing_db": f"{base} dbname=no_such_database_{os.getpid()}",
        "wrong_password": with_params(dsn, user=PASSWORD_ROLE, password="wrong-secret"),
        "closed_port": f"host=127.0.0.1 port=1 user=postgres dbname={name} connect_timeout=2",
    }
    hba_file, original = hba
    with open(hba_file, "w") as f:
        f.write(original)
    admin.execute("SELECT pg_reload_conf()")
    admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(PASSWORD_ROLE)))
    admin.close()


def _require_password(admin, dbname: str) -> tuple[str, str]:
    """PASSWORD_ROLE must give its password (scram) on this database; every other login is as it was."""
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'right-secret'").format(sql.Identifier(PASSWORD_ROLE)))
    hba_file = admin.execute("SHOW hba_file").fetchone()[0]
    with open(hba_file) as f:
        original = f.read()
    rule = f"host {dbname} {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
    with open(hba_file, "w") as f:
        f.write(rule + original)
    admin.execute("SELECT pg_reload_conf()")
    return hba_file, original


COMMANDS_WITH_DSN = {
    "plan": ["plan", "--table", "public.users", "--migrations", "{absent}"],
    "migrate": ["migrate", "--migrations", "{mdir}"],
    "check": ["check"],
    "rollback": ["rollback", "--migrations", "{mdir}"],
    "drop-map": ["drop-map", "--table", "public.users"],
    "status": ["status", "--migrations", "{mdir}"],
    "export-map": ["export-map", "--table", "public.users", "--output", "{absent}"],
    "redis-rewrite": [
        "redis-rewrite",
        "--table",
        "public.users",
        "--pattern",
        "s:{{id}}",
        "--redis-url",
        "redis://127.0.0.1:1/0",
    ],
}

#: Values --throughput refuses (exit 2), with a name for each case.
THROUGHPUTS = (("zero", "0"), ("negative", "-1"), ("nan", "nan"), ("inf", "inf"), ("text", "abc"))

#: (case id, argv with {placeholders} from the world fixture, text the one line must hold)
CASES = [
    # every flag with a wrong type or value, refused before any connection
    (
        "lock-retries-text",
        ["migrate", "--dsn", "{dsn}", "--migrations", "{mdir}", "--lock-retries", "x"],
        "--lock-retries",
    ),
    ("lock-retries-negative", ["migrate", "--dsn", "{dsn}", "--lock-retries", "-1"], "--lock-retries"),
    ("lock-retries-fraction", ["rollback", "--dsn", "{dsn}", "--lock-retries", "1.5"], "--lock-retries"),
    ("retry-delay-nan", ["migrate", "--dsn", "{dsn}", "--migrations", "{mdir}", "--lock-retry-delay", "nan"], "'nan'"),
    ("retry-delay-negative", ["migrate", "--dsn", "{dsn}", "--lock-retry-delay", "-1"], "'-1'"),
    ("retry-delay-inf", ["rollback", "--dsn", "{dsn}", "--lock-retry-delay", "inf"], "'inf'"),
    (
        "lock-timeout-word",
        ["migrate", "--dsn", "{dsn}", "--migrations", "{mdir}", "--lock-timeout", "soon"],
        "duration",
    ),
    ("lock-timeout-negative", ["migrate", "--dsn", "{dsn}", "--lock-timeout=-1s"], "duration"),
    ("lock-timeout-nan", ["rollback", "--dsn", "{dsn}", "--lock-timeout", "nan"], "duration"),
    ("lock-timeout-huge", ["rollback", "--dsn", "{dsn}", "--lock-timeout", "100d"], "--lock-timeout"),
    ("lock-timeout-sub-ms", ["migrate", "--dsn", "{dsn}", "--lock-timeout", "500us"], "shorter than a millisecond"),
    ("statement-timeout-unit", ["migrate", "--dsn", "{dsn}", "--statement-timeout", "5 parsecs"], "duration"),
    ("statement-timeout-nan", ["rollback", "--dsn", "{dsn}", "--statement-timeout", "NaN"], "duration"),
    (
        "slug-length-text",
        ["plan", "--dsn", "{dsn}", "--table", "public.users", "--slug-length", "ten"],
        "--slug-length",
    ),
    # --throughput: checked before any connection (the database named does not exist)
    *(
        (
            f"throughput-{name}",
            ["plan", "--dsn", "{missing_db}", "--table", "public.users", f"--throughput={value}"],
            f"--throughput: '{value}' is not a finite number above 0",
        )
        for name, value in THROUGHPUTS
    ),
    ("mode-unknown", ["plan", "--dsn", "{dsn}", "--table", "public.users", "--mode", "sideways"], "--mode"),
    ("format-unknown", ["export-map", "--dsn", "{dsn}", "--table", "public.users", "--format", "xml"], "--format"),
    (
        "batch-text",
        ["redis-rewrite", "--dsn", "{dsn}", "--table", "public.users", "--pattern", "s:{{id}}", "--batch", "x"],
        "--batch",
    ),
    ("redis-action-unknown", ["migrate", "--dsn", "{dsn}", "--redis-action", "burn"], "--redis-action"),
    ("redis-batch-text", ["migrate", "--dsn", "{dsn}", "--redis-batch", "x"], "--redis-batch"),
    (
        "uuid-unknown",
        ["plan", "--dsn", "{dsn}", "--table", "public.users", "--uuid", "v9", "--migrations", "{absent}"],
        "v9",
    ),
    (
        "uuid-for-malformed",
        ["plan", "--dsn", "{dsn}", "--table", "public.users", "--uuid-for", "public.users", "--migrations", "{absent}"],
        "--uuid-for",
    ),
    (
        "timestamp-column-two-parts",
        [
            "plan",
            "--dsn",
            "{dsn}",
            "--table",
            "public.users",
            "--uuid",
            "v7",
            "--timestamp-column",
            "public.users",
            "--migrations",
            "{absent}",
        ],
        "--timestamp-column",
    ),
    (
        "reference-malformed",
        ["plan", "--dsn", "{dsn}", "--table", "public.users", "--reference", "nonsense", "--migrations", "{absent}"],
        "--reference",
    ),
    (
        "restart-sequence-not-a-number",
        [
            "plan",
            "--dsn",
            "{dsn}",
            "--table",
            "public.users",
            "--mode",
            "external",
            "--restart-sequence",
            "public.users=abc",
            "--migrations",
            "{absent}",
        ],
        "--restart-sequence",
    ),
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("unknown-flag", ["migrate", "--dsn", "{dsn}", "--no-such-flag"], "--no-such-flag"),
    ("plan-without-table", ["plan", "--dsn", "{dsn}"], "--table"),
    # paths that must be directories
    ("migrations-is-a-file", ["migrate", "--dsn", "{dsn}", "--migrations", "{file}"], "not a directory"),
    ("status-migrations-is-a-file", ["status", "--dsn", "{dsn}", "--migrations", "{file}"], "not a directory"),
    (
        "plan-migrations-is-a-file",
        ["plan", "--dsn", "{dsn}", "--table", "public.users", "--migrations", "{file}"],
        "not a directory",
    ),
    ("rollback-migrations-absent", ["rollback", "--dsn", "{dsn}", "--migrations", "{absent}"], "does not exist"),
    ("checks-is-a-file", ["check", "--dsn", "{dsn}", "--checks", "{file}"], "not a directory"),
    # names that do not parse as schema-qualified identifiers, or name nothing
    ("table-unterminated-quote", ["plan", "--dsn", "{dsn}", "--table", 'public."users'], "--table"),
    (
        "table-zero-width",
        ["plan", "--dsn", "{dsn}", "--table", "public.us\u200bers", "--migrations", "{absent}"],
        "does not exist",
    ),
    ("table-unqualified", ["plan", "--dsn", "{dsn}", "--table", "users"], "SCHEMA.TABLE"),
    ("drop-map-three-parts", ["drop-map", "--dsn", "{dsn}", "--table", "a.b.c"], "--table"),
    ("export-map-lone-quote", ["export-map", "--dsn", "{dsn}", "--table", '"x'], "--table"),
    (
        "redis-table-empty-part",
        ["redis-rewrite", "--dsn", "{dsn}", "--table", "public.", "--pattern", "s:{{id}}"],
        "--table",
    ),
    # DSNs: empty, malformed, unreachable, wrong password
    ("dsn-empty-status", ["status", "--dsn", "", "--migrations", "{mdir}"], "--dsn ''"),
    ("dsn-empty-migrate", ["migrate", "--dsn", "", "--migrations", "{mdir}"], "--dsn ''"),
    ("dsn-empty-plan", ["plan", "--dsn", "", "--table", "public.users"], "--dsn ''"),
    ("dsn-blank-check", ["check", "--dsn", "  "], "--dsn ''"),
    ("dsn-bad-percent", ["migrate", "--dsn", "postgresql://%zz@/", "--migrations", "{mdir}"], "not a valid libpq DSN"),
    (
        "dsn-bad-keyword",
        ["status", "--dsn", "host=127.0.0.1 nonsense", "--migrations", "{mdir}"],
        "not a valid libpq DSN",
    ),
    ("dsn-closed-port", ["migrate", "--dsn", "{closed_port}", "--migrations", "{mdir}"], "cannot connect"),
    ("wrong-password-migrate", ["migrate", "--dsn", "{wrong_password}", "--migrations", "{mdir}"], "password"),
    (
        "wrong-password-plan",
        ["plan", "--dsn", "{wrong_password}", "--table", "public.users", "--migrations", "{absent}"],
        "password",
    ),
    ("wrong-password-check", ["check", "--dsn", "{wrong_password}"], "password"),
    # migration files that cannot be read as migrations
    ("binary-garbage-file", ["migrate", "--dsn", "{dsn}", "--migrations", "{garbage}"], "not valid UTF-8"),
    ("dangling-symlink", ["migrate", "--dsn", "{dsn}", "--migrations", "{dangling}"], "symbolic link to nothing"),
    ("dangling-symlink-status", ["status", "--dsn", "{dsn}", "--migrations", "{dangling}"], "symbolic link to nothing"),
    # nothing to undo or retire yet
    ("drop-map-unconverted", ["drop-map", "--dsn", "{dsn}", "--table", "public.users"], "registry"),
    (
        "export-map-unconverted",
        ["export-map", "--dsn", "{dsn}", "--table", "public.users", "--output", "{absent}"],
        "public.users",
    ),
] + [
    # every command against a database that does not exist
    (f"missing-database-{command}", [argv[0], "--dsn", "{missing_db}", *argv[1:]], "does not exist")
    for command, argv in COMMANDS_WITH_DSN.items()
]


def test_there_are_at_least_forty_bad_invocations():
    assert len(CASES) >= 40
    assert len({case for case, _argv, _text in CASES}) == len(CASES)


@pytest.mark.parametrize("argv,expected", [(argv, text) for _c, argv, text in CASES], ids=[c for c, _a, _t in CASES])
def test_a_bad_invocation_is_one_line_non_zero_and_changes_nothing(world, argv, expected):
    before = fingerprint(world["dsn"])
    result = run_keyshift(*[part.format(**world) for part in argv])
    line = assert_one_line(result, expected)
    assert "wrong-secret" not in result.stdout + result.stderr, line
    assert fingerprint(world["dsn"]) == before, line


def test_debug_prints_the_traceback_as_well(world):
    result = run_keyshift("migrate", "--dsn", world["dsn"], "--lock-timeout", "soon", "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("keyshift: --lock-timeout 'soon': is not a valid duration")


def test_bad_values_are_usage_errors_with_exit_2(world):
    for argv in (["migrate", "--lock-retry-delay", "nan"], ["status", "--dsn", ""], ["migrate", "--lock-timeout", "x"]):
        assert run_keyshift(*argv).returncode == 2
    for _name, value in THROUGHPUTS:
        refused = run_keyshift("plan", "--dsn", world["missing_db"], "--table", "public.users", "--throughput", value)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert_one_line(refused, "--throughput")


# --- cases that change the database on purpose -------------------------------------------------


@pytest.fixture
def planned_db(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mdir = tmp_path / "migrations"
    planned = keyshift(dsn, "plan", "--table", "public.users", migrations=mdir)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return mdir


def test_a_table_dropped_between_plan_and_migrate_is_one_line_and_leaves_nothing(dsn, conn, planned_db):
    conn.execute("DROP VIEW public.user_orders")
    conn.execute("DROP TABLE public.orders")
    before = fingerprint(dsn)
    result = keyshift(dsn, "migrate", migrations=planned_db)
    assert_one_line(result, "public.orders")
    assert fingerprint(dsn) == before
    assert yoyo_and_keyshift(conn) == []  # yoyo's tables, created inside the transaction, went with it


def test_migrate_and_rollback_print_their_target_without_the_password(world):
    result = run_keyshift("migrate", "--dsn", world["wrong_password"].replace("wrong-secret", "right-secret"),
                          "--migrations", world["mdir"])  # fmt: skip
    assert_one_line(result, f"role {PASSWORD_ROLE}", "owner of table public.users")
    target = result.stdout.splitlines()[0]
    params = conninfo_to_dict(world["dsn"])
    assert target == f"target: database {params['dbname']} on {params['host']}:{params['port']} as user {PASSWORD_ROLE}"
    assert "right-secret" not in result.stdout + result.stderr


@pytest.mark.parametrize("can_create", [False, True], ids=["no-privilege", "may-create-in-public"])
def test_a_role_owning_nothing_is_refused_and_leaves_nothing_then_the_owner_migrates(dsn, conn, planned_db, can_create):
    role = f"ks_nobody_{os.getpid()}"
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        if can_create:  # it could create yoyo's tables and schema keyshift, but owns no table
            conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
            dbname = conninfo_to_dict(dsn)["dbname"]
            conn.execute(
                sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(role))
            )
        before = fingerprint(dsn)
        for command in ("migrate", "rollback"):
            refused = run_keyshift(command, "--dsn", with_params(dsn, user=role), "--migrations", str(planned_db))
            if command == "rollback":  # nothing is applied: nothing to check, nothing created
                assert refused.returncode == 0, refused.stdout + refused.stderr
                continue
            line = assert_one_line(
                refused, f"role {role}", "owner of table public.users", "owner of table public.orders"
            )
            assert "owner of sequence public.users_id_seq" in line and "owner of view public.user_orders" in line
            assert can_create or "CREATE on database" in line
        assert fingerprint(dsn) == before
        assert yoyo_and_keyshift(conn) == []
        status = keyshift(dsn, "status", migrations=planned_db)
        assert status.returncode == 0, status.stdout + status.stderr
        migrated = keyshift(dsn, "migrate", migrations=planned_db)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert keyshift(dsn, "status", migrations=planned_db).returncode == 0
        status = run_keyshift("status", "--dsn", with_params(dsn, user=role), "--migrations", str(planned_db))
        assert_one_line(status, "yoyo's table _yoyo_migration", f"cannot be read by role {role}")
        refused = run_keyshift("rollback", "--dsn", with_params(dsn, user=role), "--migrations", str(planned_db))
        assert_one_line(refused, f"role {role}", "owner of table public.users", "owner of schema keyshift")
        rolled = keyshift(dsn, "rollback", migrations=planned_db)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    finally:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_read_only_default_is_refused_before_anything(dsn, conn, planned_db):
    dbname = sql.Identifier(conninfo_to_dict(dsn)["dbname"])
    conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(dbname))
    try:
        before = fingerprint(dsn)
        for command in ("migrate", "rollback"):
            assert_one_line(keyshift(dsn, command, migrations=planned_db), "read-only")
        assert fingerprint(dsn) == before
    finally:
        conn.execute(sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(dbname))
    assert yoyo_and_keyshift(conn) == []
    assert keyshift(dsn, "migrate", migrations=planned_db).returncode == 0


def test_a_server_below_the_supported_version_is_refused(conn):
    version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]
    preflight.server_ready(conn, "migrate", minimum=version)  # this server is supported
    with pytest.raises(MigrationFailed, match="below the oldest keyshift supports"):
        preflight.server_ready(conn, "migrate", minimum=version + 10000)
    assert version >= preflight.MIN_SERVER_VERSION


def test_invisible_characters_in_a_name_are_shown_as_escapes(dsn, conn):
    """A zero-width space or a right-to-left override in a name can neither hide in nor reorder
    the error line a DBA reads: each is shown as its \\uXXXX escape."""
    name = "a\u200bb\u202ec"
    conn.execute(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY)").format(sql.Identifier("public", name)))
    result = keyshift(dsn, "plan", "--table", 'public."a\u200bb\u202ed"')
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert '"a\\u200bb\\u202ed"' in result.stderr, result.stderr
    assert "\u200b" not in result.stderr and "\u202e" not in result.stderr
