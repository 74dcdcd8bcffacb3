"""Report: what the user reads. One line per check (sqitch/squawk style), then a summary.

Everything a database can put into a line (column names, row values, error messages, skip
reasons) goes through ``names.comment``: a line break or control character in a value is
shown escaped, so no value can start a line of its own (a forged ``ok``)."""

from __future__ import annotations

import json
import math

from orchestrator.names import comment
from orchestrator.verify.check_result import SAMPLE_ROWS, CheckResult
from orchestrator.verify.checks import passed


def _value(v) -> str:
    return "NULL" if v is None else comment(str(v))


def check_lines(results: list[CheckResult]) -> list[str]:
    """Per check ``ok``, ``not ok (N rows)``, ``not ok (error)`` or ``skipped (why)``, then a summary."""
    lines = []
    width = max((len(comment(r.name)) for r in results), default=0) + 1
    for r in results:
        name = comment(r.name)
        dots = "." * (width - len(name) + 2)
        if r.status == "skipped":
            lines.append(f"{name} {dots} skipped ({comment(r.skipped)})")
        elif r.ok:
            lines.append(f"{name} {dots} ok")
        elif r.error:
            lines.append(f"{name} {dots} not ok (error)")
            lines.append(f"    error: {comment(r.error)}")
        else:
            lines.append(f"{name} {dots} not ok ({len(r.rows)} rows)")
            lines.append("    " + " | ".join(comment(c) for c in r.columns))
            for row in r.rows[:SAMPLE_ROWS]:
                lines.append("    " + " | ".join(_value(v) for v in row))
            if len(r.rows) > SAMPLE_ROWS:
                lines.append(f"    ... {len(r.rows) - SAMPLE_ROWS} more")
    failed = sum(not r.ok for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    lines.append(f"{len(results)} checks, {len(results) - failed - skipped} ok, {failed} not ok, {skipped} skipped")
    return lines


#: A check that takes at least this long gets its own timing line after ``checks`` in migrate's
#: output (make bench reads them), so the time in the maintenance window can be traced to it.
SLOW_CHECK_SECONDS = 0.1


def slow_check_lines(results: list[CheckResult]) -> list[str]:
    return [f"  {comment(r.name):<38} {r.seconds:8.2f} s" for r in results if r.seconds >= SLOW_CHECK_SECONDS]


def _finite(value):
    """``value`` with every non-finite float (NaN, Infinity) as a string: valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def checks_json(results: list[CheckResult]) -> str:
    return json.dumps(
        _finite({"checks": [r.as_json() for r in results], "ok": passed(results)}), indent=2, allow_nan=False
    )
