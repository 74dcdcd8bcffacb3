"""Plan options: what the user asked for, checked before the database is read."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import Refused
from orchestrator.names import qualname

MODES = ("replace", "external")


UUID_VERSIONS = ("v4", "v7", "v6")


NAME_LIMIT = 63  # NAMEDATALEN - 1 bytes


#: Types a --timestamp-column may have (format_type spelling, precision removed).
TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
SLUG_MIN, SLUG_MAX, SLUG_DEFAULT = 10, 22, 22


@dataclass(frozen=True)
class Options:
    tables: tuple[tuple[str, str], ...]
    mode: str = "replace"
    uuid: str = "v4"
    #: --reference: ((schema, table, column), (target schema, target table)) declared without an FK
    references: tuple = ()
    #: external mode (orchestrator/plan/external.py): None means the default name, external_id
    external_column: str | None = None
    #: ((schema, table, N), ...): --restart-sequence SCHEMA.TABLE=N
    restarts: tuple = ()
    #: ((schema, table), ...): --invalidate-sessions SCHEMA.TABLE
    sessions: tuple = ()
    #: per-table overrides of ``uuid``: (schema, table, version)
    uuid_tables: tuple[tuple[str, str, str], ...] = ()
    #: (schema, table, column): existing rows of that target get keys timed by the column
    timestamp_columns: tuple[tuple[str, str, str], ...] = ()
    #: (schema, table, column): a new unique Base62 slug column on that target
    slug_columns: tuple[tuple[str, str, str], ...] = ()
    slug_length: int = SLUG_DEFAULT
    #: --polymorphic: (schema, table, type column, id column) of each generic relation to remap
    polymorphic: tuple[tuple[str, str, str, str], ...] = ()
    #: --polymorphic-type: (type value, schema, table): that value of a type column names that table
    polymorphic_types: tuple[tuple[str, str, str], ...] = ()
    #: False with --no-polymorphic-default: Django's admin log is not remapped unless named
    polymorphic_default: bool = True
    #: what the server offered at plan time (catalog.server_facts)
    native_uuidv7: bool = False
    server_version_num: int = 0


DEFAULT_EXTERNAL_COLUMN = "external_id"


def external_default(options: Options) -> str:
    """The default expression of the external id column: the ONE place it is chosen.

    Only v4 in this version; the lead switches this to the shared generator at merge.
    """
    return {"v4": "gen_random_uuid()"}[options.uuid]


def external_version(options: Options) -> int:
    return {"v4": 4}[options.uuid]


def validate_options(options: Options) -> None:
    """Refuse option combinations before the database is read (exit 3, nothing written)."""
    if options.mode == "external":
        if options.uuid != "v4":
            raise Refused(
                f"--uuid {options.uuid}",
                "external mode fills external ids with gen_random_uuid() (v4) in this version",
                "use --uuid v4 (the default) with --mode external; without --uuid, the value comes from "
                "'uuid =' in yoyo.ini [keyshift]",
            )
        name = external_column_name(options)
        if not name or len(name.encode()) > NAME_LIMIT:
            raise Refused(
                f"--external-column {name!r}",
                f"is not a column name of 1 to {NAME_LIMIT} bytes",
                "choose a shorter name",
            )
    else:
        if options.restarts:
            schema, table, value = options.restarts[0]
            raise Refused(
                f"--restart-sequence {qualname(schema, table)}={value}",
                "is for --mode external only: in replace mode the integer key sequences are dropped",
                "add --mode external, or leave --restart-sequence out",
            )
        if options.external_column is not None:
            raise Refused(
                f"--external-column {options.external_column}",
                "is for --mode external only",
                "add --mode external, or leave --external-column out",
            )
    seen = set()
    for schema, table, _value in options.restarts:
        if (schema, table) in seen:
            raise Refused(f"--restart-sequence {qualname(schema, table)}", "is given twice", "name each table once")
        seen.add((schema, table))
    if options.mode == "external" and (options.polymorphic or options.polymorphic_types):
        raise Refused(
            "--polymorphic",
            "is for --mode replace only: in external mode the integer keys stay",
            "leave --polymorphic and --polymorphic-type out with --mode external",
        )
    if len({(s, t, i) for s, t, _type, i in options.polymorphic}) != len(options.polymorphic):
        raise Refused(
            "--polymorphic", "names one id column twice: its ids would be remapped twice", "name each id column once"
        )
    if len({v for v, _s, _t in options.polymorphic_types}) != len(options.polymorphic_types):
        raise Refused("--polymorphic-type", "maps one type value twice", "map each value to one table")
    if len(set(options.sessions)) != len(options.sessions):
        raise Refused("--invalidate-sessions", "names a table twice", "name each session table once")


def external_column_name(options: Options) -> str:
    return options.external_column if options.external_column is not None else DEFAULT_EXTERNAL_COLUMN
