"""A plan that exits 0 never leads to a migrate that fails for a schema reason.

Every schema the other test modules build (imported from them, never copied) goes through the
rehearsing plan. When plan exits 0, migrate, check and rollback exit 0 and the schema after
rollback (and drop-map) is the schema of the start. When plan refuses, it exits 3 with one
line per blocker and no traceback, and the database is as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pytest
import test_design_s3 as s3
import test_hostile_names as hostile
import test_lock_traffic
import test_plan_functions
import test_polymorphic as poly
import test_real_schemas as real
import test_rehearse
import test_rehearse_defaults
from conftest import keyshift, pg_dump_schema, without_restrict
from test_rehearse_command import ROWS


@dataclass(frozen=True)
class Case:
    """One schema: how to build it, the tables its plan converts, the plan's other options and
    whether plan converts it (``True``) or refuses it (``False``)."""

    build: Callable[[psycopg.Connection], None]
    tables: tuple[str, ...]
    converts: bool
    options: tuple[str, ...] = ()


def sql_text(*parts: str) -> Callable[[psycopg.Connection], None]:
    """Each part executed in turn, each in its own transaction."""

    def build(conn: psycopg.Connection) -> None:
        for part in parts:
            conn.execute(part)

    return build


def seed(case: str, *extra: str, scale: int = 20) -> Callable[[psycopg.Connection], None]:
    """A seed fixture (tests/fixtures or sql/sample), then each of ``extra`` in turn."""

    def build(conn: psycopg.Connection) -> None:
        real.load_case(conn, case, scale=scale)
        for part in extra:
            conn.execute(part)

    return build


def plain_names(conn: psycopg.Connection) -> None:
    """test_hostile_names' schema with its control's plain names (and the victim it grants on)."""
    hostile._victim(conn, [])
    hostile._build(conn, hostile._names("plain"))


def decorated(case: str) -> Case:
    """A seed fixture with test_real_schemas' view, matview, trigger, grants and comments on its first table."""
    tables = real.CASES[case]
    return Case(seed(case, real.DECORATION.replace("{t}", tables[0].split(".")[1])), tables, True)


CASES: dict[str, Case] = {
    # test_real_schemas' views, partitions, triggers, grants and comments, all on one seed000.
    "seed000": Case(
        seed("seed000", real.VIEWS_SQL, real.PARTITIONS_SQL, real.TRIGGERS_GRANTS_SQL), real.CASES["seed000"], True
    ),
    "seed002_shop": decorated("seed002_shop"),
    "seed003_chat": decorated("seed003_chat"),
    "seed004_video": decorated("seed004_video"),
    "multischema": Case(seed("multischema"), ("accounts.member", "accounts.organization"), True),
    "quoted_names": Case(
        sql_text(real.NAMES_SQL),
        tuple(f'"Sales Dept"."{t}"' for t in ("user", "order", real.LONG, real.LONG[:-1] + "Z")),
        True,
    ),
    "every_name_kind": Case(plain_names, ("s_plain.t_plain",), True),
    "fk_actions": Case(sql_text(s3.FK_ZOO_SQL, s3.FK_ZOO_LATE_SQL), ("public.users",), True),
    "indexes": Case(sql_text(s3.INDEXES_SQL), ("public.users",), True),
    "trigram_index": Case(sql_text(s3.TRIGRAM_SQL), ("public.users",), True),
    "storage_properties": Case(sql_text(s3.PROPERTIES_SQL), ("public.users",), True),
    "exclusion": Case(sql_text(s3.EXCLUSION_SQL), ("public.users",), True),
    "sequences": Case(sql_text(s3.SEQUENCES_SQL), tuple(f"public.{t}" for t in s3.SEQUENCE_TABLES), True),
    "triggers": Case(sql_text(s3.TRIGGERS_SQL), ("public.users",), True),
    "policies": Case(sql_text(s3.POLICIES_SQL), ("public.users",), True),
    "partition_objects": Case(sql_text(s3.PARTITION_OBJECTS_SQL), ("public.users",), True),
    "reference": Case(
        sql_text(s3.REFERENCE_SQL), ("public.users",), True, ("--reference", "public.legacy_log.user_id=public.users")
    ),
    "reference_default": Case(sql_text(test_rehearse_defaults.SCHEMA), ("public.parent",), True),
    "rails_polymorphic": Case(
        sql_text(poly.RAILS.format(id_type="bigint")), ("public.posts", "public.photos"), True, poly.POLY
    ),
    "django_admin_log": Case(
        sql_text(poly.DJANGO),
        ("public.accounts_user", "public.items"),
        True,
        ("--polymorphic-type", "shop.item=public.items"),
    ),
    "app_traffic": Case(sql_text(test_lock_traffic.SCHEMA), ("public.parent",), True),
    "undeclared_reference_declared": Case(
        sql_text(test_rehearse.UNDECLARED_SQL), ("public.a",), True, ("--reference", "public.b.a_id=public.a")
    ),
    # Refused: a view over an undeclared reference; three rehearsal blockers left once the
    # reference is declared; seven functions; two targets sharing one sequence.
    "undeclared_reference": Case(sql_text(test_rehearse.UNDECLARED_SQL), ("public.a",), False),
    "every_blocker": Case(sql_text(test_rehearse.SCHEMA), ("public.person",), False, (test_rehearse.REFERENCE,)),
    "functions": Case(sql_text(test_plan_functions.SCHEMA), ("public.users",), False),
    "shared_sequence": Case(sql_text(s3.SHARED_SEQUENCE_SQL), ("public.a", "public.b"), False),
}


def state(conn: psycopg.Connection, dsn: str) -> tuple:
    """The schema, the schemas' names and every table's row count."""
    schemas = conn.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
    return without_restrict(pg_dump_schema(dsn)), schemas, conn.execute(ROWS).fetchall()


def ok(result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def assert_refused(result) -> None:
    """Exit 3; every line of stderr a keyshift line; where several, the last counts those above."""
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert "Traceback" not in out, out
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("keyshift: ") for line in lines), result.stderr
    if len(lines) > 1:
        counted = re.search(r"(\d+) (?:blocker|function)\(s\)", lines[-1])
        assert counted and int(counted.group(1)) == len(lines) - 1, result.stderr


#: The seed fixtures' cases take three times as long as the others and repeat test_real_schemas'
#: round trips: they run in make test-slow.
SLOW = {"seed000", "seed002_shop", "seed003_chat", "seed004_video"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES])
def test_plan_exits_0_only_where_migrate_check_and_rollback_succeed(dsn, conn, tmp_path, name):
    case = CASES[name]
    case.build(conn)
    before = state(conn, dsn)
    tables = [a for t in case.tables for a in ("--table", t)]
    migrations = tmp_path / "m"
    planned = keyshift(dsn, "plan", *tables, *case.options, "--rehearse", migrations=migrations)
    if planned.returncode == 0:
        ok(keyshift(dsn, "migrate", migrations=migrations))
        ok(keyshift(dsn, "check"))
        ok(keyshift(dsn, "rollback", migrations=migrations))
        ok(keyshift(dsn, "drop-map", *tables))
        assert state(conn, dsn)[0] == before[0]
    else:
        assert_refused(planned)
        assert not migrations.exists() or not any(migrations.iterdir())
        assert state(conn, dsn) == before
    assert (planned.returncode == 0) == case.converts, planned.stdout + planned.stderr
