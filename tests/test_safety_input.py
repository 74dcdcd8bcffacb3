"""Hostile names, bad input, passwords and privileges.

Bad input is refused by ``plan`` with exit 3 and one line naming the object, the reason and
the fix, with nothing written and nothing changed; what keyshift can do safely it does, and
proves with the checks and a rollback to the exact schema it started from. The seven cases
of tests/test_foundation.py::test_bad_table_is_refused_with_one_line_and_nothing_written
(missing table, no key, uuid key, composite key, text key, view, unqualified name) are not
repeated here.
"""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from conftest import ROOT, convert, keyshift, pg_dump_schema, run_keyshift, without_restrict
from psycopg import sql

PARENT = "CREATE TABLE parent (id serial PRIMARY KEY, name text); INSERT INTO parent (name) VALUES ('a'), ('b');"

BAD = {
    "publication with the table": (
        PARENT + "CREATE PUBLICATION pub_parent FOR TABLE parent;",
        ["public.parent"],
        ("public.parent", "publication pub_parent", "ALTER PUBLICATION"),
    ),
    "publication for all tables, on a referencing table": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);"
        "CREATE PUBLICATION pub_all FOR ALL TABLES;",
        ["public.parent"],
        ("publication pub_all", "FOR ALL TABLES"),
    ),
    "temporary table": (None, None, ("temporary table",)),
    "foreign table": (
        "CREATE FOREIGN DATA WRAPPER dummy_fdw; CREATE SERVER dummy_srv FOREIGN DATA WRAPPER dummy_fdw;"
        "CREATE FOREIGN TABLE remote (id int) SERVER dummy_srv;",
        ["public.remote"],
        ("public.remote", "is a foreign table"),
    ),
    "inheritance child": (
        PARENT + "CREATE TABLE heir (extra int) INHERITS (parent);",
        ["public.heir"],
        ("public.heir", "inherits", "convert the parent"),
    ),
    "inheritance parent": (
        PARENT + "CREATE TABLE heir (extra int) INHERITS (parent);",
        ["public.parent"],
        ("public.parent", "inheritance children"),
    ),
    "orphans under a NOT VALID foreign key": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int);"
        "INSERT INTO child VALUES (1, 1), (2, 99), (3, 98), (4, NULL);"
        "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;",
        ["public.parent"],
        ("child_parent_fk", "2 rows", "VALIDATE CONSTRAINT"),
    ),
    "duplicate targets spelled differently": (
        PARENT,
        ["public.parent", '"public"."parent"'],
        ("public.parent", "named twice"),
    ),
    "serial sequence another table draws from": (
        "CREATE TABLE one (id serial PRIMARY KEY);CREATE TABLE two (id int PRIMARY KEY DEFAULT nextval('one_id_seq'));",
        ["public.one"],
        ("public.one", "one_id_seq", "public.two.id"),
    ),
    "generated column computed from the key": (
        "CREATE TABLE gen (id int PRIMARY KEY, twice bigint GENERATED ALWAYS AS (id * 2) STORED);",
        ["public.gen"],
        ("public.gen", "generated column", "twice"),
    ),
    "rule that uses the key": (
        PARENT + "CREATE TABLE audit (parent_id int);"
        "CREATE RULE parent_audit AS ON INSERT TO parent DO ALSO INSERT INTO audit VALUES (new.id);",
        ["public.parent"],
        ("parent_audit", "rule"),
    ),
    "materialized view passed as a table": (
        "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS id;",
        ["public.mv"],
        ("public.mv", "materialized view"),
    ),
    "sequence passed as a table": ("CREATE SEQUENCE just_seq;", ["public.just_seq"], ("public.just_seq", "sequence")),
    "partitioned table as target": (
        "CREATE TABLE part (id int PRIMARY KEY) PARTITION BY RANGE (id);"
        "CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100);",
        ["public.part"],
        ("public.part", "partitioned table"),
    ),
    "partition as target": (
        "CREATE TABLE part (id int PRIMARY KEY) PARTITION BY RANGE (id);"
        "CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100);",
        ["public.part_1"],
        ("public.part_1", "partition"),
    ),
    "key of a domain over integer": (
        "CREATE DOMAIN posint AS int CHECK (VALUE > 0); CREATE TABLE dom (id posint PRIMARY KEY);",
        ["public.dom"],
        ("public.dom", "posint", "not an integer"),
    ),
    "schema that does not exist": ("", ["nowhere.parent"], ("nowhere.parent", "does not exist")),
    "empty --table": ("", [""], ("--table ''", "SCHEMA.TABLE")),
    "trailing dot": ("", ["public."], ("'public.'", "SCHEMA.TABLE")),
    "three parts": ("", ["public.parent.id"], ("'public.parent.id'", "SCHEMA.TABLE")),
    "unterminated quote": ("", ['"public"."parent'], ("SCHEMA.TABLE",)),
    "name longer than 63 bytes": ("", ["public." + "x" * 64], ("does not exist", "at most 63 bytes")),
    # A column that follows the key to uuid cannot keep an integer default (ALTER ... TYPE cannot
    # cast it); one that names an id of the parent converts (HANDLED), anything else is refused.
    "referencing column with a sequence default": (
        PARENT + "CREATE SEQUENCE child_seq;"
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int DEFAULT nextval('child_seq') REFERENCES parent);",
        ["public.parent"],
        ("column public.child.parent_id", "nextval", "is not an integer constant", "DROP DEFAULT"),
    ),
    "referencing column whose default is no id of the parent": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int DEFAULT 42 REFERENCES parent);",
        ["public.parent"],
        ("column public.child.parent_id", "default 42 is no key of public.parent", "DROP DEFAULT"),
    ),
    "referencing column with a computed default": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int DEFAULT (1 + length('a')) REFERENCES parent);",
        ["public.parent"],
        ("column public.child.parent_id", "is not an integer constant"),
    ),
    "partition with a default of its own on a referencing column": (
        PARENT + "CREATE TABLE child (parent_id int REFERENCES parent, day int) PARTITION BY RANGE (day);"
        "CREATE TABLE child_1 PARTITION OF child (parent_id DEFAULT 1) FOR VALUES FROM (0) TO (10);",
        ["public.parent"],
        ("column public.child_1.parent_id", "partition", "DROP DEFAULT"),
    ),
    # ALTER TABLE fails on a table whose row type is stored in a column anywhere.
    "column of the target's row type": (
        PARENT + "CREATE TABLE snap (taken parent); INSERT INTO snap SELECT p FROM parent p;",
        ["public.parent"],
        ("column public.snap.taken (public.parent)", "stores rows of public.parent", "drop that column"),
    ),
    "array of the target's row type": (
        PARENT + "CREATE TABLE snap (taken parent[]);",
        ["public.parent"],
        ("column public.snap.taken (public.parent[])", "stores rows of public.parent"),
    ),
    "domain over the target's row type": (
        PARENT + "CREATE DOMAIN parent_d AS parent; CREATE TABLE snap (taken parent_d);",
        ["public.parent"],
        ("column public.snap.taken (public.parent_d)", "stores rows of public.parent"),
    ),
    "composite type holding the target's row type": (
        PARENT + "CREATE TYPE wrapped AS (p parent, note text); CREATE TABLE snap (w wrapped[]);",
        ["public.parent"],
        ("column public.snap.w (public.wrapped[])", "stores rows of public.parent"),
    ),
    "column of a referencing table's row type": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);"
        "CREATE TABLE snap (c child);",
        ["public.parent"],
        ("column public.snap.c (public.child)", "stores rows of public.child"),
    ),
    "rewrite rule that reads the key": (
        PARENT + "CREATE TABLE parent_log (parent_id int);"
        "CREATE RULE parent_deleted AS ON DELETE TO parent DO ALSO INSERT INTO parent_log VALUES (old.id);",
        ["public.parent"],
        ("parent_deleted", "rule"),
    ),
}


def _temp_table_case(dsn):
    """A temporary table lives as long as its session: keep the session open during plan."""
    holder = psycopg.connect(dsn, autocommit=True)
    holder.execute("CREATE TEMPORARY TABLE scratch (id serial PRIMARY KEY)")
    schema = holder.execute("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()").fetchone()[0]
    return holder, [f"{schema}.scratch"]


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_with_one_line_nothing_written_nothing_changed(dsn, conn, tmp_path, case):
    setup, tables, words = BAD[case]
    holder = None
    if setup is None:
        holder, tables = _temp_table_case(dsn)
    elif setup:
        conn.execute(setup)
    before = without_restrict(pg_dump_schema(dsn))
    mig = tmp_path / "m"
    try:
        result = keyshift(dsn, "plan", *[a for t in tables for a in ("--table", t)], migrations=mig)
    finally:
        if holder is not None:
            holder.close()
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    for w in words:
        assert w in line, (w, line)
    assert "; " in line, f"no fix given: {line}"
    assert not mig.exists() or not list(mig.iterdir())
    if holder is None:
        assert without_restrict(pg_dump_schema(dsn)) == before
    assert conn.execute("SELECT to_regnamespace('keyshift') IS NULL").fetchone()[0]


HANDLED = {
    "unlogged table": (
        "CREATE UNLOGGED TABLE cache (id serial PRIMARY KEY, v text);"
        "CREATE UNLOGGED TABLE cache_ref (id serial PRIMARY KEY, cache_id int REFERENCES cache);"
        "INSERT INTO cache (v) SELECT g::text FROM generate_series(1, 30) g;"
        "INSERT INTO cache_ref (cache_id) SELECT 1 + g % 30 FROM generate_series(1, 60) g;",
        ["public.cache"],
    ),
    "integer and smallint keys at their maximum, zero and negative ids": (
        "CREATE TABLE big (id int PRIMARY KEY); CREATE TABLE small (id smallint PRIMARY KEY);"
        "CREATE TABLE big_ref (id int PRIMARY KEY, big_id int REFERENCES big, small_id smallint REFERENCES small);"
        "INSERT INTO big VALUES (2147483647), (-2147483648), (0), (1);"
        "INSERT INTO small VALUES (32767), (-32768), (0);"
        "INSERT INTO big_ref VALUES (1, 2147483647, 32767), (2, -2147483648, -32768), (3, 0, NULL);",
        ["public.big", "public.small"],
    ),
    "serial sequence at its maximum": (
        "CREATE TABLE full_seq (id serial PRIMARY KEY); INSERT INTO full_seq DEFAULT VALUES;"
        "SELECT setval('full_seq_id_seq', 2147483647);",
        ["public.full_seq"],
    ),
    "a key default that is not a sequence": (
        "CREATE TABLE fixed (id int PRIMARY KEY DEFAULT 7, v text); INSERT INTO fixed (v) VALUES ('x');",
        ["public.fixed"],
    ),
    "comments on a foreign key, constraints, indexes and a materialized view's index and trigger": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int CONSTRAINT child_parent_fk REFERENCES parent"
        " CONSTRAINT child_parent_check CHECK (parent_id IS NOT NULL OR id > 0));"
        "INSERT INTO child VALUES (1, 1), (2, NULL);"
        "CREATE INDEX child_parent_ix ON child (parent_id);"
        "CREATE MATERIALIZED VIEW parent_ids AS SELECT p.id FROM parent p;"
        "CREATE UNIQUE INDEX parent_ids_id ON parent_ids (id);"
        "CREATE VIEW parent_names AS SELECT p.id, p.name FROM parent p;"
        "CREATE FUNCTION no_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
        "CREATE TRIGGER parent_names_no_write INSTEAD OF INSERT ON parent_names"
        " FOR EACH ROW EXECUTE FUNCTION no_write();"
        "COMMENT ON CONSTRAINT child_parent_fk ON child IS 'fk comment';"
        "COMMENT ON CONSTRAINT child_parent_check ON child IS 'check comment';"
        "COMMENT ON CONSTRAINT parent_pkey ON parent IS 'pk comment';"
        "COMMENT ON INDEX child_parent_ix IS 'index comment';"
        "COMMENT ON INDEX parent_ids_id IS 'matview index comment';"
        "COMMENT ON TRIGGER parent_names_no_write ON parent_names IS 'view trigger comment';",
        ["public.parent"],
    ),
    "a referencing column whose default is an id of the parent (ON DELETE SET DEFAULT)": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY,"
        " parent_id int NOT NULL DEFAULT 1 REFERENCES parent ON DELETE SET DEFAULT,"
        " other_id bigint DEFAULT '-5' REFERENCES parent);"
        "INSERT INTO parent (id, name) VALUES (-5, 'negative');"
        "INSERT INTO child (id) VALUES (1); INSERT INTO child VALUES (2, 2, -5);",
        ["public.parent"],
    ),
    "a NOT VALID foreign key without orphans": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int); INSERT INTO child VALUES (1, 1), (2, NULL);"
        "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;",
        ["public.parent"],
    ),
}


def _data(conn) -> list:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND relname NOT LIKE '\\_yoyo%' AND relname <> 'yoyo_lock' ORDER BY 1"
        )
    ]
    return [
        (t, conn.execute(sql.SQL("SELECT t::text FROM {} t ORDER BY 1").format(sql.Identifier(t))).fetchall())
        for t in tables
    ]


@pytest.mark.parametrize("case", list(HANDLED))
def test_unusual_but_valid_input_converts_checks_and_rolls_back_exactly(dsn, conn, tmp_path, case):
    setup, tables = HANDLED[case]
    conn.execute(setup)
    dump, data = without_restrict(pg_dump_schema(dsn)), _data(conn)
    convert(dsn, tmp_path / "m", *tables)
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert back.returncode == 0, back.stdout + back.stderr
    assert without_restrict(pg_dump_schema(dsn)) == dump
    assert _data(conn) == data


# --- hostile names --------------------------------------------------------------------------

SCH = 'we;ird $$ sch"ema'
EVIL = 'x"; DROP TABLE victim; --'
UNI = "ünïcødé 表 select"
#: sqlfluff 4 cannot parse a doubled quote ("") in a constraint name (valid SQL): the FK name
#: carries the semicolon and comment instead; the table name carries the double quote.
FK = "fk $$; DROP TABLE victim; --"


def _ident(*parts: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


HOSTILE_SQL = f"""
CREATE TABLE victim (id int); INSERT INTO victim VALUES (1);
CREATE SCHEMA {_ident(SCH)};
CREATE TABLE {_ident(SCH, EVIL)} ("sel ect" serial PRIMARY KEY, "na\\me" text, "$$x$$" text);
CREATE TABLE {_ident(SCH, UNI)} (
    "order" serial PRIMARY KEY,
    "from" int CONSTRAINT {_ident(FK)} REFERENCES {_ident(SCH, EVIL)} ON DELETE CASCADE,
    "E'\\\\'" text
);
CREATE INDEX "ix $$; DROP TABLE victim; $$" ON {_ident(SCH, UNI)} ("from");
CREATE VIEW {_ident(SCH, "v'iew; --")} AS SELECT "order", "from" FROM {_ident(SCH, UNI)};
COMMENT ON COLUMN {_ident(SCH, UNI, "from")} IS 'it''s $$ a; comment';
INSERT INTO {_ident(SCH, EVIL)} ("na\\me", "$$x$$") SELECT 'n' || g, '$$' || g FROM generate_series(1, 40) g;
INSERT INTO {_ident(SCH, UNI)} ("from", "E'\\\\'") SELECT 1 + g % 40, '\\' || g FROM generate_series(1, 90) g;
"""


def _hostile_rows(conn) -> list:
    return conn.execute(
        sql.SQL(
            'SELECT e."na\\me", e."$$x$$", u."E\'\\\\\'" FROM {} AS u JOIN {} AS e ON e."sel ect" = u."from" '
            "ORDER BY 1, 2, 3"
        ).format(sql.Identifier(SCH, UNI), sql.Identifier(SCH, EVIL))
    ).fetchall()


def test_hostile_names_convert_check_and_roll_back_without_injection(dsn, conn, tmp_path):
    conn.execute(HOSTILE_SQL)
    rows, dump = _hostile_rows(conn), without_restrict(pg_dump_schema(dsn))
    assert len(rows) == 90
    mig = tmp_path / "m"
    convert(dsn, mig, _ident(SCH, EVIL), _ident(SCH, UNI))
    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), str(mig)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert conn.execute("SELECT to_regclass('public.victim') IS NOT NULL").fetchone()[0]
    assert (
        conn.execute(
            sql.SQL('SELECT pg_typeof("from")::text FROM {} LIMIT 1').format(sql.Identifier(SCH, UNI))
        ).fetchone()[0]
        == "uuid"
    )
    assert _hostile_rows(conn) == rows
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0 and "EDITED" not in status.stdout, status.stdout + status.stderr
    back = keyshift(dsn, "rollback", migrations=mig)
    assert back.returncode == 0, back.stdout + back.stderr
    assert conn.execute("SELECT count(*) FROM victim").fetchone()[0] == 1
    assert _hostile_rows(conn) == rows
    assert without_restrict(pg_dump_schema(dsn)) == dump


def test_a_newline_in_a_name_converts_and_never_ends_a_comment(dsn, conn, tmp_path):
    bad = "t\nDROP TABLE victim; --"
    conn.execute(
        sql.SQL(
            "CREATE TABLE victim (id int); CREATE TABLE {} (id serial PRIMARY KEY);"
            "CREATE TABLE ref (id int PRIMARY KEY, t_id int REFERENCES {});"
            "INSERT INTO {} SELECT FROM generate_series(1, 3); INSERT INTO ref VALUES (1, 2)"
        ).format(sql.Identifier(bad), sql.Identifier(bad), sql.Identifier(bad))
    )
    dump = without_restrict(pg_dump_schema(dsn))
    mig = tmp_path / "m"
    convert(dsn, mig, '"public"."t\nDROP TABLE victim; --"')
    text = "".join(p.read_text() for p in sorted(mig.glob("*.sql")))
    assert '--     public.ref(t_id) -> public."t\\u000aDROP TABLE victim; --"(id) [ref_t_id_fkey]' in text
    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), str(mig)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert conn.execute("SELECT pg_typeof(t_id)::text FROM ref").fetchone()[0] == "uuid"
    assert conn.execute("SELECT to_regclass('public.victim') IS NOT NULL").fetchone()[0]
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    back = keyshift(dsn, "rollback", migrations=mig)
    assert back.returncode == 0, back.stdout + back.stderr
    assert conn.execute("SELECT count(*) FROM victim").fetchone()[0] == 0
    assert without_restrict(pg_dump_schema(dsn)) == dump


# --- the password ---------------------------------------------------------------------------

SECRET = "Pa55-w0rd_$ecret"


def test_the_password_never_reaches_output_files_or_the_database(dsn, conn, tmp_path):
    """plan, migrate, check, status, rollback, a refusal and a failed migrate, with the
    password in the DSN: not in stdout, stderr, any generated file, or any table we write."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    conn.execute(sql.SQL("CREATE ROLE keeper LOGIN SUPERUSER PASSWORD {}").format(sql.Literal(SECRET)))
    conn.execute(
        PARENT + "CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent);"
        "INSERT INTO child (parent_id) VALUES (1), (2), (NULL);"
    )
    params = conninfo_to_dict(dsn)
    url = f"postgresql://keeper:{SECRET}@{params['host']}:{params['port']}/{params['dbname']}"
    kv = make_conninfo(**{**params, "user": "keeper", "password": SECRET})
    mig = tmp_path / "m"
    outputs = []

    def run(*args, code=0, target=url, migrations=True):
        r = keyshift(target, *args, migrations=mig if migrations else None)
        outputs.append(r.stdout + r.stderr)
        assert r.returncode == code, (args, r.stdout, r.stderr)

    run("plan", "--table", "public.no_such", code=3)
    run("plan", "--table", "public.parent", target=kv)
    run("status")
    conn.execute("ALTER TABLE child ADD COLUMN late int")  # drift: migrate refuses
    run("migrate", code=1)
    for f in mig.glob("0001_*"):
        f.unlink()
    run("plan", "--table", "public.parent")
    run("migrate", target=kv)
    run("check", migrations=False)
    run("status", target=kv)
    run("rollback")
    env_run = run_keyshift("status", "--migrations", str(mig), env={"DATABASE_URL": url})
    outputs.append(env_run.stdout + env_run.stderr)
    assert env_run.returncode == 0, env_run.stderr
    text = "\n".join(outputs)
    assert "keeper" in text or "parent" in text  # the commands did talk to the database
    assert SECRET not in text
    for f in mig.rglob("*"):
        if f.is_file():
            assert SECRET not in f.read_text(), f
    for (table,) in conn.execute(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname IN ('public', 'keyshift')"
    ):
        dumped = conn.execute(
            sql.SQL("SELECT coalesce(string_agg(t::text, ' '), '') FROM {} AS t").format(sql.SQL(table))
        ).fetchone()[0]
        assert SECRET not in dumped, table


# --- privileges ---------------------------------------------------------------------------


def _as(dsn: str, role: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(dsn), "user": role})


def test_the_table_owner_without_superuser_plans_migrates_checks_and_rolls_back(dsn, conn, tmp_path):
    conn.execute(
        "DO $$ BEGIN CREATE ROLE app_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;"
        " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    db = conn.execute("SELECT current_database()").fetchone()[0]
    conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO app_owner").format(sql.Identifier(db)))
    conn.execute(
        "SET ROLE app_owner;" + PARENT + "CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " parent_id int REFERENCES parent ON DELETE CASCADE);"
        "CREATE VIEW child_parent AS SELECT c.id, c.parent_id FROM child AS c;"
        "INSERT INTO child (parent_id) SELECT 1 + g % 2 FROM generate_series(1, 10) g; RESET ROLE;"
    )
    assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'app_owner'").fetchone()[0]
    dump = without_restrict(pg_dump_schema(dsn))
    owner = _as(dsn, "app_owner")
    mig = tmp_path / "m"
    convert(owner, mig, "public.parent", "public.child")
    checked = keyshift(owner, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        conn.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'keyshift'").fetchone()[0]
        == "app_owner"
    )
    back = keyshift(owner, "rollback", migrations=mig)
    assert back.returncode == 0, back.stdout + back.stderr
    assert without_restrict(pg_dump_schema(dsn)) == dump


PRIVILEGE_CASES = {
    "a referencing table owned by another role": (
        "CREATE SCHEMA other AUTHORIZATION stranger; SET ROLE stranger;"
        "CREATE TABLE other.audit (id int PRIMARY KEY, parent_id int REFERENCES public.parent); RESET ROLE;",
        ("table other.audit", "owned by role stranger", "role app_user cannot alter it", "GRANT stranger TO app_user"),
    ),
    "a dependent view owned by another role": (
        "SET ROLE stranger; CREATE VIEW public.parent_names AS SELECT id, name FROM public.parent; RESET ROLE;",
        ("view public.parent_names", "owned by role stranger", "OWNER TO app_user"),
    ),
    "no CREATE on the database for schema keyshift": (
        "REVOKE CREATE ON DATABASE {db} FROM PUBLIC;",
        ("may not create schema keyshift", "GRANT CREATE ON DATABASE"),
    ),
    "no CREATE on the schema for yoyo's tables": (
        "GRANT CREATE ON DATABASE {db} TO app_user; REVOKE CREATE ON SCHEMA public FROM PUBLIC, app_user;",
        ("schema public", "yoyo's bookkeeping tables", "GRANT CREATE ON SCHEMA public TO app_user"),
    ),
}


@pytest.mark.parametrize("case", list(PRIVILEGE_CASES))
def test_a_missing_privilege_is_refused_at_plan_naming_it(dsn, conn, tmp_path, case):
    setup, words = PRIVILEGE_CASES[case]
    for role in ("app_user", "stranger"):
        conn.execute(
            sql.SQL("DO $$ BEGIN CREATE ROLE {} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$").format(
                sql.Identifier(role)
            )
        )
    db = conn.execute("SELECT current_database()").fetchone()[0]
    conn.execute(
        PARENT + "ALTER TABLE parent OWNER TO app_user; GRANT REFERENCES, SELECT ON parent TO stranger;"
        "GRANT CREATE ON SCHEMA public TO stranger;"
    )
    conn.execute(setup.replace("{db}", sql.Identifier(db).as_string(conn)))
    before = without_restrict(pg_dump_schema(dsn))
    result = keyshift(_as(dsn, "app_user"), "plan", "--table", "public.parent", migrations=tmp_path / "m")
    assert result.returncode == 3, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1, line
    for w in words:
        assert w in line, (w, line)
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())
    assert without_restrict(pg_dump_schema(dsn)) == before


# --- generated names: unique, taken ones refused, deterministic --------------------------------

LOOKALIKES = (
    'CREATE SCHEMA "a__b"; CREATE SCHEMA a; CREATE SCHEMA "a_";'
    'CREATE TABLE "a__b".c (id serial PRIMARY KEY); INSERT INTO "a__b".c DEFAULT VALUES;'
    'CREATE TABLE a."b__c" (id serial PRIMARY KEY); INSERT INTO a."b__c" DEFAULT VALUES;'
    'CREATE TABLE "a_"."_b__c" (id serial PRIMARY KEY); INSERT INTO "a_"."_b__c" DEFAULT VALUES;'
)
LOOKALIKE_TABLES = ('"a__b".c', 'a."b__c"', '"a_"."_b__c"')


def test_tables_whose_plain_mapping_names_would_collide_get_distinct_ones_and_convert(dsn, conn, tmp_path):
    conn.execute(LOOKALIKES)
    dump = without_restrict(pg_dump_schema(dsn))
    convert(dsn, tmp_path / "m", *LOOKALIKE_TABLES)
    maps = [r[0] for r in conn.execute("SELECT map_table FROM keyshift.converted_table ORDER BY 1")]
    assert len(set(maps)) == 3 and all(m.startswith("map_a_") and len(m.encode()) <= 63 for m in maps), maps
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    back = keyshift(dsn, "rollback", migrations=tmp_path / "m")
    assert back.returncode == 0, back.stdout + back.stderr
    assert without_restrict(pg_dump_schema(dsn)) == dump


TAKEN = {
    "an index named like the slug's UNIQUE constraint": (
        PARENT + "CREATE TABLE other (slug text); CREATE INDEX parent_slug_key ON other (slug);",
        ["public.parent"],
        ("--slug-column", "public.parent.slug"),
        ("public.parent_slug_key", "UNIQUE constraint of slug column public.parent.slug", "is taken"),
    ),
    "a constraint of the table named like the slug's UNIQUE constraint": (
        PARENT + "ALTER TABLE parent ADD CONSTRAINT parent_slug_key CHECK (name <> '');",
        ["public.parent"],
        ("--slug-column", "public.parent.slug"),
        ("public.parent_slug_key", "is taken"),
    ),
    "two slugs with one UNIQUE constraint name": (
        PARENT + "CREATE TABLE parent_x (id serial PRIMARY KEY); CREATE TABLE parent_x_y (id serial PRIMARY KEY);"
        "CREATE TABLE parent_x_y_z (id serial PRIMARY KEY);",
        ["public.parent_x", "public.parent_x_y"],
        ("--slug-column", "public.parent_x.y_z", "--slug-column", "public.parent_x_y.z"),
        ("public.parent_x_y_z_key", "both the UNIQUE constraint of slug column"),
    ),
    "a leftover mapping table": (
        PARENT
        + (ROOT / "sql" / "schema.sql").read_text()
        + "CREATE TABLE keyshift.map_public__parent (old_id bigint);",
        ["public.parent"],
        (),
        ("keyshift.map_public__parent", "mapping table of public.parent", "is taken"),
    ),
}


@pytest.mark.parametrize("case", list(TAKEN))
def test_a_generated_name_that_is_taken_is_refused_at_plan(dsn, conn, tmp_path, case):
    setup, tables, extra, words = TAKEN[case]
    conn.execute(setup)
    mig = tmp_path / "m"
    result = keyshift(dsn, "plan", *[a for t in tables for a in ("--table", t)], *extra, migrations=mig)
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and "; " in line, line
    for w in words:
        assert w in line, (w, line)
    assert not mig.exists() or not list(mig.iterdir())


def _planned(dsn, mig, *args) -> dict:
    result = keyshift(dsn, "plan", *args, migrations=mig)
    assert result.returncode == 0, result.stdout + result.stderr
    return {p.name: p.read_text() for p in sorted(mig.iterdir()) if p.is_file()}


def test_planning_the_same_schema_twice_writes_the_same_files(dsn, conn, tmp_path):
    conn.execute(
        LOOKALIKES
        + PARENT
        + """
        CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL DEFAULT 1 CONSTRAINT child_parent_fk
            REFERENCES parent, c_id int REFERENCES "a__b".c, created timestamptz DEFAULT now());
        INSERT INTO child VALUES (1, 1, 1), (2, 2, NULL);
        COMMENT ON CONSTRAINT child_parent_fk ON child IS 'fk comment';
        CREATE VIEW child_parents AS SELECT c.id, c.parent_id FROM child c;
    """
    )
    args = [a for t in (*LOOKALIKE_TABLES, "public.parent", "public.child") for a in ("--table", t)]
    args += [
        "--uuid-for",
        "public.child=v7",
        "--timestamp-column",
        "public.child.created",
        "--slug-column",
        "public.parent.slug",
    ]
    first = _planned(dsn, tmp_path / "one", *args)
    second = _planned(dsn, tmp_path / "two", *args)
    assert list(first) == list(second) and len(first) == 13  # 12 .sql files and the plan manifest
    for name in first:
        assert first[name] == second[name], name
