"""keyshift init [DIR]: a commented yoyo.ini with a [keyshift] section, and an empty migrations/."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import EXIT_OK, Refused

#: The yoyo.ini that keyshift init writes: yoyo's settings, and every [keyshift] setting that
#: plan, migrate and rollback read (orchestrator/cli/settings.py, orchestrator/cli/main.py).
YOYO_INI = """\
# keyshift's project settings (written by `keyshift init`).
#
# `keyshift plan` writes reviewable migrations into migrations/; `keyshift migrate` applies
# every pending one, and every check, in ONE transaction. yoyo-migrations keeps the record of
# what was applied: the [DEFAULT] settings let a DBA inspect the same migrations with the yoyo
# CLI (`yoyo list --database postgresql+psycopg://...`). Never apply keyshift migrations with
# plain `yoyo apply`: it commits each file alone.
[DEFAULT]
sources = migrations
migration_table = _yoyo_migration
batch_mode = on
verbosity = 0

# Defaults of keyshift's commands, read from the yoyo.ini of the current directory; an option
# given on the command line wins. Names are schema-qualified; list several space-separated.
[keyshift]
# plan: replace (the key itself becomes a uuid) or external (a uuid column beside the integer key)
mode = replace
# plan: the version of every new key: v4 (gen_random_uuid()), v7 or v6 (time-ordered)
uuid = v4
# plan: one table's version, overriding uuid (one line per table)
# uuid.public.orders = v7
# plan: existing rows of a v7/v6 table get keys timed by this column of it
# timestamp_column = public.orders.created_at
# plan: add a unique Base62 slug column (SCHEMA.TABLE.NEW_COLUMN), and the slugs' length (10-22)
# slug_column = public.orders.slug
# slug_length = 22
# plan, external mode: the name of the added uuid column
# external_column = external_id
# migrate, rollback: give up waiting for a table lock after this long, then retry this many
# times, waiting this many seconds before the first retry (doubled each time)
# lock_timeout = 5s
# lock_retries = 3
# lock_retry_delay = 1
# migrate, rollback: cancel a statement running longer than this (0 = no limit)
# statement_timeout = 0
"""


def cmd_init(args) -> int:
    """Write DIR/yoyo.ini and DIR/migrations/; refuse (nothing written) when yoyo.ini exists."""
    where = Path(args.dir)
    ini, migrations = where / "yoyo.ini", where / "migrations"
    fix = "keep it (keyshift reads its [keyshift] section), or move it away and run keyshift init again"
    if ini.exists():
        raise Refused(f"{ini}", "already exists, so keyshift init wrote nothing", fix)
    if migrations.exists() and not migrations.is_dir():
        raise Refused(
            f"{migrations}",
            "exists and is not a directory, so keyshift init wrote nothing",
            "move that file away and run keyshift init again",
        )
    migrations.mkdir(parents=True, exist_ok=True)
    try:
        with ini.open("x") as out:
            out.write(YOYO_INI)
    except FileExistsError:
        raise Refused(f"{ini}", "already exists, so keyshift init wrote nothing", fix) from None
    print(f"wrote {ini} and {migrations}/; keyshift reads the yoyo.ini of the directory it runs in")
    return EXIT_OK
