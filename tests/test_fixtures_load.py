"""The fixture schemas and their data generators load, at a given scale, into a real database.

Each data file takes its size from the session setting ``keyshift.sample_scale`` (number of
users). The expected row counts below are computed independently of the SQL, from the
per-user rules documented at the top of each data file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

SCALE = 500
DEMO_SCALE = 50_000


# ---------------------------------------------------------------------------------------------
# Expected row counts for n users, one function per fixture.


def _seed000_counts(n: int) -> dict[str, int]:
    users = range(1, n + 1)
    return {
        "custom_user": n,
        "user_profile": n,
        "verification_token": sum(1 + g % 3 for g in users),
        "social_account": sum(1 for g in users if g % 3 != 0),
        "django_session": sum(1 for g in users if g % 2 == 0) + n // 20,
    }


def _seed002_counts(n: int) -> dict[str, int]:
    orders = items = history = carts = cart_items = 0
    for g in range(1, n + 1):
        for o in range(1, 2 + g % 5 + 1):
            orders += 1
            dow, hour = (g * 3 + o) % 7, (g * 7 + o * 5) % 24
            items += 1 + (dow + hour + o) % 5
            history += 1 + o % 3
        if g % 3 == 0:
            carts += 1
            cart_items += 1 + g % 4
    return {
        "users": n,
        "orders": orders,
        "order_items": items,
        "order_status_history": history,
        "carts": carts,
        "cart_items": cart_items,
    }


def _seed003_counts(n: int) -> dict[str, int]:
    rooms = participants = messages = 0
    r = 0
    for g in range(1, n + 1):
        for _ in range(g % 3):
            r += 1
            rooms += 1
            participants += 1 + r % 4
            messages += 2 + r % 9
    return {
        "core_user": n,
        "core_topic": max(5, n // 50),
        "core_room": rooms,
        "core_room_participants": participants,
        "core_message": messages,
    }


def _seed004_counts(n: int) -> dict[str, int]:
    assets = max(1, n // 2)
    exercises = sum(g % 4 for g in range(1, n + 1))
    comments = sum((g + e) % 4 for g in range(1, n + 1) for e in range(1, g % 4 + 1))
    return {
        "auth_user": n,
        "accounts_role": 3,
        "accounts_profile": n,
        "accounts_usermetrics": sum(1 for g in range(1, n + 1) if g % 4 != 0),
        "accounts_betainvitation": n // 5,
        "core_videoasset": assets,
        "core_videoclip": 2 * (assets // 2),
        "exercises_exercise": exercises,
        "comments_videocomment": comments,
    }


# name -> (schema file, data file, expected counts, extra checks: SQL returning one boolean)
CASES: dict[str, tuple[Path, Path, Callable[[int], dict[str, int]], list[str]]] = {
    "seed000": (
        ROOT / "sql/sample/seed000_schema.sql",
        ROOT / "sql/sample/seed000_data.sql",
        _seed000_counts,
        [
            # the session rows carry the user id both as a column and inside the text
            "SELECT bool_and(session_data LIKE '%\"_auth_user_id\": \"' || user_id || '\"%')"
            " FROM django_session WHERE user_id IS NOT NULL",
            "SELECT count(*) = 0 FROM django_session s"
            " WHERE user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM custom_user u WHERE u.id = s.user_id)",
            # date_joined increases with id
            "SELECT bool_and(d > prev) FROM (SELECT date_joined AS d,"
            " lag(date_joined) OVER (ORDER BY id) AS prev FROM custom_user) AS t WHERE prev IS NOT NULL",
        ],
    ),
    "seed002_shop": (
        FIXTURES / "seed002_shop/schema.sql",
        FIXTURES / "seed002_shop/data.sql",
        _seed002_counts,
        [
            "SELECT min(id) >= 1 AND max(id) = 201520 FROM users",
            "SELECT min(id) >= 1 AND max(id) = 3421083 FROM orders",
            "SELECT max(id) = count(*) FROM carts",
        ],
    ),
    "seed003_chat": (
        FIXTURES / "seed003_chat/schema.sql",
        FIXTURES / "seed003_chat/data.sql",
        _seed003_counts,
        [
            "SELECT bool_and(name ~ '^[A-Za-z]+$') FROM core_topic",
            # every room's host is one of its participants, every author a participant
            "SELECT count(*) = 0 FROM core_room r WHERE NOT EXISTS"
            " (SELECT 1 FROM core_room_participants p WHERE p.room_id = r.id AND p.user_id = r.host_id)",
            "SELECT count(*) = 0 FROM core_message m WHERE NOT EXISTS"
            " (SELECT 1 FROM core_room_participants p WHERE p.room_id = m.room_id AND p.user_id = m.user_id)",
        ],
    ),
    "seed004_video": (
        FIXTURES / "seed004_video/schema.sql",
        FIXTURES / "seed004_video/data.sql",
        _seed004_counts,
        [
            "SELECT count(*) > 0 FROM accounts_profile WHERE role_id IS NULL",
            # some invitations were accepted by people who are now users (email, no FK)
            "SELECT count(*) > 0 FROM accounts_betainvitation b JOIN auth_user u ON u.email = b.email",
        ],
    ),
}


# ---------------------------------------------------------------------------------------------


def load(conn: psycopg.Connection, name: str, scale: int) -> float:
    """Load schema + data of a case at a scale, as the loader does; seconds spent on the data."""
    schema, data, _, _ = CASES[name]
    conn.execute("SELECT set_config('keyshift.sample_scale', %s, false)", [str(scale)])
    conn.execute(schema.read_text())
    started = time.perf_counter()
    conn.execute(data.read_text())
    return time.perf_counter() - started


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
        )
    ]
    return {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0] for t in tables}


def foreign_keys(conn: psycopg.Connection) -> list[tuple[str, str, str, str, list[str], list[str]]]:
    """Every FK of the database: (name, child schema, child table, parent table..., columns)."""
    return conn.execute(
        """
        SELECT con.conname, cn.nspname, c.relname, pn.nspname, p.relname,
               array_agg(ca.attname ORDER BY k.ord), array_agg(pa.attname ORDER BY k.ord)
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace cn ON cn.oid = c.relnamespace
        JOIN pg_class p ON p.oid = con.confrelid
        JOIN pg_namespace pn ON pn.oid = p.relnamespace
        CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k (child, parent, ord)
        JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child
        JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent
        WHERE con.contype = 'f'
        GROUP BY con.oid, con.conname, cn.nspname, c.relname, pn.nspname, p.relname
        ORDER BY con.conname
        """
    ).fetchall()


def orphans(conn: psycopg.Connection, fk) -> int:
    """Child rows whose (fully non-NULL) key has no parent row (MATCH SIMPLE semantics)."""
    _, cschema, child, pschema, parent, ccols, pcols = fk
    query = sql.SQL(
        "SELECT count(*) FROM {child} AS c WHERE {notnull} AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {match})"
    ).format(
        child=sql.Identifier(cschema, child),
        parent=sql.Identifier(pschema, parent),
        notnull=sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(col)) for col in ccols),
        match=sql.SQL(" AND ").join(
            sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(cc)) for cc, pc in zip(ccols, pcols)
        ),
    )
    return conn.execute(query).fetchone()[0]


def sequences_behind(conn: psycopg.Connection) -> list[str]:
    """serial / identity columns whose sequence would hand out an id already in use."""
    behind = []
    cols = conn.execute(
        "SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(c.relname), a.attname)"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped"
        " AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL"
    ).fetchall()
    for table, column, seq in cols:
        top = conn.execute(
            sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), sql.Identifier(table))
        ).fetchone()[0]
        last, called = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(seq))).fetchone()
        next_value = last + 1 if called else last
        if top is not None and next_value <= top:
            behind.append(f"{table}.{column}: next {next_value} <= max {top}")
    return behind


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_loads(conn, name):
    seconds = load(conn, name, SCALE)
    print(f"{name}: data at scale {SCALE} loaded in {seconds:.2f}s")
    _, _, expected, checks = CASES[name]

    assert table_counts(conn) == expected(SCALE)

    fks = foreign_keys(conn)
    assert fks, "the fixture declares foreign keys"
    for fk in fks:
        assert orphans(conn, fk) == 0, f"orphans for {fk[0]}"

    assert sequences_behind(conn) == []
    for check in checks:
        assert conn.execute(check).fetchone()[0] is True, check


@pytest.mark.slow
def test_seed000_demo_scale(conn):
    seconds = load(conn, "seed000", DEMO_SCALE)
    print(f"seed000: data at scale {DEMO_SCALE} loaded in {seconds:.2f}s")
    assert table_counts(conn) == _seed000_counts(DEMO_SCALE)


def test_scale_defaults_to_1000(conn):
    """Without the setting a data file falls back to 1000 users."""
    schema, data, expected, _ = CASES["seed000"]
    conn.execute(schema.read_text())
    conn.execute(data.read_text())
    assert table_counts(conn) == expected(1000)
