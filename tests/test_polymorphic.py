"""Generic relations follow the keys: --polymorphic (Rails' type/id pairs) and Django's admin log.

A Rails-style schema (posts and photos converted, comments pointing at either by
commentable_type/commentable_id, plus an unconverted Video) converts with --polymorphic, passes
every check inside migrate and rolls back to the exact dump it started from; the plan's own
claims about these relations report rows on a database broken for them.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
from conftest import keyshift
from conftest import pg_dump_data as dump

from orchestrator import catalog
from orchestrator.catalog.facts import PolymorphicColumns, Relation, Snapshot
from orchestrator.errors import Refused
from orchestrator.plan import model, planner, polymorphic
from orchestrator.plan.options import Options

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"

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
    ok(keyshift(dsn, "drop-map", *TABLES))  # the mappings rollback kept
    assert dump(dsn) == before


def test_an_integer_id_whose_row_is_gone_is_refused_at_plan_not_at_migrate(dsn, conn, tmp_path):
    """Migrate would fail on a generic integer id that names no row (a comment on a deleted post):
    plan counts them on the target and refuses in one line, writing nothing."""
    conn.execute(RAILS.format(id_type="bigint"))
    conn.execute("INSERT INTO comments (commentable_type, commentable_id, body) VALUES ('Post', 999, 'orphan')")
    migrations = tmp_path / "m"
    refused = keyshift(dsn, "plan", *TABLES, *POLY, migrations=migrations)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "1 row(s) of type 'Post' name no row of public.posts (e.g. commentable_id = 999)" in refused.stderr
    assert "delete those rows, or set their id to NULL" in refused.stderr
    assert not migrations.exists() or not any(migrations.iterdir())
    conn.execute("DELETE FROM comments WHERE body = 'orphan'")
    ok(keyshift(dsn, "plan", *TABLES, *POLY, migrations=migrations))
    ok(keyshift(dsn, "migrate", migrations=migrations))


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
    ok(keyshift(dsn, "drop-map", *TABLES))  # the mappings rollback kept
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


# --- the plan's claims report rows on a database broken for them ----------------------------


@pytest.mark.parametrize(
    "id_type, corruption, failing",
    [
        (
            "bigint",
            "UPDATE comments SET commentable_id = gen_random_uuid() WHERE body = 'a';",
            {"polymorphic_ids_resolve.sql", "polymorphic_rows_unchanged.sql"},
        ),
        (  # another existing post: every id resolves, read back through the mapping it differs
            "bigint",
            "UPDATE comments SET commentable_id = (SELECT new_id FROM keyshift.map_public__posts WHERE old_id = 5)"
            " WHERE body = 'a';",
            {"polymorphic_rows_unchanged.sql"},
        ),
        ("bigint", "DELETE FROM comments WHERE body = 'e';", {"polymorphic_rows_unchanged.sql"}),
        (  # an old id left behind in a text column
            "text",
            "UPDATE comments SET commentable_id = '2' WHERE body = 'a';",
            {"polymorphic_ids_resolve.sql", "polymorphic_rows_unchanged.sql"},
        ),
    ],
)
def test_each_claim_reports_rows_on_a_conversion_broken_for_it(dsn, conn, tmp_path, id_type, corruption, failing):
    conn.execute(RAILS.format(id_type=id_type))
    migrations = tmp_path / "m"
    ok(keyshift(dsn, "plan", *TABLES, *POLY, migrations=migrations))
    (migrations / "0001_06_corrupt.sql").write_text(
        "-- 0001_06_corrupt: a deliberate fault for the checks to find\n"
        "-- depends: 0001_05_set_uuid_defaults\n\n" + corruption + "\n"
    )
    result = keyshift(dsn, "migrate", "--accept-edited", migrations=migrations)
    assert result.returncode == 1, result.stdout + result.stderr
    reported = set(re.findall(r"^0001\.checks/(\S+\.sql) \.+ not ok", result.stdout, re.M))
    assert reported == failing, result.stdout


# --- Django's admin log ------------------------------------------------------------------------

DJANGO = """
CREATE TABLE django_content_type (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    app_label varchar(100) NOT NULL,
    model varchar(100) NOT NULL,
    CONSTRAINT django_content_type_app_label_model_76bd3d3b_uniq UNIQUE (app_label, model)
);
CREATE TABLE accounts_user (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, username varchar(150) NOT NULL UNIQUE
);
CREATE TABLE blog_post (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, title varchar(200) NOT NULL);
CREATE TABLE items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name varchar(200) NOT NULL);
CREATE TABLE django_admin_log (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    action_time timestamp with time zone NOT NULL,
    object_id text NULL,
    object_repr varchar(200) NOT NULL,
    action_flag smallint NOT NULL CHECK (action_flag >= 0),
    change_message text NOT NULL,
    content_type_id integer NULL
        REFERENCES django_content_type (id) DEFERRABLE INITIALLY DEFERRED,
    user_id bigint NOT NULL REFERENCES accounts_user (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX django_admin_log_content_type_id_c4bce8eb ON django_admin_log (content_type_id);
CREATE INDEX django_admin_log_user_id_c564eba6 ON django_admin_log (user_id);
INSERT INTO django_content_type (app_label, model) VALUES ('accounts', 'user'), ('blog', 'post'), ('shop', 'item');
INSERT INTO accounts_user (username) VALUES ('ada'), ('bob'), ('cy');
INSERT INTO blog_post (title) VALUES ('hello');
INSERT INTO items (name) VALUES ('a'), ('b'), ('c');
INSERT INTO django_admin_log (action_time, object_id, object_repr, action_flag, change_message, content_type_id, user_id)
VALUES
    ('2024-01-01', '2', 'bob', 2, '[]', 1, 1),
    ('2024-01-02', '3', 'cy', 1, '[]', 1, 1),
    ('2024-01-03', '99', 'gone', 3, '[]', 1, 2),
    ('2024-01-04', '1', 'hello', 1, '[]', 2, 2),
    ('2024-01-05', '3', 'c', 1, '[]', 3, 3),
    ('2024-01-06', NULL, 'x', 1, '[]', NULL, 3);
"""


def test_django_admin_log_follows_converted_models_by_default_and_rolls_back_exactly(dsn, conn, tmp_path):
    conn.execute(DJANGO)
    before = dump(dsn)
    migrations = tmp_path / "m"
    out = ok(
        keyshift(
            dsn,
            "plan",
            *("--table", "public.accounts_user", "--table", "public.items"),
            *("--polymorphic-type", "shop.item=public.items"),
            migrations=migrations,
        )
    )
    assert "Django's admin log, remapped by default" in out and "WARN public.django_admin_log" not in out, out
    assert "'1' -> public.accounts_user (Django content type accounts.user; 3 rows)" in out, out
    assert "'3' -> public.items (--polymorphic-type shop.item; 1 rows)" in out, out
    assert "'2': left as it is (1 rows" in out, out
    ok(keyshift(dsn, "migrate", migrations=migrations))
    rows = dict(conn.execute("SELECT object_repr, object_id FROM django_admin_log").fetchall())
    user = dict(conn.execute("SELECT m.old_id, m.new_id::text FROM keyshift.map_public__accounts_user AS m").fetchall())
    item3 = conn.execute("SELECT new_id::text FROM keyshift.map_public__items WHERE old_id = 3").fetchone()[0]
    assert (rows["bob"], rows["cy"], rows["c"]) == (user[2], user[3], item3)
    assert (rows["gone"], rows["hello"], rows["x"]) == ("99", "1", None)  # no such user; an unconverted model
    ok(keyshift(dsn, "rollback", migrations=migrations))
    ok(keyshift(dsn, "drop-map", "--table", "public.accounts_user", "--table", "public.items"))
    assert dump(dsn) == before


def test_no_polymorphic_default_leaves_the_admin_log_alone(dsn, conn, tmp_path):
    conn.execute(DJANGO)
    migrations = tmp_path / "m"
    args = ("--table", "public.accounts_user", "--no-polymorphic-default")
    out = ok(keyshift(dsn, "plan", *args, migrations=migrations))
    assert "Django's admin log" not in out, out
    assert "--polymorphic public.django_admin_log.content_type_id,object_id" in out, out
    ok(keyshift(dsn, "migrate", migrations=migrations))
    assert conn.execute("SELECT object_id FROM django_admin_log WHERE object_repr = 'bob'").fetchone() == ("2",)


def test_rails_table_names():
    from orchestrator.plan.polymorphic import rails_table

    assert [rails_table(v) for v in ("Post", "Category", "Admin::BlogPost", "Box", "Day")] == [
        "posts",
        "categories",
        "admin_blog_posts",
        "boxes",
        "days",
    ]


# --- plan decides on the snapshot alone (stored snapshot of seed003_chat) -----------------------

CHAT = Options(tables=(("public", "core_user"), ("public", "core_room")))
PAIR = ("public", "comments", "subject_type", "subject_id")
LOG = ("public", "django_admin_log", "content_type_id", "object_id")


def chat_with(pair, found, **options) -> Snapshot:
    snap = catalog.snapshot_from_json((SNAPSHOTS / "seed003_chat.json").read_text())
    table = dataclasses.replace(snap.tables[("public", "core_message")], table_name=pair[1], relid=1)
    return dataclasses.replace(snap, polymorphic={pair: dataclasses.replace(found, table=table)})


def chat_plan(snap: Snapshot, **options):
    return planner.make_plan(snap, dataclasses.replace(CHAT, **options), "0001")


def chat_refusal(snap: Snapshot, **options) -> str:
    with pytest.raises(Refused) as info:
        chat_plan(snap, **options)
    return info.value.line()


def test_plan_resolves_given_types_and_locks_the_relation_after_the_tables():
    counts = (("Room", 2), ("User", 3))
    snap = chat_with(PAIR, PolymorphicColumns(None, "text", "bigint", counts))
    given = (("User", "public", "core_user"), ("Room", "public", "core_room"))
    p = chat_plan(snap, polymorphic=(PAIR,), polymorphic_types=given)
    [poly] = p.polymorphic
    assert poly.to_uuid and [(r.value, r.target, r.rows) for r in poly.remaps] == [
        ("Room", ("public", "core_room"), 2),
        ("User", ("public", "core_user"), 3),
    ]
    assert model.lock_order(p)[-1] == ("public", "comments")


@pytest.mark.parametrize(
    "id_type, counts, given, expected",
    [
        ("bigint", (("Video", 4),), (), "'Video' (4 rows) name no table this plan converts"),
        ("bigint", (("Video", 4),), (("Video", "public", "videos"),), "'Video' (4 rows) name no table"),
        ("integer", ((None, 2),), (), "NULL (2 rows)"),
        ("character varying(20)", (), (), "a uuid's text has 36 characters"),
        ("jsonb", (), (), "is jsonb"),
        ("text", (("User", 1),), (("User", "public", "nowhere"), ("User", "public", "core_user")), "twice"),
    ],
)
def test_plan_refuses_what_cannot_follow(id_type, counts, given, expected):
    snap = chat_with(PAIR, PolymorphicColumns(None, "text", id_type, counts))
    assert expected in chat_refusal(snap, polymorphic=(PAIR,), polymorphic_types=given)


def test_text_ids_of_a_type_mapped_to_an_unconverted_table_are_left_alone():
    snap = chat_with(PAIR, PolymorphicColumns(None, "text", "text", (("User", 1), ("Video", 2))))
    given = (("Video", "public", "videos"), ("User", "public", "core_user"))
    p = chat_plan(snap, polymorphic=(PAIR,), polymorphic_types=given)
    assert p.polymorphic[0].untouched == (("Video", 2),)
    assert "  'Video': left as it is (2 rows; its type names no converted table)" in polymorphic.lines(p.polymorphic)
    assert "type value(s) 'User' (1 rows)" in chat_refusal(snap, polymorphic=(PAIR,), polymorphic_types=given[:1])


def test_django_admin_log_is_remapped_by_default_only_for_converted_models():
    types = (("7", "core", "user"), ("8", "core", "thing"))
    found = PolymorphicColumns(None, "integer", "text", (("7", 3), ("8", 1)), types, detected=True)
    p = chat_plan(chat_with(LOG, found))
    [poly] = p.polymorphic
    assert [(r.value, r.target, r.how) for r in poly.remaps] == [
        ("7", ("public", "core_user"), "Django content type core.user")
    ]
    assert poly.untouched == (("8", 1),) and not poly.to_uuid
    assert chat_plan(chat_with(LOG, found), polymorphic_default=False).polymorphic == []
    thing = chat_plan(chat_with(LOG, found), polymorphic_types=(("core.thing", "public", "core_room"),))
    assert [r.target for r in thing.polymorphic[0].remaps] == [("public", "core_user"), ("public", "core_room")]


def test_a_relation_the_role_may_not_alter_is_refused_when_named_and_left_when_detected():
    relation = Relation("public", "comments", "r", "app_owner", "deployer", False)
    named = chat_with(PAIR, PolymorphicColumns(None, "text", "text", (), relation=relation))
    assert "belongs to app_owner" in chat_refusal(named, polymorphic=(PAIR,))
    detected = chat_with(LOG, PolymorphicColumns(None, "integer", "text", (), detected=True, relation=relation))
    assert chat_plan(detected).polymorphic == []


def test_one_id_column_named_twice_is_refused():
    twice = (PAIR, (*PAIR[:2], "other_type", PAIR[3]))
    snap = chat_with(PAIR, PolymorphicColumns(None, "text", "text", ()))
    assert "names one id column twice" in chat_refusal(snap, polymorphic=twice)
