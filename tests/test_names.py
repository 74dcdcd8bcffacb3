"""names.comment: whatever a name holds, the comment it is written into stays one comment.

Every code point alone, then random strings built from the pieces that end comments, quotes,
statements and dollar-quoted bodies, read back by PostgreSQL's own parser (pglast) and by a
real server.
"""

from __future__ import annotations

import random
import sys
import unicodedata

import pglast.parser

from orchestrator.names import comment, comment_block

#: Every character that ends a line for PostgreSQL, an editor or a terminal.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x85\u2028\u2029")

#: Every character a comment must not hold: line breaks, controls, format characters (zero-width,
#: bidirectional overrides), line and paragraph separators.
FORBIDDEN = LINE_BREAKS | frozenset(
    chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp")
)

HOSTILE = [
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "\x0c",
    "\x85",
    "\u2028",
    "\u2029",
    "\x00",
    "\t",
    '"',
    '\\"',
    "'",
    "\\",
    "\\\\",
    ";",
    "--",
    "/*",
    "*/",
    "/*/",
    "*/*",
    "$$",
    "$tag$",
    "$ks0$",
    "\u200b",
    "\ufeff",
    "\u202e",
    "\U000e0001",
    b"\xff\xfe\xc3".decode("utf-8", "surrogateescape"),
    "\ud800",
    "\udfff",
    "é",
    "漢字",
    "😀",
    "\U0010fffd",
    " ",
    "x",
    "SELECT 2;",
    "DROP TABLE victim; --",
    "\\u000a",
    "E'\\n'",
]


def _assert_one_line(text: str, result: str) -> None:
    assert FORBIDDEN.isdisjoint(result), (text, result)
    assert "*/" not in result and "/*" not in result, (text, result)


def test_no_code_point_leaves_the_comment():
    for cp in range(sys.maxunicode + 1):
        result = comment(chr(cp))
        # isprintable() is False for every Cc, Cf, Zl and Zp character: the common case, fast.
        if result.isprintable() and "*/" not in result:
            continue
        if not FORBIDDEN.isdisjoint(result) or "*/" in result:
            raise AssertionError(f"U+{cp:04X} -> {result!r}")


def test_the_forbidden_set_is_what_it_claims():
    # The check above can fail: every line break is in the set it tests against.
    assert LINE_BREAKS <= FORBIDDEN and "\u200b" in FORBIDDEN and "\ufeff" in FORBIDDEN
    assert "a" not in FORBIDDEN and "é" not in FORBIDDEN


def _hostile_strings(n: int, seed: int = 20260) -> list[str]:
    rng = random.Random(seed)
    out = list(HOSTILE)
    while len(out) < n:
        parts = [rng.choice(HOSTILE) for _ in range(rng.randint(1, 10))]
        if rng.random() < 0.3:
            parts.append(chr(rng.randrange(sys.maxunicode + 1)))
        out.append("".join(parts))
    return out


def test_hostile_strings_stay_inside_one_comment_for_postgresqls_parser():
    samples = _hostile_strings(3000)
    for s in samples:
        line = comment(s)
        _assert_one_line(s, line)
        text = "-- " + line + "\nSELECT 1"
        assert pglast.parser.split(text) == ("SELECT 1",), (s, text)
        assert len(pglast.parser.split(text, with_parser=False)) == 1, (s, text)


def test_the_parser_check_can_fail():
    # Written raw, a newline in a name ends the comment and the rest runs as SQL.
    assert len(pglast.parser.split("-- t\nDROP TABLE victim; --\nSELECT 1")) == 2


def test_hostile_comments_round_trip_through_a_real_server(conn):
    samples = _hostile_strings(3000)[::15]
    query = ";\n".join(f"-- {comment(s)}\nSELECT {i}" for i, s in enumerate(samples, 1))
    cur = conn.execute(query)  # no parameters: one simple query holding every statement
    results = []
    while True:
        results.append(cur.fetchone()[0])
        if not cur.nextset():
            break
    assert results == list(range(1, len(samples) + 1))
    for s in samples[:20]:
        assert conn.execute("-- " + comment(s) + "\nSELECT 1").fetchone()[0] == 1


def test_comment_block_keeps_one_comment_line_per_line():
    lines = ["first", "", "a\nname", "x\u2028y */ z"]
    block = comment_block(lines)
    assert block.split("\n") == ["-- first", "--", "-- a\\u000aname", "-- x\\u2028y *\\/ z"]


def test_a_migration_file_holds_exactly_its_statements():
    from psycopg import sql

    from orchestrator.names import Literal
    from orchestrator.render.common import Migration, Unlinted, stmt

    hostile = "t\nDROP TABLE victim; --\r\u2028*/"
    apply = [
        stmt("SELECT {}", Literal(hostile), note=("of " + hostile, hostile)),
        Unlinted(sql.SQL("SELECT 2"), (hostile,)),
        stmt("SELECT {}", sql.Identifier(hostile)),
    ]
    m = Migration("0001_01_x", "title " + hostile, (hostile, "", "   " + hostile), apply, apply[::-1])
    bodies = [s.body.as_string(None) for s in apply]
    assert pglast.parser.split(m.text(hostile)) == tuple(bodies)
    assert pglast.parser.split(m.rollback_text()) == tuple(bodies[::-1])
