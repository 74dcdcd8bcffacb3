"""keyshift django-migration --table S.T --app-dir DIR: Django's state follows a key keyshift converted.

After migrate, the table's key is uuid in the database while the Django app's migrations still
say integer. This writes the app's next migration, a ``SeparateDatabaseAndState`` whose only
operation is the key's AlterField in Django's state (no SQL), depending on the app's latest
migration, and prints the models.py line to use. The app's migrations are read with ``ast``
(orchestrator/report/django_app.py); nothing of the user's code is imported or run.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.catalog import mappings
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import EXIT_OK, Refused
from orchestrator.names import parse_qualified, qualname
from orchestrator.report import django_app
from orchestrator.report.django_migration import StateMigration, render

#: uuid versions whose database default generates time-ordered keys.
TIME_ORDERED = {6: "v6", 7: "v7"}


def add_django_command(sub, common) -> None:
    sp = common(
        sub.add_parser(
            "django-migration",
            help="after migrate: a state-only Django migration for the converted model, and its models.py line",
        ),
        migrations=False,
    )
    sp.add_argument("--table", required=True, help="the converted SCHEMA.TABLE (a Django model's table)")
    sp.add_argument(
        "--app-dir", required=True, metavar="DIR", help="the Django app whose migrations/ create that table"
    )
    sp.set_defaults(func=cmd_django_migration)


def cmd_django_migration(args) -> int:
    schema, table = parse_qualified(args.table)
    shown = qualname(schema, table)
    app_dir = Path(args.app_dir)
    if not app_dir.is_dir():
        raise Refused(
            f"--app-dir {app_dir}", "is not a directory", "pass the Django app's directory (it holds models.py)"
        )
    app = django_app.read_app(app_dir)
    model = _model(app, table, shown)
    key = _converted_key(args.dsn, schema, table, shown)
    if model.pk_column != key.key_column:
        raise Refused(
            f"model {app.label}.{model.name}",
            f"has its primary key in column {model.pk_column!r}, but keyshift converted column {key.key_column!r} "
            f"of {shown}",
            "check that --table and --app-dir name the same model",
        )
    leaf = app.leaf(shown)
    migration = StateMigration(app.label, leaf, model.name, model.pk_field, model.pk_db_column)
    path = app.migrations_dir / migration.file_name((django_app.parse_number(leaf) or 0) + 1)
    _write(path, render(migration))
    _say(path, migration, model, key, shown)
    return EXIT_OK


def _model(app: django_app.App, table: str, shown: str) -> django_app.Model:
    model = app.model_for_table(table)
    if model is None:
        raise Refused(
            f"app {app.label} ({app.directory})",
            f"has no migration that creates a model with table {table!r} (default table name "
            f"{app.label}_<model name lower>, or the db_table option)",
            f"pass the --app-dir of the app whose model is stored in {shown}",
        )
    if not model.pk_field or not model.pk_field.isidentifier() or not model.name.isidentifier():
        raise Refused(
            f"model {app.label}.{model.name}",
            "has no primary key field keyshift can name in its migrations",
            "declare the primary key field in the model's CreateModel, then run this again",
        )
    if model.pk_class == "UUIDField":
        raise Refused(
            f"model {app.label}.{model.name}",
            "already has a UUIDField primary key in Django's migration state, so there is nothing to write",
            "run python manage.py migrate to record it, if not done",
        )
    return model


def _converted_key(dsn_arg: str | None, schema: str, table: str, shown: str) -> mappings.ConvertedKey:
    dsn = dsnmod.resolve(dsn_arg)
    with dsnmod.connect(dsn, autocommit=True) as conn:
        key = mappings.converted_key(conn, schema, table)
    fix = f"convert it first (keyshift plan --table {shown}, then keyshift migrate)"
    if key is None:
        raise Refused(f"table {shown}", "was not converted by keyshift (no row in keyshift.converted_table)", fix)
    if key.mode != "replace" or key.key_type != "uuid":
        raise Refused(
            f"table {shown}",
            f"keeps a key column {key.key_column!r} of type {key.key_type or 'unknown'} (keyshift {key.mode} mode, "
            f"plan {key.plan_id}), so Django's key is not a uuid",
            "a Django state migration is only for replace mode, after keyshift migrate committed",
        )
    return key


def _write(path: Path, text: str) -> None:
    """Write a new file; an existing one is never overwritten."""
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise Refused(
            f"{path}", "already exists, so nothing was written", "move it away if keyshift should write it again"
        ) from None


def _say(
    path: Path, migration: StateMigration, model: django_app.Model, key: mappings.ConvertedKey, shown: str
) -> None:
    print(f"wrote {path} (depends on {migration.app_label}.{migration.leaf}; changes Django's state only, no SQL)")
    print(f"in {path.parent.parent / 'models.py'}, class {model.name}, declare the key as:")
    print(f"    {migration.model_line()}")
    print("with `import uuid` at the top of that file; then run python manage.py migrate (it records the migration)")
    print(
        "note: a database built from the migrations alone (manage.py test, a new checkout) creates the key as an "
        "integer and then fails on the first foreign key to it: give tests DATABASES[...]['TEST'] = "
        f"{{'MIGRATE': False}}, and build a new database with manage.py migrate {migration.app_label} {migration.leaf}, "
        f"keyshift plan --table {shown} and keyshift migrate, then manage.py migrate"
    )
    if key.uuid_version in TIME_ORDERED:
        print(
            f"note: the database default makes time-ordered uuid {TIME_ORDERED[key.uuid_version]} keys for rows inserted "
            "without an id; Django's default=uuid.uuid4 sets random (v4) keys on rows the ORM creates"
        )
