"""03's rollback for rows written since migrate: their integer ids, the sequence after them, and
the claim that proves it.

A row the mapping lacks was written through the uuid default after migrate. Rollback gives it
an id the key's sequence would have issued next (keyshift.rollback_ids, sql/functions/rollback_ids.sql:
its saved state, increment, MINVALUE/MAXVALUE and the column type; a key without a sequence
continues after max(old_id)), in the order the rows were written where the key tells it (the time
in a v7/v6 key, then the plan's timestamp column), else in key order. When the ids left do not
cover them, the first statements of the file refuse and nothing changes. After the keys are
integers again the sequence stands after every id, and a claim inside the same transaction
proves that its next value is beyond every key.
"""

from __future__ import annotations

import hashlib

from psycopg import sql

from orchestrator.names import Statement, qualname, quote_part
from orchestrator.plan.model import Target
from orchestrator.render.common import I, L, compose, do_block, map_ident, regclass, table_ident

#: The name of the claim the rollback proves for every key sequence (its message starts with it).
CLAIM = "sequence_after_every_key"

_RECORD = "DECLARE\n    rows_since bigint;\n    r record;\n"

#: ``rows_since``: the rows of the target its mapping lacks (its key still uuid); ``r``: their ids.
_ROWS_SINCE = (
    "SELECT count(*) INTO rows_since\nFROM {t} AS t\n"
    "WHERE NOT EXISTS (SELECT 1 FROM {m} AS m WHERE m.new_id = t.{k});\n"
    "SELECT * INTO STRICT r FROM keyshift.rollback_ids({ts}, {tn}, rows_since);\n"
)


def given_setting(t: Target) -> str:
    """The transaction-local setting in which the rollback notes how many ids it gave out for
    ``t``: a name of letters and digits only, whatever the table's name."""
    digest = hashlib.md5(f"{t.table.table_schema}\0{t.table.table_name}".encode()).hexdigest()[:16]
    return f"keyshift.ids_given_{digest}"


#: How many ids the rollback gave out for the table (old_ids_for_new_rows notes it, 0 included):
#: read without missing_ok, so a rollback in which that step did not run fails here instead of
#: taking "no id given out" for granted.
_GIVEN = "current_setting({given})::bigint"


def _names(t: Target) -> dict:
    return {
        "t": table_ident(*t.table.key),
        "m": map_ident(t),
        "k": I(t.key.column_name),
        "ts": L(t.table.table_schema),
        "tn": L(t.table.table_name),
    }


def refuse_overflow(t: Target) -> Statement:
    """Refuse, before anything changes, when the ids left cannot cover the rows written since migrate."""
    k = t.key
    return Statement(
        do_block(
            _ROWS_SINCE + "IF rows_since > r.ids_left THEN\n"
            "    RAISE EXCEPTION USING\n"
            "    MESSAGE = format(\n"
            "        'keyshift: %s row(s) of %s were written since migrate and need integer ids, but only %s are '\n"
            "        || 'left on the grid of %s (from %s to %s, step %s: the limit of %s and of MINVALUE/MAXVALUE)',\n"
            "        rows_since, {shown}, r.ids_left, {grid}, r.first_id,\n"
            "        CASE WHEN r.step > 0 THEN r.highest ELSE r.lowest END, r.step, {type}\n"
            "    ),\n"
            "    HINT = {hint};\n"
            "END IF;",
            declare=_RECORD,
            shown=L(t.table.display),
            grid=L(
                f"sequence {qualname(k.seq_schema, k.seq_name)}" if k.seq_name else f"key {quote_part(k.column_name)}"
            ),
            type=L(k.data_type),
            hint=L(
                "nothing was changed; an integer key of this type cannot take them all without reissuing ids: "
                "delete or move aside rows written since migrate until they fit, or keep the uuid keys"
            ),
            **_names(t),
        ),
        (
            f"{t.table.display}: rows written since migrate need ids the sequence never issued; refuse",
            "before anything changes when too few are left (column type, MAXVALUE/MINVALUE; no CYCLE).",
        ),
    )


def write_order(t: Target) -> sql.Composed:
    """Rows in the order they were written, where the key tells it: the time in a v7 key (its first
    6 bytes) or a v6 key (its first 8: time high to low), then the timestamp column; then the key."""
    k = I(t.key.column_name)
    parts = []
    if t.time_ordered:
        parts.append(compose("substring(uuid_send(t.{}) FROM 1 FOR {})", k, L(6 if t.uuid_version == "v7" else 8)))
    if t.timestamp_column:
        parts.append(compose("t.{} NULLS LAST", I(t.timestamp_column)))
    parts.append(compose("t.{}", k))
    return sql.SQL(", ").join(parts)


def old_ids_for_new_rows(t: Target) -> Statement:
    """The mapping gains the rows written since migrate, each with its id from the sequence's grid."""
    return Statement(
        do_block(
            _ROWS_SINCE + "INSERT INTO {m} (old_id, new_id)\n"
            "SELECT\n"
            "    (r.first_id + (row_number() OVER (ORDER BY {order}) - 1) * r.step)::bigint AS old_id,\n"
            "    t.{k} AS new_id\n"
            "FROM {t} AS t\n"
            "WHERE NOT EXISTS (SELECT 1 FROM {m} AS m WHERE m.new_id = t.{k});\n"
            "PERFORM set_config({given}, rows_since::text, TRUE);",
            declare=_RECORD,
            order=write_order(t),
            given=L(given_setting(t)),
            **_names(t),
        ),
        (
            f"{t.table.display}: rows written since migrate get the ids its sequence would have issued next",
            "(keyshift.rollback_ids), in the order they were written where the key tells it; the mapping keeps them.",
        ),
    )


def sequence_after_every_key(t: Target) -> Statement:
    """The restored sequence: as it was saved when no id was given out since (a CYCLE sequence
    that had wrapped included), else after the last one."""
    return Statement(
        do_block(
            "SELECT * INTO STRICT r FROM keyshift.rollback_ids({ts}, {tn}, 0);\n"
            "IF " + _GIVEN + " = 0 OR r.first_id = r.sequence_next THEN\n"
            "    PERFORM setval({seq}, r.start_value, r.start_called);\n"
            "ELSIF r.step > 0 THEN\n"
            "    PERFORM setval({seq}, least(r.first_id - r.step, r.highest)::bigint, TRUE);\n"
            "ELSE\n"
            "    PERFORM setval({seq}, greatest(r.first_id - r.step, r.lowest)::bigint, TRUE);\n"
            "END IF;",
            declare="DECLARE\n    r record;\n",
            ts=L(t.table.table_schema),
            tn=L(t.table.table_name),
            seq=regclass(t.key.seq_schema, t.key.seq_name),
            given=L(given_setting(t)),
        ),
        ("The sequence continues where it was, or after the last id rollback gave out.",),
    )


#: The claim's body. No id given out: the sequence stands exactly as it was saved (or as another
#: column kept it since), the state the application had before migrate. Ids given out: its next
#: value (CYCLE wrapping included) lies beyond the extreme key and old id.
_CLAIM_BODY = (
    "SELECT * INTO STRICT r FROM keyshift.rollback_ids({ts}, {tn}, 0);\n"
    "IF " + _GIVEN + " = 0 THEN\n"
    "    IF (SELECT (q.last_value, q.is_called) FROM {seq} AS q) IS DISTINCT FROM (r.start_value, r.start_called) THEN\n"
    "        RAISE EXCEPTION USING\n"
    "        MESSAGE = format(\n"
    "            'keyshift: claim "
    + CLAIM
    + " failed: no id was given out, yet %s does not stand as it was saved (%s, called %s)',\n"
    "            {seq_shown}, r.start_value, r.start_called\n"
    "        ),\n"
    "        HINT = 'nothing was changed; the rollback files do not restore this sequence: restore them as planned';\n"
    "    END IF;\n"
    "    RETURN;\n"
    "END IF;\n"
    "SELECT q.last_value, q.is_called, p.seqincrement, p.seqmin, p.seqmax, p.seqcycle INTO STRICT s\n"
    "FROM {seq} AS q, pg_catalog.pg_sequence AS p\n"
    "WHERE p.seqrelid = {seq_name}::regclass;\n"
    "next_value := s.last_value::numeric + CASE WHEN s.is_called THEN s.seqincrement ELSE 0 END;\n"
    "IF s.seqcycle AND next_value > s.seqmax THEN\n"
    "    next_value := s.seqmin;\n"
    "ELSIF s.seqcycle AND next_value < s.seqmin THEN\n"
    "    next_value := s.seqmax;\n"
    "END IF;\n"
    "IF s.seqincrement > 0 THEN\n"
    "    SELECT greatest((SELECT max(t.{k}) FROM {t} AS t), (SELECT max(m.old_id) FROM {m} AS m)) INTO extreme;\n"
    "ELSE\n"
    "    SELECT least((SELECT min(t.{k}) FROM {t} AS t), (SELECT min(m.old_id) FROM {m} AS m)) INTO extreme;\n"
    "END IF;\n"
    "IF next_value BETWEEN s.seqmin AND s.seqmax AND sign(s.seqincrement) * (next_value - extreme) <= 0 THEN\n"
    "    RAISE EXCEPTION USING\n"
    "    MESSAGE = format(\n"
    "        'keyshift: claim "
    + CLAIM
    + " failed: the next value of %s is %s, not beyond %s, the furthest key or old id of %s',\n"
    "        {seq_shown}, next_value, extreme, {shown}\n"
    "    ),\n"
    "    HINT = 'nothing was changed; the rollback files do not restore this sequence: restore them as planned';\n"
    "END IF;"
)


def claim_sequence_after_every_key(t: Target) -> Statement:
    """Claim, proven inside the rollback transaction: the sequence's next value (read from the
    sequence and pg_sequence, CYCLE wrapping included) lies beyond every key of the table and every
    old id of its mapping, so the application's next INSERT through the default cannot collide."""
    k = t.key
    return Statement(
        do_block(
            _CLAIM_BODY,
            declare="DECLARE\n    r record;\n    s record;\n    next_value numeric;\n    extreme numeric;\n",
            given=L(given_setting(t)),
            seq=table_ident(k.seq_schema, k.seq_name),
            seq_name=regclass(k.seq_schema, k.seq_name),
            seq_shown=L(qualname(k.seq_schema, k.seq_name)),
            shown=L(t.table.display),
            **_names(t),
        ),
        (
            f"Claim {CLAIM}, proven here, inside the rollback transaction: the next value of the sequence",
            f"of {t.table.display} lies beyond every key and every old id, so the next INSERT cannot collide.",
        ),
    )
