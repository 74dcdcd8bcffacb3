"""The text of a state-only Django migration for a model whose key keyshift converted to uuid.

The file is Python source: a fixed template whose every value (app label, migration name, model
and field names, db_column) goes in through ``repr()``, so no name can end a string or a line.
``render`` parses what it built with ``ast`` and reads the values back before anything is written.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

TEMPLATE = """\
# Written by keyshift django-migration. keyshift converted this model's primary key to uuid in
# the database, with every foreign key column that references it; this migration brings Django's
# state to the same place and runs no SQL (database_operations is empty). A ForeignKey's column
# type follows its target, so the models that point at this one need no change of their own.

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ({app}, {leaf}),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name={model},
                    name={field},
                    field=models.UUIDField({arguments}),
                ),
            ],
            database_operations=[],
        ),
    ]
"""


@dataclass(frozen=True)
class StateMigration:
    """What the migration says: the app and the migration it follows, the model and its key field."""

    app_label: str
    leaf: str
    model_name: str
    pk_field: str
    pk_db_column: str | None = None

    def field_arguments(self, serialize: bool) -> str:
        parts = ["primary_key=True", "default=uuid.uuid4", "editable=False"]
        if serialize:
            parts.append("serialize=False")
        if self.pk_db_column:
            parts.append(f"db_column={self.pk_db_column!r}")
        return ", ".join(parts)

    def model_line(self) -> str:
        """The line of models.py that declares the converted key."""
        return f"{self.pk_field} = models.UUIDField({self.field_arguments(serialize=False)})"

    def file_name(self, number: int) -> str:
        return f"{number:04d}_keyshift_uuid_{self.model_name.lower()}.py"


def render(migration: StateMigration) -> str:
    text = TEMPLATE.format(
        app=repr(migration.app_label),
        leaf=repr(migration.leaf),
        model=repr(migration.model_name.lower()),
        field=repr(migration.pk_field),
        arguments=migration.field_arguments(serialize=True),
    )
    _proof(text, migration)
    return text


def _proof(text: str, migration: StateMigration) -> None:
    """The text parses, and its dependency, model name, field name and db_column read back as given."""
    tree = ast.parse(text)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    values = {t.id: n.value for n in cls.body if isinstance(n, ast.Assign) for t in n.targets}
    alter = next(n for n in ast.walk(values["operations"]) if isinstance(n, ast.Call) and _attr(n) == "AlterField")
    said = {k.arg: k.value for k in alter.keywords}
    column = {k.arg: k.value for k in said["field"].keywords}.get("db_column")
    read_back = (
        ast.literal_eval(values["dependencies"]),
        ast.literal_eval(said["model_name"]),
        ast.literal_eval(said["name"]),
        ast.literal_eval(column) if column is not None else None,
    )
    wanted = ([(migration.app_label, migration.leaf)], migration.model_name.lower(), migration.pk_field)
    if read_back != (*wanted, migration.pk_db_column or None):
        raise ValueError(f"the rendered Django migration reads back as {read_back!r}, not {wanted!r}")


def _attr(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None
