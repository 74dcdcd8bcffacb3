"""keyshift owns only what it creates: a schema named keyshift that is not its own is refused at
plan time, rollback drops keyshift's objects by name (never CASCADE) and keeps whatever a user's
object still uses, and a user's object over this plan's mapping makes rollback refuse."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import convert, keyshift, load_seed000

from orchestrator import SQL_DIR
from orchestrator.plan import ownership

ROOT = Path(__file__).resolve().parent.parent


def keyshift_objects(conn) -> set[str]:
    """Every object in schema keyshift, as the server describes it."""
    return {r[0] for r in conn.execute(
        "SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend AS d"
        " WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = to_regnamespace('keyshift')"
        " AND d.deptype = 'n'")}


def no_schema(conn) -> bool:
    return conn.execute("SELECT to_regnamespace('keyshift') IS NULL").fetchone()[0]


# --- plan refuses what is not keyshift's ----------------------------------------------------------

def test_plan_refuses_a_schema_keyshift_that_keyshift_did_not_create(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    conn.execute("CREATE SCHEMA keyshift")
    conn.execute("CREATE TABLE keyshift.notes (id int PRIMARY KEY, body text)")
    conn.execute("INSERT INTO keyshift.notes VALUES (1, 'mine')")

    out = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=tmp_path / "m")

    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "schema keyshift" in lines[0] and "not created by keyshift" in lines[0]
    assert "rename that schema" in lines[0]
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())
    assert conn.execute("SELECT body FROM keyshift.notes").fetchall() == [("mine",)]
    assert keyshift_objects(conn) == {"table keyshift.notes"}


def test_migrate_refuses_a_schema_keyshift_made_after_the_plan(dsn, conn, tmp_path):
    """sql/schema.sql stops the migration itself: the schema appeared between plan and migrate."""
    load_seed000(conn, scale=20)
    planned = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=tmp_path / "m")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    conn.execute("CREATE SCHEMA keyshift")
    conn.execute("CREATE TABLE keyshift.notes (id int)")

    out = keyshift(dsn, "migrate", migrations=tmp_path / "m")

    assert out.returncode == 1, out.stdout + out.stderr
    assert "schema keyshift exists and was not created by keyshift" in out.stderr
    assert keyshift_objects(conn) == {"table keyshift.notes"}
    assert conn.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'custom_user'"
                        " AND column_name = 'id'").fetchone()[0] == "integer"


@pytest.mark.parametrize("make, words", [
    ("CREATE FUNCTION keyshift.uuid_v7(n int) RETURNS uuid LANGUAGE sql AS 'SELECT gen_random_uuid()'",
     ("function keyshift.uuid_v7(integer)", "keyshift did not create it")),
    ("CREATE VIEW keyshift.map_public__verification_token AS SELECT 1 AS one",
     ("keyshift.map_public__verification_token", "is taken")),
    ("CREATE TYPE keyshift.map_public__verification_token AS ENUM ('a')",
     ("type keyshift.map_public__verification_token", "keyshift did not create it")),
    ("DROP TABLE keyshift.converted_slug; CREATE VIEW keyshift.converted_slug AS SELECT 1 AS one",
     ("view keyshift.converted_slug", "keyshift did not create it")),
])
def test_plan_refuses_a_name_keyshift_needs_held_by_another_object(dsn, conn, tmp_path, make, words):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user")
    conn.execute(make)
    before = keyshift_objects(conn)

    out = keyshift(dsn, "plan", "--table", "public.verification_token", migrations=tmp_path / "m")

    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), out.stderr
    assert len(list((tmp_path / "m").glob("0002_*"))) == 0
    assert keyshift_objects(conn) == before


def test_a_registry_without_the_marker_is_keyshift_s_and_gains_it(dsn, conn, tmp_path):
    """A registry an earlier keyshift wrote (no keyshift.installation): plan and migrate go on."""
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user")
    conn.execute("DROP TABLE keyshift.installation")

    convert(dsn, tmp_path / "m", "public.verification_token")

    assert conn.execute("SELECT how FROM keyshift.installation").fetchall() == [("adopted",)]


# --- rollback keeps what users still use ---------------------------------------------------------

def test_a_default_calling_uuid_v7_survives_rollback_and_inserts_still_work(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user", extra=("--uuid", "v7"))
    conn.execute("CREATE TABLE public.events (id uuid PRIMARY KEY DEFAULT keyshift.uuid_v7(), what text)")

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")

    assert back.returncode == 0, back.stdout + back.stderr
    assert "kept function keyshift.uuid_v7()" in back.stderr and "public.events" in back.stderr
    assert conn.execute("SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef AS d"
                        " WHERE d.adrelid = 'public.events'::regclass").fetchone()[0] == "keyshift.uuid_v7()"
    conn.execute("INSERT INTO public.events (what) VALUES ('after rollback')")
    version = conn.execute("SELECT substr(id::text, 15, 1) FROM public.events").fetchone()[0]
    assert version == "7"
    # Kept: the function, what it calls, the schema and its marker; the registry is gone.
    assert keyshift_objects(conn) == {
        "function keyshift.uuid_v7()", "function keyshift.uuid_v7(timestamp with time zone)",
        "table keyshift.installation",
    }
    # The schema is still keyshift's: the same plan migrates again into it.
    again = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert again.returncode == 0, again.stdout + again.stderr
    assert conn.execute("SELECT how FROM keyshift.installation").fetchall() == [("created",)]


def test_a_user_table_inside_schema_keyshift_survives_rollback(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user")
    conn.execute("CREATE TABLE keyshift.my_audit (id int PRIMARY KEY, note text)")
    conn.execute("INSERT INTO keyshift.my_audit VALUES (1, 'keep me')")

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")

    assert back.returncode == 0, back.stdout + back.stderr
    assert "kept schema keyshift" in back.stderr and "table keyshift.my_audit" in back.stderr
    assert conn.execute("SELECT note FROM keyshift.my_audit").fetchall() == [("keep me",)]
    assert keyshift_objects(conn) == {"table keyshift.my_audit", "table keyshift.installation"}


def test_a_view_over_the_registry_keeps_that_table(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user")
    conn.execute("CREATE VIEW public.conversions AS SELECT table_name, converted_at FROM keyshift.converted_table")

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")

    assert back.returncode == 0, back.stdout + back.stderr
    assert "kept table keyshift.converted_table" in back.stderr and "public.conversions" in back.stderr
    assert conn.execute("SELECT count(*) FROM public.conversions").fetchone()[0] == 0
    assert keyshift_objects(conn) == {"table keyshift.converted_table", "table keyshift.installation"}


def test_a_view_over_the_plans_mapping_makes_rollback_refuse_and_changes_nothing(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user")
    conn.execute("CREATE VIEW public.old_ids AS SELECT old_id, new_id FROM keyshift.map_public__custom_user")
    objects = keyshift_objects(conn)
    key_type = conn.execute("SELECT atttypid::regtype::text FROM pg_attribute"
                            " WHERE attrelid = 'public.custom_user'::regclass AND attname = 'id'").fetchone()[0]
    applied = conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0]

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")

    assert back.returncode == 1, back.stdout + back.stderr
    lines = back.stderr.strip().splitlines()
    assert len(lines) == 1, back.stderr
    assert "public.old_ids" in lines[0] and "mapping" in lines[0] and "nothing was changed" in lines[0]
    assert keyshift_objects(conn) == objects
    assert key_type == "uuid"
    assert conn.execute("SELECT atttypid::regtype::text FROM pg_attribute"
                        " WHERE attrelid = 'public.custom_user'::regclass AND attname = 'id'").fetchone()[0] == "uuid"
    assert conn.execute("SELECT count(*) FROM _yoyo_migration").fetchone()[0] == applied
    assert conn.execute("SELECT count(*) FROM public.old_ids").fetchone()[0] > 0


def test_plain_plan_migrate_rollback_leaves_no_schema_keyshift(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user", extra=("--uuid", "v7"))
    assert conn.execute("SELECT how FROM keyshift.installation").fetchall() == [("created",)]

    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")

    assert back.returncode == 0, back.stdout + back.stderr
    assert "kept" not in back.stderr, back.stderr
    assert no_schema(conn)


def test_two_plans_keep_the_schema_until_the_last_rollback(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user")
    convert(dsn, tmp_path / "m", "public.verification_token")
    first = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert first.returncode == 0, first.stdout + first.stderr
    assert conn.execute("SELECT how FROM keyshift.installation").fetchall() == [("created",)]
    assert conn.execute("SELECT table_name FROM keyshift.converted_table").fetchall() == [("custom_user",)]
    second = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert second.returncode == 0, second.stdout + second.stderr
    assert no_schema(conn)


def test_external_mode_rollback_leaves_no_schema_keyshift(dsn, conn, tmp_path):
    load_seed000(conn, scale=20)
    convert(dsn, tmp_path / "m", "public.custom_user", extra=("--mode", "external"))
    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert back.returncode == 0, back.stdout + back.stderr
    assert no_schema(conn)


def _demo(dsn: str, migrations: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"DATABASE_URL": dsn}
    return subprocess.run([sys.executable, "-m", "orchestrator.tools.demo", "--users", "100", "--migrations",
                           str(migrations)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_demo_again_undoes_its_conversion_by_rollback_and_keeps_a_users_table(dsn, conn, tmp_path):
    first = _demo(dsn, tmp_path / "demo")
    assert first.returncode == 0, first.stdout + first.stderr
    conn.execute("CREATE TABLE keyshift.my_notes (note text)")
    conn.execute("INSERT INTO keyshift.my_notes VALUES ('mine')")

    again = _demo(dsn, tmp_path / "demo")

    assert again.returncode == 0, again.stdout + again.stderr
    assert conn.execute("SELECT note FROM keyshift.my_notes").fetchall() == [("mine",)]
    assert conn.execute("SELECT count(*) FROM keyshift.converted_table").fetchone()[0] == 1
    assert conn.execute("SELECT how FROM keyshift.installation").fetchall() == [("created",)]


def test_demo_refuses_a_schema_keyshift_it_did_not_create(dsn, conn, tmp_path):
    conn.execute("CREATE SCHEMA keyshift")
    conn.execute("CREATE TABLE keyshift.notes (note text)")
    out = _demo(dsn, tmp_path / "demo")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "schema keyshift" in out.stderr and "not created by keyshift" in out.stderr
    assert keyshift_objects(conn) == {"table keyshift.notes"}


# --- the lists in ownership.py are what the shipped SQL creates ----------------------------------

def _install(conn) -> None:
    conn.execute((SQL_DIR / "schema.sql").read_text())
    conn.execute((SQL_DIR / "registry.sql").read_text())
    for path in sorted((SQL_DIR / "functions").glob("*.sql")):
        conn.execute(path.read_text())


def test_ownership_lists_every_table_and_function_the_shipped_sql_creates(conn):
    _install(conn)
    tables = {r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'keyshift'::regnamespace AND relkind = 'r'")}
    assert tables == {*ownership.REGISTRY_TABLES, ownership.MARKER}
    functions = {(r[0], r[1]) for r in conn.execute(
        "SELECT proname, oidvectortypes(proargtypes) FROM pg_proc WHERE pronamespace = 'keyshift'::regnamespace")}
    assert functions == {(f.name, ", ".join(f.args)) for f in ownership.FUNCTIONS}
    for f in ownership.FUNCTIONS:  # callers before what they call: rollback's order
        assert all(ownership.FUNCTIONS.index(f) < ownership.FUNCTIONS.index(
            next(g for g in ownership.FUNCTIONS if g.key == c)) for c in f.calls)


SAMPLE_CALLS = {
    "uuid_v7": ("SELECT keyshift.uuid_v7()", "SELECT keyshift.uuid_v7(now())"),
    "uuid_v6": ("SELECT keyshift.uuid_v6()", "SELECT keyshift.uuid_v6(now())"),
    "keyed_uuid_v7": ("SELECT keyshift.keyed_uuid_v7(now(), 'k', 1)",),
    "keyed_uuid_v7_at": ("SELECT keyshift.keyed_uuid_v7_at(1, 'k', 1)",),
    "keyed_uuid_v6": ("SELECT keyshift.keyed_uuid_v6(now(), 'k', 1)",),
    "keyed_uuid_v6_at": ("SELECT keyshift.keyed_uuid_v6_at(1, 'k', 1)",),
    "keyed_uuid_v4": ("SELECT keyshift.keyed_uuid_v4('k', 1)",),
    "unique_slug": ("SELECT keyshift.unique_slug('public.slugs'::regclass, 'slug', 12)",),
    "random_slug": ("SELECT keyshift.random_slug(12)",),
    "base62": ("SELECT keyshift.base62(gen_random_uuid(), 12)",),
    "statement_setting": ("SELECT keyshift.statement_setting('application_name')",),
    "table_fingerprint": ("SELECT * FROM keyshift.table_fingerprint('public', 'slugs', FALSE)",),
}


@pytest.mark.parametrize("function", ownership.FUNCTIONS, ids=lambda f: f.signature)
def test_a_kept_function_works_with_only_what_it_calls_beside_it(dsn, function):
    """Rollback keeps a function a user still uses together with the functions it calls
    (ownership.Function.calls) and drops the rest: that must be enough for it to run."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        _install(conn)
        conn.execute("CREATE TABLE public.slugs (slug text)")
        keep, todo = set(), [function.key]
        while todo:
            key = todo.pop()
            keep.add(key)
            todo += [c for c in next(f for f in ownership.FUNCTIONS if f.key == key).calls if c not in keep]
        for f in ownership.FUNCTIONS:
            if f.key not in keep:
                conn.execute(f.drop())
        call = [c for c in SAMPLE_CALLS[function.name] if ("()" in c) == (not function.args)][:1] \
            if function.name in ("uuid_v7", "uuid_v6") else SAMPLE_CALLS[function.name]
        for statement in call:
            assert conn.execute(statement).fetchone() is not None


# --- never CASCADE ---------------------------------------------------------------------------------

def test_no_cascade_in_orchestrator_statements():
    """No string in orchestrator/**/*.py (docstrings aside) holds CASCADE: keyshift never drops, nor
    empties, what depends on an object along with it."""
    found = []
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and "CASCADE" in node.value.upper()):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def _cascades(text: str) -> list[str]:
    """Each CASCADE in ``text`` as SQL (sqlfluff's parse tree: comments and string values are not
    SQL), other than a foreign key's own ON DELETE / ON UPDATE CASCADE; and any CASCADE at all
    inside a DO block's body, which sqlfluff keeps as one string."""
    from sqlfluff.core import FluffConfig, Linter

    tree = Linter(config=FluffConfig.from_path(str(ROOT))).parse_string(text).tree
    assert tree is not None
    found = []

    def walk(seg, parents):
        if seg.is_type("keyword") and seg.raw.upper() == "CASCADE":
            words = [s.raw.upper() for s in parents[-1].segments if s.is_type("keyword")]
            at = [i for i, s in enumerate(parents[-1].segments) if s is seg][0]
            before = [s.raw.upper() for s in parents[-1].segments[:at] if s.is_type("keyword")][-2:]
            if before not in (["ON", "DELETE"], ["ON", "UPDATE"]):
                found.append(" ".join(words))
        if seg.is_type("do_statement") and "CASCADE" in seg.raw.upper():
            found.append(seg.raw[:80])
        for child in seg.segments:
            walk(child, parents + [seg])

    walk(tree, [])
    return found


def test_the_cascade_finder_finds_cascade():
    """_cascades must be able to fail: a drop, a TRUNCATE and a DO block with CASCADE are found,
    a foreign key's ON DELETE CASCADE and a string value are not."""
    assert len(_cascades("DROP TABLE x CASCADE;\nTRUNCATE t CASCADE;\nALTER TABLE x DROP COLUMN y CASCADE;\n"
                         "DO $$\nBEGIN\n    DROP SCHEMA s CASCADE;\nEND\n$$;\n")) == 4
    assert _cascades("ALTER TABLE x ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES b (id) ON DELETE CASCADE;\n"
                     "SELECT 'ON UPDATE CASCADE' AS d;\n") == []


@pytest.mark.parametrize("extra", [(), ("--uuid", "v7", "--slug-column", "public.custom_user.slug"),
                                   ("--mode", "external")])
def test_no_cascade_in_generated_migrations(dsn, conn, tmp_path, extra):
    load_seed000(conn, scale=20)  # user_profile's foreign key is ON DELETE CASCADE: that one stays
    out = keyshift(dsn, "plan", "--table", "public.custom_user", *extra, migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr
    files = sorted((tmp_path / "m").glob("*.sql"))
    assert any(p.name.endswith(".rollback.sql") for p in files)
    for path in files:
        assert _cascades(path.read_text()) == [], path.name
