"""keyshift migrate, check, rollback, status, drop-map, export-map and redis-rewrite: one function each."""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg

from orchestrator.apply import drift, drop_map, execute, redis_step, since_migrate
from orchestrator.catalog import mappings
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import EXIT_FAILED, EXIT_NO_CHECKS, EXIT_OK, ConnectionFailed, Refused
from orchestrator.names import parse_qualified, qualname
from orchestrator.report import export, report
from orchestrator.verify import checks


def cmd_redis_rewrite(args) -> int:
    table = parse_qualified(args.table)
    pattern = redis_step.Pattern.parse(args.pattern)
    if args.batch < 1:
        raise Refused(f"--batch {args.batch}", "must be at least 1", "e.g. --batch 1000")
    url = redis_step.url_from(args.redis_url)
    dsn = dsnmod.resolve(args.dsn)
    with dsnmod.connect(dsn, autocommit=True) as conn:
        mappings.mapping(conn, *table)  # refuse an unconverted table before touching Redis
        client = redis_step.connect(url)
        try:
            outcome = redis_step.rewrite(client, conn, table, pattern, args.action, args.batch, args.dry_run)
        except Exception as exc:
            import redis

            if isinstance(exc, redis.RedisError):
                reason = f"failed mid-run ({redis_step.scrub(url, str(exc))})"
                raise ConnectionFailed(
                    f"redis {redis_step.redact(url)}",
                    reason,
                    "keys handled so far are done; re-run (the step is idempotent)",
                ) from None
            raise
    for line in outcome.lines():
        print(line)
    return EXIT_OK


def cmd_migrate(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    redis_url, redis_jobs = redis_step.jobs_from_migrate_args(args)  # checked before anything changes
    outcome = None
    try:
        outcome = execute.migrate(
            dsn,
            Path(args.migrations),
            Path(args.checks),
            lock_timeout=args.lock_timeout,
            before_commit=redis_step.mappings_before_commit(redis_jobs),
            accept_edited=args.accept_edited,
            target=_say_target,
            **_safety_kwargs(args),
        )
    except execute.ChecksFailed as exc:
        for line in report.slow_check_lines(exc.results) + report.check_lines(exc.results):
            print(line)
        raise
    if outcome.nothing_to_do:
        print("nothing to do: every migration is applied")
        return redis_step.run_after_commit(dsn, redis_url, redis_jobs, args.redis_action, args.redis_batch)
    for mid, secs in outcome.applied:
        print(f"{mid:<40} {secs:8.2f} s")
    for line in report.slow_check_lines(outcome.checks):
        print(line)
    for line in report.check_lines(outcome.checks):
        print(line)
    print(f"committed {len(outcome.applied) - 1} migration(s) in {outcome.seconds:.2f} s")
    print(_lock_window(outcome))
    return redis_step.run_after_commit(dsn, redis_url, redis_jobs, args.redis_action, args.redis_batch)


def _lock_window(outcome) -> str:
    """The measured lock window: what application queries on these objects waited for at most."""
    rounds = f" (taken in {outcome.lock_rounds} rounds)" if outcome.lock_rounds > 1 else ""
    return (
        f"lock window: {outcome.locked_objects} tables, sequences and views locked{rounds} "
        f"for {outcome.locked_seconds or 0.0:.2f} s, from the last lock granted to COMMIT"
    )


def cmd_check(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    where = dsnmod.describe(dsn)
    try:
        with dsnmod.connect(dsn) as conn:
            results = checks.run_standalone(conn, Path(args.checks), where)
    except checks.ChecksUnusable as exc:
        exc.exit_code = EXIT_NO_CHECKS
        raise
    if args.json:
        print(report.checks_json(results))
    else:
        for line in report.check_lines(results):
            print(line)
    if not checks.proved_anything(results):
        raise checks.nothing_proved(results, where)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def cmd_rollback(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    try:
        since = _since_migrate(dsn, last_plan_only=True)
    except psycopg.errors.InsufficientPrivilege:
        since = []  # a role that may not read keyshift's registry: rollback's preflight names all it lacks
    for line in since:
        print(line)
    outcome = execute.rollback(
        dsn,
        Path(args.migrations),
        lock_timeout=args.lock_timeout,
        accept_edited=args.accept_edited,
        target=_say_target,
        **_safety_kwargs(args),
    )
    if outcome.nothing_to_do:
        print("nothing to roll back: no migration is applied")
        return EXIT_OK
    for mid, secs in outcome.applied:
        print(f"rolled back {mid:<40} {secs:8.2f} s")
    print(f"committed rollback of {len(outcome.applied)} migration(s) in {outcome.seconds:.2f} s")
    print(_lock_window(outcome))
    return EXIT_OK


def cmd_status(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    state = execute.status(dsn, Path(args.migrations))
    if not state:
        print("no migrations")
    for mid, applied in state.items():
        print(f"{'applied' if applied else 'pending'}  {mid}")
    print(f"{sum(state.values())} applied, {len(state) - sum(state.values())} pending")
    lines, warnings = drift.status_lines(dsn, Path(args.migrations))
    for line in lines + _since_migrate(dsn) + _kept_mappings(dsn):
        print(line)
    for w in warnings:
        print(f"keyshift: warning: {w}", file=sys.stderr)
    return EXIT_OK


def cmd_drop_map(args) -> int:
    """Retire the old -> new mapping of converted tables: the checks stop asking for it."""
    dsn = dsnmod.resolve(args.dsn)
    names = [parse_qualified(t) for t in args.table]
    dropped = drop_map.drop_maps(dsn, names, notice=lambda line: print(f"keyshift: {line}", file=sys.stderr))
    for d in dropped:
        if d.rolled_back_at is not None:
            print(
                f"dropped {qualname('keyshift', d.map_table)} ({d.shown}), kept by the rollback of plan {d.plan_id} at "
                f"{d.rolled_back_at:%Y-%m-%d %H:%M:%S %Z}; old ids no longer resolve"
            )
        else:
            print(
                f"dropped keyshift.{d.map_table} ({d.shown}); plan {d.plan_id} can no longer be rolled back "
                "or exported, and old ids no longer resolve"
            )
    return EXIT_OK


def cmd_export_map(args) -> int:
    dsn = dsnmod.resolve(args.dsn)
    names = [parse_qualified(t) for t in args.table]
    counts = export.export_map(
        dsn, names, args.format, args.output, notice=lambda line: print(f"export-map: {line}", file=sys.stderr)
    )
    where = "stdout" if args.output == "-" else args.output
    print(
        f"export-map: wrote {sum(counts.values())} rows ({', '.join(f'{t} {n}' for t, n in counts.items())})"
        f" as {args.format} to {where} from {dsnmod.describe(dsn)}",
        file=sys.stderr,
    )
    return EXIT_OK


def _say_target(line: str) -> None:
    """Where migrate or rollback is connected, said before it changes anything."""
    print(f"target: {line}", flush=True)


def _since_migrate(dsn: str, last_plan_only: bool = False) -> list[str]:
    """Rows written since migrate and the ids rollback gives them (apply/since_migrate.py)."""
    with dsnmod.connect(dsn, autocommit=True) as conn:
        return since_migrate.lines(conn, last_plan_only)


def _kept_mappings(dsn: str) -> list[str]:
    """The mapping tables rollbacks kept, each with the command that removes it."""
    with dsnmod.connect(dsn, autocommit=True) as conn:
        kept = mappings.kept(conn)
    return [
        f"KEPT MAPPING {m.display}: {qualname('keyshift', m.map_table)}, kept by the rollback of plan {m.plan_id} at "
        f"{m.rolled_back_at:%Y-%m-%d %H:%M:%S %Z}; remove it with: keyshift drop-map --table {m.display}"
        for m in kept
    ]


def _safety_kwargs(args) -> dict:
    return {
        "statement_timeout": args.statement_timeout,
        "lock_retries": args.lock_retries,
        "lock_retry_delay": args.lock_retry_delay,
    }
