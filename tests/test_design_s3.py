"""DESIGN.md §3, bullet by bullet: what "convert a table" means, each on a small real schema.

Every test runs the real CLI (plan, migrate, and where it matters rollback) against a real
PostgreSQL server and compares the catalog's own deparse before and after.

Where a bullet is covered elsewhere already, the test is named here:

| DESIGN §3 bullet                                   | test                                                        |
|----------------------------------------------------|-------------------------------------------------------------|
| nullable FK                                        | test_nullable_fk                                            |
| self-referencing FK                                | test_self_referencing_fk                                    |
| multi-column FK, other columns untouched           | test_multi_column_fk_other_columns_untouched                |
| chain: a PK that is itself an FK to a target       | test_chain_where_a_pk_is_an_fk_to_a_target                  |
| FK in another schema                               | test_fk_in_another_schema                                   |
| FKs on partitions                                  | test_real_schemas.py::test_fks_on_a_partitioned_table_and_on_one_partition_convert_and_keep_their_data; |
| (and indexes, triggers on partitions)              | test_objects_on_partitions_are_carried_or_refused_like_the_root_s |
| ON DELETE/UPDATE, MATCH, DEFERRABLE kept exactly   | test_fk_actions_match_and_deferrable_kept_exactly           |
| indexes (plain, multi-column, INCLUDE, expression, | test_indexes_kept_with_name_and_definition                  |
|   partial)                                         | test_partial_index_comparing_the_key_with_an_integer_is_refused |
| UNIQUE                                             | test_unique_constraints_kept                                |
| CHECK (validated and NOT VALID)                    | test_check_constraints_kept_with_their_validation_state,    |
|                                                    | test_check_comparing_the_key_with_an_integer_is_refused     |
| exclusion constraints                              | test_exclusion_constraints_kept,                            |
|                                                    | test_exclusion_constraint_that_needs_an_integer_key_is_refused |
| views / materialized views                         | test_real_schemas.py::test_views_and_materialized_views_are_recreated_exactly_and_rolled_back |
| serial / identity / sequence default, no orphan    | test_serial_identity_and_sequence_defaults_leave_no_orphan_sequence |
| triggers do not fire                               | test_real_schemas.py::test_triggers_do_not_fire_and_column_grants_and_comments_survive; |
|                                                    | test_triggers_using_a_converted_column_are_recreated_with_their_state |
| grants, column comments, RLS policies kept         | test_grants_comments_and_rls_policies_kept;                 |
|                                                    | test_real_schemas.py::test_rls_policy_on_a_converted_column_is_refused_by_name |
| warnings for catalog-invisible references          | test_warnings_for_references_the_catalog_cannot_see         |
| --reference (integer column without FK)            | test_reference_column_converts_with_its_target_and_rolls_back, |
|                                                    | test_reference_that_cannot_convert_is_refused_by_name,      |
|                                                    | test_reference_orphan_written_after_plan_fails_migrate_and_changes_nothing |
| generated columns, rules: refused by name          | test_generated_column_and_rule_over_a_converted_column_are_refused_by_name |
| generated migrations lint-clean                    | test_generated_migrations_with_every_carried_kind_pass_sqlfluff |
"""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from conftest import ROOT, convert, keyshift

USERS = """
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 20) AS g;
"""


def rows(conn, query: str) -> list:
    return conn.execute(query).fetchall()


def key_type(conn, table: str, column: str) -> str:
    return conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        (table, column),
    ).fetchone()[0]


def constraints(conn, contypes: str = "cfux") -> list:
    return rows(
        conn,
        f"""
        SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid), convalidated,
               condeferrable, condeferred
        FROM pg_constraint
        WHERE contype = ANY (string_to_array('{",".join(contypes)}', ','))
          AND connamespace NOT IN (SELECT oid FROM pg_namespace WHERE nspname = 'keyshift')
        ORDER BY 1, 2""",
    )


def indexes(conn) -> list:
    return rows(
        conn,
        """
        SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'pg_toast', 'keyshift', 'information_schema')
          AND c.relname NOT LIKE '\\_yoyo%' AND c.relname NOT LIKE 'yoyo%'
        ORDER BY 1, 2""",
    )


def rollback(dsn, migrations) -> None:
    back = keyshift(dsn, "rollback", migrations=migrations)
    assert back.returncode == 0, back.stdout + back.stderr


def refused(dsn, tmp_path, *tables: str, rehearse: bool = False):
    """plan's refusal (exit 3, nothing written); ``rehearse``: with the rehearsal, which names
    each object that cannot follow the key to uuid."""
    args = [a for t in tables for a in ("--table", t)] + (["--rehearse"] if rehearse else [])
    result = keyshift(dsn, "plan", *args, migrations=tmp_path / "m")
    assert result.returncode == 3, result.stdout + result.stderr
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())
    return result.stderr


# --- foreign keys ------------------------------------------------------------------------------


def test_nullable_fk(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE post (id serial PRIMARY KEY, title text, author_id int REFERENCES users);
        INSERT INTO post (title, author_id)
        SELECT 'p' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE g % 20 + 1 END FROM generate_series(1, 30) g;
    """
    )
    q = "SELECT p.title, u.email FROM post p LEFT JOIN users u ON u.id = p.author_id ORDER BY 1"
    before = rows(conn, q)
    convert(dsn, tmp_path / "m", "public.users")
    assert key_type(conn, "post", "author_id") == "uuid"
    assert rows(conn, q) == before
    assert rows(conn, "SELECT count(*) FROM post WHERE author_id IS NULL") == [(10,)]
    rollback(dsn, tmp_path / "m")
    assert rows(conn, q) == before


def test_self_referencing_fk(dsn, conn, tmp_path):
    conn.execute("""
        CREATE TABLE employee (id bigserial PRIMARY KEY, name text, boss_id bigint REFERENCES employee);
        INSERT INTO employee (name) SELECT 'e' || g FROM generate_series(1, 15) g;
        UPDATE employee SET boss_id = (id + 1) % 15 + 1 WHERE id > 1;
    """)
    q = "SELECT e.name, b.name FROM employee e LEFT JOIN employee b ON b.id = e.boss_id ORDER BY 1"
    before = rows(conn, q)
    convert(dsn, tmp_path / "m", "public.employee")
    assert key_type(conn, "employee", "boss_id") == "uuid"
    assert rows(conn, q) == before
    rollback(dsn, tmp_path / "m")
    assert rows(conn, q) == before


def test_multi_column_fk_other_columns_untouched(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE account (user_id int REFERENCES users, region int, PRIMARY KEY (user_id, region));
        CREATE TABLE charge (id serial PRIMARY KEY, user_id int, region int, amount int,
            FOREIGN KEY (user_id, region) REFERENCES account (user_id, region) ON DELETE CASCADE);
        INSERT INTO account SELECT id, r FROM users, generate_series(1, 2) r;
        INSERT INTO charge (user_id, region, amount) SELECT g % 20 + 1, g % 2 + 1, g FROM generate_series(1, 40) g;
    """
    )
    q = (
        "SELECT c.amount, c.region, u.email FROM charge c JOIN account a USING (user_id, region) "
        "JOIN users u ON u.id = a.user_id ORDER BY 1"
    )
    before, fks = rows(conn, q), constraints(conn, "f")
    convert(dsn, tmp_path / "m", "public.users")
    assert (key_type(conn, "charge", "user_id"), key_type(conn, "charge", "region")) == ("uuid", "integer")
    assert (key_type(conn, "account", "user_id"), key_type(conn, "account", "region")) == ("uuid", "integer")
    assert rows(conn, q) == before
    assert constraints(conn, "f") == fks
    rollback(dsn, tmp_path / "m")
    assert rows(conn, q) == before


def test_chain_where_a_pk_is_an_fk_to_a_target(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE profile (user_id int PRIMARY KEY REFERENCES users, bio text);
        CREATE TABLE photo (id serial PRIMARY KEY, profile_id int NOT NULL REFERENCES profile, url text);
        INSERT INTO profile SELECT id, 'bio ' || id FROM users;
        INSERT INTO photo (profile_id, url) SELECT g % 20 + 1, 'img' || g FROM generate_series(1, 30) g;
    """
    )
    q = (
        "SELECT ph.url, pr.bio, u.email FROM photo ph JOIN profile pr ON pr.user_id = ph.profile_id "
        "JOIN users u ON u.id = pr.user_id ORDER BY 1"
    )
    before = rows(conn, q)
    convert(dsn, tmp_path / "m", "public.users")
    assert key_type(conn, "profile", "user_id") == "uuid"
    assert key_type(conn, "photo", "profile_id") == "uuid"
    assert rows(conn, q) == before
    rollback(dsn, tmp_path / "m")
    assert rows(conn, q) == before


def test_fk_in_another_schema(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE SCHEMA "Billing";
        CREATE TABLE "Billing"."Invoice" (id serial PRIMARY KEY, "userId" int NOT NULL REFERENCES public.users);
        INSERT INTO "Billing"."Invoice" ("userId") SELECT g % 20 + 1 FROM generate_series(1, 25) g;
    """
    )
    q = 'SELECT i.id, u.email FROM "Billing"."Invoice" i JOIN users u ON u.id = i."userId" ORDER BY 1'
    before = rows(conn, q)
    convert(dsn, tmp_path / "m", "public.users")
    assert key_type(conn, '"Billing"."Invoice"', "userId") == "uuid"
    assert rows(conn, q) == before
    rollback(dsn, tmp_path / "m")
    assert rows(conn, q) == before


def assert_fk_actions_still_act(conn) -> None:
    """On uuid keys now: CASCADE deletes and updates, SET NULL nulls, RESTRICT refuses at once,
    INITIALLY DEFERRED waits for the end of the transaction (all rolled back afterwards)."""

    def new_user(email: str):
        return conn.execute("INSERT INTO users (email) VALUES (%s) RETURNING id", (email,)).fetchone()[0]

    with conn.transaction(force_rollback=True):
        x, y, z = new_user("x@act"), new_user("y@act"), new_user("z@act")
        cascaded = conn.execute("INSERT INTO fk_zoo (a) VALUES (%s) RETURNING id", (x,)).fetchone()[0]
        nulled = conn.execute("INSERT INTO fk_zoo (b) VALUES (%s) RETURNING id", (x,)).fetchone()[0]
        updated = conn.execute("INSERT INTO fk_zoo (a) VALUES (%s) RETURNING id", (z,)).fetchone()[0]
        conn.execute("INSERT INTO fk_zoo (d) VALUES (%s)", (y,))
        conn.execute("DELETE FROM users WHERE id = %s", (x,))
        assert rows(conn, f"SELECT id FROM fk_zoo WHERE id = {cascaded}") == []  # ON DELETE CASCADE
        assert rows(conn, f"SELECT b FROM fk_zoo WHERE id = {nulled}") == [(None,)]  # ON DELETE SET NULL
        moved = conn.execute("UPDATE users SET id = gen_random_uuid() WHERE id = %s RETURNING id", (z,)).fetchone()[0]
        assert rows(conn, f"SELECT a FROM fk_zoo WHERE id = {updated}") == [(moved,)]  # ON UPDATE CASCADE
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_zoo_d_fkey"), conn.transaction():
            conn.execute("DELETE FROM users WHERE id = %s", (y,))  # ON DELETE RESTRICT
        accepted = False
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_zoo_e_fkey"), conn.transaction():
            conn.execute("INSERT INTO fk_zoo (e) VALUES (gen_random_uuid())")
            accepted = True  # INITIALLY DEFERRED: the orphan is accepted until the check runs
            conn.execute("SET CONSTRAINTS fk_zoo_e_fkey IMMEDIATE")
        assert accepted


FK_ZOO_SQL = (
    USERS
    + """
        CREATE TABLE fk_zoo (
            id serial PRIMARY KEY,
            a int REFERENCES users ON DELETE CASCADE ON UPDATE CASCADE,
            b int REFERENCES users ON DELETE SET NULL,
            c int DEFAULT NULL REFERENCES users ON DELETE SET DEFAULT ON UPDATE RESTRICT,
            d int REFERENCES users ON DELETE RESTRICT DEFERRABLE,
            e int REFERENCES users DEFERRABLE INITIALLY DEFERRED,
            f int, g int,
            h int REFERENCES users MATCH FULL ON DELETE NO ACTION,
            CONSTRAINT fk_zoo_full FOREIGN KEY (f, g) REFERENCES users_pair (user_id, slot) MATCH FULL,
            CONSTRAINT fk_zoo_simple FOREIGN KEY (g, f) REFERENCES users_pair (slot, user_id) MATCH SIMPLE
                NOT DEFERRABLE
        );
    """.replace(
        "CREATE TABLE fk_zoo",
        """
        CREATE TABLE users_pair (user_id int REFERENCES users, slot int, UNIQUE (user_id, slot), UNIQUE (slot, user_id));
        INSERT INTO users_pair SELECT id, 1 FROM users;
        CREATE TABLE fk_zoo""",
    )
    + """
        INSERT INTO fk_zoo (a, b, c, d, e, f, g, h)
        SELECT g % 20 + 1, g % 19 + 1, NULL, g % 17 + 1, g % 13 + 1, g % 11 + 1, 1, g % 7 + 1
        FROM generate_series(1, 30) g;
    """
)
#: Run on its own: in FK_ZOO_SQL's transaction the deferred FK's pending events forbid it.
FK_ZOO_LATE_SQL = "ALTER TABLE fk_zoo ADD CONSTRAINT fk_zoo_late FOREIGN KEY (b) REFERENCES users NOT VALID"


def test_fk_actions_match_and_deferrable_kept_exactly(dsn, conn, tmp_path):
    conn.execute(FK_ZOO_SQL)
    conn.execute(FK_ZOO_LATE_SQL)
    before = constraints(conn, "f")
    assert any(not r[4] for r in before) and any(r[6] for r in before)  # a NOT VALID and a deferred FK
    data = (
        "SELECT z.id, ua.email, ub.email, ue.email, uh.email FROM fk_zoo z JOIN users ua ON ua.id = z.a "
        "JOIN users ub ON ub.id = z.b JOIN users ue ON ue.id = z.e JOIN users uh ON uh.id = z.h ORDER BY 1"
    )
    rows_before = rows(conn, data)
    convert(dsn, tmp_path / "m", "public.users")
    assert constraints(conn, "f") == before
    assert rows(conn, data) == rows_before
    assert_fk_actions_still_act(conn)
    rollback(dsn, tmp_path / "m")
    assert constraints(conn, "f") == before


# --- indexes and constraints -------------------------------------------------------------------

INDEXES_SQL = (
    USERS
    + """
CREATE TABLE item (id serial PRIMARY KEY, owner_id int REFERENCES users, sku text, qty int);
INSERT INTO item (owner_id, sku, qty) SELECT g % 20 + 1, 's' || g, g FROM generate_series(1, 40) g;
CREATE INDEX item_owner ON item (owner_id);
CREATE INDEX item_owner_sku ON item (owner_id DESC, sku) INCLUDE (qty);
CREATE INDEX item_owner_text ON item ((owner_id::text));
CREATE INDEX item_owned ON item (sku) WHERE owner_id IS NOT NULL;
CREATE INDEX item_hash ON item USING hash (owner_id);
CREATE UNIQUE INDEX users_lower_email_key ON users (lower(email), id);
"""
)


def test_indexes_kept_with_name_and_definition(dsn, conn, tmp_path):
    conn.execute(INDEXES_SQL)
    before = indexes(conn)
    convert(dsn, tmp_path / "m", "public.users")
    assert indexes(conn) == before
    plan_text = (next((tmp_path / "m").glob("*_01_map_keys.sql"))).read_text()
    assert "index item_owner_text on public.item (rebuilt by ALTER ... TYPE)" in plan_text
    recorded = {r[0] for r in rows(conn, "SELECT index_name FROM keyshift.converted_index")}
    assert {
        "item_owner",
        "item_owner_sku",
        "item_owner_text",
        "item_owned",
        "item_hash",
        "users_lower_email_key",
        "users_pkey",
    } <= recorded
    rollback(dsn, tmp_path / "m")
    assert indexes(conn) == before


TRIGRAM_SQL = (
    USERS
    + "CREATE EXTENSION pg_trgm SCHEMA public;"
    + "CREATE INDEX users_id_trgm ON users USING gin ((id::text) gin_trgm_ops);"
)


def test_index_with_an_operator_class_from_an_extension_in_public_converts_and_passes_every_check(dsn, conn, tmp_path):
    """pg_get_indexdef qualifies an operator class by the search path it runs under: the
    recorded definition and the checked one are read under the same path, so a trigram index
    from an extension installed in public is no false alarm."""
    conn.execute(TRIGRAM_SQL)
    before = indexes(conn)
    convert(dsn, tmp_path / "m", "public.users")
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert indexes(conn) == before
    rollback(dsn, tmp_path / "m")
    assert indexes(conn) == before


PROPERTIES_SQL = (
    USERS
    + """
ALTER TABLE users SET (fillfactor = 80);
ALTER TABLE users REPLICA IDENTITY FULL;
CREATE TABLE post (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users, body text)
    WITH (fillfactor = 70, autovacuum_enabled = false);
INSERT INTO post (user_id, body) SELECT g % 20 + 1, 'b' FROM generate_series(1, 40) g;
CREATE INDEX post_user ON post (user_id) WITH (fillfactor = 60);
ALTER TABLE post CLUSTER ON post_user;
CREATE UNIQUE INDEX post_user_id ON post (user_id, id);
ALTER TABLE post REPLICA IDENTITY USING INDEX post_user_id;
ALTER TABLE post ALTER COLUMN user_id SET STATISTICS 500;
CREATE MATERIALIZED VIEW user_posts AS
    SELECT u.id, count(p.*) AS n FROM users AS u LEFT JOIN post AS p ON p.user_id = u.id GROUP BY u.id;
CREATE UNIQUE INDEX user_posts_id ON user_posts (id);
ALTER MATERIALIZED VIEW user_posts CLUSTER ON user_posts_id;
"""
)

#: Storage properties of the tables, their indexes and columns, in a stable order.
PROPERTIES = """
SELECT c.relname, c.relreplident::text, c.reloptions, c.reltablespace,
    array(
        SELECT ic.relname || ':' || i.indisclustered || ':' || i.indisreplident || ':' || coalesce(ic.reloptions::text, '')
        FROM pg_index AS i JOIN pg_class AS ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = c.oid ORDER BY ic.relname
    ),
    array(
        SELECT a.attname || ':' || a.attstattarget || ':' || a.attstorage::text
        FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
    )
FROM pg_class AS c WHERE c.relname IN ('users', 'post', 'user_posts') ORDER BY c.relname
"""


def test_cluster_replica_identity_storage_and_statistics_survive_and_come_back(dsn, conn, tmp_path):
    """CLUSTER ON (a table's index and a materialized view's), replica identity, reloptions of
    tables and indexes and per-column statistics targets: kept by the conversion, proven by
    the checks (a lost CLUSTER ON of a materialized view is reported), and as before after
    rollback."""
    conn.execute(PROPERTIES_SQL)
    before = conn.execute(PROPERTIES).fetchall()
    convert(dsn, tmp_path / "m", "public.users")
    assert conn.execute(PROPERTIES).fetchall() == before
    with conn.transaction(force_rollback=True):
        conn.execute("ALTER MATERIALIZED VIEW user_posts SET WITHOUT CLUSTER")
        broken = conn.execute((ROOT / "checks" / "views_restored.sql").read_text()).fetchall()
    assert [(r[2], r[4]) for r in broken] == [("user_posts", "CLUSTER ON differs")], broken
    rollback(dsn, tmp_path / "m")
    assert conn.execute(PROPERTIES).fetchall() == before


def test_partial_index_comparing_the_key_with_an_integer_is_refused(dsn, conn, tmp_path):
    conn.execute(USERS + "CREATE INDEX users_recent ON users (email) WHERE id > 100;")
    err = refused(dsn, tmp_path, "public.users", rehearse=True)
    assert "index users_recent on public.users" in err
    assert "public.users.id" in err and "WHERE (id > 100)" in err and "uuid > integer" in err


def test_unique_constraints_kept(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE seat (user_id int REFERENCES users, slot int, CONSTRAINT seat_once UNIQUE (user_id, slot),
            CONSTRAINT seat_nulls UNIQUE NULLS NOT DISTINCT (slot, user_id) DEFERRABLE);
        INSERT INTO seat SELECT id, 1 FROM users;
    """
    )
    before = constraints(conn, "u"), indexes(conn)
    convert(dsn, tmp_path / "m", "public.users")
    assert (constraints(conn, "u"), indexes(conn)) == before
    dup = conn.execute("SELECT user_id FROM seat LIMIT 1").fetchone()[0]
    try:
        conn.execute("INSERT INTO seat VALUES (%s, 1)", (dup,))
        raise AssertionError("a duplicate got past the UNIQUE constraint")
    except Exception as exc:  # noqa: BLE001 - any unique violation
        assert "seat_once" in str(exc) or "seat_nulls" in str(exc)
    rollback(dsn, tmp_path / "m")
    assert (constraints(conn, "u"), indexes(conn)) == before


def test_check_constraints_kept_with_their_validation_state(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE note (id serial PRIMARY KEY, author_id int REFERENCES users, editor_id int REFERENCES users,
            CONSTRAINT note_author_set CHECK (author_id IS NOT NULL));
        INSERT INTO note (author_id, editor_id) SELECT g % 20 + 1, g % 20 + 1 FROM generate_series(1, 10) g;
        ALTER TABLE note ADD CONSTRAINT note_not_self_edit CHECK (author_id <> editor_id) NOT VALID;
        ALTER TABLE users ADD CONSTRAINT users_key_set CHECK (id IS NOT NULL AND email <> '');
    """
    )
    before = constraints(conn, "c")
    assert [r[4] for r in before if r[1] == "note_not_self_edit"] == [False]
    convert(dsn, tmp_path / "m", "public.users")
    assert constraints(conn, "c") == before
    rollback(dsn, tmp_path / "m")
    assert constraints(conn, "c") == before


def test_check_comparing_the_key_with_an_integer_is_refused(dsn, conn, tmp_path):
    conn.execute(USERS + "ALTER TABLE users ADD CONSTRAINT users_positive CHECK (id > 0);")
    err = refused(dsn, tmp_path, "public.users", rehearse=True)
    assert "check constraint users_positive on public.users" in err
    assert "CHECK ((id > 0))" in err and "uuid > integer" in err


EXCLUSION_SQL = (
    USERS
    + """
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        CREATE TABLE booking (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users, during tstzrange,
            CONSTRAINT booking_no_overlap EXCLUDE USING gist (user_id WITH =, during WITH &&),
            CONSTRAINT booking_one_per_user EXCLUDE USING btree (user_id WITH =) WHERE (during IS NULL));
        INSERT INTO booking (user_id, during)
        SELECT g % 20 + 1, tstzrange(now() + g * interval '1 hour', now() + (g + 1) * interval '1 hour')
        FROM generate_series(1, 40) g;
    """
)


def test_exclusion_constraints_kept(dsn, conn, tmp_path):
    conn.execute(EXCLUSION_SQL)
    before = constraints(conn, "x"), indexes(conn)
    convert(dsn, tmp_path / "m", "public.users")
    assert (constraints(conn, "x"), indexes(conn)) == before
    rollback(dsn, tmp_path / "m")
    assert (constraints(conn, "x"), indexes(conn)) == before


def test_exclusion_constraint_that_needs_an_integer_key_is_refused(dsn, conn, tmp_path):
    # btree_gist (1.7 on PostgreSQL 15) has gist uuid_ops, so (user_id WITH =) carries; a range
    # built from the key cannot: int4range(uuid, uuid) does not exist.
    conn.execute(
        USERS
        + """
        CREATE TABLE lease (user_id int REFERENCES users,
            CONSTRAINT lease_span EXCLUDE USING gist (int4range(user_id, user_id, '[]') WITH &&));
    """
    )
    err = refused(dsn, tmp_path, "public.users", rehearse=True)
    assert "exclusion constraint lease_span on public.lease" in err and "public.lease.user_id" in err
    assert "function int4range(uuid, uuid, text) does not exist" in err, err


# --- sequences ---------------------------------------------------------------------------------


SEQUENCES_SQL = """
        CREATE TABLE t_serial (id serial PRIMARY KEY, v int);
        CREATE TABLE t_by_default (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v int);
        CREATE TABLE t_always (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int);
        CREATE SEQUENCE t_plain_seq;
        CREATE TABLE t_plain (id int DEFAULT nextval('t_plain_seq') PRIMARY KEY, v int);
        CREATE SEQUENCE shared_seq;
        CREATE TABLE t_shared (id int DEFAULT nextval('shared_seq') PRIMARY KEY, v int);
        CREATE TABLE t_other (n int DEFAULT nextval('shared_seq'));
        INSERT INTO t_serial (v) SELECT g FROM generate_series(1, 5) g;
        INSERT INTO t_by_default (v) SELECT g FROM generate_series(1, 5) g;
        INSERT INTO t_always (v) SELECT g FROM generate_series(1, 5) g;
        INSERT INTO t_plain (v) SELECT g FROM generate_series(1, 5) g;
        INSERT INTO t_shared (v) SELECT g FROM generate_series(1, 5) g;
    """
SEQUENCE_TABLES = ("t_serial", "t_by_default", "t_always", "t_plain", "t_shared")


def test_serial_identity_and_sequence_defaults_leave_no_orphan_sequence(dsn, conn, tmp_path):
    conn.execute(SEQUENCES_SQL)
    tables = SEQUENCE_TABLES
    sequences = "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace ORDER BY 1"
    before = rows(conn, sequences)
    convert(dsn, tmp_path / "m", *(f"public.{t}" for t in tables))
    # An orphan: a sequence no column owns and no default uses.
    orphans = rows(
        conn,
        """
        SELECT s.relname FROM pg_class s
        WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refobjid = s.oid AND d.classid = 'pg_attrdef'::regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.deptype IN ('a', 'i')
                          AND d.refclassid = 'pg_class'::regclass)""",
    )
    assert orphans == []
    assert rows(conn, sequences) == [("shared_seq",)]  # still used by t_other
    for t in tables:
        assert rows(conn, f"SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = '{t}'::regclass") == [
            ("gen_random_uuid()",)
        ]
        assert rows(
            conn, f"SELECT attidentity::text FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'id'"
        ) == [("",)]
    rollback(dsn, tmp_path / "m")
    assert rows(conn, sequences) == before
    conn.execute("INSERT INTO t_plain (v) VALUES (6)")
    assert rows(conn, "SELECT max(id) FROM t_plain") == [(6,)]


# --- triggers, grants, comments, policies ------------------------------------------------------


TRIGGERS_SQL = (
    USERS
    + """
        CREATE TABLE audit (id serial PRIMARY KEY, user_id int REFERENCES users, seen int DEFAULT 0);
        INSERT INTO audit (user_id) SELECT id FROM users;
        CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.seen := NEW.seen + 1; RETURN NEW; END $$;
        CREATE TRIGGER audit_owner_changed BEFORE UPDATE OF user_id ON audit
            FOR EACH ROW WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION bump();
        CREATE TRIGGER audit_off BEFORE UPDATE OF user_id ON audit FOR EACH ROW EXECUTE FUNCTION bump();
        ALTER TABLE audit DISABLE TRIGGER audit_off;
        CREATE TRIGGER audit_replica BEFORE INSERT ON audit FOR EACH ROW WHEN (NEW.user_id IS NULL)
            EXECUTE FUNCTION bump();
        ALTER TABLE audit ENABLE REPLICA TRIGGER audit_replica;
        COMMENT ON TRIGGER audit_owner_changed ON audit IS 'counts owner changes';
    """
)


def test_triggers_using_a_converted_column_are_recreated_with_their_state(dsn, conn, tmp_path):
    conn.execute(TRIGGERS_SQL)
    q = (
        "SELECT tgname, pg_get_triggerdef(oid), tgenabled::text, obj_description(oid, 'pg_trigger') "
        "FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
    )
    before = rows(conn, q)
    convert(dsn, tmp_path / "m", "public.users")
    assert rows(conn, q) == before
    assert rows(conn, "SELECT max(seen) FROM audit") == [(0,)]  # did not fire during the conversion
    conn.execute(
        "UPDATE audit SET user_id = (SELECT id FROM users WHERE email = 'u2@x') "
        "WHERE user_id = (SELECT id FROM users WHERE email = 'u1@x')"
    )
    assert rows(conn, "SELECT max(seen) FROM audit") == [(1,)]  # and fires afterwards
    rollback(dsn, tmp_path / "m")
    assert rows(conn, q) == before


POLICIES_SQL = (
    USERS
    + """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ks_app') THEN
        CREATE ROLE ks_app;
    END IF;
END
$$;
CREATE TABLE doc (id serial PRIMARY KEY, owner_id int NOT NULL REFERENCES users, body text);
INSERT INTO doc (owner_id, body) SELECT g % 20 + 1, 'b' || g FROM generate_series(1, 30) g;
ALTER TABLE doc ENABLE ROW LEVEL SECURITY;
ALTER TABLE doc FORCE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY doc_own ON doc FOR SELECT TO ks_app, PUBLIC
    USING (owner_id::text = current_setting('app.user_id', true));
CREATE POLICY doc_write ON doc AS RESTRICTIVE FOR UPDATE TO ks_app
    USING (owner_id IS NOT NULL) WITH CHECK (owner_id IN (SELECT u.id FROM users u WHERE u.email <> ''));
CREATE POLICY users_self ON users FOR ALL USING (id::text = current_setting('app.user_id', true));
COMMENT ON POLICY doc_own ON doc IS 'readers see their own';
GRANT SELECT, UPDATE (body) ON doc TO ks_app;
GRANT SELECT (id, email) ON users TO ks_app;
COMMENT ON COLUMN doc.owner_id IS 'who owns it';
COMMENT ON COLUMN users.id IS 'the key';
"""
)


def policy_facts(conn) -> list:
    return rows(
        conn,
        """
        SELECT schemaname, tablename, policyname, permissive, roles::text[], cmd, qual, with_check,
               (SELECT obj_description(p.oid, 'pg_policy') FROM pg_policy p
                WHERE p.polname = policyname AND p.polrelid = format('%I.%I', schemaname, tablename)::regclass)
        FROM pg_policies ORDER BY 1, 2, 3""",
    )


def security_facts(conn) -> list:
    return rows(
        conn,
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relacl::text,
               (SELECT array_agg(a.attname || ':' || coalesce(a.attacl::text, '') || ':' ||
                                 coalesce(col_description(c.oid, a.attnum), '') ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
        FROM pg_class c WHERE c.relname IN ('users', 'doc') ORDER BY 1""",
    )


def test_grants_comments_and_rls_policies_kept(dsn, conn, tmp_path):
    conn.execute(POLICIES_SQL)
    before = policy_facts(conn), security_facts(conn)
    # The policy reads users.id in a subquery: it uses the key of the other table, too.
    assert len(before[0]) == 3
    convert(dsn, tmp_path / "m", "public.users")
    assert (policy_facts(conn), security_facts(conn)) == before
    # And the policies still filter, on uuid keys now.
    uid = conn.execute("SELECT id FROM users WHERE email = 'u1@x'").fetchone()[0]
    conn.execute("SET ROLE ks_app")
    conn.execute("SELECT set_config('app.user_id', %s, false)", (str(uid),))
    seen = rows(conn, "SELECT owner_id FROM doc")
    conn.execute("RESET ROLE")
    assert seen and {r[0] for r in seen} == {uid}
    rollback(dsn, tmp_path / "m")
    assert (policy_facts(conn), security_facts(conn)) == before


# --- warnings ------------------------------------------------------------------------------------


def test_warnings_for_references_the_catalog_cannot_see(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE legacy_log (id serial PRIMARY KEY, user_id int, msg text);
        CREATE TABLE django_comment (id serial PRIMARY KEY, content_type_id int, object_id text, body text);
        CREATE TABLE team (id serial PRIMARY KEY, user_ids jsonb, lead_user_id text);
        CREATE TABLE ext_ref (id serial PRIMARY KEY, user_id varchar(20));
        CREATE FUNCTION get_user(user_id integer) RETURNS text LANGUAGE sql AS
            $$ SELECT email FROM users ORDER BY email OFFSET user_id LIMIT 1 $$;
        CREATE FUNCTION active_users() RETURNS SETOF users LANGUAGE sql AS $$ SELECT * FROM users $$;
        CREATE FUNCTION one_user(n bigint) RETURNS users LANGUAGE sql AS $$ SELECT * FROM users LIMIT n $$;
        CREATE FUNCTION unrelated(n integer) RETURNS integer LANGUAGE sql AS $$ SELECT n $$;
    """
    )
    result = keyshift(dsn, "plan", "--table", "public.users", migrations=tmp_path / "m")
    assert result.returncode == 0, result.stdout + result.stderr
    warns = [line for line in result.stdout.splitlines() if line.startswith("WARN ")]
    expected = [
        "public.legacy_log.user_id (integer)",
        "function public.get_user(integer) takes integer user_id",
        "function public.active_users() returns SETOF public.users",
        "function public.one_user(bigint) returns public.users",
        "public.django_comment.object_id (text)",
        "public.team.user_ids (jsonb)",
        "public.ext_ref.user_id (character varying(20))",
    ]
    for text in expected:
        assert any(text in w for w in warns), (text, warns)
    assert not any("unrelated" in w or "lead_user_id" in w for w in warns), warns
    header = next((tmp_path / "m").glob("*_01_map_keys.sql")).read_text()
    for text in expected:
        assert text in header, text
    assert "public.users: 20 rows" in header


def test_generated_migrations_with_every_carried_kind_pass_sqlfluff(dsn, conn, tmp_path):
    conn.execute(
        POLICIES_SQL
        + INDEXES_SQL.replace(USERS, "")
        + """
        ALTER TABLE item ADD CONSTRAINT item_owner_set CHECK (owner_id IS NOT NULL) NOT VALID;
        CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER item_owner_moved AFTER UPDATE OF owner_id ON item FOR EACH ROW EXECUTE FUNCTION noop();
    """
        + REFERENCE_SQL.replace(USERS, "")
    )
    result = keyshift(
        dsn,
        "plan",
        "--table",
        "public.users",
        "--reference",
        "public.legacy_log.user_id=public.users",
        migrations=tmp_path / "m",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trigger item_owner_moved on public.item (dropped in 02, re-created in 04)" in result.stdout
    assert "policy doc_write on public.doc (dropped in 02, re-created in 04)" in result.stdout
    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), str(tmp_path / "m")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    migrated = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr


# --- --reference: an integer column without an FK, declared by the user -------------------------

REFERENCE_SQL = (
    USERS
    + """
CREATE TABLE legacy_log (id serial PRIMARY KEY, user_id int, note text, msg text);
CREATE INDEX legacy_log_user ON legacy_log (user_id);
INSERT INTO legacy_log (user_id, msg) SELECT CASE WHEN g % 5 = 0 THEN NULL ELSE g % 20 + 1 END, 'm' || g
FROM generate_series(1, 40) g;
"""
)


def test_reference_column_converts_with_its_target_and_rolls_back(dsn, conn, tmp_path):
    conn.execute(REFERENCE_SQL)
    q = "SELECT l.msg, u.email FROM legacy_log l LEFT JOIN users u ON u.id = l.user_id ORDER BY 1"
    before = rows(conn, q)
    plan = keyshift(
        dsn,
        "plan",
        "--table",
        "public.users",
        "--reference",
        "public.legacy_log.user_id=public.users",
        migrations=tmp_path / "m",
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "declared reference public.legacy_log.user_id -> public.users" in plan.stdout
    assert "WARN public.legacy_log.user_id" not in plan.stdout
    header = next((tmp_path / "m").glob("*_01_map_keys.sql")).read_text()
    assert "public.legacy_log.user_id -> public.users" in header
    migrated = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert key_type(conn, "legacy_log", "user_id") == "uuid"
    assert rows(conn, q) == before
    assert rows(
        conn, "SELECT is_key FROM keyshift.converted_column WHERE table_name = 'legacy_log' AND column_name = 'user_id'"
    ) == [(False,)]
    rollback(dsn, tmp_path / "m")
    assert key_type(conn, "legacy_log", "user_id") == "integer"
    assert rows(conn, q) == before


def test_reference_that_cannot_convert_is_refused_by_name(dsn, conn, tmp_path):
    conn.execute(REFERENCE_SQL + "CREATE TABLE other (id serial PRIMARY KEY);")

    err = _refused_with(dsn, tmp_path, "--reference", "public.legacy_log.msg=public.users")
    assert "--reference public.legacy_log.msg: is text, not an integer column" in err
    err = _refused_with(dsn, tmp_path, "--reference", "public.legacy_log.nope=public.users")
    assert "--reference public.legacy_log.nope: no such column" in err
    err = _refused_with(dsn, tmp_path, "--reference", "public.legacy_log.user_id=public.other")
    assert "names public.other, which this plan does not convert" in err and "--table public.other" in err
    err = _refused_with(dsn, tmp_path, "--reference", "public.legacy_log.user_id")
    assert "has no '=TARGET'" in err
    conn.execute("INSERT INTO legacy_log (user_id, msg) VALUES (999, 'lost'), (998, 'lost')")
    err = _refused_with(dsn, tmp_path, "--reference", "public.legacy_log.user_id=public.users")
    assert "--reference public.legacy_log.user_id: 2 row(s) hold a value that is no id of public.users" in err


def _refused_with(dsn, tmp_path, *extra) -> str:
    result = keyshift(dsn, "plan", "--table", "public.users", *extra, migrations=tmp_path / "m")
    assert result.returncode == 3, result.stdout + result.stderr
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())
    return result.stderr


def test_reference_orphan_written_after_plan_fails_migrate_and_changes_nothing(dsn, conn, tmp_path):
    conn.execute(REFERENCE_SQL)
    plan = keyshift(
        dsn,
        "plan",
        "--table",
        "public.users",
        "--reference",
        "public.legacy_log.user_id=public.users",
        migrations=tmp_path / "m",
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    conn.execute("INSERT INTO legacy_log (user_id, msg) VALUES (4242, 'late')")
    migrated = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert migrated.returncode == 1, migrated.stdout + migrated.stderr
    assert "1 row(s) of public.legacy_log.user_id hold a value that is no id of public.users" in migrated.stderr
    assert key_type(conn, "legacy_log", "user_id") == "integer"
    assert key_type(conn, "users", "id") == "integer"


def test_generated_column_and_rule_over_a_converted_column_are_refused_by_name(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE ticket (id serial PRIMARY KEY, user_id int REFERENCES users,
            user_label text GENERATED ALWAYS AS ('user-' || user_id::text) STORED);
    """
    )
    err = refused(dsn, tmp_path, "public.users")
    assert "generated column public.ticket.user_label" in err and "public.ticket.user_id" in err
    conn.execute("""
        ALTER TABLE ticket DROP COLUMN user_label;
        CREATE TABLE ticket_log (user_id int);
        CREATE RULE ticket_copy AS ON INSERT TO ticket DO ALSO INSERT INTO ticket_log VALUES (NEW.user_id);
    """)
    err = refused(dsn, tmp_path, "public.users")
    assert "rule ticket_copy on public.ticket" in err


PARTITION_OBJECTS_SQL = (
    USERS
    + """
        CREATE TABLE visit (user_id int NOT NULL REFERENCES users, day int NOT NULL, seen int DEFAULT 0)
            PARTITION BY RANGE (day);
        CREATE TABLE visit_a PARTITION OF visit FOR VALUES FROM (0) TO (10);
        CREATE TABLE visit_b PARTITION OF visit FOR VALUES FROM (10) TO (20);
        CREATE INDEX visit_user_text ON visit ((user_id::text));
        CREATE INDEX visit_a_owned ON visit_a (day) WHERE user_id IS NOT NULL;
        CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.seen := NEW.seen + 1; RETURN NEW; END $$;
        CREATE TRIGGER visit_b_moved BEFORE UPDATE ON visit_b FOR EACH ROW
            WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION bump();
        INSERT INTO visit (user_id, day) SELECT g % 20 + 1, g % 20 FROM generate_series(1, 40) g;
    """
)


def test_objects_on_partitions_are_carried_or_refused_like_the_root_s(dsn, conn, tmp_path):
    conn.execute(PARTITION_OBJECTS_SQL)
    q_trig = "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1"
    before = indexes(conn), rows(conn, q_trig)
    data = "SELECT v.day, u.email FROM visit v JOIN users u ON u.id = v.user_id ORDER BY 1, 2"
    rows_before = rows(conn, data)
    convert(dsn, tmp_path / "m", "public.users")
    assert (indexes(conn), rows(conn, q_trig)) == before
    assert rows(conn, data) == rows_before
    rollback(dsn, tmp_path / "m")
    assert (indexes(conn), rows(conn, q_trig)) == before
    assert keyshift(dsn, "drop-map", "--table", "public.users").returncode == 0  # the mapping rollback kept

    conn.execute(
        "CREATE TRIGGER visit_a_positive BEFORE UPDATE ON visit_a FOR EACH ROW "
        "WHEN (OLD.user_id > 0) EXECUTE FUNCTION bump()"
    )
    err = refused(dsn, tmp_path / "again", "public.users", rehearse=True)
    assert "trigger visit_a_positive on public.visit_a" in err and "uuid > integer" in err


def test_referencing_column_default_that_names_a_parent_id_follows_it_to_uuid(dsn, conn, tmp_path):
    conn.execute(
        USERS
        + """
        CREATE TABLE post (id serial PRIMARY KEY,
            user_id int NOT NULL DEFAULT 1 REFERENCES users ON DELETE SET DEFAULT, title text);
        INSERT INTO post (user_id, title) SELECT 1 + g % 20, 't' || g FROM generate_series(1, 40) g;
        COMMENT ON CONSTRAINT post_user_id_fkey ON post IS 'it''s the author';
    """
    )
    q = "SELECT p.title, u.email FROM post p JOIN users u ON u.id = p.user_id ORDER BY 1"
    before = rows(conn, q)
    convert(dsn, tmp_path / "m", "public.users")
    lint = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), str(tmp_path / "m")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    assert key_type(conn, "post", "user_id") == "uuid"
    default = rows(
        conn,
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'post'::regclass "
        "AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'post'::regclass "
        "AND attname = 'user_id')",
    )[0][0]
    new_id = rows(conn, "SELECT new_id FROM keyshift.map_public__users WHERE old_id = 1")[0][0]
    assert default == f"'{new_id}'::uuid"
    assert rows(conn, q) == before
    # The default still names user 1: ON DELETE SET DEFAULT moves posts to that row.
    conn.execute("INSERT INTO post (title) VALUES ('fresh')")
    conn.execute("DELETE FROM users WHERE email = 'u5@x'")
    assert rows(conn, "SELECT count(*) FROM post p JOIN users u ON u.id = p.user_id WHERE u.email = 'u1@x'") == [
        (1 + 2 + 2,)
    ]
    checked = keyshift(dsn, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rollback(dsn, tmp_path / "m")
    assert key_type(conn, "post", "user_id") == "integer"
    assert rows(
        conn,
        "SELECT column_default FROM information_schema.columns WHERE table_name = 'post' AND column_name = 'user_id'",
    ) == [("1",)]


SHARED_SEQUENCE_SQL = """
CREATE SEQUENCE shared_seq AS integer;
CREATE TABLE a (id integer PRIMARY KEY DEFAULT nextval('shared_seq'), name text);
CREATE TABLE b (id integer PRIMARY KEY DEFAULT nextval('shared_seq'), name text);
INSERT INTO a (name) SELECT 'old' FROM generate_series(1, 3);
INSERT INTO b (name) SELECT 'old' FROM generate_series(1, 3);
"""


def test_two_targets_sharing_one_key_sequence_are_refused_together_and_convert_one_plan_each(dsn, conn, tmp_path):
    conn.execute(SHARED_SEQUENCE_SQL)
    message = refused(dsn, tmp_path, "public.a", "public.b")
    assert "sequence public.shared_seq" in message and "separate plans" in message, message
    mig = tmp_path / "separate"
    convert(dsn, mig, "public.a")
    convert(dsn, mig, "public.b")
    assert key_type(conn, "a", "id") == key_type(conn, "b", "id") == "uuid"
    assert keyshift(dsn, "check").returncode == 0
    rollback(dsn, mig)
    rollback(dsn, mig)
    conn.execute("INSERT INTO a (name) VALUES ('after'); INSERT INTO b (name) VALUES ('after')")
    assert conn.execute("SELECT count(*) FROM a JOIN b USING (id)").fetchone()[0] == 0
