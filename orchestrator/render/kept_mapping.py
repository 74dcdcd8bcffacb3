"""01's rollback of a mapping table: rollback keeps it, and proves it complete.

Rollback gives every row its integer id back through the mapping table, and gives rows written
since migrate fresh ids that it adds to the mapping (render/rollback_ids.py). The mapping then
holds every uuid the application may have seen with the integer id its row has now, so rollback
keeps it in schema keyshift (keyshift's object, not the user's), records it in
``keyshift.rolled_back_mapping`` with the time of the rollback, and says so in a NOTICE:
``keyshift export-map`` exports it and ``keyshift drop-map`` removes it. Before that, a claim
proven inside the rollback transaction: every row's integer id appears exactly once in it.
"""

from __future__ import annotations

from orchestrator.names import Statement, qualname
from orchestrator.plan.model import Target
from orchestrator.render.common import I, L, do_block, map_ident, stmt, table_ident

#: The name of the claim (its message starts with it).
CLAIM = "mapping_covers_every_row"

_CLAIM_BODY = (
    "SELECT count(*), min(t.{k}::text) INTO bad, sample\n"
    "FROM {t} AS t\n"
    "LEFT JOIN (\n"
    "    SELECT m.old_id, count(*) AS n FROM {m} AS m GROUP BY m.old_id\n"
    ") AS m ON t.{k} = m.old_id\n"
    "WHERE m.n IS DISTINCT FROM 1;\n"
    "IF bad > 0 THEN\n"
    "    RAISE EXCEPTION USING\n"
    "    MESSAGE = format(\n"
    "        'keyshift: claim " + CLAIM + " failed: %s row(s) of %s have an id that %s holds not exactly once '\n"
    "        || '(as old_id), e.g. id %s',\n"
    "        bad, {shown}, {mshown}, sample\n"
    "    ),\n"
    "    HINT = 'nothing was changed; the mapping rollback keeps would not translate every uuid to the id its '\n"
    "    || 'row has: restore the rollback files as planned and the mapping table from a backup';\n"
    "END IF;"
)


def claim_mapping_covers_every_row(t: Target) -> Statement:
    """Claim, proven inside the rollback transaction once the keys are integers again: every row's
    integer id appears exactly once as old_id in the mapping table that rollback keeps."""
    return Statement(
        do_block(
            _CLAIM_BODY,
            declare="DECLARE\n    bad bigint;\n    sample text;\n",
            k=I(t.key.column_name),
            t=table_ident(*t.table.key),
            m=map_ident(t),
            shown=L(t.table.display),
            mshown=L(qualname("keyshift", t.map_table)),
        ),
        (
            f"Claim {CLAIM}, proven here, inside the rollback transaction: every row of {t.table.display}",
            "has its integer id exactly once in the mapping table that rollback keeps.",
        ),
    )


def keep_mapping(plan_id: str, t: Target) -> list[Statement]:
    """Record the kept mapping table and say, once the rollback committed, how to export or remove it."""
    shown = t.table.display
    return [
        stmt(
            "INSERT INTO keyshift.rolled_back_mapping (plan_id, table_schema, table_name, key_column, map_table)\n"
            "VALUES ({}, {}, {}, {}, {})",
            L(plan_id),
            L(t.table.table_schema),
            L(t.table.table_name),
            L(t.key.column_name),
            L(t.map_table),
            note=(
                f"{shown}: rollback keeps its mapping table (old id -> uuid of every row, rows written since",
                "migrate with the ids rollback gave them); keyshift drop-map removes it.",
            ),
        ),
        Statement(
            do_block(
                "RAISE NOTICE USING\n"
                "MESSAGE = format(\n"
                "    'keyshift: kept mapping table %s of %s (%s rows: old integer id -> uuid, rows written since '\n"
                "    || 'migrate included)',\n"
                "    {mshown},\n"
                "    {shown},\n"
                "    (SELECT count(*) FROM {m})\n"
                "),\n"
                "HINT = {hint};",
                mshown=L(qualname("keyshift", t.map_table)),
                shown=L(shown),
                m=map_ident(t),
                hint=L(f"keyshift export-map --table {shown} exports it; keyshift drop-map --table {shown} removes it"),
            )
        ),
    ]


def refuse_kept(t: Target) -> Statement:
    """Before the mapping table is created: refuse when a rollback kept a mapping table of that name
    (a plan applied again after its rollback): keyshift never writes over it."""
    shown = t.table.display
    return Statement(
        do_block(
            "SELECT k.plan_id, k.rolled_back_at INTO r\n"
            "FROM keyshift.rolled_back_mapping AS k\n"
            "WHERE k.map_table = {name};\n"
            "IF FOUND THEN\n"
            "    RAISE EXCEPTION USING\n"
            "    MESSAGE = format(\n"
            "        'keyshift: mapping table %s of %s was kept by the rollback of plan %s at %s, and this plan '\n"
            "        || 'creates a mapping table of that name',\n"
            "        {mshown}, {shown}, r.plan_id,\n"
            "        to_char(r.rolled_back_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')\n"
            "    ),\n"
            "    HINT = {hint};\n"
            "END IF;",
            declare="DECLARE\n    r record;\n",
            name=L(t.map_table),
            mshown=L(qualname("keyshift", t.map_table)),
            shown=L(shown),
            hint=L(
                f"nothing was changed; export it if you need it (keyshift export-map --table {shown}), remove it "
                f"with keyshift drop-map --table {shown}, then migrate again"
            ),
        ),
        (f"{shown}: refuse when a rollback kept a mapping table of this name; keyshift never writes over it.",),
    )
