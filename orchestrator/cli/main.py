"""The keyshift command (DESIGN.md §2): plan, migrate, check, rollback, status, rehearse,
django-migration, init, --version.

Exit codes: 0 done or nothing to do; 1 failed (nothing changed); 2 the command line is
malformed or an argument value is invalid (found before any connection); 3 plan refused
(nothing written), rehearse found blockers, or nothing to check; 4 keyshift check found no
usable check file. Every error is one line on stderr naming the object, the reason and the
fix; ``--debug`` adds the Python traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from orchestrator import names
from orchestrator.apply.redis_step import ACTIONS, DEFAULT_BATCH
from orchestrator.cli.arguments import DebugParser, check_arguments, non_negative, positive
from orchestrator.cli.commands import (
    cmd_check,
    cmd_drop_map,
    cmd_export_map,
    cmd_migrate,
    cmd_redis_rewrite,
    cmd_rollback,
    cmd_status,
)
from orchestrator.cli.django_command import add_django_command
from orchestrator.cli.init_command import cmd_init
from orchestrator.cli.plan_command import cmd_plan
from orchestrator.cli.rehearse_command import add_rehearse_command
from orchestrator.cli.settings import ini_defaults
from orchestrator.errors import EXIT_FAILED, EXIT_NO_CHECKS, EXIT_OK, EXIT_REFUSED, KeyshiftError
from orchestrator.plan import options as planoptions
from orchestrator.resources import CHECKS_DIR, DEFAULT_MIGRATIONS, version

#: keyshift check's exit codes, as its --help prints them.
CHECK_EXIT_CODES = f"""exit codes:
  {EXIT_OK}  every check that applies passed (skipped ones proved nothing and fail nothing)
  {EXIT_FAILED}  a check returned rows or could not run (or the database cannot be reached)
  {EXIT_REFUSED}  nothing to check: the keyshift registry (keyshift.converted_table) does not exist
     or records no conversion, or every check was skipped
  {EXIT_NO_CHECKS}  no check file was found, or one lacks its '-- applies-to:' / '-- skip-reason:' lines
Each check prints ok, not ok (N rows) with the first rows, or skipped (why): a check is
skipped when the registry holds no row of what it proves (its '-- applies-to:' line)."""


def safety_options(sp, defaults: dict, lock_timeout: bool = True) -> None:
    """Lock and statement limits of migrate and rollback; yoyo.ini [keyshift] gives defaults."""
    if lock_timeout:
        sp.add_argument(
            "--lock-timeout",
            default=defaults.get("lock_timeout", "5s"),
            help="give up waiting for a table lock after this long (PostgreSQL interval, default 5s)",
        )
    sp.add_argument(
        "--statement-timeout",
        default=defaults.get("statement_timeout", "0"),
        help="cancel (and roll back) a conversion statement running longer than this "
        "(PostgreSQL interval; default 0 = no limit, overriding any server setting)",
    )
    sp.add_argument(
        "--lock-retries",
        type=non_negative(int),
        default=defaults.get("lock_retries", "3"),  # argparse applies type= to a text default
        help="after a lock timeout, try again this many times, each in a fresh transaction (default 3)",
    )
    sp.add_argument(
        "--lock-retry-delay",
        type=non_negative(float),
        default=defaults.get("lock_retry_delay", "1"),
        help="seconds before the first retry; doubles each retry, with random jitter (default 1)",
    )


def _common(sp, migrations=True):
    sp.add_argument("--dsn", help="libpq DSN or URL (default: DATABASE_URL, then the embedded cluster)")
    sp.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="print the Python traceback of an error"
    )
    if migrations:
        sp.add_argument("--migrations", default=str(DEFAULT_MIGRATIONS), help="migrations directory")
    return sp


def _add_key_options(sp, defaults: dict) -> None:
    """The options that shape each target's new keys: uuid version, timestamp column, slug column."""
    sp.add_argument(
        "--uuid",
        default=defaults.get("uuid", "v4"),
        metavar="{v4,v7,v6}",
        help="key version for every target (default v4); a bad value is refused with exit 3",
    )
    sp.add_argument(
        "--uuid-for",
        action="append",
        metavar="SCHEMA.TABLE=VERSION",
        help="key version for one target, overriding --uuid (repeatable)",
    )
    sp.add_argument(
        "--timestamp-column",
        action="append",
        metavar="SCHEMA.TABLE.COL",
        help="existing rows of that v7/v6 target get keys timed by this column (repeatable)",
    )
    sp.add_argument(
        "--slug-column",
        action="append",
        metavar="SCHEMA.TABLE.COL",
        help="add a unique Base62 slug column to that target (repeatable)",
    )
    sp.add_argument(
        "--slug-length",
        type=int,
        default=None,
        metavar="N",
        help=f"slug length, {planoptions.SLUG_MIN}-{planoptions.SLUG_MAX} (default {planoptions.SLUG_DEFAULT})",
    )


def _add_plan_options(sp, defaults: dict, no_rehearse: bool = True) -> None:
    sp.add_argument("--table", action="append", required=True, help="SCHEMA.TABLE to convert (repeatable)")
    sp.add_argument("--mode", default=defaults.get("mode", "replace"), choices=planoptions.MODES)
    if no_rehearse:
        sp.add_argument(
            "--no-rehearse",
            action="store_true",
            help="write the plan without rehearsing it on a schema-only copy of the database",
        )
    sp.add_argument(
        "--rehearse-dsn",
        help="rehearse on this empty database (e.g. a staging server) instead of a throwaway "
        "database keyshift creates on the target's server",
    )
    sp.add_argument(
        "--throughput",
        type=positive(float),
        metavar="MB_PER_S",
        help="estimate the lock window at this many MB rewritten per second instead of measuring it on the server",
    )
    _add_key_options(sp, defaults)
    sp.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="SCHEMA.TABLE.COL=SCHEMA.TARGET",
        help="an integer column without an FK that holds ids of a --table target: converted with it (repeatable)",
    )
    sp.add_argument(
        "--external-column",
        default=defaults.get("external_column"),
        metavar="NAME",
        help="external mode: name of the added uuid column (default external_id)",
    )
    sp.add_argument(
        "--restart-sequence",
        action="append",
        default=[],
        metavar="SCHEMA.TABLE=N",
        help="external mode: new rows of that target continue from N (repeatable)",
    )
    sp.add_argument(
        "--invalidate-sessions",
        action="append",
        default=[],
        metavar="SCHEMA.TABLE",
        help="empty that session table inside the migrate transaction (repeatable)",
    )


def _add_migrate_command(sub, defaults: dict) -> None:
    sp = _common(sub.add_parser("migrate", help="apply pending migrations and checks in one transaction"))
    sp.add_argument(
        "--lock-timeout",
        default=defaults.get("lock_timeout", "5s"),
        help="give up waiting for a table lock after this long (PostgreSQL interval, default 5s)",
    )
    safety_options(sp, defaults, lock_timeout=False)
    sp.add_argument("--checks", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    sp.add_argument(
        "--accept-edited",
        action="store_true",
        help="run pending files edited after plan as they are now, and record them in the plan's manifest",
    )
    add_migrate_options(sp)
    sp.set_defaults(func=cmd_migrate)


def _add_rollback_command(sub, defaults: dict) -> None:
    sp = _common(sub.add_parser("rollback", help="undo the last conversion in one transaction"))
    safety_options(sp, defaults)
    sp.add_argument(
        "--accept-edited",
        action="store_true",
        help="run .rollback.sql files edited after plan as they are now, and record them in the manifest",
    )
    sp.set_defaults(func=cmd_rollback)


def parser() -> argparse.ArgumentParser:
    p = DebugParser(prog="keyshift", description="Convert integer primary keys to UUID keys.")
    p.add_argument("--debug", action="store_true", help="print the Python traceback of an error")
    p.add_argument("--version", action="version", version=f"keyshift {version()}")
    sub = p.add_subparsers(dest="command", required=True)

    defaults = ini_defaults()
    sp = _common(sub.add_parser("plan", help="write reviewable migrations for the given tables"))
    _add_plan_options(sp, defaults)
    sp.set_defaults(func=cmd_plan)

    _add_migrate_command(sub, defaults)

    sp = _common(
        sub.add_parser(
            "check",
            help="run checks/*.sql",
            epilog=CHECK_EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        migrations=False,
    )
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--checks", default=str(CHECKS_DIR), help=argparse.SUPPRESS)
    sp.set_defaults(func=cmd_check)

    _add_rollback_command(sub, defaults)

    sp = _common(sub.add_parser("drop-map", help="retire the old -> new mapping of converted tables"), migrations=False)
    sp.add_argument("--table", action="append", required=True, help="SCHEMA.TABLE whose mapping to drop")
    sp.set_defaults(func=cmd_drop_map)

    sp = _common(sub.add_parser("status", help="applied and pending migrations"))
    sp.set_defaults(func=cmd_status)

    sp = _common(
        sub.add_parser("export-map", help="stream old integer id -> new uuid pairs of converted tables"),
        migrations=False,
    )
    sp.add_argument("--table", action="append", required=True, help="converted SCHEMA.TABLE (repeatable)")
    sp.add_argument("--format", default="csv", choices=("csv", "jsonl"))
    sp.add_argument("--output", default="-", help="file to write (atomically), or - for stdout (default)")
    sp.set_defaults(func=cmd_export_map)

    sp = _common(
        sub.add_parser("redis-rewrite", help="rename or delete Redis keys that embed old integer ids"), migrations=False
    )
    add_rewrite_options(sp)
    sp.set_defaults(func=cmd_redis_rewrite)

    add_rehearse_command(sub, _common, lambda sp: _add_plan_options(sp, defaults, no_rehearse=False))
    add_django_command(sub, _common)

    sp = sub.add_parser("init", help="write a commented yoyo.ini and an empty migrations/ for a project")
    sp.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project directory (default: .)")
    sp.set_defaults(func=cmd_init)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = parser().parse_args(argv)  # reads yoyo.ini for the defaults
        check_arguments(args)  # before any connection
        return args.func(args)
    except KeyboardInterrupt:
        return _fail(debug, "interrupted; nothing was committed", EXIT_FAILED)
    except KeyshiftError as exc:
        return _fail(debug, exc.line(), exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - whatever escaped is still one line, unless --debug
        return _fail(debug, unexpected(exc), EXIT_FAILED)


def _fail(debug: bool, line: str, code: int) -> int:
    if debug:
        traceback.print_exc()
    print(f"keyshift: {names.visible(' '.join(line.split()))}", file=sys.stderr)
    return code


def unexpected(exc: BaseException) -> str:
    """One line for an error no keyshift code named: what it is, and how to see more."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or text}; check the path and its permissions; nothing was changed"
    kind = (
        "database error" if type(exc).__module__.startswith("psycopg") else f"unexpected error ({type(exc).__name__})"
    )
    return f"{kind}: {text or type(exc).__name__}; run again with --debug for the traceback, and report it"


if __name__ == "__main__":
    sys.exit(main())


def add_rewrite_options(sp) -> None:
    sp.add_argument(
        "--redis-url",
        default=None,
        help="redis://[:PASSWORD@]HOST:PORT/DB (default: REDIS_URL; prefer it, a password on the"
        " command line is visible to other users)",
    )
    sp.add_argument("--table", required=True, help="converted SCHEMA.TABLE whose old ids the keys embed")
    sp.add_argument(
        "--pattern", required=True, help="key pattern with {id} where the old id sits, e.g. 'user_sessions:{id}'"
    )
    sp.add_argument("--action", default="rename", choices=ACTIONS)
    sp.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="SCAN COUNT and ids per lookup (default 1000)")
    sp.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")


def add_migrate_options(sp) -> None:
    """Opt-in: the Redis step after migrate COMMITs."""
    sp.add_argument(
        "--redis-url", default=None, help="with --redis-key: the Redis to rewrite after COMMIT (default: REDIS_URL)"
    )
    sp.add_argument(
        "--redis-key",
        action="append",
        default=[],
        metavar="S.T=PATTERN",
        help="after COMMIT, rewrite Redis keys of converted table S.T, e.g."
        " 'public.custom_user=user_sessions:{id}' (repeatable)",
    )
    sp.add_argument("--redis-action", default="rename", choices=ACTIONS)
    sp.add_argument("--redis-batch", type=int, default=DEFAULT_BATCH, help=argparse.SUPPRESS)
