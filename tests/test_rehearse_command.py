"""keyshift rehearse: plan, migrate, check, rollback and the schema compared on a throwaway copy,
a one-page report and the exit code; the target and the project's migrations/ untouched."""

from __future__ import annotations

import re

import psycopg
from conftest import keyshift, load_fixture, load_seed000, pg_dump_schema, without_restrict
from psycopg import sql

from orchestrator.rehearse import sample
from orchestrator.rehearse.copy import schema_copy

STAGES = ("plan", "copy", "migrate", "check", "rollback", "compare")

#: What rehearse leaves as it found it: the target's schema and its rows' count per table.
ROWS = """
SELECT n.nspname || '.' || c.relname, (xpath('/row/c/text()',
    query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1
"""


def _state(conn: psycopg.Connection, dsn: str) -> tuple:
    return without_restrict(pg_dump_schema(dsn)), conn.execute(ROWS).fetchall()


def _stage_lines(stdout: str) -> dict[str, str]:
    """The report's stage lines, by stage name."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if line.startswith("  ") and parts and parts[0] in (*STAGES, "sample"):
            found[parts[0]] = line
    return found


def _rehearsal_databases(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'keyshift_rehearsal_%'").fetchall()
    return [r[0] for r in rows]


def test_seed_schema_rehearses_and_the_target_is_untouched(conn, dsn, tmp_path):
    load_seed000(conn, scale=20)
    before = _state(conn, dsn)
    migrations = tmp_path / "migrations"
    out = keyshift(dsn, "rehearse", "--table", "public.custom_user", migrations=migrations)
    assert out.returncode == 0, out.stdout + out.stderr
    stages = _stage_lines(out.stdout)
    assert list(stages) == list(STAGES), out.stdout
    assert all(" ok " in line or line.endswith(" ok") for line in stages.values()), out.stdout
    assert "plan 0001 (replace) of public.custom_user" in stages["plan"]
    assert "blockers: none" in out.stdout
    assert "checks, " in out.stdout and " 0 not ok" in out.stdout
    assert "schema: after rollback identical to the start" in out.stdout
    assert f"rehearsal passed (exit 0); the target and {migrations} were only read" in out.stdout
    assert _state(conn, dsn) == before
    assert not migrations.exists()
    assert _rehearsal_databases(conn) == []


def test_a_blocker_is_named_and_exits_3(conn, dsn, tmp_path):
    conn.execute(
        "CREATE TABLE person (person_id serial PRIMARY KEY, name text NOT NULL);"
        "CREATE TABLE shop (shop_id serial PRIMARY KEY, manager_id integer, name text NOT NULL);"
        "CREATE VIEW managers AS SELECT s.name FROM shop AS s JOIN person AS p ON s.manager_id = p.person_id;"
        "INSERT INTO person (name) VALUES ('ada'); INSERT INTO shop (manager_id, name) VALUES (1, 'north');"
    )
    before = _state(conn, dsn)
    out = keyshift(dsn, "rehearse", "--table", "public.person", migrations=tmp_path / "migrations")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "blockers (1):" in out.stdout
    blocker = out.stdout.split("blockers (1):\n", 1)[1].splitlines()[0]
    assert blocker.startswith("  view public.managers: ")
    assert "--reference public.shop.manager_id=public.person" in blocker
    assert "schema: not compared" in out.stdout
    assert "rehearsal refused (exit 3)" in out.stdout
    assert _state(conn, dsn) == before
    assert not (tmp_path / "migrations").exists()
    assert _rehearsal_databases(conn) == []


def test_multi_schema_with_a_sample_of_rows(conn, dsn, tmp_path):
    """Cross-schema foreign keys, a view and a materialized view; up to 3 rows of each touched
    table go into the copy, with the rows they reference (member's self-reference included)."""
    load_fixture(conn, "multischema")
    before = _state(conn, dsn)
    out = keyshift(
        dsn,
        "rehearse",
        "--table",
        "accounts.member",
        "--table",
        "accounts.organization",
        "--sample-rows",
        "3",
        migrations=tmp_path / "migrations",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    stages = _stage_lines(out.stdout)
    assert list(stages) == ["plan", "copy", "sample", "migrate", "check", "rollback", "compare"], out.stdout
    assert "dependent objects" in stages["plan"]
    assert re.search(r"\b[1-9]\d* rows copied", stages["sample"]), stages["sample"]
    assert "rehearsal passed (exit 0)" in out.stdout
    assert _state(conn, dsn) == before
    assert _rehearsal_databases(conn) == []


def test_the_sample_brings_every_row_its_rows_reference(conn, dsn):
    """Two rows of the link table bring their documents, folders (up the parent chain), authors
    (up the invited-by chain), organizations and tags: every foreign key holds on the copy."""
    load_fixture(conn, "multischema")
    with schema_copy(dsn, "sample", None) as copy:
        copied = sample.copy_rows(dsn, copy, [("content", "document_tag")], 2)
        with psycopg.connect(copy) as target:
            counts = dict(target.execute(ROWS).fetchall())
            fks = target.execute(sample._FOREIGN_KEYS).fetchall()
            orphans = {
                f"{child_schema}.{child}": target.execute(
                    _orphans(child_schema, child, parent_schema, parent, cols, pcols)
                ).fetchone()[0]
                for child_schema, child, parent_schema, parent, cols, pcols in fks
            }
    assert counts["content.document_tag"] == "2"
    assert all(counts[t] != "0" for t in ("content.document", "content.folder", "accounts.member", "content.tag"))
    assert counts["billing.invoice"] == "0"  # nothing sampled references it
    assert copied == sum(int(n) for n in counts.values())
    assert set(orphans.values()) == {0}, orphans


def _orphans(child_schema, child, parent_schema, parent, cols, pcols) -> sql.Composed:
    match = sql.SQL(" AND ").join(
        sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c)) for c, p in zip(cols, pcols)
    )
    present = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in cols)
    return sql.SQL("SELECT count(*) FROM {} AS c WHERE {} AND NOT EXISTS (SELECT FROM {} AS p WHERE {})").format(
        sql.Identifier(child_schema, child), present, sql.Identifier(parent_schema, parent), match
    )
