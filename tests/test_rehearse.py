"""plan rehearses on a schema-only copy and names every blocker in one run."""

from __future__ import annotations

import psycopg
from conftest import keyshift, pg_dump_schema, without_restrict
from psycopg import conninfo, sql

SCHEMA = """
CREATE TABLE person (person_id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE shop (shop_id serial PRIMARY KEY, manager_person_id integer, name text NOT NULL);
CREATE TABLE robot (robot_id serial PRIMARY KEY);
CREATE VIEW shop_managers AS
    SELECT s.name AS shop, p.name AS manager FROM shop AS s JOIN person AS p ON s.manager_person_id = p.person_id;
CREATE VIEW every_id AS SELECT person_id AS id FROM person UNION SELECT robot_id FROM robot;
ALTER TABLE person ADD CONSTRAINT not_the_first CHECK (person_id <> 0);
CREATE FUNCTION keep_founders() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER founders BEFORE DELETE ON person
    FOR EACH ROW WHEN (OLD.person_id IN (1, 2)) EXECUTE FUNCTION keep_founders();
CREATE FUNCTION guard_founders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.person_id IN (1, 2) THEN RAISE EXCEPTION 'founders stay'; END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER guard BEFORE UPDATE ON person FOR EACH ROW EXECUTE FUNCTION guard_founders();
CREATE FUNCTION person_name(p integer) RETURNS text LANGUAGE sql AS $$
    SELECT name FROM person WHERE person_id = p
$$;
INSERT INTO person (name) VALUES ('ada'), ('grace'), ('edsger');
INSERT INTO shop (manager_person_id, name) VALUES (3, 'north');
INSERT INTO robot DEFAULT VALUES;
"""

REFERENCE = "--reference=public.shop.manager_person_id=public.person"

#: A view joining a key with an integer column no foreign key declares.
UNDECLARED_SQL = """
CREATE TABLE a (id serial PRIMARY KEY);
CREATE TABLE b (a_id integer);
CREATE VIEW joined AS SELECT a.id FROM a JOIN b ON b.a_id = a.id;
"""


def _rehearsal_databases(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'keyshift_rehearsal_%'").fetchall()
    return [r[0] for r in rows]


def test_every_blocker_named_in_one_run(conn, dsn, tmp_path):
    conn.execute(SCHEMA)
    before = without_restrict(pg_dump_schema(dsn))
    migrations = tmp_path / "migrations"
    out = keyshift(dsn, "plan", "--table", "public.person", "--rehearse", migrations=migrations)
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert "found 6 blocker(s)" in lines[-1], out.stderr
    by_object = {line.split(": ", 2)[1]: line for line in lines[:-1]}
    assert set(by_object) == {
        "view public.shop_managers",
        "view public.every_id",
        "check constraint not_the_first on public.person",
        "trigger founders on public.person",
        "function public.guard_founders()",
        "function public.person_name(integer)",
    }, out.stderr
    assert "plan with --reference public.shop.manager_person_id=public.person" in by_object["view public.shop_managers"]
    assert "operator does not exist: integer = uuid" in by_object["view public.shop_managers"]
    assert "rewrite this view" in by_object["view public.every_id"]
    assert "UNION types" in by_object["view public.every_id"]
    assert "compares the key with integer constants" in by_object["check constraint not_the_first on public.person"]
    assert "compares the key with integer constants" in by_object["trigger founders on public.person"]
    assert not migrations.exists() or not any(migrations.iterdir())
    assert without_restrict(pg_dump_schema(dsn)) == before
    assert _rehearsal_databases(conn) == []

    # The fixes the lines name: the reference declared, the view and the constants rewritten.
    conn.execute("DROP VIEW every_id")
    conn.execute("ALTER TABLE person DROP CONSTRAINT not_the_first")
    conn.execute("DROP TRIGGER founders ON person")
    conn.execute("DROP TRIGGER guard ON person; DROP FUNCTION guard_founders(); DROP FUNCTION person_name(integer)")
    out = keyshift(dsn, "plan", "--table", "public.person", REFERENCE, "--rehearse", migrations=migrations)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rehearsed on a schema-only copy" in out.stdout
    assert _rehearsal_databases(conn) == []
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert conn.execute("SELECT count(*) FROM shop_managers").fetchone()[0] == 1


def test_no_rehearse_says_it_skipped(conn, dsn, tmp_path):
    conn.execute("CREATE TABLE t (id serial PRIMARY KEY)")
    out = keyshift(dsn, "plan", "--table", "public.t", "--no-rehearse", migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rehearsal skipped (--no-rehearse)" in out.stdout
    assert _rehearsal_databases(conn) == []


def test_throwaway_database_dropped_after_a_failure(conn, dsn, tmp_path):
    """A rehearsal that fails midway (migrate refused on the copy) drops its database all the same."""
    conn.execute(UNDECLARED_SQL)
    out = keyshift(dsn, "plan", "--table", "public.a", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "--reference public.b.a_id=public.a" in out.stderr
    assert not (tmp_path / "m").exists()
    assert _rehearsal_databases(conn) == []


def test_rehearse_dsn_is_used_instead_of_a_throwaway_database(conn, dsn, tmp_path):
    conn.execute("CREATE TABLE t (id serial PRIMARY KEY, parent_id integer REFERENCES t)")
    name = f"{conn.info.dbname}_staging"
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        staging = conninfo.make_conninfo(dsn, dbname=name)
        out = keyshift(
            dsn, "plan", "--table", "public.t", "--rehearse", f"--rehearse-dsn={staging}", migrations=tmp_path
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "rehearsed on a schema-only copy" in out.stdout
        assert _rehearsal_databases(conn) == []
        with psycopg.connect(staging) as staged:
            kind = staged.execute(
                "SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'id'"
            )
            assert kind.fetchone()[0] == "integer"  # rehearsed, and rolled back there
    finally:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_plan_after_an_applied_plan_rehearses(conn, dsn, tmp_path):
    """The copy of a database keyshift already converted: yoyo's tables are left for migrate to make."""
    conn.execute(
        "CREATE TABLE a (id serial PRIMARY KEY); CREATE TABLE b (id serial PRIMARY KEY, a_id integer REFERENCES a)"
    )
    mig = tmp_path / "m"
    assert keyshift(dsn, "plan", "--table", "public.a", "--rehearse", migrations=mig).returncode == 0
    assert keyshift(dsn, "migrate", migrations=mig).returncode == 0
    out = keyshift(dsn, "plan", "--table", "public.b", "--rehearse", migrations=mig)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rehearsed on a schema-only copy" in out.stdout
    assert _rehearsal_databases(conn) == []


def test_a_role_that_may_not_create_databases_is_told_what_to_pass(conn, dsn, tmp_path):
    conn.execute(
        "DO $$ BEGIN CREATE ROLE rehearse_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO rehearse_owner").format(sql.Identifier(conn.info.dbname)))
    conn.execute("SET ROLE rehearse_owner; CREATE TABLE t (id serial PRIMARY KEY); RESET ROLE")
    owner = conninfo.make_conninfo(dsn, user="rehearse_owner")
    out = keyshift(owner, "plan", "--table", "public.t", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        "keyshift: rehearsal: the role may not create the throwaway database it runs on; "
        "pass --rehearse-dsn DSN (an empty staging database) or --no-rehearse"
    ]
    assert not (tmp_path / "m").exists()
    out = keyshift(owner, "plan", "--table", "public.t", "--no-rehearse", migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr


#: One object of each kind that cannot follow the key to uuid, each PostgreSQL's refusal.
CARRIED = """
CREATE TABLE member (id serial PRIMARY KEY, email text NOT NULL, seen int NOT NULL DEFAULT 0);
ALTER TABLE member ADD CONSTRAINT member_positive CHECK (id > 0);
CREATE INDEX member_recent ON member (email) WHERE id > 100;
CREATE INDEX member_span ON member USING brin (id int4_minmax_multi_ops) WHERE email <> '';
ALTER TABLE member ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_self ON member USING (id = current_setting('app.member')::int);
CREATE FUNCTION member_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.seen := NEW.seen + 1; RETURN NEW; END $$;
CREATE TRIGGER member_founder BEFORE UPDATE ON member FOR EACH ROW WHEN (OLD.id = 1) EXECUTE FUNCTION member_bump();
INSERT INTO member (email) VALUES ('ada'), ('grace');
"""


def test_every_carried_object_the_key_breaks_is_named_in_one_run(conn, dsn, tmp_path):
    """A CHECK, a partial index, an index whose operator class takes no uuid, a policy and a
    trigger's WHEN clause, each comparing the key with an integer: one plan names all five, each
    with PostgreSQL's reason, its definition and the fix; nothing is written."""
    conn.execute(CARRIED)
    before = without_restrict(pg_dump_schema(dsn))
    migrations = tmp_path / "migrations"
    out = keyshift(dsn, "plan", "--table", "public.member", "--rehearse", migrations=migrations)
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert "found 5 blocker(s), each named above" in lines[-1], out.stderr
    by_object = {line.split(": ", 2)[1]: line for line in lines[:-1]}
    assert set(by_object) == {
        "check constraint member_positive on public.member",
        "index member_recent on public.member",
        "index member_span on public.member",
        "policy member_self on public.member",
        "trigger member_founder on public.member",
    }, out.stderr
    for line in by_object.values():
        assert "it uses public.member.id, which becomes uuid" in line, line
        assert line.endswith("then plan again"), line
    check = by_object["check constraint member_positive on public.member"]
    assert "uuid > integer" in check and "CHECK ((id > 0))" in check and "compares the key with integer" in check
    recent = by_object["index member_recent on public.member"]
    assert "uuid > integer" in recent and "WHERE (id > 100)" in recent and "not treat the key as a number" in recent
    span = by_object["index member_span on public.member"]
    assert 'operator class "int4_minmax_multi_ops" does not accept data type uuid' in span, span
    policy = by_object["policy member_self on public.member"]
    assert "uuid = integer" in policy and 'CREATE POLICY "member_self"' in policy, policy
    trigger = by_object["trigger member_founder on public.member"]
    assert "uuid = integer" in trigger and "WHEN ((old.id = 1))" in trigger, trigger
    assert not migrations.exists() or not any(migrations.iterdir())
    assert without_restrict(pg_dump_schema(dsn)) == before
    assert _rehearsal_databases(conn) == []
