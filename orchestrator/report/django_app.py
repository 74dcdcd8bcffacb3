"""A Django app's migrations as Python's ``ast`` reads them: nothing of the user's code is imported or run.

``read_app`` reads ``DIR/migrations/*.py`` (the files Django's loader would load: no ``_`` or
``~`` prefix) and the app's label (``label = ...`` of an AppConfig in ``DIR/apps.py``, else the
folder's name). ``App.model_for_table`` replays the model operations (CreateModel, DeleteModel,
RenameModel, AlterModelTable, RenameField and AlterField of the primary key) in file order and
names the model whose table is the given one: an explicit ``db_table``, or Django's default
``<app_label>_<model name lower>`` truncated as Django truncates it for PostgreSQL.
``App.leaf`` is the one migration nothing in the app depends on (squashed migrations stand for
those they replace), the one a new migration must depend on.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.errors import Refused

#: PostgreSQL's identifier length, which Django's default table names are truncated to.
MAX_NAME = 63


@dataclass(frozen=True)
class MigrationFile:
    name: str
    dependencies: tuple[tuple[str, str], ...]
    replaces: tuple[tuple[str, str], ...]
    operations: tuple[ast.expr, ...]


@dataclass(frozen=True)
class Model:
    """A model as the app's migrations leave it in Django's state."""

    name: str
    db_table: str | None
    pk_field: str | None
    pk_db_column: str | None
    pk_class: str | None

    @property
    def pk_column(self) -> str | None:
        return self.pk_db_column or self.pk_field


@dataclass(frozen=True)
class App:
    label: str
    directory: Path
    files: dict[str, MigrationFile]

    @property
    def migrations_dir(self) -> Path:
        return self.directory / "migrations"

    def default_table(self, model_name: str) -> str:
        return truncate_name(f"{self.label}_{model_name.lower()}")

    def models(self) -> dict[str, Model]:
        """Every model the migrations leave in the state, by lowercase name."""
        state: dict[str, Model] = {}
        for name in sorted(self.files):
            for call in _state_operations(self.files[name].operations):
                _replay(state, call)
        return state

    def model_for_table(self, table: str) -> Model | None:
        for model in self.models().values():
            if (model.db_table or self.default_table(model.name)) == table:
                return model
        return None

    def leaves(self) -> list[str]:
        own = self.label
        squashed_by = {n: name for name, f in self.files.items() for a, n in f.replaces if a == own}
        nodes = {name for name in self.files if name not in squashed_by}
        parents = {squashed_by.get(n, n) for name in nodes for a, n in self.files[name].dependencies if a == own}
        return sorted(nodes - parents)

    def leaf(self, shown: str) -> str:
        leaves = self.leaves()
        if len(leaves) != 1:
            raise Refused(
                f"app {self.label} ({self.migrations_dir})",
                f"has {len(leaves)} leaf migrations ({', '.join(leaves) or 'none'}), so no one of them is its latest",
                f"run python manage.py makemigrations --merge, then keyshift django-migration --table {shown} again",
            )
        return leaves[0]


def truncate_name(name: str, length: int = MAX_NAME, hash_len: int = 4) -> str:
    """Django's ``truncate_name``: a name too long for PostgreSQL cut and given 4 hex digits of its md5."""
    if len(name) <= length:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:hash_len]
    return name[: length - hash_len] + digest


def parse_number(name: str) -> int | None:
    """The number of a migration name as Django's makemigrations reads it (a squash: its last number)."""
    squashed = re.search(r".*_squashed_(\d+)", name)
    if squashed:
        return int(squashed[1])
    number = re.match(r"^\d+", name)
    return int(number[0]) if number else None


def read_app(directory: Path) -> App:
    """The app in ``directory``; Refused when it has no migrations folder or a file Python cannot parse."""
    folder = directory / "migrations"
    if not folder.is_dir():
        raise Refused(
            f"app directory {directory}",
            "has no migrations/ folder, so Django does not manage its tables with migrations",
            "pass the directory of the app whose migrations create the table (the one holding models.py and "
            "migrations/), or run python manage.py makemigrations for it first",
        )
    files = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem.startswith(("_", "~")):
            continue
        files[path.stem] = _read_migration(path)
    return App(_label(directory), directory, files)


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        raise Refused(
            f"{path}", f"is not Python that can be read ({exc})", "fix that file; Django cannot load it either"
        ) from None


def _read_migration(path: Path) -> MigrationFile:
    tree = _parse(path)
    body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Migration"), None)
    if body is None:
        raise Refused(f"{path}", "has no class Migration", "fix or remove that file; Django cannot load it either")
    values = {
        t.id: n.value
        for n in body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name) and t.id in ("dependencies", "replaces", "operations")
    }
    return MigrationFile(
        path.stem,
        tuple(_pairs(values.get("dependencies"))),
        tuple(_pairs(values.get("replaces"))),
        tuple(_items(values.get("operations"))),
    )


def _items(node: ast.expr | None) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, (ast.List, ast.Tuple)) else []


def _pairs(node: ast.expr | None):
    """The (app_label, migration name) tuples of a list; swappable_dependency(...) and the like are skipped."""
    for item in _items(node):
        if isinstance(item, ast.Tuple) and len(item.elts) == 2:
            a, b = (_text(e) for e in item.elts)
            if a is not None and b is not None:
                yield a, b


def _text(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _label(directory: Path) -> str:
    apps = directory / "apps.py"
    if apps.is_file():
        for node in ast.walk(_parse(apps)):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "label" for t in item.targets
                    ):
                        label = _text(item.value)
                        if label:
                            return label
    return directory.resolve().name


def _arguments(call: ast.Call, *names: str) -> dict[str, ast.expr]:
    """The call's arguments by name, positional ones named in Django's order."""
    found = dict(zip(names, call.args))
    found.update({k.arg: k.value for k in call.keywords if k.arg})
    return found


def _operation(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _field_class(node: ast.expr | None) -> str | None:
    return _operation(node) if node is not None else None


def _keyword(call: ast.expr | None, name: str):
    if isinstance(call, ast.Call):
        for k in call.keywords:
            if k.arg == name and isinstance(k.value, ast.Constant):
                return k.value.value
    return None


def _created(call: ast.Call) -> Model | None:
    args = _arguments(call, "name", "fields", "options")
    name = _text(args.get("name"))
    if name is None:
        return None
    options = args.get("options")
    table = None
    if isinstance(options, ast.Dict):
        table = next((_text(v) for k, v in zip(options.keys, options.values) if _text(k) == "db_table"), None)
    model = Model(name, table, None, None, None)
    for item in _items(args.get("fields")):
        if isinstance(item, ast.Tuple) and len(item.elts) == 2 and _keyword(item.elts[1], "primary_key") is True:
            field = item.elts[1]
            model = replace(model, pk_field=_text(item.elts[0]), pk_db_column=_keyword(field, "db_column"))
            model = replace(model, pk_class=_field_class(field))
    return model


def _state_operations(operations):
    """The operations that change Django's state: SeparateDatabaseAndState stands for its state_operations."""
    for call in operations:
        if _operation(call) == "SeparateDatabaseAndState":
            yield from _state_operations(
                _items(_arguments(call, "database_operations", "state_operations").get("state_operations"))
            )
        else:
            yield call


def _replay(state: dict[str, Model], call: ast.expr) -> None:
    """One operation's effect on the models' names, tables and primary keys."""
    kind = _operation(call)
    if kind == "CreateModel":
        model = _created(call)
        if model is not None:
            state[model.name.lower()] = model
        return
    if kind not in ("DeleteModel", "RenameModel", "AlterModelTable", "RenameField", "AlterField"):
        return
    args = _arguments(call, *_SIGNATURES[kind])
    key = (_text(args.get("name")) or _text(args.get("old_name")) or "").lower()
    if kind in ("RenameField", "AlterField"):
        key = (_text(args.get("model_name")) or "").lower()
    model = state.get(key)
    if model is None:
        return
    if kind == "DeleteModel":
        del state[key]
    elif kind == "RenameModel" and _text(args.get("new_name")):
        del state[key]
        state[_text(args["new_name"]).lower()] = replace(model, name=_text(args["new_name"]))
    elif kind == "AlterModelTable":
        state[key] = replace(model, db_table=_text(args.get("table")))
    elif kind == "RenameField" and _text(args.get("old_name")) == model.pk_field:
        state[key] = replace(model, pk_field=_text(args.get("new_name")))
    elif kind == "AlterField" and _text(args.get("name")) == model.pk_field:
        field = args.get("field")
        state[key] = replace(model, pk_db_column=_keyword(field, "db_column"), pk_class=_field_class(field))


#: Django's positional argument order of the operations replayed after CreateModel.
_SIGNATURES = {
    "DeleteModel": ("name",),
    "RenameModel": ("old_name", "new_name"),
    "AlterModelTable": ("name", "table"),
    "RenameField": ("model_name", "old_name", "new_name"),
    "AlterField": ("model_name", "name", "field"),
}
