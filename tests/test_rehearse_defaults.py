"""A referencing column whose DEFAULT names an id of its target: what migrate does with it, and
plan and its rehearsal saying the same."""

from __future__ import annotations

from conftest import keyshift, pg_dump_schema, without_restrict
from psycopg import conninfo, sql

SCHEMA = """
CREATE TABLE parent (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL CHECK (name <> ''));
CREATE TABLE child (
    id serial PRIMARY KEY,
    parent_id integer NOT NULL DEFAULT 1 REFERENCES parent (id),
    label text NOT NULL
);
CREATE FUNCTION no_blank_names() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name IS NULL THEN RAISE EXCEPTION 'no name'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER names BEFORE INSERT ON parent FOR EACH ROW EXECUTE FUNCTION no_blank_names();
INSERT INTO parent (name) VALUES ('first'), ('second');
INSERT INTO child (parent_id, label) VALUES (2, 'given');
INSERT INTO child (label) VALUES ('defaulted');
"""


def _default(conn) -> str:
    row = conn.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef AS d JOIN pg_attribute AS a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = 'child'::regclass "
        "AND a.attname = 'parent_id'"
    ).fetchone()
    return row[0]


def test_constant_default_carried_by_migrate_and_rehearsed(conn, dsn, tmp_path):
    """migrate turns DEFAULT 1 into the new uuid of parent 1 and rollback gives 1 back; the
    rehearsal, on a copy without rows, stands row 1 in and passes as migrate does."""
    conn.execute(SCHEMA)
    before = without_restrict(pg_dump_schema(dsn))
    migrations = tmp_path / "m"
    planned = keyshift(dsn, "plan", "--table", "public.parent", "--rehearse", migrations=migrations)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "rehearsed on a schema-only copy" in planned.stdout
    migrated = keyshift(dsn, "migrate", migrations=migrations)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    first = conn.execute("SELECT id FROM parent WHERE name = 'first'").fetchone()[0]
    assert _default(conn) == f"'{first}'::uuid"
    conn.execute("INSERT INTO child (label) VALUES ('after migrate')")
    assert conn.execute("SELECT parent_id FROM child WHERE label = 'after migrate'").fetchone()[0] == first
    conn.execute("DELETE FROM child WHERE label = 'after migrate'")
    rolled = keyshift(dsn, "rollback", migrations=migrations)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert _default(conn) == "1"
    assert without_restrict(pg_dump_schema(dsn)) == before


def test_default_naming_no_row_refused_by_plan_before_any_rehearsal(conn, dsn, tmp_path):
    conn.execute(SCHEMA + "ALTER TABLE child ALTER COLUMN parent_id SET DEFAULT 42;")
    out = keyshift(dsn, "plan", "--table", "public.parent", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "column public.child.parent_id" in lines[0] and "default 42 is no key of public.parent" in lines[0]
    assert "DROP DEFAULT" in lines[0]


def test_function_default_refused_by_plan_in_one_line(conn, dsn, tmp_path):
    """A default calling a function that returns a parent id cannot be carried: the function
    returns integers after migrate too. plan refuses it, with the rehearsal or without."""
    conn.execute(
        SCHEMA + "CREATE FUNCTION first_parent() RETURNS integer LANGUAGE sql STABLE AS 'SELECT min(id) FROM parent';"
        "ALTER TABLE child ALTER COLUMN parent_id SET DEFAULT first_parent();"
    )
    for flag in ("--rehearse", "--no-rehearse"):
        out = keyshift(dsn, "plan", "--table", "public.parent", flag, migrations=tmp_path / "m")
        assert out.returncode == 3, out.stdout + out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert "column public.child.parent_id" in lines[0], lines[0]
        assert "first_parent()" in lines[0] and "is not an integer constant" in lines[0], lines[0]
        assert "ALTER TABLE public.child ALTER COLUMN parent_id DROP DEFAULT" in lines[0], lines[0]


def test_stand_in_rows_hold_when_every_blocker_is_named(conn, dsn, tmp_path):
    """With a real blocker beside it, the statements run one by one on the copy: the default's
    conversion is no blocker there either."""
    conn.execute(
        SCHEMA + "CREATE TABLE robot (id serial PRIMARY KEY); CREATE VIEW ids AS "
        "SELECT id FROM parent UNION SELECT id FROM robot;"
    )
    out = keyshift(dsn, "plan", "--table", "public.parent", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert "found 1 blocker(s)" in lines[-1], out.stderr
    assert lines[0].startswith("keyshift: view public.ids: "), out.stderr


def test_stand_in_rows_for_a_role_that_is_no_superuser(conn, dsn, tmp_path):
    """The owner of the tables rehearses too: the parent's triggers are turned off while the
    stand-in row goes in, and on again as they were (the schema comparison would see it)."""
    conn.execute(
        "DO $$ BEGIN CREATE ROLE standin_owner LOGIN NOSUPERUSER CREATEDB NOCREATEROLE;"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO standin_owner").format(sql.Identifier(conn.info.dbname)))
    conn.execute("GRANT CREATE ON SCHEMA public TO standin_owner")
    conn.execute("SET ROLE standin_owner")
    conn.execute(SCHEMA + "ALTER TABLE parent ENABLE ALWAYS TRIGGER names;")
    conn.execute("RESET ROLE")
    owner = conninfo.make_conninfo(dsn, user="standin_owner")
    planned = keyshift(owner, "plan", "--table", "public.parent", "--rehearse", migrations=tmp_path / "m")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "rehearsed on a schema-only copy" in planned.stdout


def test_a_stand_in_row_the_copy_refuses_is_said_in_one_line(conn, dsn, tmp_path):
    """A CHECK that a NULL name fails: the copy cannot hold the row the default names, and
    the rehearsal says so rather than blame the default."""
    conn.execute(SCHEMA + "ALTER TABLE parent ADD CONSTRAINT named CHECK (name IS NOT NULL);")
    out = keyshift(dsn, "plan", "--table", "public.parent", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2, out.stderr
    assert lines[0].startswith("keyshift: rehearsal of public.parent: the copy refuses the stand-in row(s) id = 1")
    assert "plan with --no-rehearse" in lines[0]
    assert "found 1 blocker(s)" in lines[1]
    out = keyshift(dsn, "plan", "--table", "public.parent", "--no-rehearse", migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr
    migrated = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
