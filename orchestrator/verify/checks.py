"""Run checks/*.sql and the plans' own checks: each file is one claim, zero rows = pass (dbt tests / pgTAP style).

Inside ``migrate`` the checks run on the migrating connection before COMMIT, each in a
savepoint; standalone they run in a transaction that is always rolled back, so a check can
never change the database. A check never passes without looking: each declares which rows
of the registry it proves (orchestrator/verify/directives.py), and is skipped, with its reason,
when there are none.

Every check runs with the search path ``pg_catalog, <the session's schemas>, pg_temp`` (the
temporary schema last; the session's schemas as they were before any migration ran) and
standard_conforming_strings on, whatever the session's settings are by then, so an object a
migration created cannot stand in for the catalog a check reads, nor a setting change how
its text reads.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from orchestrator.errors import Refused
from orchestrator.resources import CHECKS_DIR
from orchestrator.verify.check_result import CheckResult
from orchestrator.verify.directives import (
    APPLIES_TO,
    FIX_DIRECTIVES,
    REGISTRY_SCHEMA,
    SKIP_REASON,
    AppliesTo,
    ChecksUnusable,
    leading_comments,
    parse_applies_to,
    refuse_unless_one_select,
)


class NothingToCheck(Refused):
    """The database holds nothing for the checks to prove: nothing was checked."""


@dataclass(frozen=True)
class Check:
    """One check file, read once: its text is what runs."""

    name: str  # checks/<file>.sql or <plan_id>.checks/<file>.sql, as reported
    path: Path
    text: str
    applies_to: AppliesTo
    skip_reason: str
    #: the plan that wrote it (its own checks, <plan_id>.checks/); None for checks/*.sql
    plan_id: str | None = None


def proved_anything(results: list[CheckResult]) -> bool:
    """At least one check ran: a run where every check was skipped is no pass."""
    return any(r.skipped is None for r in results)


def passed(results: list[CheckResult]) -> bool:
    return proved_anything(results) and all(r.ok for r in results)


def check_files(checks_dir: Path = CHECKS_DIR) -> list[Path]:
    return sorted(checks_dir.glob("*.sql"))


def load_check(path: Path) -> Check:
    return check_of(f"checks/{path.name}", path, path.read_bytes())


def check_of(name: str, path: Path, data: bytes, plan_id: str | None = None) -> Check:
    """The check ``name`` whose file ``path`` held ``data`` (read once: what is checked is what runs)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ChecksUnusable(
            f"check file {name}",
            f"is not valid UTF-8 (byte {exc.start}, line {line})",
            "save it as UTF-8, or reinstall keyshift's check files",
        ) from None
    applies, reasons = [], []
    for line in leading_comments(text):
        if line.startswith(APPLIES_TO):
            applies.append(line)
        elif line.startswith(SKIP_REASON):
            reasons.append(line[len(SKIP_REASON) :].strip())
    if len(applies) != 1:
        why = f"has no '{APPLIES_TO}' line" if not applies else f"has {len(applies)} '{APPLIES_TO}' lines"
        raise ChecksUnusable(
            f"check file {name}", f"{why} in its leading comment block (it needs exactly one)", FIX_DIRECTIVES
        )
    if len(reasons) != 1 or not reasons[0]:
        raise ChecksUnusable(
            f"check file {name}",
            f"needs exactly one non-empty '{SKIP_REASON}' line in its leading comment block",
            FIX_DIRECTIVES,
        )
    refuse_unless_one_select(name, text)
    return Check(name, path, text, parse_applies_to(name, applies[0]), reasons[0], plan_id)


def load(checks_dir: Path = CHECKS_DIR) -> list[Check]:
    """Every check file of ``checks_dir`` with its directives; refuses when there is none, or
    when one cannot be run as a check."""
    files = check_files(checks_dir) if checks_dir.is_dir() else []
    if not files:
        state = "holds no check file (*.sql)" if checks_dir.is_dir() else "does not exist"
        raise ChecksUnusable(
            f"checks directory {checks_dir}",
            f"{state}, so nothing can be checked",
            "reinstall keyshift (checks/ travels inside the package), or point --checks at "
            "the directory that holds the check files",
        )
    return [load_check(p) for p in files]


def run(conn: psycopg.Connection, checks_dir: Path = CHECKS_DIR) -> list[CheckResult]:
    """Run every check on ``conn``, which must be inside a transaction (savepoint per check).

    Raises ChecksUnusable when there is no check file or one lacks its directives."""
    return run_checks(conn, load(checks_dir))


PLANS_SETTING = "keyshift.checking_plans"


def session_schemas(conn: psycopg.Connection) -> list[str]:
    """The schemas of the session's search path as they resolve now, without pg_catalog and
    temporary schemas: read before any migration runs, they are the path the checks use."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT s FROM unnest(current_schemas(false)) WITH ORDINALITY AS u(s, n)"
            " WHERE s <> 'pg_catalog' AND NOT starts_with(s, 'pg_temp_') AND NOT starts_with(s, 'pg_toast_temp_')"
            " ORDER BY n"
        )
    ]


def check_search_path(conn: psycopg.Connection, schemas: list[str]) -> str:
    """The search path every check runs with: the catalog first, then ``schemas`` (the
    session's own, so a view or index definition a registry row holds only as session-path text
    deparses as it did when recorded; rows with a fixed-path definition do not depend on it),
    and the session's temporary schema LAST (listed explicitly, else PostgreSQL searches it
    first), so an unqualified pg_constraint is always the catalog's."""
    parts = [sql.Identifier("pg_catalog"), *(sql.Identifier(s) for s in schemas), sql.Identifier("pg_temp")]
    return sql.SQL(", ").join(parts).as_string(conn)


def plan_gated(check: Check) -> bool:
    """The check proves only the plans being applied (``... in setting keyshift.checking_plans``)."""
    return any(c.op == "in setting" and c.value == PLANS_SETTING for c in check.applies_to.conditions)


def run_checks(conn: psycopg.Connection, loaded: list[Check], schemas: list[str] | None = None) -> list[CheckResult]:
    """Run ``loaded`` on ``conn`` (inside a transaction), each in a savepoint with the search
    path :func:`check_search_path` of ``schemas`` (default: the session's now; migrate passes
    the ones it read before any migration ran), whatever the session's path is; the
    session's is put back after.

    A check whose applies-to names a registry table that does not exist is skipped while
    there is no registry at all, and is an error once keyshift.converted_table exists (the
    registry is incomplete, so the check cannot look)."""
    saved = conn.execute("SELECT current_setting('search_path')").fetchone()[0]
    path = check_search_path(conn, session_schemas(conn) if schemas is None else schemas)
    try:
        return _run_each(conn, loaded, path)
    finally:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            conn.execute("SELECT set_config('search_path', %s, true)", (saved,))


def _run_each(conn: psycopg.Connection, loaded: list[Check], path: str) -> list[CheckResult]:
    results = []
    for check in loaded:
        t0 = time.monotonic()
        try:
            with conn.transaction():  # a savepoint: a failing check does not poison the others
                conn.execute(
                    "SELECT set_config('search_path', %s, true), set_config('standard_conforming_strings', 'on', true)",
                    (path,),
                )
                subjects = check.applies_to.count(conn)
                if subjects is None and registry_exists(conn):
                    results.append(
                        CheckResult(
                            check.name,
                            error=f"its registry table {REGISTRY_SCHEMA}.{check.applies_to.table} does not "
                            f"exist, though {REGISTRY_SCHEMA}.converted_table does: the registry is "
                            "incomplete, so the check cannot look",
                            seconds=time.monotonic() - t0,
                        )
                    )
                    continue
                if not subjects:
                    reason = check.skip_reason
                    if subjects is None:
                        reason += f"; {REGISTRY_SCHEMA}.{check.applies_to.table} does not exist"
                    results.append(CheckResult(check.name, skipped=reason, seconds=time.monotonic() - t0))
                    continue
                with conn.cursor() as cur:
                    cur.execute(check.text)
                    columns = [d.name for d in cur.description] if cur.description else []
                    rows = cur.fetchall() if cur.description else []
            results.append(CheckResult(check.name, columns, rows, seconds=time.monotonic() - t0, subjects=subjects))
        except psycopg.Error as exc:
            results.append(
                CheckResult(check.name, error=str(exc).strip().splitlines()[0], seconds=time.monotonic() - t0)
            )
    return results


def registry_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('keyshift.converted_table') IS NOT NULL").fetchone()[0]


def refuse_unless_converted(conn: psycopg.Connection, where: str = "") -> None:
    """NothingToCheck unless the registry records at least one conversion."""
    obj = "keyshift registry keyshift.converted_table" + (f" in {where}" if where else "")
    fix = "check --dsn (or DATABASE_URL): there is nothing to check until keyshift migrate converts a table here"
    if not registry_exists(conn):
        raise NothingToCheck(obj, "does not exist, so nothing was converted in this database", fix)
    if not conn.execute("SELECT EXISTS (SELECT FROM keyshift.converted_table)").fetchone()[0]:
        raise NothingToCheck(obj, "records no conversion (none was applied, or every one was rolled back)", fix)


def run_standalone(conn: psycopg.Connection, checks_dir: Path = CHECKS_DIR, where: str = "") -> list[CheckResult]:
    """Run every check of ``checks_dir`` and every plan's own checks recorded in the registry
    that hold at any time (the conversion-time ones, gated on keyshift.checking_plans, ran
    inside migrate and could only be skipped here), in a transaction that is rolled back
    afterwards.

    Raises ChecksUnusable (no usable check file) or NothingToCheck (nothing was converted in
    this database) before any check runs."""
    loaded = load(checks_dir)
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")  # a check only reads; this one cannot write
        refuse_unless_converted(conn, where)
        return run_checks(conn, loaded + [c for c in recorded_plan_checks(conn) if not plan_gated(c)])


#: The registry table of each applied plan's own checks, as migrate ran them.
PLAN_CHECKS = "plan_check"


def record_plan_checks(conn: psycopg.Connection, loaded: list[Check]) -> None:
    """Inside migrate, after its files ran: each plan's own checks, the bytes that were
    compared with the manifest, go into the registry so keyshift check can run them later
    without the migration files."""
    for c in loaded:
        if c.plan_id is None:
            continue
        conn.execute(
            sql.SQL("INSERT INTO {} (plan_id, check_name, sha256, body) VALUES (%s, %s, %s, %s)").format(
                sql.Identifier(REGISTRY_SCHEMA, PLAN_CHECKS)
            ),
            (c.plan_id, c.path.name, hashlib.sha256(c.text.encode("utf-8")).hexdigest(), c.text),
        )


def recorded_plan_checks(conn: psycopg.Connection) -> list[Check]:
    """Every applied plan's own checks, as recorded by migrate, in plan and name order; a
    recorded text that no longer matches its recorded sha256 is refused by name."""
    exists = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (REGISTRY_SCHEMA, PLAN_CHECKS)
    ).fetchone()[0]
    if not exists:
        return []
    rows = conn.execute(
        sql.SQL("SELECT plan_id, check_name, sha256, body FROM {} ORDER BY plan_id, check_name").format(
            sql.Identifier(REGISTRY_SCHEMA, PLAN_CHECKS)
        )
    ).fetchall()
    out = []
    for plan_id, name, digest, body in rows:
        shown = f"{plan_id}.checks/{name}"
        if hashlib.sha256(body.encode("utf-8")).hexdigest() != digest:
            raise ChecksUnusable(
                f"check {shown} in {REGISTRY_SCHEMA}.{PLAN_CHECKS}",
                "does not match the sha256 recorded with it",
                f"restore it from the plan's file (migrations/{shown}); nothing was checked",
            )
        out.append(check_of(shown, Path(shown), body.encode("utf-8"), plan_id))
    return out


def nothing_proved(results: list[CheckResult], where: str = "") -> NothingToCheck:
    """The error of a run in which every check was skipped."""
    return NothingToCheck(
        "keyshift check" + (f" on {where}" if where else ""),
        f"every one of the {len(results)} checks was skipped (none applies to what the keyshift registry "
        "records), so nothing was proven",
        "read the reasons above; check --dsn, and run the check files shipped with keyshift",
    )
