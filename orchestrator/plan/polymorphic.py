"""Generic relations: a type column that names a table and an id column that holds one of its
ids, with no foreign key (Rails' polymorphic ``belongs_to``, Django's ``GenericForeignKey``).

``resolve`` decides, on the snapshot alone, which type values name a table this plan converts
and how the id column follows: an integer id column becomes uuid (every non-NULL type value
must then name a converted table), a text id column gets the new key's text. A type value names
a table through, in this order: ``--polymorphic-type VALUE=S.T``; Django's content types for
``django_admin_log`` (the model's table is ``<app_label>_<model>`` in the log's schema, matched
against the converted tables; a model with its own ``db_table`` is mapped with
``--polymorphic-type <app_label>.<model>=S.T``); Rails' convention (``Post`` -> ``posts``,
``Admin::BlogPost`` -> ``admin_blog_posts``, in the pair's schema).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.catalog.facts import PolymorphicColumns, Snapshot
from orchestrator.catalog.model import INTEGER_TYPES
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.plan.model import Target
from orchestrator.plan.options import Options

#: Text types an id column may have: the uuid's 36 characters must fit.
_TEXT_TYPES = ("text", "character varying")
_UUID_CHARS = 36


@dataclass(frozen=True)
class Remap:
    """One type value whose rows follow a converted table: ``how`` says what resolved it."""

    value: str
    target: tuple[str, str]
    map_table: str
    rows: int
    how: str


@dataclass(frozen=True)
class Polymorphic:
    """One generic relation the plan remaps: its table and columns, the id column's type before,
    whether it becomes uuid, the values that follow a target and those left as they are."""

    table_schema: str
    table_name: str
    type_column: str
    id_column: str
    id_type: str
    to_uuid: bool
    remaps: tuple[Remap, ...]
    #: (type value, rows) left as they are: their type names no converted table
    untouched: tuple[tuple[str | None, int], ...] = ()
    detected: bool = False

    @property
    def table(self) -> tuple[str, str]:
        return (self.table_schema, self.table_name)

    @property
    def display(self) -> str:
        return f"{qualname(*self.table)} ({self.type_column}, {self.id_column})"


def resolve(snap: Snapshot, options: Options, targets: list[Target]) -> list[Polymorphic]:
    """The generic relations the plan remaps, or Refused naming the pair, the reason and the fix."""
    if options.mode == "external":
        return []
    out = []
    for pair, found in snap.polymorphic.items():
        if found.detected and (
            not options.polymorphic_default or (found.relation is not None and not found.relation.can_alter)
        ):
            continue  # not asked for: left as it is (plan's warning about ids in text still names it)
        shown = f"--polymorphic {qualname(*pair[:2])}.{pair[2]},{pair[3]}"
        _refuse_columns(shown, pair, found, snap)
        poly = _resolve_pair(shown, pair, found, options, targets)
        if poly.remaps or not found.detected:
            out.append(poly)
    return out


def _refuse_columns(shown: str, pair: tuple, found: PolymorphicColumns, snap: Snapshot) -> None:
    if found.table is None or found.table.relkind not in ("r", "p"):
        raise Refused(shown, f"{qualname(*pair[:2])} is no table", "name the table that holds the type and id columns")
    if found.relation is not None and not found.relation.can_alter:
        raise Refused(
            shown,
            f"{qualname(*pair[:2])} belongs to {found.relation.owner}, and role {found.relation.current_role_name} "
            "may not alter it",
            f"plan and migrate as {found.relation.owner} (or a member of it)",
        )
    for column, data_type in ((pair[2], found.type_type), (pair[3], found.id_type)):
        if data_type is None:
            raise Refused(shown, f"{qualname(*pair[:2])} has no column {column}", "check the column names")
    if pair[:2] in {t.key for t, _k in snap.targets} or (*pair[:2], pair[3]) in snap.columns:
        raise Refused(
            shown,
            f"{qualname(*pair[:2])}.{pair[3]} is converted by this plan already (a key or a foreign key column)",
            "leave the --polymorphic out",
        )
    base = found.id_type.split("(")[0]
    if found.id_type not in INTEGER_TYPES and base not in _TEXT_TYPES:
        raise Refused(
            shown,
            f"its id column {pair[3]} is {found.id_type}",
            "keyshift remaps integer id columns (to uuid) and text or varchar id columns (to the uuid's text)",
        )
    if base == "character varying" and "(" in found.id_type:
        length = int(found.id_type.split("(")[1].rstrip(")"))
        if length < _UUID_CHARS:
            raise Refused(
                shown,
                f"its id column {pair[3]} is {found.id_type}: a uuid's text has {_UUID_CHARS} characters",
                f"widen it first (ALTER TABLE {qualname(*pair[:2])} ALTER COLUMN {pair[3]} TYPE varchar(36)), "
                "then plan again",
            )


def _resolve_pair(shown: str, pair: tuple, found: PolymorphicColumns, options: Options, targets) -> Polymorphic:
    by_table = {t.table.key: t for t in targets}
    given = {value: (s, t) for value, s, t in options.polymorphic_types}
    ctypes = {cid: f"{app}.{model}" for cid, app, model in found.content_types}
    remaps, untouched, unresolved = [], [], []
    for value, rows in found.type_counts:
        if value is None:
            untouched.append((value, rows))
            continue
        table, how = _table_of(value, pair[0], given, ctypes, by_table)
        if table is None:
            (untouched if found.content_types else unresolved).append((value, rows))
        elif table in by_table:
            remaps.append(Remap(value, table, by_table[table].map_table, rows, how))
        else:
            untouched.append((value, rows))
    if unresolved:
        listed = ", ".join(f"{v!r} ({n} rows)" for v, n in unresolved)
        raise Refused(
            shown,
            f"type value(s) {listed} name no table this plan converts (Rails' convention: Post -> posts)",
            f"map each one: --polymorphic-type {unresolved[0][0]}=SCHEMA.TABLE (a table this plan does not "
            "convert leaves its rows as they are), or add its table with --table",
        )
    to_uuid = found.id_type in INTEGER_TYPES
    if to_uuid and untouched:
        listed = ", ".join(f"{'NULL' if v is None else repr(v)} ({n} rows)" for v, n in untouched)
        raise Refused(
            shown,
            f"its id column {pair[3]} is {found.id_type} and must become uuid, but type value(s) {listed} "
            "name no table this plan converts: their integer ids would have no uuid",
            "add those tables with --table, or store the ids as text (ALTER COLUMN ... TYPE text) so that "
            "those rows keep their ids, then plan again",
        )
    return Polymorphic(*pair, found.id_type, to_uuid, tuple(remaps), tuple(untouched), found.detected)


def dangling_questions(plan) -> list[tuple]:
    """What plan must ask the target before it passes a generic relation whose integer ids become
    uuid: per type value that follows a converted table, (relation, type column, id column,
    value, target table, target key column). Migrate turns each such id into its row's new uuid
    and fails on an id whose row is gone, so plan counts those first (catalog.dangling_ids)."""
    out = []
    for p in plan.polymorphic:
        if not p.to_uuid:
            continue  # a text id without a row is left as it is
        for r in p.remaps:
            key = plan.target_of(r.target).key.column_name
            out.append((p.table, p.type_column, p.id_column, r.value, r.target, key))
    return out


def refuse_dangling(answers: list[tuple]) -> None:
    """Refuse, in one line, the generic ids whose row is gone: (question, rows, sample id) each."""
    found = [(q, n, sample) for q, n, sample in answers if n]
    if not found:
        return
    listed = "; ".join(
        f"{n} row(s) of type {q[3]!r} name no row of {qualname(*q[4])} (e.g. {q[2]} = {sample})"
        for q, n, sample in found
    )
    q = found[0][0]
    raise Refused(
        f"{qualname(*q[0])} ({q[1]}, {q[2]})",
        f"{listed}: migrate would fail on them, its id column becoming uuid",
        "delete those rows, or set their id to NULL, then plan again",
    )


def named_tables(schema: str, type_counts, options: Options, targets: list[Target]) -> list[tuple]:
    """(type value, rows, the converted table it names or None) per (value, rows) of a pair in
    ``schema`` with no content types, resolved as ``resolve`` does: --polymorphic-type, then
    Rails' convention."""
    by_table = {t.table.key: t for t in targets}
    given = {value: (s, t) for value, s, t in options.polymorphic_types}
    out = []
    for value, rows in type_counts:
        table = None if value is None else _table_of(value, schema, given, {}, by_table)[0]
        out.append((value, rows, table if table in by_table else None))
    return out


def _table_of(value: str, schema: str, given: dict, ctypes: dict, by_table: dict):
    """The table a type value names and how that was decided; (None, '') when nothing says."""
    if value in given:
        return given[value], "--polymorphic-type"
    if ctypes:
        model = ctypes.get(value)
        if model is None:
            return None, ""
        if model in given:
            return given[model], f"--polymorphic-type {model}"
        table = (schema, model.replace(".", "_", 1))
        return (table, f"Django content type {model}") if table in by_table else (None, "")
    table = (schema, rails_table(value))
    return (table, "Rails convention") if table in by_table else (None, "")


def rails_table(value: str) -> str:
    """Rails' table name for a model class name: snake_case, namespaces joined by _, the last
    word in the plural (Post -> posts, Category -> categories, Admin::BlogPost -> admin_blog_posts)."""
    parts = []
    for part in value.split("::"):
        snake = "".join(("_" + ch.lower()) if ch.isupper() and i else ch.lower() for i, ch in enumerate(part))
        parts.append(snake)
    name = "_".join(parts)
    if name.endswith("y") and name[-2:-1] not in ("a", "e", "i", "o", "u"):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    return name + "s"


def lines(polymorphic: list[Polymorphic]) -> list[str]:
    """What plan prints about each generic relation it remaps."""
    out = []
    for p in polymorphic:
        becomes = f"{p.id_type} -> uuid" if p.to_uuid else f"{p.id_type}, gets the new key's text"
        head = f"generic relation {p.display}: {p.id_column} {becomes}"
        if p.detected:
            head += " (Django's admin log, remapped by default; --no-polymorphic-default leaves it)"
        out.append(head)
        out += [f"  {r.value!r} -> {qualname(*r.target)} ({r.how}; {r.rows} rows)" for r in p.remaps]
        out += [
            f"  {'NULL' if v is None else repr(v)}: left as it is ({n} rows; its type names no converted table)"
            for v, n in p.untouched
        ]
    return out
