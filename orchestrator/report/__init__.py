"""Report: check results as lines and JSON; the old -> new mapping exported as a file."""
