"""Write tests/fixtures/snapshots/*.json: the catalog snapshots test_planner_unit.py plans from.

Run on PostgreSQL 15 (the goldens' major: view bodies are its deparse), from the checkout:

    .venv/bin/pytest -q tests/make_snapshots.py

Each case loads a real fixture schema into a fresh database and reads the snapshot exactly as
``keyshift plan`` does (catalog.snapshot with the catalog.Request of the case's options), then
stores it with catalog.snapshot_to_json (the database's name replaced by the case's). The options of each case are test_planner_unit.OPTIONS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import psycopg
import pytest
from conftest import load_fixture, load_seed000
from test_golden import TREE_SCHEMA, _load_shop
from test_planner_unit import OPTIONS, SNAPSHOTS

from orchestrator import catalog
from orchestrator.plan import external, ownership
from orchestrator.plan.options import Options

LOADERS: dict[str, Callable[[psycopg.Connection], None]] = {
    "seed000_custom_user": load_seed000,
    "tree_category_item": lambda conn: conn.execute(TREE_SCHEMA),
    "seed002_users_external": _load_shop,
    "seed003_chat": lambda conn: load_fixture(conn, "seed003_chat"),
}


def read_snapshot(conn: psycopg.Connection, options: Options) -> catalog.Snapshot:
    """What cmd_plan reads for these options (its targets, its request), on ``conn``."""
    cat = catalog.Catalog(conn)
    targets = []
    for name in options.tables:
        table = cat.table(*name)
        targets.append((table, cat.key_column(table.relid, table.pk_columns[0])))
    request = catalog.Request(
        migration_table=ownership.MIGRATION_TABLE,
        mode=options.mode,
        keyshift=cat.keyshift_schema(ownership.SCHEMA),
        **external.wanted_names(options, targets),
    )
    return catalog.snapshot(cat, targets, options.references, request)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_write_snapshot(name, conn):
    LOADERS[name](conn)
    snap = read_snapshot(conn, OPTIONS[name])
    # The test database's name changes with every run: store the case's name instead.
    create = dataclasses.replace(snap.facts.create, database_name=name)
    snap = dataclasses.replace(snap, facts=dataclasses.replace(snap.facts, create=create))
    path = SNAPSHOTS / f"{name}.json"
    path.write_text(catalog.snapshot_to_json(snap))
    assert catalog.snapshot_from_json(path.read_text()) == snap
