"""Functions that use a converted key as an integer (Snapshot.function_uses): what blocks a plan
and what is a warning.

migrate never runs a function body, so a body that compares the key with an integer constant
or an integer parameter, does arithmetic on it, casts it or stores it in an integer variable
commits unnoticed and fails when it is next called. Each such function blocks the plan (one
line each, all in one run). A variable declared ``%TYPE`` of a key and nothing more found is a
warning: the variable becomes uuid with the key, and whether its uses still hold is not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.catalog.facts import Snapshot
from orchestrator.errors import Refused

FIX = (
    "rewrite it for uuid keys (uuid parameters and variables, no integer constants or arithmetic "
    "on the key): drop it before the plan and create the uuid version after migrate, then plan again"
)


@dataclass(frozen=True)
class FunctionBlocker:
    """A function whose body treats a converted key as an integer: signature, findings, fix."""

    signature: str
    findings: tuple[str, ...]

    def line(self) -> str:
        return f"function {self.signature}: its body {'; '.join(self.findings)}, and fails once the key is uuid; {FIX}"


class FunctionsBlocked(Refused):
    """Functions that use a converted key as an integer; ``blockers`` are printed one line each
    before this error's own line (the summary)."""

    def __init__(self, found: list[FunctionBlocker]):
        self.blockers = found
        super().__init__(
            "plan",
            f"{len(found)} function(s) use a converted key as an integer, each named above",
            "nothing was written",
        )


def blockers(snap: Snapshot) -> list[FunctionBlocker]:
    """One blocker per function with a strong finding, its findings in body order."""
    by_function: dict[str, list[str]] = {}
    for use in snap.function_uses:
        if use.strong:
            by_function.setdefault(use.signature, []).append(use.finding)
    return [FunctionBlocker(sig, tuple(found)) for sig, found in by_function.items()]


def refuse(snap: Snapshot) -> None:
    found = blockers(snap)
    if found:
        raise FunctionsBlocked(found)


def warnings(snap: Snapshot) -> list[str]:
    """The weak findings of functions that have no strong one."""
    blocked = {b.signature for b in blockers(snap)}
    return [
        f"function {use.signature} {use.finding}: review what it compares the variable with and assigns it to"
        for use in snap.function_uses
        if not use.strong and use.signature not in blocked
    ]
