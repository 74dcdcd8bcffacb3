"""What one check reported: its rows or error, its time, or why it was skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLE_ROWS = 5


@dataclass
class CheckResult:
    name: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    #: Why the check did not run (no registry row for it to prove); None when it ran.
    skipped: str | None = None
    #: How many registry rows the check proved (its applies-to count).
    subjects: int = 0

    @property
    def ok(self) -> bool:
        """No violation: it ran and returned nothing, or it was skipped (which fails nothing
        but proves nothing either; see :func:`proved_anything`)."""
        return self.error is None and not self.rows

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.rows:
            return "not ok"
        return "skipped" if self.skipped is not None else "ok"

    def as_json(self) -> dict:
        return {
            "check": self.name,
            "status": self.status,
            "reason": self.skipped,
            "subjects": self.subjects,
            "rows": len(self.rows),
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "sample": [dict(zip(self.columns, map(_plain, r))) for r in self.rows[:SAMPLE_ROWS]],
        }


def _plain(v):
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
