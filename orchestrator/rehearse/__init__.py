"""The rehearsal stage: a plan proven on a schema-only copy of its target before plan writes it."""

from orchestrator.rehearse.rehearsal import Blocked, rehearse

__all__ = ["Blocked", "rehearse"]
