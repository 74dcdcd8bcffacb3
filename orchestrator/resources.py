"""Where keyshift's own files are: the SQL it runs (``sql/``), its checks (``checks/``), the
directory a project keeps its state in, and the version.

Installed from a wheel, ``sql/`` and ``checks/`` are package data inside ``orchestrator/``
(pyproject.toml maps the repository's top-level directories there). Run from the repository
(an editable install, ``PYTHONPATH``, the make targets, the tests), they are the top-level
``sql/`` and ``checks/`` beside the package. ``importlib.resources`` says where the package is.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path

import orchestrator
from orchestrator.errors import KeyshiftError

#: The directory of the imported package.
PACKAGE = Path(str(resources.files("orchestrator")))
#: The repository the package runs from (its pyproject.toml beside the package), or None
#: when keyshift is installed from a wheel.
CHECKOUT = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None
_FIX = "reinstall keyshift: sql/ and checks/ travel inside its package"


def _shipped(name: str) -> Path:
    inside = PACKAGE / name
    return inside if inside.is_dir() or CHECKOUT is None else CHECKOUT / name


#: The SQL keyshift runs: catalog queries, its registry, schema and functions, demo and bench data.
SQL_DIR = _shipped("sql")
#: The check files: one claim each, zero rows = pass.
CHECKS_DIR = _shipped("checks")
#: Where a project's local state lives (``.keyshift/``: the embedded cluster, the demo): the
#: repository when keyshift runs from it, else the current directory.
PROJECT = CHECKOUT or Path.cwd()
#: The migrations directory when --migrations is not given.
DEFAULT_MIGRATIONS = PROJECT / "migrations"


def sql_text(*parts: str) -> str:
    """The text of a file shipped in ``sql/``, e.g. ``sql_text("catalog", "tables.sql")``."""
    path = SQL_DIR.joinpath(*parts)
    try:
        return path.read_text()
    except FileNotFoundError:
        raise KeyshiftError(f"keyshift's SQL file {path}", "does not exist", _FIX) from None


def version() -> str:
    """The installed distribution's version; the package's own when it runs uninstalled."""
    try:
        return metadata.version("keyshift")
    except metadata.PackageNotFoundError:
        return orchestrator.__version__
