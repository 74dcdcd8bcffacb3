"""06 slugs: a unique Base62 slug column beside each key that asked for one (--slug)."""

from __future__ import annotations

from psycopg import sql

from orchestrator.names import Statement
from orchestrator.plan.model import Plan, Target, short_name
from orchestrator.plan.model import slug_constraint_name as plan_slug_constraint_name
from orchestrator.render.common import I, L, Migration, compose, do_block, dollar_quoted, map_ident, stmt, table_ident
from orchestrator.render.keys import KEY_SETTING

# Slugs (--slug-column, --slug-length)
#
# Existing rows: base62(keyed_uuid_v4(key || salt || 'slug', old id), N), computed into a
# temporary table, where any duplicate (possible below 22 characters, astronomically
# unlikely at 22) is redrawn until none is left; the column is then filled in one rewrite
# (no UPDATE, so no row trigger fires). Slugs reveal neither the old id nor the key.
# New rows: DEFAULT keyshift.unique_slug('schema.table'::regclass, 'col', N), which redraws a
# slug that a committed row already holds; the UNIQUE constraint stays the guarantee (only two
# concurrent uncommitted INSERTs of the same slug, about 1 in 62^N, still get unique_violation).


def _slug_table(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_slug_", target.map_table))


def _slug_fn(target: Target) -> sql.Identifier:
    return I("pg_temp", short_name("keyshift_slug_of_", target.map_table))


def _slug_default(target: Target) -> sql.Composed:
    """keyshift.unique_slug('"schema"."table"'::regclass, 'col', N): stored with the table's OID."""
    return sql.SQL("keyshift.unique_slug({}::regclass, {}, {})").format(
        L(table_ident(*target.table.key).as_string(None)), L(target.slug_column), L(target.slug_length)
    )


def slug_constraint_name(target: Target) -> str:
    return plan_slug_constraint_name(target.table.table_name, target.slug_column)


def slugs_migration(plan: Plan) -> Migration | None:
    targets = [t for t in plan.targets if t.slug_column]
    if not targets:
        return None
    apply, rollback = [], []
    for t in targets:
        apply += _draw_slugs(t)
        apply += _fill_slugs(plan, t)
    for t in reversed(targets):
        rollback.append(stmt("ALTER TABLE {} DROP COLUMN {}", table_ident(*t.table.key), I(t.slug_column)))
    header = (
        "What: adds a unique Base62 [0-9a-zA-Z] slug column to each table below and fills every row:",
        *(
            f"    {t.table.display}.{t.slug_column}: {t.slug_length} chars, "
            f"default {_slug_default(t).as_string(None)}, UNIQUE {slug_constraint_name(t)}"
            for t in targets
        ),
        "Why: short public identifiers that reveal neither the old id nor the key. Existing rows get a keyed",
        "  hash of the old id; any duplicate is redrawn before the UNIQUE constraint is added. New rows",
        "  draw a random slug, redrawn while a row already holds it (keyshift.unique_slug); the UNIQUE",
        "  constraint still refuses the one remaining race, two concurrent INSERTs drawing the same slug.",
        f"Proven by: checks/slug_columns_are_unique_text.sql, {plan.plan_id}.checks/slugs_are_base62.sql",
    )
    return Migration(f"{plan.plan_id}_06_add_slugs", "add unique Base62 slug columns", header, apply, rollback)


def _draw_slugs(t: Target) -> list[Statement]:
    """The new slug column, and a temporary table of one unique slug per new key, hashed from the old id."""
    out = []
    tab, col, n = table_ident(*t.table.key), I(t.slug_column), L(t.slug_length)
    out.append(
        stmt(
            "ALTER TABLE {} ADD COLUMN {} text",
            tab,
            col,
            note=f"{t.table.display}.{t.slug_column}: {t.rows} rows at plan time, {t.slug_length} chars.",
        )
    )
    out.append(
        stmt(
            "CREATE TEMPORARY TABLE {} ON COMMIT DROP AS\nSELECT\n    m.new_id,\n"
            "    keyshift.base62(keyshift.keyed_uuid_v4(current_setting({}) || {}, m.old_id), {}) AS slug\n"
            "FROM {} AS m",
            _slug_table(t),
            L(KEY_SETTING),
            L(t.salt + "slug:"),
            n,
            map_ident(t),
        )
    )
    out.append(stmt("ALTER TABLE {} ADD PRIMARY KEY (new_id)", _slug_table(t)))
    out.append(
        Statement(
            do_block(
                "LOOP\n    UPDATE {s} AS s SET slug = keyshift.random_slug({n})\n"
                "    FROM (\n        SELECT\n            d.new_id,\n"
                "            row_number() OVER (PARTITION BY d.slug ORDER BY d.new_id) AS n\n"
                "        FROM {s} AS d\n    ) AS dup\n    WHERE dup.new_id = s.new_id AND dup.n > 1;\n"
                "    EXIT WHEN NOT found;\nEND LOOP;",
                s=_slug_table(t),
                n=n,
            ),
            ("Redraw duplicates until every slug is unique.",),
        )
    )
    return out


def _fill_slugs(plan: Plan, t: Target) -> list[Statement]:
    """Every row's slug set from the temporary table in one rewrite, the column made unique; helpers dropped."""
    tab, col = table_ident(*t.table.key), I(t.slug_column)
    out = []
    body = compose(" SELECT slug FROM {} WHERE new_id = $1 ", _slug_table(t))
    out.append(
        stmt("CREATE FUNCTION {}(uuid) RETURNS text\nLANGUAGE sql STABLE\nAS {}", _slug_fn(t), dollar_quoted(body))
    )
    out.append(
        stmt(
            "ALTER TABLE {}\nALTER COLUMN {c} TYPE text USING {}({}),\nALTER COLUMN {c} SET NOT NULL,\n"
            "ALTER COLUMN {c} SET DEFAULT {},\nADD CONSTRAINT {} UNIQUE ({c})",
            tab,
            _slug_fn(t),
            I(t.key.column_name),
            _slug_default(t),
            I(slug_constraint_name(t)),
            c=col,
            note="One rewrite fills every row; no row trigger fires.",
        )
    )
    out.append(
        stmt(
            "COMMENT ON COLUMN {} IS {}",
            I(*t.table.key, t.slug_column),
            L(
                f"keyshift plan {plan.plan_id}: unique Base62 slug of {t.slug_length} characters; "
                "the default redraws a slug that a row already holds"
            ),
        )
    )
    out.append(stmt("DROP FUNCTION {}(uuid)", _slug_fn(t)))
    out.append(stmt("DROP TABLE {}", _slug_table(t)))
    return out
