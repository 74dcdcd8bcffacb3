"""The planner on stored catalog snapshots: no database, no connection, no fixture that makes one.

tests/fixtures/snapshots/<case>.json are snapshots of real fixture schemas (the sample project,
the goldens' tree schema, the shop and chat fixtures), read the way ``keyshift plan`` reads
them and stored with ``catalog.snapshot_to_json``. Regenerate them (PostgreSQL 15, the goldens'
major) after a change to what the catalog reads, and review their diff:

    .venv/bin/pytest -q tests/make_snapshots.py

Each test loads one, changes it where it needs to (``dataclasses.replace`` on the snapshot's
dataclasses: an owner that is not the role, a publication, a sequence another column uses, a
foreign function in schema keyshift, orphan rows) and calls ``planner.make_plan``, the pure
function ``keyshift plan`` calls: the ordered plan, or the refusal keyshift prints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator import catalog
from orchestrator.catalog import (
    KeyshiftFunction,
    KeyshiftSchema,
    Publication,
    ReferenceColumn,
    SequenceUser,
    Snapshot,
)
from orchestrator.errors import EXIT_REFUSED, Refused
from orchestrator.plan import model, planner, safety
from orchestrator.plan.options import Options
from orchestrator.render import migrations

TESTS = Path(__file__).resolve().parent
SNAPSHOTS = TESTS / "fixtures" / "snapshots"
GOLDEN = TESTS / "golden"

#: The options each stored snapshot was read for (tests/make_snapshots.py reads with these).
OPTIONS = {
    "seed000_custom_user": Options(tables=(("public", "custom_user"),)),
    "tree_category_item": Options(tables=(("public", "category"), ("public", "item")), uuid="v6"),
    "seed002_users_external": Options(
        tables=(("public", "users"),), mode="external", restarts=(("public", "users", 1000000),)
    ),
    "seed003_chat": Options(tables=(("public", "core_user"), ("public", "core_room"))),
}

#: Snapshots whose plan is a golden case: the same options, so the same files.
GOLDEN_CASES = {
    "seed000_custom_user": "seed000_v4",
    "tree_category_item": "tree_self_fk_views_v6",
    "seed002_users_external": "seed002_external",
}


def load(name: str) -> Snapshot:
    return catalog.snapshot_from_json((SNAPSHOTS / f"{name}.json").read_text())


def plan(name: str, snap: Snapshot | None = None) -> model.Plan:
    return planner.make_plan(snap or load(name), OPTIONS[name], "0001")


def refusal(name: str, snap: Snapshot) -> Refused:
    with pytest.raises(Refused) as info:
        plan(name, snap)
    assert info.value.exit_code == EXIT_REFUSED
    return info.value


def with_facts(snap: Snapshot, **changes) -> Snapshot:
    return dataclasses.replace(snap, facts=dataclasses.replace(snap.facts, **changes))


# --- the snapshots themselves ----------------------------------------------------------------


def test_every_snapshot_has_its_options():
    assert sorted(p.stem for p in SNAPSHOTS.glob("*.json")) == sorted(OPTIONS)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_json_round_trip_is_lossless(name):
    text = (SNAPSHOTS / f"{name}.json").read_text()
    snap = catalog.snapshot_from_json(text)
    assert catalog.snapshot_to_json(snap) == text
    assert catalog.snapshot_from_json(catalog.snapshot_to_json(snap)) == snap
    assert snap.facts.rows_read and snap.facts.create is not None


# --- plans --------------------------------------------------------------------------------------


def test_chat_plan_orders_parents_first_and_locks_in_that_order():
    p = plan("seed003_chat")
    assert [t.table.key for t in p.targets] == [("public", "core_user"), ("public", "core_room")]
    assert model.lock_order(p) == [
        ("public", "core_user"),
        ("public", "core_room"),
        ("public", "core_message"),
        ("public", "core_room_participants"),
    ]
    assert [c.display for c in p.columns] == [
        "public.core_user.id",
        "public.core_room.host_id",
        "public.core_room.id",
        "public.core_message.room_id",
        "public.core_message.user_id",
        "public.core_room_participants.room_id",
        "public.core_room_participants.user_id",
    ]
    assert {c.map_table for c in p.columns if c.root == ("public", "core_room")} == {"map_public__core_room"}


def test_tree_plan_locks_the_parent_before_the_child():
    p = plan("tree_category_item")
    assert model.lock_order(p) == [("public", "category"), ("public", "item")]
    assert [t.uuid_version for t in p.targets] == ["v6", "v6"]
    assert [v.view_name for v in p.views] == ["category_tree", "item_title"]


def test_external_plan_locks_only_its_target():
    p = plan("seed002_users_external")
    assert model.lock_order(p) == [("public", "users")]
    assert [(e.column, e.constraint) for e in p.external_columns] == [("external_id", "users_external_id_key")]
    assert [(r.value, r.max_id) for r in p.restarts] == [(1000000, p.restarts[0].max_id)]
    assert p.restarts[0].max_id is not None and p.columns == [] and p.fks == []


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_plan_renders_the_golden_migrations(name):
    """The pure planner on a stored snapshot writes the same migrations as the golden case."""
    previous, files = None, {}
    for m in migrations.render(plan(name)):
        files[f"{m.name}.sql"] = m.text(previous)
        files[f"{m.name}.rollback.sql"] = m.rollback_text()
        previous = m.name
    golden = GOLDEN / GOLDEN_CASES[name]
    assert sorted(files) == sorted(p.name for p in golden.glob("*.sql"))
    for file_name, text in files.items():
        assert text == (golden / file_name).read_text(), file_name


# --- refusals -----------------------------------------------------------------------------------


def _not_alterable(snap: Snapshot, key: tuple[str, str], owner: str = "someone_else") -> Snapshot:
    relations = tuple(
        dataclasses.replace(r, can_alter=False, owner=owner) if r.key == key else r for r in snap.facts.relations
    )
    return with_facts(snap, relations=relations)


def test_a_table_the_role_cannot_alter_is_refused_by_name():
    snap = _not_alterable(load("seed003_chat"), ("public", "core_message"))
    role = snap.facts.relations[0].current_role_name
    err = refusal("seed003_chat", snap)
    assert err.obj == "table public.core_message"
    assert err.reason == (
        f"is owned by role someone_else, and role {role} cannot alter it (ALTER on a table needs ownership), "
        "but the conversion must change it"
    )
    assert err.fix.startswith(f"run keyshift as someone_else (or a role granted it: GRANT someone_else TO {role})")


def test_a_key_sequence_the_role_cannot_alter_is_refused():
    snap = load("seed003_chat")
    key = snap.targets[0][1]
    err = refusal("seed003_chat", _not_alterable(snap, (key.seq_schema, key.seq_name)))
    assert err.obj == f"sequence public.{key.seq_name}"


def test_not_owned_comes_before_every_other_refusal():
    snap = _not_alterable(load("seed003_chat"), ("public", "core_room"))
    snap = with_facts(snap, publications=(Publication("pub", False, "public", "core_user"),))
    assert refusal("seed003_chat", snap).obj == "table public.core_room"


def test_a_published_table_is_refused():
    snap = with_facts(load("seed003_chat"), publications=(Publication("chat_pub", False, "public", "core_message"),))
    err = refusal("seed003_chat", snap)
    assert err.obj == "table public.core_message"
    assert err.reason.startswith("is published by publication chat_pub: subscribers' copies keep integer columns")
    assert err.fix.startswith("ALTER PUBLICATION chat_pub DROP TABLE public.core_message;")


def test_a_publication_of_an_untouched_table_is_no_concern():
    snap = with_facts(load("seed003_chat"), publications=(Publication("other", True, "public", "core_topic"),))
    assert model.lock_order(plan("seed003_chat", snap))[0] == ("public", "core_user")


def test_external_mode_minds_only_its_targets_publications():
    name = "seed002_users_external"
    snap = with_facts(load(name), publications=(Publication("all", True, "public", "orders"),))
    assert plan(name, snap).external_columns
    snap = with_facts(load(name), publications=(Publication("all", True, "public", "users"),))
    assert "(FOR ALL TABLES)" in refusal(name, snap).reason


def test_a_serial_sequence_another_column_draws_from_is_refused():
    snap = load("seed003_chat")
    table, key = snap.targets[0]
    seq = (key.seq_schema, key.seq_name)
    users = (
        SequenceUser(table.table_schema, table.table_name, key.column_name),
        SequenceUser("public", "core_topic", "legacy_id"),
    )
    err = refusal("seed003_chat", with_facts(snap, sequence_users={**snap.facts.sequence_users, seq: users}))
    assert err.obj == f"sequence public.{key.seq_name}"
    assert "but public.core_topic.legacy_id also draws its default from it" in err.reason


def test_orphan_rows_under_a_not_valid_foreign_key_are_refused():
    snap = load("seed003_chat")
    fk = next(f for f in snap.fks if f.child_table == "core_message")
    fks = [dataclasses.replace(f, is_validated=False) if f.oid == fk.oid else f for f in snap.fks]
    assert plan("seed003_chat", dataclasses.replace(snap, fks=fks)).targets  # NOT VALID, no orphan: fine
    err = refusal("seed003_chat", with_facts(dataclasses.replace(snap, fks=fks), orphans={fk.oid: 3}))
    assert err.obj == f"foreign key {fk.name} on public.core_message"
    assert err.reason.startswith(f"is NOT VALID and 3 rows reference no row of {'.'.join(fk.parent)}")


def _keyshift(**changes) -> KeyshiftSchema:
    return KeyshiftSchema(schema_exists=True, marker_ok=True, **changes)


def test_a_foreign_function_in_schema_keyshift_is_refused():
    snap = with_facts(
        load("seed003_chat"), keyshift=_keyshift(functions=(KeyshiftFunction("uuid_v7", "integer", "f"),))
    )
    err = refusal("seed003_chat", snap)
    assert err.obj == "function keyshift.uuid_v7(integer)"
    assert (
        err.reason == "holds the name of a function keyshift creates (keyshift.uuid_v7), and keyshift did not create it"
    )


def test_keyshifts_own_functions_and_other_names_are_no_concern():
    ours = (
        KeyshiftFunction("uuid_v7", "", "f"),
        KeyshiftFunction("uuid_v7", "timestamp with time zone", "f"),
        KeyshiftFunction("helper", "integer", "f"),
    )
    snap = with_facts(load("seed003_chat"), keyshift=_keyshift(functions=ours, relations={"converted_table": "r"}))
    assert plan("seed003_chat", snap).targets


def test_a_procedure_with_a_keyshift_functions_signature_is_refused():
    snap = with_facts(
        load("seed003_chat"), keyshift=_keyshift(functions=(KeyshiftFunction("base62", "uuid, integer", "p"),))
    )
    assert refusal("seed003_chat", snap).obj == "function keyshift.base62(uuid, integer)"


def test_a_view_holding_a_registry_tables_name_is_refused():
    snap = with_facts(load("seed003_chat"), keyshift=_keyshift(relations={"converted_column": "v"}))
    err = refusal("seed003_chat", snap)
    assert (err.obj, err.fix) == ("view keyshift.converted_column", "rename or drop that view, then plan again")


def test_a_type_holding_the_mapping_tables_name_is_refused():
    snap = with_facts(load("seed003_chat"), keyshift=_keyshift(types=frozenset({"map_public__core_room"})))
    assert refusal("seed003_chat", snap).obj == "type keyshift.map_public__core_room"


def test_a_mapping_kept_by_a_rollback_under_the_mapping_tables_name_is_refused_naming_drop_map():
    kept = {"map_public__core_room": ("0007", "public", "core_room", "2026-01-02 03:04:05 UTC")}
    snap = with_facts(
        load("seed003_chat"), keyshift=_keyshift(relations={"map_public__core_room": "r"}, kept_mappings=kept)
    )
    err = refusal("seed003_chat", snap)
    assert err.obj == "mapping table keyshift.map_public__core_room of public.core_room"
    assert "rollback of plan 0007 at 2026-01-02 03:04:05 UTC" in err.reason
    assert "keyshift drop-map --table public.core_room" in err.fix


def test_a_schema_keyshift_keyshift_did_not_create_is_refused():
    found = KeyshiftSchema(schema_exists=True)
    with pytest.raises(Refused) as info:
        safety.keyshift_schema(found)
    assert info.value.obj == "schema keyshift"
    assert refusal("seed003_chat", with_facts(load("seed003_chat"), keyshift=found)).obj == "schema keyshift"


def test_missing_create_privileges_are_refused():
    snap = load("seed003_chat")
    create = dataclasses.replace(snap.facts.create, keyshift_exists=False, can_create_schema=False)
    err = refusal("seed003_chat", with_facts(snap, create=create))
    assert err.obj == f"database {create.database_name}"
    create = dataclasses.replace(snap.facts.create, yoyo_exists=False, can_create_tables=False)
    assert refusal("seed003_chat", with_facts(snap, create=create)).obj == f"schema {create.bookkeeping_schema}"


def test_v6_ids_too_far_apart_are_refused():
    snap = with_facts(load("tree_category_item"), id_ranges={("public", "category"): (1, 1 + 2**61)})
    err = refusal("tree_category_item", snap)
    assert err.obj == "table public.category"
    assert err.fix == "use --uuid-for public.category=v4, or v7 (distinct for every bigint)"


def test_a_mapping_table_name_taken_is_refused():
    snap = with_facts(load("seed003_chat"), taken_relations=frozenset({("keyshift", "map_public__core_user")}))
    assert refusal("seed003_chat", snap).obj == "keyshift.map_public__core_user"


def test_external_column_that_exists_is_refused():
    name = "seed002_users_external"
    snap = load(name)
    columns = {
        **snap.target_columns,
        ("public", "users"): {**snap.target_columns[("public", "users")], "external_id": "uuid"},
    }
    err = refusal(name, dataclasses.replace(snap, target_columns=columns))
    assert (err.obj, err.reason) == ("column public.users.external_id", "exists already")


def test_restart_below_the_highest_id_is_refused():
    name = "seed002_users_external"
    snap = with_facts(load(name), id_ranges={("public", "users"): (1, 2000000)})
    err = refusal(name, snap)
    assert err.obj == "--restart-sequence public.users=1000000"
    assert err.reason == "1000000 is not above every existing id (max(id) is 2000000)"


def test_a_reference_column_that_is_no_integer_is_refused_before_anything_else():
    snap = _not_alterable(load("seed003_chat"), ("public", "core_room"))
    message = snap.tables[("public", "core_message")]
    col = ("public", "core_message", "body")
    snap = dataclasses.replace(snap, reference_columns={col: ReferenceColumn(message, "text")})
    err = refusal("seed003_chat", snap)
    assert (err.obj, err.reason) == ("--reference public.core_message.body", "is text, not an integer column")
    snap = dataclasses.replace(snap, reference_columns={col: ReferenceColumn(message, None)})
    assert refusal("seed003_chat", snap).reason == "no such column"
    snap = dataclasses.replace(snap, reference_columns={col: ReferenceColumn(None)})
    assert refusal("seed003_chat", snap).reason == "public.core_message is no table"


def test_a_reference_a_foreign_key_converts_already_is_refused():
    col = ("public", "core_message", "user_id")
    snap = dataclasses.replace(load("seed003_chat"), reference_conflicts={col: "core_message_user_id_fk"})
    err = refusal("seed003_chat", snap)
    assert (err.obj, err.reason) == (
        "--reference public.core_message.user_id",
        "foreign key core_message_user_id_fk converts it already",
    )


# --- functions that use a converted key as an integer (Snapshot.function_uses) ----------------


def test_functions_with_strong_findings_block_each_named_once():
    from orchestrator.catalog import FunctionUse
    from orchestrator.plan.functions import FunctionsBlocked

    uses = [
        FunctionUse("public.f(integer)", "compares public.custom_user.id with integer parameter p"),
        FunctionUse("public.f(integer)", "does arithmetic on public.custom_user.id (+)"),
        FunctionUse("public.g()", "compares OLD.id (public.custom_user.id) with the constant 1"),
        FunctionUse("public.h()", "declares variable v as public.custom_user.id%TYPE, which becomes uuid", False),
    ]
    snap = dataclasses.replace(load("seed000_custom_user"), function_uses=uses)
    refused = refusal("seed000_custom_user", snap)
    assert isinstance(refused, FunctionsBlocked)
    lines = [b.line() for b in refused.blockers]
    assert len(lines) == 2
    assert lines[0].startswith("function public.f(integer): its body compares public.custom_user.id with integer")
    assert "; does arithmetic on public.custom_user.id (+)" in lines[0]
    assert "drop it before the plan and create the uuid version after migrate" in lines[1]
    assert "2 function(s) use a converted key as an integer" in refused.line()


def test_a_weak_function_finding_is_a_warning():
    from orchestrator.catalog import FunctionUse

    use = FunctionUse("public.h()", "declares variable v as public.custom_user.id%TYPE, which becomes uuid", False)
    snap = dataclasses.replace(load("seed000_custom_user"), function_uses=[use])
    warnings = plan("seed000_custom_user", snap).warnings
    assert any(w.startswith("function public.h() declares variable v") for w in warnings), warnings
