"""What yoyo recorded as applied, read without creating yoyo's tables."""

from __future__ import annotations

import psycopg

from orchestrator.connect import dsn as dsnmod
from orchestrator.plan.ownership import MIGRATION_TABLE


def applied_ids(dsn: str) -> set[str]:
    """Migration ids yoyo recorded as applied, read without creating yoyo's tables."""
    with dsnmod.connect(dsn, autocommit=True) as conn:  # default search_path, as yoyo sees it
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATION_TABLE,)).fetchone()[0]
        if not exists:
            return set()
        q = psycopg.sql.SQL("SELECT migration_id FROM {}").format(psycopg.sql.Identifier(MIGRATION_TABLE))
        return {r[0] for r in conn.execute(q)}
