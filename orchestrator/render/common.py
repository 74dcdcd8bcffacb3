"""What every render step shares: ``Migration`` (one file pair), the statement helpers (``stmt``,
``compose``, ``do_block``, ``dollar_quoted``), the identifier helpers and the table lock statement."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from orchestrator.names import Literal, Statement, comment_block
from orchestrator.plan.model import Plan, lock_order
from orchestrator.resources import sql_text

I = sql.Identifier
L = Literal


@dataclass(frozen=True)
class Migration:
    """One migration file pair: ``name.sql`` and ``name.rollback.sql``.

    ``header`` is prose, one line per element (a name with a line break in it stays on its
    line, escaped); ``apply`` and ``rollback`` are the statements in the order they run."""

    name: str
    title: str
    header: tuple[str, ...]
    apply: list[Statement]
    rollback: list[Statement]

    def text(self, depends: str | None) -> str:
        head = comment_block(
            (f"{self.name}: {self.title}", "", *self.header, f"depends: {depends or ''}", *LINT_DIRECTIVES)
        )
        return head + "\n\n" + _written(self.apply)

    def rollback_text(self) -> str:
        head = comment_block(
            (
                f"{self.name}.rollback: undo of {self.title}",
                "Statements run top-down, in undo order.",
                *LINT_DIRECTIVES,
            )
        )
        return head + "\n\n" + _written(self.rollback)


def _written(statements: list[Statement]) -> str:
    return "\n\n".join(s.text() for s in statements) + "\n"


#: sqlfluff settings of every generated file. Every identifier is quoted by psycopg and is the
#: user's own name, spaces and all: sqlfluff must not ask for it to be renamed. A foreign key
#: is written as PostgreSQL printed it, ``REFERENCES s.t(col)``, with no space after the table.
LINT_DIRECTIVES = (
    "sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none",
    "sqlfluff:layout:type:table_reference:spacing_after:any",
)


@dataclass(frozen=True)
class Unlinted(Statement):
    """A statement sqlfluff is told to leave alone: PostgreSQL's own deparse of a view,
    trigger, policy or index (restyling it would change the stored text), or a privilege the
    linter's dialect does not parse yet."""

    def text(self) -> str:
        return (
            comment_block((*self.comment, "noqa: disable=all"))
            + "\n"
            + Statement(self.body).text()
            + "\n"
            + comment_block(("noqa: enable=all",))
        )


def compose(template: str, *args, **kwargs) -> sql.Composed:
    """One piece of SQL: ``template`` with names (Identifier) and values (Literal) filled in."""
    return sql.SQL(template).format(*args, **kwargs)


def stmt(template: str, *args, note: str | tuple[str, ...] = (), **kwargs) -> Statement:
    """One statement, with ``note`` (a line, or a tuple of lines) as the comment above it."""
    return Statement(compose(template, *args, **kwargs), (note,) if isinstance(note, str) else tuple(note))


def do_block(template: str, *, declare: str = "", **kwargs) -> sql.Composed:
    """A DO block running the PL/pgSQL statements of ``template``: it runs, returns nothing,
    prints nothing. The template is indented before names and values are filled in, so a line
    break inside a name is never touched."""
    body = "\n".join("    " + line for line in template.split("\n"))
    return compose("DO {}", dollar_quoted(compose("\n" + declare + "BEGIN\n" + body + "\nEND\n", **kwargs)))


def dollar_quoted(body: str | sql.Composable) -> sql.SQL:
    """``body`` between dollar quotes whose tag does not occur in it: a user's name inside (a
    table called ``a$$b``) can never end the quoted text early. Every DO block and function body
    that holds a name goes through here."""
    text = body if isinstance(body, str) else body.as_string(None)
    tag = _dollar_tag(text)
    return sql.SQL(tag + text + tag)


def _dollar_tag(body: str) -> str:
    """``$$``, or a ``$ksN$`` tag when the body holds ``$$`` (a user's name may): a name must
    never end the quoted body early."""
    tag, n = "$$", 0
    while tag in body:
        tag, n = f"$ks{n or ''}$", n + 1
    return tag


def shipped_file(path: str) -> Statement:
    """A file shipped in sql/, included verbatim."""
    return Statement(sql.SQL(sql_text(path).strip()), verbatim=True)


def table_ident(schema: str, name: str) -> sql.Identifier:
    return I(schema, name)


def map_ident(target_or_col) -> sql.Identifier:
    return I("keyshift", target_or_col.map_table)


def regclass(schema: str, name: str) -> sql.Composable:
    """The quoted name of a relation as a text value (for setval, to_regclass)."""
    return L(I(schema, name).as_string(None))


def lock_statement(plan: Plan) -> Statement:
    """LOCK TABLE of every table the plan locks (plan.lock_order), in both modes."""
    return stmt(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        sql.SQL(", ").join(table_ident(*k) for k in lock_order(plan)),
        note="Parents before children, so no application transaction can deadlock us halfway.",
    )


def raise_text(text: str) -> str:
    """``text`` inside the format string of RAISE, where ``%`` is a placeholder."""
    return text.replace("%", "%%")


def reset_acl(kind: str, schema: str, name: str, owner_too: bool) -> Statement:
    """Revoke every privilege a just-created view, materialized view or sequence was given by
    default privileges (ALTER DEFAULT PRIVILEGES) or by its creation, from every grantee but its
    owner (and from the owner too when ``owner_too``), so the GRANTs that follow rebuild exactly
    the ACL the plan read. Grantees are found in the catalog at run time: nothing is assumed."""
    return Statement(
        do_block(
            "FOR grantee IN\n"
            "    SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'\n"
            "        ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END\n"
            "    FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a\n"
            "    WHERE c.oid = {rel}::regclass AND ({owner_too} OR a.grantee <> c.relowner)\n"
            "LOOP\n"
            "    EXECUTE pg_catalog.format({revoke}, {rel}::regclass, grantee);\n"
            "END LOOP;",
            declare="DECLARE\n    grantee text;\n",
            rel=regclass(schema, name),
            owner_too=sql.SQL("true" if owner_too else "false"),
            revoke=L("REVOKE ALL ON SEQUENCE %s FROM %s" if kind == "SEQUENCE" else "REVOKE ALL ON TABLE %s FROM %s"),
        ),
        ("Privileges it was created with go; the ACL the plan read is granted below.",),
    )


def tables_with_columns(plan: Plan) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for c in plan.columns:
        if c.table not in seen:
            seen.append(c.table)
    return seen
