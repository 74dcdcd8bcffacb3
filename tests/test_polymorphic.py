"""Generic relations follow the keys: --polymorphic (Rails' type/id pairs) and Django's admin log.

A Rails-style schema (posts and photos converted, comments pointing at either by
commentable_type/commentable_id, plus an unconverted Video) converts with --polymorphic, passes
every check inside migrate and rolls back to the exact dump it started from; the plan's own
claims about these relations report rows on a database broken for them.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import keyshift, without_restrict

from orchestrator.connect import embedded

RAILS = """
CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL);
CREATE TABLE photos (id serial PRIMARY KEY, url text NOT NULL);
CREATE TABLE videos (id serial PRIMARY KEY, url text NOT NULL);
INSERT INTO posts (title) SELECT 'post ' || g FROM generate_series(1, 5) AS g;
INSERT INTO photos (url) SELECT 'photo ' || g FROM generate_series(1, 4) AS g;
INSERT INTO videos (url) SELECT 'video ' || g FROM generate_series(1, 2) AS g;
CREATE TABLE comments (id serial PRIMARY KEY, commentable_type text, commentable_id {id_type}, body text);
CREATE INDEX comments_commentable ON comments (commentable_type, commentable_id);
INSERT INTO comments (commentable_type, commentable_id, body) VALUES
    ('Post', 1, 'a'), ('Post', 3, 'b'), ('Post', 3, 'c'), ('Photo', 2, 'd'), ('Photo', 4, 'e'),
    (NULL, NULL, 'f'), ('Post', NULL, 'g');
"""
#: Rows of a type this plan does not convert (Video): a text id column keeps them as they are.
VIDEOS = (
    "INSERT INTO comments (commentable_type, commentable_id, body) VALUES ('Video', '1', 'v'), ('Video', '2', 'w');"
)
POLY = ("--polymorphic", "public.comments.commentable_type,commentable_id")
TABLES = ("--table", "public.posts", "--table", "public.photos")


def dump(dsn: str) -> list[str]:
    """Schema and data of every schema, yoyo's bookkeeping left out."""
    out = subprocess.run(
        [
            str(embedded.bindir() / "pg_dump"),
            "--exclude-table=public._yoyo*",
            "--exclude-table=public.yoyo_lock",
            "-d",
            dsn,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return without_restrict(out)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rails_bigint_ids_become_uuid_pass_every_check_and_roll_back_exactly(dsn, conn, tmp_path):
    conn.execute(RAILS.format(id_type="bigint"))
    before = dump(dsn)
    migrations = tmp_path / "m"
    out = ok(keyshift(dsn, "plan", *TABLES, *POLY, "--rehearse", migrations=migrations))
    assert "'Post' -> public.posts (Rails convention; 3 rows)" in out, out
    assert "commentable_id bigint -> uuid" in out, out
    migrated = ok(keyshift(dsn, "migrate", migrations=migrations))
    for claim in ("polymorphic_ids_resolve", "polymorphic_rows_unchanged"):
        assert re.search(rf"0001\.checks/{claim}\.sql \.+ ok$", migrated, re.M), migrated
    assert conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'comments'::regclass "
        "AND attname = 'commentable_id'"
    ).fetchone() == ("uuid",)
    joined = conn.execute(
        "SELECT c.body, coalesce(p.title, f.url) FROM comments AS c LEFT JOIN posts AS p ON c.commentable_type = "
        "'Post' AND p.id = c.commentable_id LEFT JOIN photos AS f ON c.commentable_type = 'Photo' AND "
        "f.id = c.commentable_id WHERE c.commentable_id IS NOT NULL ORDER BY c.body"
    ).fetchall()
    assert joined == [("a", "post 1"), ("b", "post 3"), ("c", "post 3"), ("d", "photo 2"), ("e", "photo 4")]
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ok(keyshift(dsn, "rollback", migrations=migrations))
    assert dump(dsn) == before


def test_rails_text_ids_get_the_uuid_text_unconverted_type_left_alone_rows_since_rolled_back(dsn, conn, tmp_path):
    conn.execute(RAILS.format(id_type="text") + VIDEOS)
    before = dump(dsn)
    migrations = tmp_path / "m"
    out = ok(
        keyshift(
            dsn,
            "plan",
            *TABLES,
            *POLY,
            "--polymorphic-type",
            "Video=public.videos",
            "--rehearse",
            migrations=migrations,
        )
    )
    assert "'Video': left as it is (2 rows" in out, out
    ok(keyshift(dsn, "migrate", migrations=migrations))
    rows = dict(conn.execute("SELECT body, commentable_id FROM comments").fetchall())
    post3 = conn.execute("SELECT new_id::text FROM keyshift.map_public__posts WHERE old_id = 3").fetchone()[0]
    assert rows["b"] == rows["c"] == post3 and rows["v"] == "1" and rows["w"] == "2" and rows["g"] is None
    # written since migrate: a new post and a comment on it; rollback gives both their old-id terms
    new_post = conn.execute("INSERT INTO posts (title) VALUES ('new') RETURNING id::text").fetchone()[0]
    conn.execute("INSERT INTO comments (commentable_type, commentable_id, body) VALUES ('Post', %s, 'n')", (new_post,))
    ok(keyshift(dsn, "rollback", migrations=migrations))
    assert conn.execute("SELECT commentable_id FROM comments WHERE body = 'n'").fetchone() == ("6",)
    conn.execute("DELETE FROM comments WHERE body = 'n'; DELETE FROM posts WHERE title = 'new'")
    conn.execute("SELECT setval('posts_id_seq', 5), setval('comments_id_seq', 9)")
    assert dump(dsn) == before


def test_integer_ids_of_an_unconverted_type_are_refused_naming_values_counts_and_fix(dsn, conn, tmp_path):
    conn.execute(RAILS.format(id_type="bigint"))
    conn.execute("INSERT INTO comments (commentable_type, commentable_id, body) VALUES ('Video', 1, 'v')")
    refused = keyshift(
        dsn, "plan", *TABLES, *POLY, "--polymorphic-type", "Video=public.videos", migrations=tmp_path / "m"
    )
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "'Video' (1 rows)" in refused.stderr and "--table" in refused.stderr, refused.stderr
    unknown = keyshift(dsn, "plan", *TABLES, *POLY, migrations=tmp_path / "m")
    assert unknown.returncode == 3 and "--polymorphic-type Video=SCHEMA.TABLE" in unknown.stderr, unknown.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--polymorphic", "public.comments.commentable_type"), "TYPE_COLUMN,ID_COLUMN"),
        (("--polymorphic", "comments.commentable_type,commentable_id"), "SCHEMA.TABLE.COLUMN"),
        (("--polymorphic-type", "Post"), "VALUE=SCHEMA.TABLE"),
        (("--polymorphic-type", "Post=posts"), "SCHEMA.TABLE"),
    ],
)
def test_bad_polymorphic_options_are_refused_before_any_connection(tmp_path, args, message):
    result = keyshift("host=/nonexistent dbname=x", "plan", "--table", "public.posts", *args, migrations=tmp_path / "m")
    assert result.returncode == 3 and message in result.stderr, result.stderr
