"""Hostile names, bad input, passwords and privileges (issue #7 B).

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
from psycopg import sql

from conftest import ROOT, convert, keyshift, pg_dump_schema, run_keyshift, without_restrict

PARENT = "CREATE TABLE parent (id serial PRIMARY KEY, name text); INSERT INTO parent (name) VALUES ('a'), ('b');"

BAD = {
    "publication with the table": (
        PARENT + "CREATE PUBLICATION pub_parent FOR TABLE parent;",
        ["public.parent"], ("public.parent", "publication pub_parent", "ALTER PUBLICATION")),
    "publication for all tables, on a referencing table": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent);"
        "CREATE PUBLICATION pub_all FOR ALL TABLES;",
        ["public.parent"], ("publication pub_all", "FOR ALL TABLES")),
    "temporary table": (None, None, ("temporary table",)),
    "foreign table": (
        "CREATE FOREIGN DATA WRAPPER dummy_fdw; CREATE SERVER dummy_srv FOREIGN DATA WRAPPER dummy_fdw;"
        "CREATE FOREIGN TABLE remote (id int) SERVER dummy_srv;",
        ["public.remote"], ("public.remote", "is a foreign table")),
    "inheritance child": (
        PARENT + "CREATE TABLE heir (extra int) INHERITS (parent);",
        ["public.heir"], ("public.heir", "inherits", "convert the parent")),
    "inheritance parent": (
        PARENT + "CREATE TABLE heir (extra int) INHERITS (parent);",
        ["public.parent"], ("public.parent", "inheritance children")),
    "orphans under a NOT VALID foreign key": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int);"
        "INSERT INTO child VALUES (1, 1), (2, 99), (3, 98), (4, NULL);"
        "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;",
        ["public.parent"], ("child_parent_fk", "2 rows", "VALIDATE CONSTRAINT")),
    "duplicate targets spelled differently": (
        PARENT, ["public.parent", '"public"."parent"'], ("public.parent", "named twice")),
    "serial sequence another table draws from": (
        "CREATE TABLE one (id serial PRIMARY KEY);"
        "CREATE TABLE two (id int PRIMARY KEY DEFAULT nextval('one_id_seq'));",
        ["public.one"], ("public.one", "one_id_seq", "public.two.id")),
    "generated column computed from the key": (
        "CREATE TABLE gen (id int PRIMARY KEY, twice bigint GENERATED ALWAYS AS (id * 2) STORED);",
        ["public.gen"], ("public.gen", "generated column", "twice")),
    "rule that uses the key": (
        PARENT + "CREATE TABLE audit (parent_id int);"
        "CREATE RULE parent_audit AS ON INSERT TO parent DO ALSO INSERT INTO audit VALUES (new.id);",
        ["public.parent"], ("parent_audit", "rule")),
    "CHECK constraint on the key": (
        "CREATE TABLE positive (id int PRIMARY KEY CHECK (id > 0));",
        ["public.positive"], ("public.positive", "check constraint positive_id_check")),
    "materialized view passed as a table": (
        "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS id;", ["public.mv"], ("public.mv", "materialized view")),
    "sequence passed as a table": ("CREATE SEQUENCE just_seq;", ["public.just_seq"], ("public.just_seq", "sequence")),
    "partitioned table as target": (
        "CREATE TABLE part (id int PRIMARY KEY) PARTITION BY RANGE (id);"
        "CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100);",
        ["public.part"], ("public.part", "partitioned table")),
    "partition as target": (
        "CREATE TABLE part (id int PRIMARY KEY) PARTITION BY RANGE (id);"
        "CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100);",
        ["public.part_1"], ("public.part_1", "partition")),
    "key of a domain over integer": (
        "CREATE DOMAIN posint AS int CHECK (VALUE > 0); CREATE TABLE dom (id posint PRIMARY KEY);",
        ["public.dom"], ("public.dom", "posint", "not an integer")),
    "schema that does not exist": ("", ["nowhere.parent"], ("nowhere.parent", "does not exist")),
    "empty --table": ("", [""], ("--table ''", "SCHEMA.TABLE")),
    "trailing dot": ("", ["public."], ("'public.'", "SCHEMA.TABLE")),
    "three parts": ("", ["public.parent.id"], ("'public.parent.id'", "SCHEMA.TABLE")),
    "unterminated quote": ("", ['"public"."parent'], ("SCHEMA.TABLE",)),
    "name longer than 63 bytes": ("", ["public." + "x" * 64], ("does not exist", "at most 63 bytes")),
    "rewrite rule that reads the key": (
        PARENT + "CREATE TABLE parent_log (parent_id int);"
        "CREATE RULE parent_deleted AS ON DELETE TO parent DO ALSO INSERT INTO parent_log VALUES (old.id);",
        ["public.parent"], ("parent_deleted", "rule")),
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
        ["public.cache"]),
    "integer and smallint keys at their maximum, zero and negative ids": (
        "CREATE TABLE big (id int PRIMARY KEY); CREATE TABLE small (id smallint PRIMARY KEY);"
        "CREATE TABLE big_ref (id int PRIMARY KEY, big_id int REFERENCES big, small_id smallint REFERENCES small);"
        "INSERT INTO big VALUES (2147483647), (-2147483648), (0), (1);"
        "INSERT INTO small VALUES (32767), (-32768), (0);"
        "INSERT INTO big_ref VALUES (1, 2147483647, 32767), (2, -2147483648, -32768), (3, 0, NULL);",
        ["public.big", "public.small"]),
    "serial sequence at its maximum": (
        "CREATE TABLE full_seq (id serial PRIMARY KEY); INSERT INTO full_seq DEFAULT VALUES;"
        "SELECT setval('full_seq_id_seq', 2147483647);",
        ["public.full_seq"]),
    "a key default that is not a sequence": (
        "CREATE TABLE fixed (id int PRIMARY KEY DEFAULT 7, v text); INSERT INTO fixed (v) VALUES ('x');",
        ["public.fixed"]),
    "a NOT VALID foreign key without orphans": (
        PARENT + "CREATE TABLE child (id int PRIMARY KEY, parent_id int); INSERT INTO child VALUES (1, 1), (2, NULL);"
        "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent NOT VALID;",
        ["public.parent"]),
}


def _data(conn) -> list:
    tables = [r[0] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
        "AND relname NOT LIKE '\\_yoyo%' AND relname <> 'yoyo_lock' ORDER BY 1")]
    return [(t, conn.execute(sql.SQL("SELECT t::text FROM {} t ORDER BY 1").format(sql.Identifier(t))).fetchall())
            for t in tables]


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
