"""Ownership statements: what rollback runs to forget a plan, and what drop-map runs once it removed
the last kept mapping. The names keyshift owns are listed in orchestrator/plan/ownership.py."""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement
from orchestrator.plan.ownership import FUNCTIONS, MARKER, REGISTRY_TABLES, SCHEMA, Function
from orchestrator.render.common import I, L, dollar_quoted


def _label_table(name: str) -> str:
    return f"table {SCHEMA}.{name}"


def _label_function(f: Function) -> str:
    return f"function {f.signature}"


def _do(declare: sql.Composable, body: sql.Composable) -> sql.Composed:
    """``DO $$ DECLARE ... BEGIN body END $$`` with the dollar tag of every DO block
    (render.common.dollar_quoted): no name in the body can end it early."""
    return sql.Composed(
        [
            sql.SQL("DO "),
            dollar_quoted(sql.Composed([sql.SQL("\n"), declare, sql.SQL("BEGIN\n"), body, sql.SQL("END\n")])),
        ]
    )


#: The object of pg_depend row ``d`` as "kind schema.name" (pg_identify_object qualifies every
#: name, whatever the search_path): "default value for public.events.id", "view public.ids"
#: (a view's rule is shown as its view), "table constraint fk on public.orders".
_DESCRIBE = sql.SQL(
    "CASE\n"
    "            WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN (\n"
    "                SELECT i.type || ' ' || i.identity\n"
    "                FROM pg_catalog.pg_rewrite AS r\n"
    "                CROSS JOIN LATERAL\n"
    "                    pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) AS i\n"
    "                WHERE r.oid = d.objid\n"
    "            )\n"
    "            ELSE (\n"
    "                SELECT i.type || ' ' || i.identity\n"
    "                FROM pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) AS i\n"
    "            )\n"
    "        END"
)


#: The objects that depend on (refclassid, refobjid) in the ordinary way (deptype 'n': a view's
#: rule, a column default, a foreign key, an index expression, a trigger).
_USERS = sql.SQL(
    "SELECT string_agg(DISTINCT {describe}, '; ')\n"
    "        INTO users\n"
    "        FROM pg_catalog.pg_depend AS d\n"
    "        WHERE d.refclassid = {classid} AND d.refobjid = {objid} AND d.deptype = 'n'"
)


def forget_plan(plan_id: str | sql.Composable, registries: tuple[str, ...]) -> list[Statement]:
    """Rollback's last statements in both modes.

    Delete the plan's rows from each registry table in ``registries`` (children before
    converted_table); then, when no conversion is left, drop what keyshift created, by name:
    functions, registry tables, and last the marker and the schema. An object still used by
    something outside keyshift is kept (with the functions it calls), and so is the schema with
    its marker while anything is left in it; a NOTICE names each one and what to do."""
    pid = plan_id if isinstance(plan_id, sql.Composable) else L(plan_id)
    out = [Statement(sql.SQL("DELETE FROM {}\nWHERE plan_id = {}").format(I(SCHEMA, reg), pid)) for reg in registries]
    out.append(forget_all())
    return out


def forget_all() -> Statement:
    """Once no conversion is left and no mapping is kept: drop what keyshift created (rollback's
    last statement, and drop-map's after it removed the last kept mapping)."""
    return Statement(
        _forget_all(),
        (
            "When no conversion is left and no mapping is kept, keyshift drops what it created, each",
            "object by name and alone: what something outside keyshift still uses is kept, and a NOTICE",
            "says what to do.",
        ),
    )


#: Rollback's last step: once no conversion is left, drop by name what keyshift created and nothing
#: uses, then the marker and the schema when nothing else is in it; say what was kept and why.
_FORGET_ALL = sql.SQL(
    "    IF EXISTS (SELECT 1 FROM {converted_table}) OR EXISTS (SELECT 1 FROM {kept_mappings}) THEN\n"
    "        RETURN;  -- conversions or kept mappings remain: keyshift keeps all it made\n"
    "    END IF;\n"
    "    FOR o IN\n"
    "        SELECT v.label, v.classid, v.objid, v.drop_statement, v.callers\n"
    "        FROM (VALUES\n{values}\n"
    "        ) AS v (ord, label, classid, objid, drop_statement, callers)\n"
    "        WHERE v.objid IS NOT NULL\n"
    "        ORDER BY v.ord\n"
    "    LOOP\n"
    "        {users};\n"
    "        IF users IS NULL AND NOT (o.callers && kept) THEN\n"
    "            EXECUTE o.drop_statement;\n"
    "        ELSE\n"
    "            kept := kept || o.label;\n"
    "            kept_oids := kept_oids || o.objid;\n"
    "            RAISE NOTICE USING\n"
    "            MESSAGE = pg_catalog.format(\n"
    "                'keyshift: kept %s: %s',\n"
    "                o.label,\n"
    "                coalesce('used by ' || users, 'called by the kept ' || array_to_string(\n"
    "                    ARRAY(SELECT c FROM unnest(o.callers) AS c WHERE c = ANY(kept)), ' and the kept '\n"
    "                ))\n"
    "            ),\n"
    "            HINT = pg_catalog.format(\n"
    "                'keyshift needs it no more; once nothing uses it: %s, or keep it as your own', o.drop_statement\n"
    "            );\n"
    "        END IF;\n"
    "    END LOOP;\n"
    "    -- What is left in the schema besides the marker; an extension's members are shown as the\n"
    "    -- extension.\n"
    "    SELECT\n"
    "        count(*),\n"
    "        string_agg(DISTINCT {describe}, '; ') FILTER (\n"
    "            WHERE NOT d.objid = ANY(kept_oids)\n"
    "            AND NOT EXISTS (\n"
    "                SELECT 1 FROM pg_catalog.pg_depend AS e\n"
    "                WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e'\n"
    "            )\n"
    "        )\n"
    "    INTO remaining, others\n"
    "    FROM pg_catalog.pg_depend AS d\n"
    "    WHERE\n"
    "        d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass\n"
    "        AND d.refobjid = pg_catalog.to_regnamespace({schema})\n"
    "        AND d.deptype = 'n'\n"
    "        AND NOT (\n"
    "            d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass\n"
    "            AND d.objid = pg_catalog.to_regclass({marker_name})\n"
    "        );\n"
    "    IF remaining = 0 THEN\n"
    "        DROP TABLE {marker};\n"
    "        DROP SCHEMA {schema_ident};\n"
    "    ELSIF others IS NOT NULL THEN\n"
    "        RAISE NOTICE USING\n"
    "        MESSAGE = 'keyshift: kept schema keyshift and its marker keyshift.installation, which also hold '\n"
    "        || others || ', not created by keyshift',\n"
    "        HINT = 'keep them (the next plan uses the schema), or move those objects to another schema '\n"
    "        || '(ALTER ... SET SCHEMA), then DROP TABLE keyshift.installation and DROP SCHEMA keyshift';\n"
    "    ELSE\n"
    "        RAISE NOTICE USING\n"
    "        MESSAGE = 'keyshift: kept schema keyshift and its marker keyshift.installation, which hold '\n"
    "        || 'what keyshift kept above',\n"
    "        HINT = 'the next plan uses them; a rollback that leaves no conversion drops them once nothing '\n"
    "        || 'uses what keyshift kept';\n"
    "    END IF;\n"
)


def _owned_objects() -> list[sql.Composed]:
    """One VALUES row per function and registry table keyshift made: label, catalog, oid, drop, callers."""
    rows = []
    for f in FUNCTIONS:
        label = _label_function(f)
        callers = [_label_function(g) for g in FUNCTIONS if f.key in g.calls]
        rows.append(
            sql.SQL(
                "{}, 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure({})::oid, {}, {}::text []"
            ).format(
                L(label),
                L(f.composed().as_string(None)),
                L(f.drop().as_string(None)),
                sql.SQL("ARRAY[{}]").format(sql.SQL(", ").join(L(c) for c in callers)),
            )
        )
    for name in REGISTRY_TABLES:
        rows.append(
            sql.SQL(
                "{}, 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass({})::oid, {}, ARRAY[]::text []"
            ).format(
                L(_label_table(name)),
                L(I(SCHEMA, name).as_string(None)),
                L(sql.SQL("DROP TABLE {}").format(I(SCHEMA, name)).as_string(None)),
            )
        )
    return rows


def _forget_all() -> sql.Composed:
    values = sql.SQL(",\n").join(
        sql.Composed([sql.SQL("            ("), L(n), sql.SQL(", "), row]) + sql.SQL(")")
        for n, row in enumerate(_owned_objects())
    )
    declare = sql.SQL(
        "DECLARE\n    o record;\n    users text;\n    others text;\n    remaining bigint;\n"
        "    kept text [] := ARRAY[]::text [];\n    kept_oids oid [] := ARRAY[]::oid [];\n"
    )
    marker = I(SCHEMA, MARKER)
    body = _FORGET_ALL.format(
        converted_table=I(SCHEMA, "converted_table"),
        kept_mappings=I(SCHEMA, "rolled_back_mapping"),
        values=values,
        users=_USERS.format(describe=_DESCRIBE, classid=sql.SQL("o.classid"), objid=sql.SQL("o.objid")),
        describe=_DESCRIBE,
        schema=L(I(SCHEMA).as_string(None)),
        marker_name=L(marker.as_string(None)),
        marker=marker,
        schema_ident=I(SCHEMA),
    )
    return _do(declare, body)
