"""`keyshift check` never passes without looking (DESIGN.md §2).

Each check reports ok, not ok (N rows) or skipped (why); whether it applies is read from the
``-- applies-to:`` line of its own file and counted in the registry before it runs. Nothing
converted, no check file, a check file without its directives, or every check skipped: a
non-zero exit with one line, never a list of ok.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, convert, keyshift, load_seed000

from orchestrator.errors import EXIT_FAILED, EXIT_NO_CHECKS, EXIT_OK, EXIT_REFUSED
from orchestrator.verify import checks

CHECKS = ROOT / "checks"
SCALE = 30
SLUGS = "slug_columns_are_unique_text.sql"


def one_line(result) -> str:
    """The single stderr line of a refused run; nothing on stdout, no traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("keyshift: "), result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stdout + result.stderr
    return lines[0]


def check_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "checks"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def check_file(applies_to: str, body: str, reason: str = "nothing of that kind was converted") -> str:
    return f"-- a check written for this test\n--\n-- applies-to: {applies_to}\n-- skip-reason: {reason}\n{body}\n"


@pytest.fixture
def converted(dsn, conn, tmp_path) -> Path:
    load_seed000(conn, scale=SCALE)
    migrations = tmp_path / "m"
    convert(dsn, migrations, "public.custom_user")
    return migrations


# --- nothing to check: one line, non-zero ------------------------------------------------------


def test_no_registry_is_refused_in_one_line(dsn):
    for extra in ((), ("--json",)):
        result = keyshift(dsn, "check", *extra)
        assert result.returncode == EXIT_REFUSED, result.stdout + result.stderr
        line = one_line(result)
        assert "keyshift.converted_table" in line and "does not exist" in line and "nothing was converted" in line
        assert "--dsn" in line, line


def test_registry_without_a_conversion_is_refused_in_one_line(dsn, conn):
    conn.execute("CREATE SCHEMA keyshift")
    conn.execute((ROOT / "sql" / "registry.sql").read_text())
    result = keyshift(dsn, "check")
    assert result.returncode == EXIT_REFUSED
    assert "records no conversion" in one_line(result)


def test_after_rollback_of_the_only_plan_nothing_is_left_to_check(dsn, converted):
    assert keyshift(dsn, "check").returncode == EXIT_OK
    back = keyshift(dsn, "rollback", migrations=converted)
    assert back.returncode == 0, back.stdout + back.stderr
    result = keyshift(dsn, "check")
    assert result.returncode == EXIT_REFUSED, result.stdout + result.stderr
    assert "keyshift.converted_table" in one_line(result)


# --- no usable check file: one line, exit 4 -----------------------------------------------------


def test_no_check_file_names_the_directory_and_the_fix(dsn, converted, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for where, state in ((empty, "holds no check file"), (tmp_path / "absent", "does not exist")):
        result = keyshift(dsn, "check", "--checks", str(where))
        assert result.returncode == EXIT_NO_CHECKS, result.stdout + result.stderr
        line = one_line(result)
        assert str(where) in line and state in line and "reinstall keyshift" in line, line


@pytest.mark.parametrize(
    "header, why",
    [
        ("-- no directive at all\n", "has no '-- applies-to:' line"),
        ("-- skip-reason: only a reason\n", "has no '-- applies-to:' line"),
        ("-- applies-to: keyshift.converted_table\n", "'-- skip-reason:'"),
        (
            "-- applies-to: keyshift.converted_table\n-- applies-to: keyshift.converted_slug\n-- skip-reason: x\n",
            "has 2 '-- applies-to:' lines",
        ),
        ("-- applies-to: public.custom_user\n-- skip-reason: x\n", "is not a table of the schema keyshift"),
        ("-- applies-to: keyshift.converted_table mode = external\n-- skip-reason: x\n", "'where'"),
        ("-- applies-to: keyshift.converted_table where mode == external\n-- skip-reason: x\n", "'mode == external'"),
        ("-- applies-to: keyshift.converted_table where mode = 'a b'\n-- skip-reason: x\n", "is none of"),
        # Directives count only in the leading comment block, as yoyo's do.
        ("-- a check\n\n-- applies-to: keyshift.converted_table\n-- skip-reason: x\n", "has no '-- applies-to:' line"),
    ],
)
def test_a_check_file_without_usable_directives_is_refused(dsn, converted, tmp_path, header, why):
    d = check_dir(
        tmp_path,
        {
            "a_fine.sql": check_file("keyshift.converted_table", "SELECT 1 WHERE FALSE;"),
            "b_broken.sql": header + "SELECT 1 WHERE FALSE;\n",
        },
    )
    result = keyshift(dsn, "check", "--checks", str(d))
    assert result.returncode == EXIT_NO_CHECKS, result.stdout + result.stderr
    line = one_line(result)
    assert "checks/b_broken.sql" in line and why in line, line


def test_parse_applies_to_builds_each_condition():
    p = checks.parse_applies_to(
        "t.sql",
        "-- applies-to: keyshift.fingerprint where plan_id in setting keyshift.checking_plans"
        " and row_count <> 0 and table_name = x and fingerprint is null",
    )
    assert p.table == "fingerprint"
    assert [(c.column, c.op, c.value) for c in p.conditions] == [
        ("plan_id", "in setting", "keyshift.checking_plans"),
        ("row_count", "<>", "0"),
        ("table_name", "=", "x"),
        ("fingerprint", "is null", None),
    ]


# --- skipped: declared, counted, never run -----------------------------------------------------


def test_a_check_without_registry_rows_is_skipped_without_running(dsn, converted, tmp_path):
    """The skipped file would fail if it ran; the applying one does run and fails."""
    d = check_dir(
        tmp_path,
        {
            "never_runs.sql": check_file(
                "keyshift.converted_slug", "SELECT 1 / 0 AS boom;", "no slug column was converted"
            ),
            "external_only.sql": check_file("keyshift.converted_table where mode = external", "SELECT 1 / 0 AS boom;"),
            "runs.sql": check_file(
                "keyshift.converted_table where mode = replace and map_dropped_at is null", "SELECT 'looked' AS found;"
            ),
        },
    )
    text = keyshift(dsn, "check", "--checks", str(d))
    assert text.returncode == EXIT_FAILED, text.stdout + text.stderr
    assert re.search(r"checks/never_runs\.sql \.+ skipped \(no slug column was converted\)$", text.stdout, re.M)
    assert re.search(
        r"checks/external_only\.sql \.+ skipped \(nothing of that kind was converted\)$", text.stdout, re.M
    )
    assert re.search(r"checks/runs\.sql \.+ not ok \(1 rows\)$", text.stdout, re.M), text.stdout
    # plan 0001's own checks that hold at any time run too, from the registry
    assert "5 checks, 2 ok, 1 not ok, 2 skipped" in text.stdout, text.stdout
    data = json.loads(keyshift(dsn, "check", "--checks", str(d), "--json").stdout)
    by_name = {c["check"]: c for c in data["checks"]}
    assert by_name["checks/never_runs.sql"]["status"] == "skipped"
    assert by_name["checks/never_runs.sql"]["reason"] == "no slug column was converted"
    assert by_name["checks/runs.sql"]["status"] == "not ok" and by_name["checks/runs.sql"]["subjects"] == 1
    assert data["ok"] is False


def test_every_check_skipped_is_no_pass(dsn, conn, converted, tmp_path):
    conn.execute("DELETE FROM keyshift.plan_check")  # only the one check file below is left to run
    d = check_dir(tmp_path, {SLUGS: (CHECKS / SLUGS).read_text()})
    result = keyshift(dsn, "check", "--checks", str(d))
    assert result.returncode == EXIT_REFUSED, result.stdout + result.stderr
    assert re.search(rf"checks/{SLUGS} \.+ skipped \(no slug column was converted\)", result.stdout), result.stdout
    assert "1 checks, 0 ok, 0 not ok, 1 skipped" in result.stdout
    [line] = result.stderr.splitlines()
    assert "every one of the 1 checks was skipped" in line and "nothing was proven" in line, line
    data = keyshift(dsn, "check", "--checks", str(d), "--json")
    assert data.returncode == EXIT_REFUSED
    parsed = json.loads(data.stdout)
    assert parsed["ok"] is False and parsed["checks"][0]["status"] == "skipped"


def test_a_registry_table_or_column_that_does_not_exist_fails(dsn, converted, tmp_path):
    d = check_dir(
        tmp_path,
        {
            "a.sql": check_file("keyshift.no_such_table", "SELECT 1;", "nothing recorded"),
            "b.sql": check_file("keyshift.converted_table where no_such_column = x", "SELECT 1 WHERE FALSE;"),
            "c.sql": check_file("keyshift.converted_table", "SELECT 1 WHERE FALSE;"),
        },
    )
    data = json.loads(keyshift(dsn, "check", "--checks", str(d), "--json").stdout)
    by_name = {c["check"]: c for c in data["checks"]}
    assert by_name["checks/a.sql"]["status"] == "error", by_name["checks/a.sql"]
    assert (
        "keyshift.no_such_table does not exist, though keyshift.converted_table does"
        in by_name["checks/a.sql"]["error"]
    )
    assert by_name["checks/b.sql"]["status"] == "error" and "no_such_column" in by_name["checks/b.sql"]["error"]
    assert by_name["checks/c.sql"]["status"] == "ok"


def test_a_directive_value_is_a_bound_parameter_not_sql(conn):
    conn.execute("CREATE SCHEMA keyshift")
    conn.execute((ROOT / "sql" / "registry.sql").read_text())
    applies = checks.parse_applies_to("t.sql", "-- applies-to: keyshift.converted_table where mode = x';DROP")
    with conn.transaction(force_rollback=True):
        assert applies.count(conn) == 0
    assert conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]


# --- inside migrate ----------------------------------------------------------------------------


def test_migrate_reports_skipped_checks_and_commits(dsn, conn, tmp_path):
    load_seed000(conn, scale=SCALE)
    migrations = tmp_path / "m"
    planned = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=migrations)
    assert planned.returncode == 0, planned.stderr
    d = check_dir(
        tmp_path,
        {name: (CHECKS / name).read_text() for name in (SLUGS, "keys_are_uuid_primary_keys_with_default.sql")},
    )
    result = keyshift(dsn, "migrate", "--checks", str(d), migrations=migrations)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"checks/{SLUGS} \.+ skipped \(no slug column was converted\)", result.stdout), result.stdout
    # Inside migrate the plan being applied is named: its own checks compare the row counts.
    assert re.search(r"^0001\.checks/row_counts_unchanged\.sql \.+ ok$", result.stdout, re.M), result.stdout
    assert "8 checks, 7 ok, 0 not ok, 1 skipped" in result.stdout
    assert conn.execute("SELECT count(*) FROM keyshift.converted_table").fetchone()[0] == 1


@pytest.mark.parametrize("files", [{}, {"no_directive.sql": "SELECT 1 WHERE FALSE;\n"}], ids=["none", "no directive"])
def test_migrate_without_usable_check_files_commits_nothing(dsn, conn, tmp_path, files):
    load_seed000(conn, scale=SCALE)
    migrations = tmp_path / "m"
    planned = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=migrations)
    assert planned.returncode == 0, planned.stderr
    d = check_dir(tmp_path, files)
    result = keyshift(dsn, "migrate", "--checks", str(d), migrations=migrations)
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and ("no check file" in result.stderr or "applies-to" in result.stderr)
    assert conn.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None
    assert conn.execute("SELECT to_regclass('_yoyo_migration') IS NULL").fetchone()[0]  # made inside the transaction


def test_shipped_check_files_all_declare_what_they_prove():
    loaded = checks.load(CHECKS)
    assert [c.path.name for c in loaded] == sorted(p.name for p in CHECKS.glob("*.sql"))
    for c in loaded:
        assert c.applies_to.table.startswith("converted_") or c.applies_to.table == "fingerprint", c.name
        assert c.skip_reason, c.name
    with pytest.raises(checks.ChecksUnusable):
        checks.load(ROOT / "no-such-directory")


# --- the checks run in keyshift's session state, not in what the migrations left --------------


def _plan_with_appended(dsn, conn, tmp_path, extra: str) -> Path:
    load_seed000(conn, scale=SCALE)
    migrations = tmp_path / "m"
    planned = keyshift(dsn, "plan", "--table", "public.custom_user", migrations=migrations)
    assert planned.returncode == 0, planned.stderr
    last = next(p for p in sorted(migrations.glob("0001_05_*.sql")) if not p.name.endswith(".rollback.sql"))
    last.write_text(last.read_text() + "\n" + extra + "\n")
    return migrations


def test_a_migration_cannot_reset_the_plans_or_shadow_the_catalog_for_the_checks(dsn, conn, tmp_path):
    migrations = _plan_with_appended(
        dsn,
        conn,
        tmp_path,
        (
            "SELECT set_config('keyshift.checking_plans', '', false);\n"
            "SELECT set_config('search_path', 'pg_temp, public', false);\n"
            "CREATE TEMP TABLE pg_constraint AS SELECT * FROM pg_catalog.pg_constraint WHERE false;"
        ),
    )
    d = check_dir(
        tmp_path,
        {
            "catalog.sql": check_file(
                "keyshift.converted_table",
                "SELECT 'read a temporary pg_constraint' AS problem FROM pg_constraint HAVING count(*) = 0;",
            ),
            "path.sql": check_file(
                "keyshift.converted_table",
                "SELECT current_setting('search_path') AS problem"
                ' WHERE current_setting(\'search_path\') <> \'"pg_catalog", "public", "pg_temp"\'',
            ),
        },
    )
    result = keyshift(dsn, "migrate", "--accept-edited", "--checks", str(d), migrations=migrations)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^0001\.checks/row_counts_unchanged\.sql \.+ ok$", result.stdout, re.M), result.stdout
    assert "8 checks, 8 ok, 0 not ok, 0 skipped" in result.stdout, result.stdout


def test_pg_temp_listed_last_is_searched_last(conn):
    with conn.transaction(force_rollback=True):
        conn.execute("CREATE TEMP TABLE pg_constraint (x int)")
        schemas = checks.session_schemas(conn)
        assert schemas == ["public"], schemas
        path = checks.check_search_path(conn, schemas)
        assert path == '"pg_catalog", "public", "pg_temp"', path
        conn.execute("SELECT set_config('search_path', %s, true)", (path,))
        schemas = conn.execute("SELECT current_schemas(true)").fetchone()[0]
        assert schemas[0] == "pg_catalog" and schemas[-1].startswith("pg_temp"), schemas
        found = conn.execute(
            "SELECT 'pg_constraint'::regclass::oid = 'pg_catalog.pg_constraint'::regclass::oid"
        ).fetchone()[0]
        assert found


@pytest.mark.parametrize(
    "extra",
    ["DELETE FROM keyshift.fingerprint;", "DELETE FROM keyshift.converted_table; DELETE FROM keyshift.fingerprint;"],
    ids=["plan-gated skipped", "all skipped"],
)
def test_migrate_commits_nothing_when_a_check_that_proves_the_plan_is_skipped(dsn, conn, tmp_path, extra):
    migrations = _plan_with_appended(dsn, conn, tmp_path, extra)
    d = check_dir(tmp_path, {"table.sql": check_file("keyshift.converted_table", "SELECT 1 WHERE FALSE;")})
    result = keyshift(dsn, "migrate", "--accept-edited", "--checks", str(d), migrations=migrations)
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        "0001.checks/row_counts_unchanged.sql" in err[0]
        if "converted_table" not in extra
        else "4 check(s) that prove plan(s) 0001 were skipped" in err[0]
    ), err
    assert "nothing was committed" in err[0]
    assert conn.execute("SELECT to_regnamespace('keyshift')").fetchone()[0] is None
    assert conn.execute("SELECT to_regclass('_yoyo_migration') IS NULL").fetchone()[0]  # made inside the transaction


# --- what a check reports cannot forge a line, and is valid JSON --------------------------------


def test_row_values_cannot_forge_a_line_and_json_stays_valid(dsn, converted, tmp_path):
    d = check_dir(
        tmp_path,
        {
            "a.sql": check_file(
                "keyshift.converted_table",
                "SELECT E'x\\nchecks/b.sql ........ ok' AS \"col\nname\", 'NaN'::float8 AS n, 'Infinity'::float8 AS i;",
            ),
            "b.sql": check_file("keyshift.converted_table", "SELECT 1 AS v;"),
        },
    )
    text = keyshift(dsn, "check", "--checks", str(d))
    assert text.returncode == EXIT_FAILED, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert not any(line.startswith("checks/b.sql") and line.endswith(" ok") for line in lines), text.stdout
    assert "    x\\u000achecks/b.sql ........ ok | nan | inf" in lines, text.stdout
    assert "    col\\u000aname | n | i" in lines, text.stdout
    data = keyshift(dsn, "check", "--checks", str(d), "--json")

    def no_constant(name):
        raise AssertionError(f"not JSON: {name}")

    parsed = json.loads(data.stdout, parse_constant=no_constant)
    assert parsed["checks"][0]["sample"][0]["n"] == "nan", parsed


def test_a_check_file_that_is_not_utf8_is_refused_in_one_line(dsn, converted, tmp_path):
    d = check_dir(tmp_path, {})
    (d / "bad.sql").write_bytes(b"-- applies-to: keyshift.converted_table\n-- skip-reason: x\nSELECT '\xff';\n")
    result = keyshift(dsn, "check", "--checks", str(d))
    assert result.returncode == EXIT_NO_CHECKS
    line = one_line(result)
    assert "check file checks/bad.sql: is not valid UTF-8 (byte" in line and "line 3" in line, line


@pytest.mark.parametrize(
    "body",
    [
        "COMMIT; CREATE TABLE public.pwned (); SELECT 1 WHERE false;",
        "CREATE TABLE public.pwned ();",
        "WITH gone AS (DELETE FROM public.custom_user RETURNING id) SELECT id FROM gone;",
        "SELECT 1 INTO public.pwned;",
    ],
    ids=["second statement", "not a select", "writing with", "select into"],
)
def test_a_recorded_check_that_is_not_one_select_is_refused_and_changes_nothing(dsn, conn, converted, body):
    """A check is one SELECT, read by PostgreSQL's parser before it runs: a second statement could
    end the transaction the check runs in and commit what follows."""
    import hashlib

    text = f"-- applies-to: keyshift.converted_table\n-- skip-reason: x\n{body}\n"
    conn.execute(
        "INSERT INTO keyshift.plan_check (plan_id, check_name, sha256, body) VALUES ('0001', 'evil.sql', %s, %s)",
        (hashlib.sha256(text.encode()).hexdigest(), text),
    )
    users = conn.execute("SELECT count(*) FROM custom_user").fetchone()[0]
    result = keyshift(dsn, "check")
    assert result.returncode == EXIT_NO_CHECKS, result.stdout + result.stderr
    assert "0001.checks/evil.sql" in one_line(result) and "SELECT" in one_line(result)
    assert conn.execute("SELECT to_regclass('public.pwned')").fetchone()[0] is None
    assert conn.execute("SELECT count(*) FROM custom_user").fetchone()[0] == users
