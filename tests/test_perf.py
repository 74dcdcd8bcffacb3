"""The faster proofs still prove what they claim.

keyshift.table_fingerprint hashes rows with hash_record_extended over the binary values
instead of hashing the text of the row. A hash that sees less than the text would let a
changed value through rows_unchanged_through_mapping.sql; so here every column kind, and
each known case where equality (and so the type's hash) is coarser than the stored value,
gets one value changed, and the fingerprint must change with it.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from orchestrator.resources import SQL_DIR

ROOT = SQL_DIR.parent

# (column type, value before, value after): each pair is a real change a user could make,
# and several are EQUAL for the type's own = operator (so its hash may not tell them apart).
CHANGES = [
    ("smallint", "1", "2"),
    ("integer", "1", "2"),
    ("bigint", "1", "-1"),
    ("oid", "1", "2"),
    ("boolean", "true", "false"),
    ('"char"', "a", "b"),
    ("uuid", "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"),
    ("bytea", "\\x00", "\\x0000"),
    ("date", "2024-01-01", "2024-01-02"),
    ("time", "10:00", "10:00:00.000001"),
    ("timestamp", "2024-01-01 10:00", "2024-01-01 10:00:00.000001"),
    ("timestamptz", "2024-01-01 10:00+00", "2024-01-01 10:00:00.000001+00"),
    ("text", "a", "b"),
    ("text", "a", "a "),
    ("varchar(10)", "a", "A"),
    ("name", "a", "A"),
    ("numeric", "1.5", "2.5"),
    ("numeric", "1.0", "1.00"),  # equal values, different scale: the text differs
    ("numeric(12, 2)", "NaN", "0"),
    ("double precision", "0", "-0"),  # 0 = -0, and float8 hashes them alike
    ("real", "1.5", "2.5"),
    ("interval", "1 day", "24 hours"),  # equal intervals, different fields
    ("jsonb", '{"a": 1.0}', '{"a": 1.00}'),  # equal jsonb, the scale inside differs
    ("json", '{"a":1}', '{"a": 1}'),  # json has no equality or hash at all
    ("bpchar", "a", "a "),  # unbounded bpchar: trailing blanks compare equal
    ("integer[]", "{1,2}", "[0:1]={1,2}"),  # same elements, other bounds
    ("point", "(1,2)", "(1,3)"),  # no hash opclass
    ("inet", "10.0.0.1/8", "10.0.0.1/16"),
    ("timetz", "10:00+00", "11:00+01"),  # the same instant of the day, another zone
    ("mood", "happy", "sad"),  # an enum
    ("posint", "1", "2"),  # a domain over integer
]


@pytest.fixture
def fconn(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("CREATE SCHEMA keyshift")
    conn.execute((ROOT / "sql" / "registry.sql").read_text())
    conn.execute((SQL_DIR / "functions" / "table_fingerprint.sql").read_text())
    conn.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
    conn.execute("CREATE DOMAIN posint AS integer CHECK (VALUE > 0)")
    return conn


def _fingerprint(conn, table: str = "t") -> tuple[int, int]:
    return conn.execute(
        "SELECT row_count, fingerprint FROM keyshift.table_fingerprint('public', %s, FALSE)", (table,)
    ).fetchone()


@pytest.mark.parametrize("typ,before,after", CHANGES, ids=[f"{c[0]}:{c[1]}->{c[2]}" for c in CHANGES])
def test_fingerprint_sees_a_changed_value(fconn, typ, before, after):
    fconn.execute(sql.SQL("CREATE TABLE t (id integer PRIMARY KEY, v {}, w text)").format(sql.SQL(typ)))
    fconn.execute("INSERT INTO t VALUES (1, %s, 'x'), (2, NULL, 'y')", (before,))
    first = _fingerprint(fconn)
    assert _fingerprint(fconn) == first  # deterministic
    shown = "SELECT ROW(v)::text FROM t WHERE id = 1"  # the output function; v::text trims bpchar
    old_text = fconn.execute(shown).fetchone()[0]
    fconn.execute("UPDATE t SET v = %s WHERE id = 1", (after,))
    assert fconn.execute(shown).fetchone()[0] != old_text, "the test pair must differ in its stored text"
    assert _fingerprint(fconn) != first
    # and back: the same rows give the same fingerprint again
    fconn.execute("UPDATE t SET v = %s WHERE id = 1", (before,))
    assert _fingerprint(fconn) == first


def test_fingerprint_sees_case_under_a_nondeterministic_collation(fconn):
    """A case-insensitive ICU collation makes 'a' = 'A' and hashes them alike; the fingerprint
    hashes text COLLATE "C", so a change of case is still a change."""
    try:
        fconn.execute("CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
    except psycopg.errors.FeatureNotSupported:
        pytest.skip("this server is built without ICU")
    fconn.execute("CREATE TABLE t (id integer PRIMARY KEY, v text COLLATE ci)")
    fconn.execute("INSERT INTO t VALUES (1, 'abc')")
    assert fconn.execute("SELECT 'abc' = 'ABC' COLLATE ci").fetchone()[0]
    first = _fingerprint(fconn)
    fconn.execute("UPDATE t SET v = 'ABC'")
    assert _fingerprint(fconn) != first


def test_fingerprint_sees_moved_values_and_row_counts(fconn):
    """Order-independent, but not blind: swapping values between columns or rows, adding or
    removing a row changes it; reordering the rows physically does not."""
    fconn.execute("CREATE TABLE t (id integer PRIMARY KEY, a integer, b integer)")
    fconn.execute("INSERT INTO t SELECT g, g, g * 10 FROM generate_series(1, 1000) AS g")
    first = _fingerprint(fconn)
    fconn.execute("CLUSTER t USING t_pkey")
    fconn.execute("UPDATE t SET a = a WHERE id % 2 = 0")  # new row versions, same values
    assert _fingerprint(fconn) == first
    fconn.execute("UPDATE t SET a = b, b = a WHERE id = 7")
    assert _fingerprint(fconn) != first
    fconn.execute("UPDATE t SET a = b, b = a WHERE id = 7")
    fconn.execute("UPDATE t SET a = CASE id WHEN 1 THEN 2 ELSE 1 END WHERE id IN (1, 2)")  # swap a of two rows
    assert _fingerprint(fconn) != first
    fconn.execute("UPDATE t SET a = id WHERE id IN (1, 2)")
    assert _fingerprint(fconn) == first
    fconn.execute("DELETE FROM t WHERE id = 1000")
    assert _fingerprint(fconn)[0] == 999 and _fingerprint(fconn) != first
