"""Report: what the user reads. One line per check (sqitch/squawk style), then a summary."""

from __future__ import annotations

import json

from orchestrator.checks import SAMPLE_ROWS, CheckResult


def check_lines(results: list[CheckResult]) -> list[str]:
    lines = []
    width = max((len(r.name) for r in results), default=0) + 1
    for r in results:
        dots = "." * (width - len(r.name) + 2)
        if r.ok:
            lines.append(f"{r.name} {dots} ok")
        elif r.error:
            lines.append(f"{r.name} {dots} not ok (error)")
            lines.append(f"    error: {r.error}")
        else:
            lines.append(f"{r.name} {dots} not ok ({len(r.rows)} rows)")
            lines.append("    " + " | ".join(r.columns))
            for row in r.rows[:SAMPLE_ROWS]:
                lines.append("    " + " | ".join("NULL" if v is None else str(v) for v in row))
            if len(r.rows) > SAMPLE_ROWS:
                lines.append(f"    ... {len(r.rows) - SAMPLE_ROWS} more")
    failed = sum(not r.ok for r in results)
    lines.append(
        f"{len(results)} checks, {len(results) - failed} ok, {failed} not ok"
    )
    return lines


def checks_json(results: list[CheckResult]) -> str:
    return json.dumps(
        {"checks": [r.as_json() for r in results], "ok": all(r.ok for r in results)}, indent=2
    )
