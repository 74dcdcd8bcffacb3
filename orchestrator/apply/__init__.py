"""Apply: one transaction. Load and validate the migration files, hold the manifest and the
drift guard against the live catalog, take the locks, run yoyo's bookkeeping and the checks, commit or
roll back; after COMMIT, the optional Redis step.
"""
