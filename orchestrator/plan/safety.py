"""Safety: refuse at plan time what would fail halfway through migrate, lose data, or break
something outside the database.

Pure: every check reads the snapshot and its ``Facts`` (catalog/facts.py, read by
catalog/gather.py), never the database. ``keyshift plan`` runs them before anything is
written; each raises ``Refused`` (exit 3) naming the object, the reason and the fix:

- relations the current role cannot ALTER/DROP (ALTER TABLE needs ownership), and the
  CREATE privileges migrate needs for schema keyshift and yoyo's bookkeeping tables;
- tables published for logical replication (subscribers keep integer columns);
- a serial/identity sequence keyshift would drop while another column draws from it;
- rows under a NOT VALID foreign key that reference nothing: they have no mapping, so
  their references could not survive the conversion or a rollback;
- v6 keys of ids 2^61 or more apart; a schema keyshift, or a name keyshift needs in it, that
  keyshift did not create.
"""

from __future__ import annotations

from orchestrator.catalog import Facts, KeyshiftSchema, Relation, Snapshot
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.plan.model import map_table_name
from orchestrator.plan.ownership import FUNCTION_NAMES, FUNCTIONS, MARKER, REGISTRY_TABLES, SCHEMA


def refuse_unsafe(snap: Snapshot, mode: str) -> None:
    """Every refusal of this module but v6_id_range, in order, for the snapshot of one plan's
    mode (external mode's holds only its targets: external.targets_only)."""
    not_owned(snap)
    keyshift_names(snap.facts.keyshift, snap.targets, mode)
    ownership(snap)
    create_privileges(snap.facts)
    publications(snap)
    shared_sequences(snap)
    orphans(snap)


def not_owned(snap: Snapshot) -> None:
    """Refuse the first table whose rows plan reads that the role may not alter (its rows were not
    read: counting them could need a privilege the role lacks)."""
    found = {r.key: r for r in snap.facts.relations}
    _refuse_not_owned([found[key] for key in snap.tables if key in found and not found[key].can_alter])


def ownership(snap: Snapshot) -> None:
    """Refuse a table, view or key sequence the conversion alters that the role may not alter."""
    wanted = {t.key for t in snap.tables.values()} | {v.key for v in snap.views}
    wanted |= {(k.seq_schema, k.seq_name) for _t, k in snap.targets if k.seq_name}
    _refuse_not_owned([r for r in snap.facts.relations if r.key in wanted and not r.can_alter])


def _refuse_not_owned(rows: list[Relation]) -> None:
    kinds = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "S": "sequence"}
    for r in rows:
        kind = kinds.get(r.relkind, "relation")
        shown = qualname(r.rel_schema, r.rel_name)
        raise Refused(
            f"{kind} {shown}",
            f"is owned by role {r.owner}, and role {r.current_role_name} cannot alter it "
            f"(ALTER on a {kind} needs ownership), but the conversion must change it",
            f"run keyshift as {r.owner} (or a role granted it: GRANT {r.owner} TO {r.current_role_name}), "
            f"or ALTER {kind.split()[-1].upper()} {shown} OWNER TO {r.current_role_name}",
        )


def create_privileges(facts: Facts) -> None:
    row = facts.create
    who = row.current_role_name
    if not row.keyshift_exists and not row.can_create_schema:
        raise Refused(
            f"database {row.database_name}",
            f"role {who} may not create schema keyshift there (CREATE on the "
            "database), where the conversion keeps its mapping tables and registry",
            f"GRANT CREATE ON DATABASE {row.database_name} TO {who}, or create schema keyshift owned by {who}",
        )
    if row.keyshift_exists and not row.keyshift_owned:
        raise Refused(
            "schema keyshift",
            f"exists and is not owned by role {who}",
            f"ALTER SCHEMA keyshift OWNER TO {who}, or run keyshift as its owner",
        )
    if not row.yoyo_exists and not row.can_create_tables:
        where = row.bookkeeping_schema or "(no schema on the search_path exists)"
        raise Refused(
            f"schema {where}",
            f"role {who} may not create yoyo's bookkeeping tables there (the first schema of its search_path)",
            f"GRANT CREATE ON SCHEMA {where} TO {who}, or set the role's search_path to a schema it may create in",
        )


def publications(snap: Snapshot) -> None:
    for r in snap.facts.publications:
        if (r.table_schema, r.table_name) not in snap.tables:
            continue
        shown = qualname(r.table_schema, r.table_name)
        if r.all_tables:
            raise Refused(
                f"table {shown}",
                f"is published by publication {r.pubname} (FOR ALL TABLES): subscribers' copies keep integer "
                "columns and replication would stop at the first converted row",
                f"convert the subscribers' tables together with this one, or drop publication {r.pubname} "
                "for the conversion and create it again afterwards",
            )
        raise Refused(
            f"table {shown}",
            f"is published by publication {r.pubname}: subscribers' copies keep integer columns and "
            "replication would stop at the first converted row",
            f"ALTER PUBLICATION {r.pubname} DROP TABLE {shown}; convert it here and on the subscribers; "
            f"then ALTER PUBLICATION {r.pubname} ADD TABLE {shown}",
        )


def shared_sequences(snap: Snapshot) -> None:
    for table, key in snap.targets:
        if not key.seq_name:
            continue
        users = [
            u
            for u in snap.facts.sequence_users.get((key.seq_schema, key.seq_name), ())
            if (u.table_schema, u.table_name, u.column_name) != (table.table_schema, table.table_name, key.column_name)
        ]
        seq = qualname(key.seq_schema, key.seq_name)
        # A plain nextval() default on a sequence no column owns: the key stops using it and the
        # other columns keep it (plan keeps such a sequence). An owned (serial) or identity
        # sequence goes with the key, so another column drawing from it must be refused.
        if users and key.sequence_kind != "default":
            others = ", ".join(f"{qualname(u.table_schema, u.table_name)}.{u.column_name}" for u in users)
            raise Refused(
                f"sequence {seq}",
                f"gives {table.display}.{key.column_name} its integer keys, but {others} also draws its "
                "default from it: keyshift retires the old key's sequence with the key",
                "give that column a sequence of its own (CREATE SEQUENCE, then ALTER TABLE ... SET DEFAULT "
                "nextval(...)), then plan again",
            )


def orphans(snap: Snapshot) -> None:
    for fk in snap.fks:
        if fk.is_validated:
            continue
        count = snap.facts.orphans.get(fk.oid, 0)
        if count:
            raise Refused(
                f"foreign key {fk.name} on {qualname(*fk.child)}",
                f"is NOT VALID and {count} rows reference no row of {qualname(*fk.parent)}: they have no mapping, "
                "so their references could not be converted nor survive a rollback",
                f"delete or repair those rows, then ALTER TABLE {qualname(*fk.child)} VALIDATE CONSTRAINT "
                f"{fk.name}, and plan again",
            )


#: keyshift.keyed_uuid_v6 leaves 61 bits for the id: ids 2^61 apart (agreeing in their low 61
#: bits) can share a key; ids of a table less than 2^61 apart never do.
V6_ID_SPAN = 2**61


def v6_id_range(facts: Facts, targets) -> None:
    """Refuse a v6 target whose ids lie 2^61 or more apart (snowflake-sized ids): two of its
    rows could get the same key, which step 01's unique mapping index would only find at
    migrate time."""
    for t in targets:
        lo, hi = facts.id_ranges.get(t.table.key, (None, None))
        if lo is not None and hi - lo >= V6_ID_SPAN:
            raise Refused(
                f"table {t.table.display}",
                f"has ids from {lo} to {hi}, 2^61 or more apart: uuid v6 keys of existing rows are distinct "
                "only for ids less than 2^61 apart (the v6 layout leaves 61 bits for the id)",
                f"use --uuid-for {t.table.display}=v4, or v7 (distinct for every bigint)",
            )


def keyshift_schema(found: KeyshiftSchema) -> bool:
    """Whether schema keyshift exists; refuse when it exists and is not keyshift's.

    It is keyshift's when it holds the marker keyshift writes (keyshift.installation with exactly
    its columns and comment) or a registry an earlier keyshift wrote (sql/catalog/keyshift_schema.sql):
    a table that merely has one of those names is someone else's, and so is the schema."""
    if found.schema_exists and not (found.marker_ok or found.registry_ok):
        raise Refused(
            f"schema {SCHEMA}",
            "exists and was not created by keyshift (it has no keyshift.installation marker and no keyshift "
            "registry of the shape keyshift writes), and keyshift keeps its mapping tables, registry and "
            "functions in a schema of that name",
            f"rename that schema (ALTER SCHEMA {SCHEMA} RENAME TO ...) or drop it, then plan again",
        )
    return found.schema_exists


#: What a relation in schema keyshift is, by pg_class.relkind, as a refusal names it.
_RELATION_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "i": "index",
    "I": "partitioned index",
    "f": "foreign table",
    "c": "type",
}


def keyshift_names(found: KeyshiftSchema, targets, mode: str) -> None:
    """Refuse a schema named keyshift that keyshift did not create, and any name keyshift needs in
    its own schema (a mapping table, a registry table, the marker, a function) held by an object
    keyshift did not create (orchestrator/plan/ownership.py lists them).

    Schema keyshift is keyshift's when it holds the marker keyshift.installation, or a registry
    (keyshift.converted_table) an earlier keyshift wrote. In it, a table with a registry name and a
    function with the exact signature of a keyshift function are keyshift's: keyshift made them."""
    schema = SCHEMA
    if not keyshift_schema(found):
        return
    tables, types = found.relations, found.types
    # A relation holding a mapping table's name is refused by plan.check_generated_names; a type
    # (enum, domain, ...) holds it just as well: CREATE TABLE makes a row type of that name.
    maps = [map_table_name(*t.key) for t, _k in targets] if mode != "external" else []
    _refuse_kept_mappings(found, maps)
    for name in maps:
        if name in types and name not in tables:
            raise Refused(
                f"type {qualname(schema, name)}",
                "holds the name of the mapping table keyshift creates for this plan, and keyshift did not create it",
                "rename or drop that type, then plan again",
            )
    for name in (*REGISTRY_TABLES, MARKER):
        if (name in tables and tables[name] != "r") or name in types:
            what = _RELATION_KINDS.get(tables.get(name), "type")
            raise Refused(
                f"{what} {qualname(schema, name)}",
                "holds the name of a keyshift registry table, and keyshift did not create it",
                f"rename or drop that {what}, then plan again",
            )
    _refuse_foreign_functions(found, schema)


def _refuse_kept_mappings(found: KeyshiftSchema, maps: list[str]) -> None:
    """Refuse a mapping table name that a rollback's kept mapping holds: keyshift never writes over it."""
    for name in maps:
        if name in found.kept_mappings:
            plan_id, table_schema, table_name, rolled_back_at = found.kept_mappings[name]
            shown = qualname(table_schema, table_name)
            raise Refused(
                f"mapping table {qualname(SCHEMA, name)} of {shown}",
                f"was kept by the rollback of plan {plan_id} at {rolled_back_at}, and this plan would create "
                "a mapping table of that name",
                f"export it if you need it (keyshift export-map --table {shown}), remove it with keyshift drop-map "
                f"--table {shown}, then plan again",
            )


def _refuse_foreign_functions(found: KeyshiftSchema, schema: str) -> None:
    """Refuse a function in schema keyshift that has a keyshift function's name but not its signature or kind."""
    known = {(f.name, ", ".join(f.args)) for f in FUNCTIONS}
    for f in found.functions:
        name, args = f.name, f.args
        if name not in FUNCTION_NAMES:
            continue
        if (name, args) not in known or f.prokind != "f":
            raise Refused(
                f"function {qualname(schema, name)}({args})",
                f"holds the name of a function keyshift creates ({schema}.{name}), and keyshift did not create it",
                "rename or drop that function (or move it to another schema with ALTER FUNCTION ... SET SCHEMA), "
                "then plan again",
            )
