"""keyshift: convert integer primary keys to UUID keys, and prove nothing was lost.

The package reads as a pipeline of stages (docs/architecture.md): connect -> catalog -> plan ->
render -> verify -> apply -> report, driven by cli; errors and names are used by all.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The project root: sql/, checks/ and migrations/ live here.
ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
CHECKS_DIR = ROOT / "checks"
DEFAULT_MIGRATIONS = ROOT / "migrations"
