"""The UUID generators in sql/functions/, checked on a real server against independent
parsers: Python's uuid module for version and variant bits, the uuid6 package for the
embedded time, SQL inverses for the keyed (injective) generators, and a Python base62 decoder.
"""

from __future__ import annotations

import re
import string
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import uuid6

from orchestrator.resources import SQL_DIR

FUNCTION_FILES = [
    "uuid_v7.sql",
    "uuid_v6.sql",
    "keyed_uuid_v7.sql",
    "keyed_uuid_v6.sql",
    "keyed_uuid_v4.sql",
    "base62.sql",
]

UTC = timezone.utc
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GREGORIAN_EPOCH = datetime(1582, 10, 15, tzinfo=UTC)
BASE62 = string.digits + string.ascii_lowercase + string.ascii_uppercase

# Every generator, as (SQL expression over ts, k, id; expected version). The random ones
# ignore k and id; the keyed ones ignore nothing.
GENERATORS = {
    "uuid_v7": ("keyshift.uuid_v7(ts)", 7),
    "uuid_v7()": ("keyshift.uuid_v7()", 7),
    "uuid_v6": ("keyshift.uuid_v6(ts)", 6),
    "uuid_v6()": ("keyshift.uuid_v6()", 6),
    "keyed_uuid_v7": ("keyshift.keyed_uuid_v7(ts, k, id)", 7),
    "keyed_uuid_v6": ("keyshift.keyed_uuid_v6(ts, k, id)", 6),
    "keyed_uuid_v4": ("keyshift.keyed_uuid_v4(k, id)", 4),
}

# Timestamps that exercise the arithmetic: before and after 2000-01-01 (the sign of
# timestamptz_send changes there), millisecond boundaries, the last microsecond of a
# millisecond, and both ends of what each layout can hold.
TIMES_V7 = [
    datetime(1970, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 1999, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2000, 1, 1, tzinfo=UTC),
    datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
    datetime(2024, 5, 1, 12, 0, 0, 123999, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC),
    datetime(2262, 4, 11, 23, 47, 16, 854776, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
TIMES_V6 = [
    datetime(1582, 10, 15, tzinfo=UTC),
    datetime(1582, 10, 15, 0, 0, 0, 1, tzinfo=UTC),
    datetime(1600, 2, 29, 13, 14, 15, 161718, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    *TIMES_V7[:-1],
    datetime(5236, 3, 1, 12, 0, 0, 654321, tzinfo=UTC),  # 2^60 x 100 ns ends on 5236-03-31
]


@pytest.fixture
def kconn(conn: psycopg.Connection) -> psycopg.Connection:
    """The test's connection with every function file loaded, as the pipeline loads them."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS keyshift")
    for name in FUNCTION_FILES:
        conn.execute((SQL_DIR / "functions" / name).read_text())
    return conn


def _ms(ts: datetime) -> int:
    return (ts - UNIX_EPOCH) // timedelta(milliseconds=1)


def _gregorian_100ns(ts: datetime) -> int:
    return (ts - GREGORIAN_EPOCH) // timedelta(microseconds=1) * 10


def _b62decode(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 62 + BASE62.index(ch)
    return n


def _rand_a_b(n: int) -> int:
    """The 74 bits of a v7 that are neither time, version nor variant: bits 64-75 and 0-61."""
    return ((n >> 64) & 0xFFF) << 62 | (n & ((1 << 62) - 1))


def _rows(conn, query, params=None) -> list[tuple]:
    return conn.execute(query, params).fetchall()


@pytest.mark.parametrize("name", GENERATORS)
def test_version_and_variant_bits(kconn, name):
    expr, version = GENERATORS[name]
    rows = _rows(
        kconn,
        f"""
        SELECT ({expr})::text
        FROM generate_series(1, 2000) AS g (id),
            LATERAL (SELECT 'key-' || (g.id % 3)::text AS k,
                            timestamptz '2024-05-01 12:00:00+00' + g.id * interval '1.3 ms' AS ts) AS a
        """,
    )
    bad = []
    for (text,) in rows:
        u = uuid.UUID(text)
        if u.version != version or u.variant != uuid.RFC_4122:
            bad.append((text, u.version, u.variant))
        # RFC 9562 §6.10: a node that is not a MAC address has its multicast bit set.
        if version == 6 and not (u.node >> 40) & 1:
            bad.append((text, "multicast bit of node not set"))
    assert bad == [], bad[:5]
    assert len({r[0] for r in rows}) == len(rows), "duplicates in 2000 keys"


@pytest.mark.parametrize("name", ["uuid_v7", "keyed_uuid_v7"])
def test_v7_embeds_the_millisecond(kconn, name):
    expr = GENERATORS[name][0]
    rows = _rows(
        kconn,
        f"SELECT ts, ({expr})::text FROM unnest(%s::timestamptz[]) AS ts, "
        "(VALUES ('k'::text, 42::bigint)) AS a (k, id)",
        (TIMES_V7,),
    )
    got = [(ts, uuid6.UUID(text).time) for ts, text in rows]
    assert got == [(ts, _ms(ts)) for ts in TIMES_V7]


@pytest.mark.parametrize("name", ["uuid_v6", "keyed_uuid_v6"])
def test_v6_embeds_the_microsecond(kconn, name):
    expr = GENERATORS[name][0]
    rows = _rows(
        kconn,
        f"SELECT ts, ({expr})::text FROM unnest(%s::timestamptz[]) AS ts, "
        "(VALUES ('k'::text, 42::bigint)) AS a (k, id)",
        (TIMES_V6,),
    )
    got = [(ts, uuid6.UUID(text).time) for ts, text in rows]
    assert got == [(ts, _gregorian_100ns(ts)) for ts in TIMES_V6]


@pytest.mark.parametrize("name", ["uuid_v7()", "uuid_v6()"])
def test_default_form_uses_the_clock(kconn, name):
    expr = GENERATORS[name][0]
    kconn.execute(f"CREATE TABLE t (id uuid PRIMARY KEY DEFAULT {expr}, n integer)")
    before = kconn.execute("SELECT clock_timestamp()").fetchone()[0]
    kconn.execute("INSERT INTO t (n) SELECT g FROM generate_series(1, 100) AS g")
    after = kconn.execute("SELECT clock_timestamp()").fetchone()[0]
    times = [uuid6.UUID(str(r[0])).time for r in _rows(kconn, "SELECT id FROM t")]
    if name == "uuid_v7()":
        low, high = _ms(before), _ms(after)
    else:
        low, high = _gregorian_100ns(before), _gregorian_100ns(after)
    assert len(times) == 100
    assert all(low <= t <= high for t in times), (low, high, min(times), max(times))


@pytest.mark.parametrize("step", ["1.337 ms", "7 days 1.337 ms"])
@pytest.mark.parametrize("name", ["uuid_v7", "keyed_uuid_v7", "uuid_v6", "keyed_uuid_v6"])
def test_keys_sort_by_time(kconn, name, step):
    """10,000 keys for increasing times, ORDER BY the uuid in SQL, give back time order."""
    expr = GENERATORS[name][0]
    # ids are shuffled against time so the keyed hash bits cannot produce the order.
    (order,) = kconn.execute(
        f"""
        SELECT array_agg(n ORDER BY u)
        FROM (
            SELECT n, {expr} AS u
            FROM generate_series(1, 10000) AS g (n),
                LATERAL (SELECT 'k'::text AS k, (n * 7919 % 10007)::bigint AS id,
                                timestamptz '1990-03-04 05:06:07.891011+00' + n * interval '{step}' AS ts) AS a
        ) AS s
        """
    ).fetchone()
    assert order == list(range(1, 10001))


# The extremes of bigint, around the sign and the 2^62 boundary, and neighbours.
V4_EDGE_IDS = [
    0,
    1,
    2,
    3,
    -1,
    -2,
    42,
    2**31 - 1,
    2**31,
    2**32,
    2**62 - 1,
    2**62,
    2**62 + 1,
    2**63 - 2,
    2**63 - 1,
    -(2**62),
    -(2**62) - 1,
    -(2**63) + 1,
    -(2**63),
]


def test_keyed_v4_layout_and_inverse(kconn):
    """keyed_uuid_v4 is a Feistel-style permutation of bigint: version 4, variant 10, and the
    id is recovered exactly from the uuid and the key, for edge ids and 20,000 random ones."""
    rows = _rows(
        kconn,
        """
        WITH ids AS (
            SELECT unnest(%s::bigint[]) AS id
            UNION ALL
            SELECT ((random() - 0.5) * 1.8e19)::numeric(20, 0)::bigint FROM generate_series(1, 20000)
        ),
        u AS (SELECT id, keyshift.keyed_uuid_v4('s3cret:', id) AS u FROM ids),
        halves AS (
            SELECT
                id, u,
                ('x' || substr(replace(u::text, '-', ''), 1, 16))::bit(64)::bigint AS hi,
                ('x' || substr(replace(u::text, '-', ''), 17, 16))::bit(64)::bigint AS lo
            FROM u
        )
        SELECT
            id, u::text,
            ((hi & 3) << 62)
            | ((lo # hashint8extended(hi & -61444, hashtextextended('s3cret:', 2))) & 4611686018427387903)
            AS recovered
        FROM halves
        """,
        (V4_EDGE_IDS,),
    )
    assert len(rows) == len(V4_EDGE_IDS) + 20000
    for id_, text, recovered in rows:
        u = uuid.UUID(text)
        assert u.version == 4 and u.variant == uuid.RFC_4122, (id_, text)
        assert recovered == id_, (id_, text, recovered)


def test_keyed_v4_edge_ids_are_distinct_and_unrelated(kconn):
    """No two edge ids collide, and neighbouring ids share no long run of the uuid: the
    64-bit halves of id and id + 1 differ in about half their bits, never in only a few."""
    values = [
        r[0]
        for r in _rows(kconn, "SELECT keyshift.keyed_uuid_v4('k', id) FROM unnest(%s::bigint[]) AS id", (V4_EDGE_IDS,))
    ]
    assert len(set(values)) == len(V4_EDGE_IDS)
    pairs = _rows(
        kconn,
        "SELECT keyshift.keyed_uuid_v4('k', id)::text, keyshift.keyed_uuid_v4('k', id + 1)::text "
        "FROM generate_series(1, 2000) AS id",
    )
    flips = [bin(uuid.UUID(a).int ^ uuid.UUID(b).int).count("1") for a, b in pairs]
    assert min(flips) > 30 and 55 < sum(flips) / len(flips) < 67, (min(flips), sum(flips) / len(flips))


# The inverses of keyed_uuid_v7 and keyed_uuid_v6, from the halves hi and lo of the uuid and the
# key 's3cret:' (see the comments of the two functions): x and y are read out of the random bits,
# then the two Feistel rounds are undone. v6 has 61 bits and sign-extends from bit 60.
_INVERSE = {
    "keyed_uuid_v7": """
        SELECT id, u::text,
            (((x # hashint8extended(low, s1)) >> 10) << 32) | low AS recovered
        FROM halves,
            LATERAL (SELECT ((hi & 4095) << 30) | ((lo >> 32) & 1073741823) AS x) AS xx,
            LATERAL (SELECT (lo # hashint8extended(x, s2)) & 4294967295 AS low) AS ll
    """,
    "keyed_uuid_v6": """
        SELECT id, u::text,
            (((((x # hashint8extended(low, s1)) & 536870911) << 32) | low) << 3) >> 3 AS recovered
        FROM halves,
            LATERAL (SELECT (((lo >> 41) & 2097151) << 8) | ((lo >> 32) & 255) AS x) AS xx,
            LATERAL (SELECT (lo # hashint8extended(x, s2)) & 4294967295 AS low) AS ll
    """,
}


@pytest.mark.parametrize("name", ["keyed_uuid_v7", "keyed_uuid_v6"])
def test_keyed_v7_v6_are_injective_with_an_inverse(kconn, name):
    """The random bits of keyed_uuid_v7 (74) and keyed_uuid_v6 (61) are a keyed permutation of
    the id, not a hash: the id comes back exactly from the uuid and the key, for edge ids and
    20,000 random ones (v6: ids from -2^60 to 2^60 - 1, what 61 bits can hold), all at ONE
    timestamp, so the time cannot be what keeps them apart."""
    bound = 2**63 if name == "keyed_uuid_v7" else 2**60
    edges = [i for i in V4_EDGE_IDS + [2**60 - 1, -(2**60), 2**60 - 2] if -bound <= i < bound]
    rows = _rows(
        kconn,
        f"""
        WITH ids AS (
            SELECT unnest(%s::bigint[]) AS id
            UNION ALL
            SELECT (((random() - 0.5) * 2 * %s::numeric * 0.999))::numeric(20, 0)::bigint
            FROM generate_series(1, 20000)
        ),
        u AS (
            SELECT id, keyshift.{name}(timestamptz '2024-05-01 12:00:00+00', 's3cret:', id) AS u FROM ids
        ),
        halves AS (
            SELECT
                id, u,
                ('x' || substr(replace(u::text, '-', ''), 1, 16))::bit(64)::bigint AS hi,
                ('x' || substr(replace(u::text, '-', ''), 17, 16))::bit(64)::bigint AS lo,
                hashtextextended('s3cret:', 1) AS s1,
                hashtextextended('s3cret:', 2) AS s2
            FROM u
        )
        {_INVERSE[name]}
        """,
        (edges, bound),
    )
    assert len(rows) == len(edges) + 20000
    for id_, text, recovered in rows:
        assert recovered == id_, (id_, text, recovered)
    assert len({text for _, text, _ in rows}) == len({id_ for id_, _, _ in rows})


@pytest.mark.parametrize("name", ["keyed_uuid_v7", "keyed_uuid_v6"])
def test_keyed_v7_v6_neighbours_are_unrelated(kconn, name):
    """At one timestamp, the random bits of id and id + 1 differ in about half of them (74 for
    v7, 61 for v6), never in only a few: nothing of the id order shows in them."""
    expr = GENERATORS[name][0]
    pairs = _rows(
        kconn,
        f"SELECT ({expr})::text, ({expr.replace(', id)', ', id + 1)')})::text "
        "FROM generate_series(1, 2000) AS g (id), "
        "LATERAL (SELECT 'k'::text AS k, timestamptz '2024-05-01 12:00:00+00' AS ts) AS a",
    )
    flips = [bin((uuid.UUID(a).int ^ uuid.UUID(b).int) & ((1 << 80) - 1)).count("1") for a, b in pairs]
    free = 74 if name == "keyed_uuid_v7" else 61
    assert min(flips) > free // 5 and free * 0.4 < sum(flips) / len(flips) < free * 0.6, (
        min(flips),
        sum(flips) / len(flips),
    )


@pytest.mark.parametrize("name", ["keyed_uuid_v4", "keyed_uuid_v7", "keyed_uuid_v6"])
def test_keyed_is_deterministic_and_depends_on_the_key(kconn, name):
    expr = GENERATORS[name][0]
    query = f"""
        SELECT array_agg({expr} ORDER BY id)
        FROM generate_series(1, 1000) AS g (id),
            LATERAL (SELECT %s::text AS k, timestamptz '2024-05-01 12:00:00.5+00' AS ts) AS a
    """
    first = kconn.execute(query, ("key-a",)).fetchone()[0]
    again = kconn.execute(query, ("key-a",)).fetchone()[0]
    other = kconn.execute(query, ("key-b",)).fetchone()[0]
    assert first == again
    assert len(set(first)) == 1000
    same = [i + 1 for i, (a, b) in enumerate(zip(first, other)) if a == b]
    assert same == [], f"ids whose key did not change with k: {same[:10]}"


@pytest.mark.parametrize("name", ["keyed_uuid_v4", "keyed_uuid_v7", "keyed_uuid_v6"])
def test_keyed_no_collision_at_one_timestamp(kconn, name):
    expr = GENERATORS[name][0]
    (distinct,) = kconn.execute(
        f"""
        SELECT count(DISTINCT {expr})
        FROM generate_series(1, 200000) AS g (id),
            LATERAL (SELECT 'k'::text AS k, timestamptz '2024-05-01 12:00:00+00' AS ts) AS a
        """
    ).fetchone()
    assert distinct == 200000


def test_keyed_functions_inline(kconn):
    """Every single-expression function must be inlined (no call to keyshift.* left in the
    plan), also with current_setting(...) as the key: a SET clause, a STABLE part in the
    body or text || bigint would silently stop that and double the per-row cost."""
    kconn.execute("SELECT set_config('keyshift.key', 'abc:', false)")
    kconn.execute("CREATE TABLE t (id bigint, ts timestamptz)")
    for expr in [
        "keyshift.keyed_uuid_v4(current_setting('keyshift.key'), id)",
        "keyshift.keyed_uuid_v7(ts, current_setting('keyshift.key'), id)",
        "keyshift.keyed_uuid_v6(ts, current_setting('keyshift.key'), id)",
        "keyshift.uuid_v7(ts)",
        "keyshift.uuid_v7()",
        "keyshift.uuid_v6(ts)",
        "keyshift.uuid_v6()",
    ]:
        plan = "\n".join(r[0] for r in _rows(kconn, f"EXPLAIN VERBOSE SELECT {expr} FROM t"))
        assert re.search(r"keyshift\.\w+\(", plan) is None, plan


def test_random_slug_calls_base62_directly(kconn):
    plan = "\n".join(r[0] for r in _rows(kconn, "EXPLAIN VERBOSE SELECT keyshift.random_slug(12)"))
    assert "random_slug" not in plan and "keyshift.base62(gen_random_uuid(), 12)" in plan, plan


@pytest.mark.parametrize("length", [10, 16, 22])
def test_base62_alphabet_and_length(kconn, length):
    rows = _rows(
        kconn,
        "SELECT keyshift.base62(u, %s), keyshift.base62(u, 22) "
        "FROM (SELECT gen_random_uuid() AS u FROM generate_series(1, 100000)) AS s",
        (length,),
    )
    wrong = [r[0] for r in rows if len(r[0]) != length or set(r[0]) - set(BASE62)]
    assert wrong == [], wrong[:5]
    not_suffix = [r for r in rows if not r[1].endswith(r[0])]
    assert not_suffix == [], not_suffix[:5]
    # Over a million random digits every one of the 62 characters must appear.
    assert set("".join(r[0] for r in rows)) == set(BASE62)


def test_base62_round_trips(kconn):
    edges = [
        uuid.UUID(int=0),
        uuid.UUID(int=1),
        uuid.UUID(int=61),
        uuid.UUID(int=62),
        uuid.UUID(int=62**10 - 1),
        uuid.UUID(int=62**10),
        uuid.UUID(int=62**20),
        uuid.UUID(int=2**63),
        uuid.UUID(int=2**64 - 1),
        uuid.UUID(int=2**64),
        uuid.UUID(int=2**128 - 1),
    ]
    rows = _rows(
        kconn,
        "SELECT u, keyshift.base62(u, 22) FROM ("
        "  SELECT unnest(%s::uuid[]) AS u UNION ALL"
        "  SELECT gen_random_uuid() FROM generate_series(1, 20000)) AS s",
        (edges,),
    )
    assert len(rows) == 20000 + len(edges)
    wrong = [(u, text) for u, text in rows if len(text) != 22 or _b62decode(text) != u.int]
    assert wrong == [], wrong[:5]
    # the alphabet order itself: 0-9, then a-z, then A-Z
    got = dict(_rows(kconn, "SELECT u, keyshift.base62(u, 10) FROM unnest(%s::uuid[]) AS u", (edges[:4],)))
    assert got == {
        edges[0]: "0000000000",
        edges[1]: "0000000001",
        edges[2]: "000000000Z",
        edges[3]: "0000000010",
    }


@pytest.mark.parametrize("length", [9, 23, -1])
def test_base62_rejects_a_length_outside_10_to_22(kconn, length):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="between 10 and 22"):
        kconn.execute("SELECT keyshift.base62(gen_random_uuid(), %s)", (length,))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="between 10 and 22"):
        kconn.execute("SELECT keyshift.random_slug(%s)", (length,))


def test_random_slug(kconn):
    rows = _rows(kconn, "SELECT keyshift.random_slug(12) FROM generate_series(1, 10000)")
    slugs = [r[0] for r in rows]
    assert all(len(s) == 12 and not set(s) - set(BASE62) for s in slugs)
    assert len(set(slugs)) == len(slugs)
