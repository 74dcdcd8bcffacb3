"""What the catalog cannot prove about references, and the evidence for each warning. Pure.

An integer column that no foreign key covers may still hold ids of a converted table: migrate
leaves it with the old integers unless ``--reference`` declares it. Each candidate
(reference_candidates.sql) is judged by its name (``<table>_id``, ``<singular>id``,
``manager_<singular>_id``, ``created_by`` for a users table, ...) and by its values
(catalog/measure.py: how many of its non-null values are keys of each target); each warning
says which evidence it rests on and gives the exact ``--reference`` to add. Type/id pairs
(``subject_type`` + ``subject_id``, with the type values that name converted tables; Django's
``content_type_id`` + ``object_id``), ids in text or JSON, and Django's database sessions are
named too: keyshift does not remap them unless told.
"""

from __future__ import annotations

from orchestrator.catalog import Snapshot, TypeValues, ValueCount
from orchestrator.catalog.measure import type_id_pairs
from orchestrator.names import qualname, quote_part
from orchestrator.plan import polymorphic
from orchestrator.plan.model import Target
from orchestrator.plan.options import Options

#: table name words that say a table holds people (the target of created_by, owner_id, ...)
PEOPLE = frozenset({"user", "account", "person", "member", "employee", "customer", "profile", "staff", "author"})
#: column names that usually hold ids of the people table, whatever it is called
PEOPLE_COLUMNS = frozenset(
    {
        "owner",
        "owner_id",
        "created_by",
        "created_by_id",
        "updated_by",
        "updated_by_id",
        "modified_by",
        "modified_by_id",
        "deleted_by",
        "deleted_by_id",
        "creator_id",
        "author",
        "author_id",
        "user",
        "userid",
        "user_id",
    }
)
#: a column matched by its values alone must hold at least this many distinct values, and no
#: word of its name may say it holds a quantity (small counts and ranks are ids of every table)
MIN_DISTINCT = 10
QUANTITY_WORDS = frozenset(
    "count qty quantity position pos sort order rank level priority rating score status state version "
    "amount price cost total sum size year month day hour minute age number num seq weight height width "
    "length duration stock limit percent index idx".split()
)


def singular(word: str) -> str:
    if word == "people":
        return "person"
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 1:
        return word[:-1]
    return word


def stems(table_name: str) -> set[str]:
    """The words a reference to this table is named after: person_role, role, roles -> role."""
    name = table_name.lower()
    last = name.split("_")[-1]
    return {s for s in (name, last, singular(name), singular(last)) if len(s) >= 2}


def name_score(column: str, target: Target) -> int:
    """How closely ``column``'s name says it references ``target``: 4 ``<table>_id`` or
    ``<singular>id``, 3 ``<role>_<singular>_id`` or the key's own name, 2 ``created_by`` and
    the like for a users or accounts table, 1 for another people table, 0 not at all."""
    c = column.lower()
    words = stems(target.table.table_name)
    if any(c in (f"{s}_id", f"{s}id") for s in words):
        return 4
    if any(c.endswith((f"_{s}_id", f"_{s}id")) for s in words):
        return 3
    key = target.key.column_name.lower()
    if key != "id" and (c == key or c.endswith(f"_{key}")):
        return 3
    if words & PEOPLE and c in PEOPLE_COLUMNS:
        return 2 if words & {"user", "account"} else 1
    return 0


def _percent(part: int, whole: int) -> str:
    share = 100 * part / whole
    if part in (0, whole):
        return f"{round(share)}%"
    if share < 1:
        return "<1%"
    return ">99%" if share > 99 else f"{round(share)}%"


def _values(count: ValueCount) -> str:
    """How many values were read: all of them, a sample, or the first ones up to the bound."""
    if count.sample_percent is not None:
        return f"{count.values:,} sampled non-null values (TABLESAMPLE SYSTEM {count.sample_percent:g}%)"
    if count.bounded:
        return f"the first {count.values:,} non-null values"
    return f"{count.values:,} non-null values"


def _evidence(column: str, named: Target | None, count: ValueCount | None, by_key: dict) -> tuple | None:
    """(the target to suggest, the evidence) for one column, or None when nothing points at a target."""
    found = dict(count.found) if count and not count.skipped else {}
    values = count.values if count and not count.skipped else 0
    full = [by_key[k] for k, n in found.items() if values and n == values and k in by_key]
    if named is None:
        if not full or column.lower() == "id" or count.distinct < MIN_DISTINCT:
            return None
        if set(column.lower().split("_")) & QUANTITY_WORDS:
            return None
        t = full[0]
        return t, (
            f"100% of {_values(count)} ({count.distinct:,} distinct) are ids of {t.table.display}, "
            "though its name does not say so"
        )
    shown = f"named like a reference to {named.table.display}"
    if count is None or count.skipped:
        return named, f"{shown} ({count.skipped if count else 'values not measured'})"
    if not values:
        return named, f"{shown} (it holds no non-null value to compare)"
    if found.get(named.table.key) == values:
        also = ", ".join(t.table.display for t in full if t is not named)
        return named, f"{shown}, and 100% of {_values(count)} are ids of {named.table.display}" + (
            f" (and of {also})" if also else ""
        )
    missing = _percent(values - found.get(named.table.key, 0), values)
    shown = f"{shown}, but {missing} of {_values(count)} are not ids of {named.table.display}"
    if full and full[0] is not named:
        return full[0], f"{shown}; 100% are ids of {full[0].table.display}"
    return named, f"{shown}: probably no reference; if it is one, fix those rows first"


def reference_warnings(snap: Snapshot, targets: list[Target], remapped: set = frozenset()) -> list[str]:
    """One warning per integer column without an FK that looks like a reference to a target."""
    pairs = polymorphic_pairs(snap)
    paired = {(*table, c) for table, cols in pairs for c in cols}
    counts = {c.column: c for c in snap.value_counts}
    by_key = {t.table.key: t for t in targets}
    warnings = []
    for r in snap.reference_candidates:
        col = (r["table_schema"], r["table_name"], r["column_name"])
        if not r["is_integer"] or r["has_fk"] or col in paired or col in remapped:
            continue
        count = counts.get(col)
        named = _named(col[2], targets, count)
        found = _evidence(col[2], named, count, by_key)
        if found is None:
            continue
        target, evidence = found
        shown = f"{qualname(*col[:2])}.{quote_part(col[2])}"
        warnings.append(
            f"{shown} ({r['data_type']}) may hold ids of {target.table.display}, and no foreign key covers it: "
            f"{evidence}. Migrate leaves it with the old integers unless you add "
            f"--reference {shown}={target.table.display}"
        )
    return warnings


def _named(column: str, targets: list[Target], count: ValueCount | None) -> Target | None:
    """The target the column's name points at most closely; between equals, one whose keys
    hold all its values, then the first given."""
    full = {k for k, n in count.found if count.values and n == count.values} if count and not count.skipped else set()
    scored = [(name_score(column, t), t.table.key in full, -i, t) for i, t in enumerate(targets)]
    best = max(scored, key=lambda s: s[:3], default=None)
    return best[3] if best and best[0] else None


def polymorphic_pairs(snap: Snapshot) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((schema, table), (type column, id column)) for each type/id pair of one table."""
    return type_id_pairs(snap.reference_candidates)


def polymorphic_warnings(
    snap: Snapshot, targets: list[Target], options: Options, remapped: set = frozenset()
) -> list[str]:
    """Type/id pairs that look like generic relations and that no --polymorphic names.

    A Rails pair (``<x>_type`` beside ``<x>_id``) whose type values were read (catalog/measure.py)
    is named with that evidence, each value resolved as --polymorphic resolves it
    (plan/polymorphic.py: --polymorphic-type, then Rails' convention), and only when at least one
    value names a table this plan converts: a pair none of whose values does is no reference to
    what this plan converts, and is not named. Django's ``content_type_id`` pairs, and pairs whose
    values were not read, are named by their names alone."""
    types = {(r["table_schema"], r["table_name"], r["column_name"]): r["data_type"] for r in snap.reference_candidates}
    read = {v.pair: v for v in snap.type_values if not v.skipped}
    skipped = {v.pair: v.skipped for v in snap.type_values if v.skipped}
    shown = ", ".join(t.table.display for t in targets[:3]) + (", ..." if len(targets) > 3 else "")
    warnings = []
    for table, (kind, ident) in polymorphic_pairs(snap):
        pair = (*table, kind, ident)
        if (*table, ident) in remapped:
            continue
        add = f"--polymorphic {qualname(*table)}.{quote_part(kind)},{quote_part(ident)}"
        if pair in read:
            evidence = _type_evidence(read[pair], targets, options)
            if evidence:
                warnings.append(
                    f"{qualname(*table)} ({quote_part(kind)}, {quote_part(ident)}) looks like a polymorphic "
                    f"reference (a type column beside an id column, no foreign key): {evidence}; those rows keep "
                    f"the old integer ids unless you add {add}"
                )
            continue
        why = f" ({skipped[pair]})" if pair in skipped else ""
        warnings.append(
            f"{qualname(*table)}.{quote_part(kind)} ({types[(*table, kind)]}) with {qualname(*table)}."
            f"{quote_part(ident)} ({types[(*table, ident)]}) looks like a polymorphic reference (a type column "
            f"beside an id column, no foreign key){why}: rows whose type names a converted table ({shown}) keep "
            f"the old integer ids unless you add {add}"
        )
    return warnings


def _type_evidence(found: TypeValues, targets: list[Target], options: Options) -> str:
    """Which of the pair's type values name converted tables and which do not ('' when none does)."""
    named = polymorphic.named_tables(found.pair[0], found.type_counts, options, targets)
    hits = [(v, n) for v, n, t in named if t is not None]
    if not hits:
        return ""
    tables = list(dict.fromkeys(qualname(*t) for _v, _n, t in named if t is not None))
    misses = [(v, n) for v, n, t in named if t is None]
    text = (
        f"{'value' if len(hits) == 1 else 'values'} {_listed(hits)} "
        f"{'names converted table' if len(tables) == 1 else 'name converted tables'} {_and(tables)}"
    )
    if misses:
        text += (
            f"; {_listed(misses[:5], len(misses) - 5)} {'names' if len(misses) == 1 else 'name'} no converted "
            "table (--polymorphic refuses such a value until --polymorphic-type VALUE=SCHEMA.TABLE maps it or "
            "--table adds its table)"
        )
    if found.more:
        text += f" (the first {len(found.type_counts)} distinct values read; it holds more)"
    return text


def _listed(values: list, more: int = 0) -> str:
    items = [f"{'NULL' if v is None else repr(v)} ({n:,} {'row' if n == 1 else 'rows'})" for v, n in values]
    if more > 0:
        items.append(f"{more} more")
    return _and(items)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def id_text_warnings(snap: Snapshot, remapped: set = frozenset()) -> list[str]:
    """Text and JSON columns named like ids of a target (id_text_columns.sql), but for type/id
    pairs and the id columns the plan remaps."""
    paired = {(*table, c) for table, cols in polymorphic_pairs(snap) for c in cols}
    return [
        f"{qualname(r['table_schema'], r['table_name'])}.{quote_part(r['column_name'])} ({r['data_type']}) may "
        f"hold ids of a converted table inside text or JSON ({r['reason']}): no constraint says so, and keyshift "
        f"does not remap it, so it keeps the old integers; rewrite them yourself from the mapping table"
        for r in snap.id_text_columns
        if (r["table_schema"], r["table_name"], r["column_name"]) not in paired | set(remapped)
    ]


def session_warnings(snap: Snapshot, targets: list[Target], options: Options) -> list[str]:
    """Django's database sessions hold the logged-in user's old integer id (_auth_user_id): named
    when the plan converts the user model's table (the target django_admin_log.user_id references,
    else a target named like a people table) and --invalidate-sessions does not empty them."""
    admin = {fk.parent for fk in snap.fks if fk.child_table == "django_admin_log" and "user_id" in fk.child_columns}
    users = [t for t in targets if t.table.key in admin] or [t for t in targets if stems(t.table.table_name) & PEOPLE]
    if not users:
        return []
    return [
        f"{qualname(*s)} holds Django's database sessions, whose _auth_user_id is the old integer id of "
        f"{users[0].table.display}: after migrate Django cannot read it as a uuid and answers each logged-in "
        f"user's next request with a server error; add --invalidate-sessions {qualname(*s)} to empty it in the "
        "migrate transaction (everyone logs in again), and empty any session cache (Redis, memcached) too"
        for s in snap.django_sessions
        if s not in options.sessions
    ]
