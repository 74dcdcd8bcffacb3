"""Drift between plan and migrate, and checksums of applied migration files.

plan fingerprints the catalog objects it read in the plan's manifest (0001.plan.json); migrate
re-reads them inside its transaction before any DDL and refuses (exit 1, nothing changed)
when one differs; status shows DRIFT lines. An applied file edited afterwards shows as
EDITED in status, and migrate refuses to apply anything next to it.
"""

from __future__ import annotations

import pytest
from conftest import keyshift, pg_dump_schema, without_restrict

from orchestrator.apply import drift, manifest

SCHEMA = """
CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE post (id serial PRIMARY KEY, account_id int NOT NULL REFERENCES account, body text);
CREATE INDEX post_account_idx ON post (account_id);
INSERT INTO account (name) SELECT 'a' || g FROM generate_series(1, 20) g;
INSERT INTO post (account_id, body) SELECT 1 + g % 20, 'p' || g FROM generate_series(1, 60) g;
"""


def _plan(dsn, mig):
    planned = keyshift(dsn, "plan", "--table", "public.account", migrations=mig)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return planned


def _key_type(conn, table="account", column="id"):
    return conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
        (table, column),
    ).fetchone()[0]


def test_plan_writes_a_fingerprint_that_parses_and_matches_the_live_catalog(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    _plan(dsn, tmp_path / "m")
    rec = manifest.read(tmp_path / "m", "0001")
    assert rec is not None and rec.fingerprint.startswith("sha256:")
    assert "keyshift-" not in (tmp_path / "m" / "0001_01_map_keys.sql").read_text()  # no header lines
    assert rec.targets == [("public", "account")]
    assert set(rec.objects) >= {
        "columns of public.account",
        "columns of public.post",
        "key public.account.id",
        "foreign key post_account_id_fkey on public.post",
        "index post_account_idx on public.post",
    }, rec.objects
    assert drift.live_objects(conn, rec.targets) == rec.objects
    # Rows and sequence values are not shape: changing them is no drift.
    conn.execute("INSERT INTO account (name) VALUES ('late'); SELECT setval('account_id_seq', 500)")
    status = keyshift(dsn, "status", migrations=tmp_path / "m")
    assert status.returncode == 0 and "DRIFT" not in status.stdout, status.stdout + status.stderr
    migrated = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _key_type(conn) == "uuid"


DRIFTS = {
    "new FK to the target": (
        "CREATE TABLE late (id int PRIMARY KEY, account_id int REFERENCES account)",
        "foreign key late_account_id_fkey on public.late is new",
    ),
    "dropped column on a touched table": ("ALTER TABLE post DROP COLUMN body", "columns of public.post changed"),
    "added column on the target": ("ALTER TABLE account ADD COLUMN extra int", "columns of public.account changed"),
    "changed key type": (
        "ALTER TABLE post DROP CONSTRAINT post_account_id_fkey;ALTER TABLE account ALTER COLUMN id TYPE bigint",
        "key public.account.id changed",
    ),
    "new dependent view": (
        "CREATE VIEW post_owner AS SELECT id, account_id FROM post",
        "view public.post_owner is new",
    ),
    "dropped index": ("DROP INDEX post_account_idx", "index post_account_idx on public.post is gone"),
    "FK made deferrable": (
        "ALTER TABLE post ALTER CONSTRAINT post_account_id_fkey DEFERRABLE",
        "foreign key post_account_id_fkey on public.post changed",
    ),
    "target dropped": ("DROP TABLE post; DROP TABLE account", "columns of public.account is gone"),
    "new CHECK on a converted column": (
        "ALTER TABLE post ADD CONSTRAINT post_account_known CHECK (account_id IS NOT NULL)",
        "carried check constraint post_account_known on public.post is new",
    ),
    "new trigger on a converted column": (
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
        "CREATE TRIGGER post_account_touch BEFORE UPDATE OF account_id ON post FOR EACH ROW EXECUTE FUNCTION touch()",
        "carried trigger post_account_touch on public.post is new",
    ),
    "new policy on a converted column": (
        "CREATE POLICY post_own ON post USING (account_id IS NOT NULL)",
        "carried policy post_own on public.post is new",
    ),
}


@pytest.mark.parametrize("case", sorted(DRIFTS))
def test_migrate_refuses_when_the_catalog_drifted_since_plan(dsn, conn, tmp_path, case):
    change, expected = DRIFTS[case]
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    conn.execute(change)
    before = without_restrict(pg_dump_schema(dsn))

    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"DRIFT plan 0001: {expected}" in status.stdout, status.stdout
    assert "run keyshift plan again" in status.stderr

    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1, migrated.stdout + migrated.stderr
    err = migrated.stderr
    assert "changed since it was planned" in err and expected in err, err
    assert "delete the unapplied 0001_* files and run keyshift plan again" in err, err
    assert "Traceback" not in err
    # Nothing changed: no keyshift schema, no bookkeeping, the user's schema as it was.
    assert conn.execute("SELECT to_regnamespace('keyshift') IS NULL").fetchone()[0]
    assert conn.execute("SELECT to_regclass('_yoyo_keyshift_applied_file') IS NULL").fetchone()[0]
    assert without_restrict(pg_dump_schema(dsn)) == before


def test_replanning_after_drift_migrates(dsn, conn, tmp_path):
    conn.execute(SCHEMA)
    mig = tmp_path / "m"
    _plan(dsn, mig)
    conn.execute(
        "CREATE TABLE late (id int PRIMARY KEY, account_id int REFERENCES account);INSERT INTO late VALUES (1, 3)"
    )
    assert keyshift(dsn, "migrate", migrations=mig).returncode == 1
    for f in mig.glob("0001_*"):
        f.unlink()
    _plan(dsn, mig)
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _key_type(conn, "late", "account_id") == "uuid"


def test_edited_applied_file_is_reported_by_status_and_refused_by_migrate_and_rollback(dsn, conn, tmp_path):
    conn.execute(SCHEMA + "CREATE TABLE tag (id serial PRIMARY KEY); INSERT INTO tag DEFAULT VALUES;")
    mig = tmp_path / "m"
    _plan(dsn, mig)
    assert keyshift(dsn, "migrate", migrations=mig).returncode == 0
    sums = dict(conn.execute("SELECT migration_id, file_sha256 FROM _yoyo_keyshift_applied_file"))
    assert len(sums) == 5 and all(len(v) == 64 for v in sums.values()), sums

    clean = keyshift(dsn, "status", migrations=mig)
    assert clean.returncode == 0 and "EDITED" not in clean.stdout and not clean.stderr, clean.stdout + clean.stderr

    applied = next(p for p in mig.glob("0001_03_*.sql") if not p.name.endswith(".rollback.sql"))
    original = applied.read_bytes()
    applied.write_text(applied.read_text().replace("ALTER TABLE", "ALTER  TABLE", 1))
    back = next(mig.glob("0001_02_*.rollback.sql"))
    back.write_text(back.read_text() + "\n-- edited\n")

    status = keyshift(dsn, "status", migrations=mig)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"EDITED {applied.name[:-4]} ({applied.name} changed since it was applied)" in status.stdout
    assert f"EDITED {back.name[: -len('.rollback.sql')]} ({back.name} changed" in status.stdout
    assert "warning" in status.stderr and "edited" in status.stderr

    planned = keyshift(dsn, "plan", "--table", "public.tag", migrations=mig)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 1, migrated.stdout + migrated.stderr
    assert applied.name in migrated.stderr and "edited after they were applied" in migrated.stderr
    assert _key_type(conn, "tag") == "integer"

    refused = keyshift(dsn, "rollback", migrations=mig)
    assert refused.returncode == 1 and "rollback would run them as they are now" in refused.stderr, refused.stderr
    assert back.name in refused.stderr and _key_type(conn) == "uuid"

    applied.write_bytes(original)
    back.write_text(back.read_text().replace("\n-- edited\n", ""))
    migrated = keyshift(dsn, "migrate", migrations=mig)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _key_type(conn, "tag") == "uuid"
    assert conn.execute("SELECT count(*) FROM _yoyo_keyshift_applied_file").fetchone()[0] == 10
