"""plan's warnings about references no foreign key declares: found by name and by data, each with
its evidence and the exact --reference to add; type/id pairs, ids in text or JSON and Django's
database sessions named too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conftest import keyshift

from orchestrator import catalog
from orchestrator.catalog import measure
from orchestrator.plan import planner
from orchestrator.plan.options import Options

SNAPSHOTS = Path(__file__).resolve().parent / "fixtures" / "snapshots"

SCHEMA = """
CREATE TABLE person (person_id serial PRIMARY KEY, name text);
INSERT INTO person (name) SELECT 'p' || g FROM generate_series(1, 50) AS g;
CREATE TABLE users (id bigserial PRIMARY KEY, email text);
INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 30) AS g;
CREATE TABLE shop (
    id serial PRIMARY KEY,
    manager_person_id int,
    created_by bigint,
    userid int,
    reviewer int,
    legacy_person_id int,
    rating int,
    ticket int
);
INSERT INTO shop (manager_person_id, created_by, userid, reviewer, legacy_person_id, rating, ticket)
SELECT g % 50 + 1, g % 30 + 1, NULL, g % 50 + 1, CASE WHEN g % 5 < 2 THEN 1000 + g ELSE g % 50 + 1 END,
       g % 5 + 1, 5000 + g
FROM generate_series(1, 60) AS g;
CREATE TABLE comments (id serial PRIMARY KEY, commentable_type text, commentable_id bigint, body text);
CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label text, model text);
CREATE TABLE django_admin_log (
    id serial PRIMARY KEY,
    content_type_id int REFERENCES django_content_type,
    object_id text,
    user_id bigint NOT NULL REFERENCES users
);
CREATE TABLE notes (id serial PRIMARY KEY, person_ids jsonb);
CREATE TABLE django_session (session_key varchar(40) PRIMARY KEY, session_data text, expire_date timestamptz);
"""


def warnings_of(result) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("WARN ")]


def one(warns: list[str], column: str) -> str:
    found = [w for w in warns if w.startswith(f"WARN {column} ")]
    assert len(found) == 1, (column, warns)
    return found[0]


def test_references_are_found_by_name_and_by_data_with_their_evidence(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    conn.execute("ANALYZE")
    plan = keyshift(dsn, "plan", "--table", "public.person", "--table", "public.users", migrations=tmp_path / "m")
    warns = warnings_of(plan)
    w = one(warns, "public.shop.manager_person_id")
    assert "named like a reference to public.person, and 100% of 60 non-null values are ids of public.person" in w
    assert w.endswith("--reference public.shop.manager_person_id=public.person")
    w = one(warns, "public.shop.created_by")
    assert "100% of 60 non-null values are ids of public.users" in w, w
    assert w.endswith("--reference public.shop.created_by=public.users")
    w = one(warns, "public.shop.userid")
    assert "named like a reference to public.users (it holds no non-null value to compare)" in w
    w = one(warns, "public.shop.reviewer")
    assert "100% of 60 non-null values (50 distinct) are ids of public.person, though its name does not say so" in w
    assert w.endswith("--reference public.shop.reviewer=public.person")
    w = one(warns, "public.shop.legacy_person_id")
    assert "named like a reference to public.person, but 40% of 60 non-null values are not ids of public.person" in w
    assert w.endswith("--reference public.shop.legacy_person_id=public.person")
    assert not any(c in w for w in warns for c in ("shop.rating", "shop.ticket", "shop.id ")), warns
    # comments holds no row: no type value names a converted table, so the pair is not named
    assert not any("public.comments" in w for w in warns), warns
    w = one(warns, "public.django_admin_log.content_type_id")
    assert "public.django_admin_log.object_id (text) looks like a polymorphic reference" in w
    assert not any(w.startswith("WARN public.comments.commentable_id") for w in warns), warns
    w = one(warns, "public.notes.person_ids")
    assert "(jsonb) may hold ids of a converted table inside text or JSON" in w and "does not remap it" in w
    w = one(warns, "public.django_session")
    assert "old integer id of public.users" in w and "server error" in w
    assert "add --invalidate-sessions public.django_session" in w

    # With the suggested options the columns convert, and plan no longer warns about them.
    again = keyshift(
        dsn,
        "plan",
        "--table",
        "public.person",
        "--table",
        "public.users",
        "--reference",
        "public.shop.manager_person_id=public.person",
        "--reference",
        "public.shop.created_by=public.users",
        "--reference",
        "public.shop.reviewer=public.person",
        "--invalidate-sessions",
        "public.django_session",
        migrations=tmp_path / "m2",
    )
    warns = warnings_of(again)
    for column in ("manager_person_id", "created_by", "reviewer"):
        assert not any(f"shop.{column} " in w for w in warns), warns
    assert not any(w.startswith("WARN public.django_session") for w in warns), warns
    assert "invalidate sessions public.django_session" in again.stdout


PAIRS = """
CREATE TABLE posts (id serial PRIMARY KEY);
CREATE TABLE photos (id serial PRIMARY KEY);
CREATE TABLE videos (id serial PRIMARY KEY);
INSERT INTO posts SELECT FROM generate_series(1, 3);
INSERT INTO photos SELECT FROM generate_series(1, 3);
INSERT INTO videos SELECT FROM generate_series(1, 3);
CREATE TABLE comments (id serial PRIMARY KEY, commentable_type text, commentable_id bigint);
INSERT INTO comments (commentable_type, commentable_id) VALUES
    ('Post', 1), ('Post', 2), ('Post', 3), ('Photo', 1), ('Photo', 2), ('Video', 1), ('Video', 2),
    ('Post', NULL);
CREATE TABLE taggings (id serial PRIMARY KEY, taggable_type varchar(40), taggable_id int);
INSERT INTO taggings (taggable_type, taggable_id) VALUES ('Video', 1), ('Article', 7);
"""


def test_a_type_id_pair_is_named_with_the_type_values_that_name_converted_tables(dsn, conn, tmp_path):
    """comments' values name converted tables (Rails' convention): warned with the rows of each
    value; taggings' values name none (videos is not converted, Article no table): not warned."""
    conn.execute(PAIRS)
    tables = ("--table", "public.posts", "--table", "public.photos")
    warns = warnings_of(keyshift(dsn, "plan", *tables, migrations=tmp_path / "m"))
    w = one(warns, "public.comments (commentable_type, commentable_id)")
    assert (
        "looks like a polymorphic reference (a type column beside an id column, no foreign key): values "
        "'Photo' (2 rows) and 'Post' (3 rows) name converted tables public.photos and public.posts; "
        "'Video' (2 rows) names no converted table" in w
    ), w
    assert w.endswith("unless you add --polymorphic public.comments.commentable_type,commentable_id"), w
    assert not any("taggings" in w for w in warns), warns
    assert not any(w.startswith("WARN public.comments.commentable_id") for w in warns), warns

    # --polymorphic-type resolves a value as --polymorphic does; a pair named by --polymorphic is not warned
    mapped = keyshift(
        dsn,
        "plan",
        *tables,
        "--table",
        "public.videos",
        "--polymorphic-type",
        "Article=public.posts",
        migrations=tmp_path / "m2",
    )
    w = one(warnings_of(mapped), "public.taggings (taggable_type, taggable_id)")
    assert "values 'Article' (1 row) and 'Video' (1 row) name converted tables public.posts and public.videos" in w
    remapped = keyshift(
        dsn,
        "plan",
        *tables,
        "--table",
        "public.videos",
        "--polymorphic",
        "public.comments.commentable_type,commentable_id",
        migrations=tmp_path / "m3",
    )
    assert not any("public.comments" in w for w in warnings_of(remapped))


def test_sessions_are_not_named_when_the_plan_converts_no_users_table(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    warns = warnings_of(keyshift(dsn, "plan", "--table", "public.comments", migrations=tmp_path / "m"))
    assert not any("django_session" in w for w in warns), warns


def test_a_big_table_is_sampled_and_an_unreadable_one_is_named(conn):
    conn.execute(SCHEMA + "CREATE ROLE evidence_reader; GRANT SELECT ON person TO evidence_reader;")
    rows = [
        {"table_schema": "public", "table_name": "shop", "column_name": "reviewer", "est_rows": 10_000_000},
        {"table_schema": "public", "table_name": "comments", "column_name": "commentable_id", "est_rows": 0},
    ]
    try:
        conn.execute("SET ROLE evidence_reader")
        counts = measure.value_counts(conn, rows, [(("public", "person"), "person_id")])
    finally:
        conn.execute("RESET ROLE")
        conn.execute("DROP OWNED BY evidence_reader; DROP ROLE evidence_reader")
    assert counts[0].skipped.startswith("values not measured: permission denied for table shop"), counts
    assert counts[1].skipped.startswith("values not measured: permission denied"), counts
    sampled = measure.value_counts(conn, rows, [(("public", "person"), "person_id")])
    assert sampled[0].sample_percent == 1.0 and not sampled[0].skipped
    assert sampled[1] == measure.ValueCount(
        ("public", "comments", "commentable_id"), found=((("public", "person"), 0),)
    )


def test_the_evidence_says_how_the_values_were_read():
    """On the stored seed000 snapshot (no database): a sampled column, a column not measured,
    and the session warning left out once --invalidate-sessions names the table."""
    snap = catalog.snapshot_from_json((SNAPSHOTS / "seed000_custom_user.json").read_text())
    column = ("public", "django_session", "user_id")
    sampled = measure.ValueCount(column, 9841, 1203, ((("public", "custom_user"), 9841),), 1.2)
    options = Options(tables=(("public", "custom_user"),))
    warns = planner.make_plan(dataclasses.replace(snap, value_counts=[sampled]), options, "0001").warnings
    assert any(
        "100% of 9,841 sampled non-null values (TABLESAMPLE SYSTEM 1.2%) are ids of public.custom_user" in w
        for w in warns
    ), warns
    assert any(w.startswith("public.django_session holds Django's database sessions") for w in warns), warns
    skipped = measure.ValueCount(column, skipped="values not measured: canceling statement due to lock timeout")
    options = dataclasses.replace(options, sessions=(("public", "django_session"),))
    warns = planner.build(dataclasses.replace(snap, value_counts=[skipped]), options, "0001").warnings
    assert any(
        "named like a reference to public.custom_user (values not measured: canceling statement due to lock "
        "timeout). Migrate leaves it with the old integers unless you add "
        "--reference public.django_session.user_id=public.custom_user" in w
        for w in warns
    ), warns
    assert not any("holds Django's database sessions" in w for w in warns), warns


def test_a_type_id_pair_is_judged_by_its_type_values():
    """On the stored seed000 snapshot (no database): a pair whose value names a converted table
    (through --polymorphic-type) is named with it, one whose values name none is not, and one
    whose values were not read is named by its names with the reason."""
    snap = catalog.snapshot_from_json((SNAPSHOTS / "seed000_custom_user.json").read_text())
    rows = [
        {
            "table_schema": "public",
            "table_name": "events",
            "column_name": name,
            "data_type": kind,
            "is_integer": kind == "bigint",
            "est_rows": 5,
            "has_fk": False,
        }
        for name, kind in (("subject_type", "text"), ("subject_id", "bigint"))
    ]
    pair = ("public", "events", "subject_type", "subject_id")
    options = Options(tables=(("public", "custom_user"),), polymorphic_types=(("Member", "public", "custom_user"),))

    def warned(values: catalog.TypeValues) -> list[str]:
        changed = dataclasses.replace(snap, reference_candidates=snap.reference_candidates + rows, type_values=[values])
        return [w for w in planner.make_plan(changed, options, "0001").warnings if "public.events" in w]

    found = warned(catalog.TypeValues(pair, (("Member", 4), ("Robot", 1))))
    assert found == [
        "public.events (subject_type, subject_id) looks like a polymorphic reference (a type column beside an "
        "id column, no foreign key): value 'Member' (4 rows) names converted table public.custom_user; 'Robot' "
        "(1 row) names no converted table (--polymorphic refuses such a value until --polymorphic-type "
        "VALUE=SCHEMA.TABLE maps it or --table adds its table); those rows keep the old integer ids unless you "
        "add --polymorphic public.events.subject_type,subject_id"
    ], found
    assert warned(catalog.TypeValues(pair, (("Robot", 1), (None, 2)))) == []
    skipped = warned(catalog.TypeValues(pair, skipped="values not measured: canceling statement due to lock timeout"))
    assert len(skipped) == 1 and "(values not measured: canceling statement due to lock timeout)" in skipped[0]
    assert skipped[0].startswith("public.events.subject_type (text) with public.events.subject_id (bigint)")
