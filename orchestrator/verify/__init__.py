"""Verify: run checks/*.sql, each a query whose rows break its claim (zero rows = pass)."""
