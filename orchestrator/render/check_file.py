"""One check file a plan writes: its header (claim, scope, directives) and its SELECT, kept
as a psycopg.sql composition until it is written."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from orchestrator.names import Literal, comment_block
from orchestrator.render.common import LINT_DIRECTIVES

#: True only while keyshift migrate applies the plan: every branch of a conversion-time claim is gated on it.
APPLYING = "{pid} = any(string_to_array(coalesce(current_setting('keyshift.checking_plans', TRUE), ''), ','))"


@dataclass(frozen=True)
class CheckFile:
    """One claim of a plan: ``name`` (``<claim>.sql``), its header lines and its SELECT."""

    name: str
    header: tuple[str, ...]
    body: sql.Composable

    def text(self) -> str:
        return comment_block(self.header) + "\n" + self.body.as_string(None).strip() + ";\n"


def gate(plan_id: str) -> sql.Composable:
    return sql.SQL(APPLYING).format(pid=Literal(plan_id))


def union(branches: list[sql.Composable], order: str) -> sql.Composable:
    """The branches joined by UNION ALL; ordered when there are several (one branch gives one row)."""
    if len(branches) == 1:
        return branches[0]
    return sql.SQL("{}\nORDER BY {}").format(sql.SQL("\nUNION ALL\n").join(branches), sql.SQL(order))


def subject(plan_id: str, table: tuple[str, str]) -> dict[str, sql.Composable]:
    """The columns every row of a plan's check starts with: plan_id, table_schema, table_name."""
    return {"pid": Literal(plan_id), "s": Literal(table[0]), "t": Literal(table[1])}


def header(
    name: str,
    plan_id: str,
    claim: tuple[str, ...],
    scope: tuple[str, ...],
    row: tuple[str, ...],
    applies_to: str,
    skip_reason: str,
) -> tuple[str, ...]:
    """The leading comment block of a plan's check file: what it claims, when it speaks, what one
    row means, then the directives the check runner reads and sqlfluff's."""
    return (
        f"{name}, plan {plan_id}",
        "",
        *claim,
        "",
        *scope,
        "",
        *row,
        "",
        f"applies-to: {applies_to}",
        f"skip-reason: {skip_reason}",
        *LINT_DIRECTIVES,
    )


def gated_header(
    name: str,
    plan_id: str,
    claim: tuple[str, ...],
    row: tuple[str, ...],
    registry: str,
    replay: bool = True,
    extra_scope: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """The header of a claim that speaks only while keyshift migrate applies ``plan_id``
    (every branch gated on keyshift.checking_plans), applying to its rows in keyshift.``registry``;
    ``replay`` adds how to replay it by hand right after the conversion."""
    scope = (
        f"Scope: only while keyshift migrate applies plan {plan_id} (the setting keyshift.checking_plans",
        "names it); every branch is gated on it, so elsewhere the file returns no rows."
        + (" To replay it" if replay else ""),
    )
    if replay:
        scope += (
            f"by hand right after the conversion: SELECT set_config('keyshift.checking_plans', '{plan_id}', TRUE);",
        )
    return header(
        name,
        plan_id,
        claim,
        scope + extra_scope,
        row,
        f"keyshift.{registry} where plan_id = {plan_id} and plan_id in setting keyshift.checking_plans",
        f"plan {plan_id} is not being applied; keyshift migrate checks this claim before COMMIT",
    )
