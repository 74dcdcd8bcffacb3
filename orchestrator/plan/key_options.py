"""Per-target key options: uuid version, timestamp column and slug column, each checked against the plan.

``resolve_key_options`` raises ``Refused`` naming the option, the reason and the fix.
"""

from __future__ import annotations

import dataclasses
import re

from orchestrator.catalog import Snapshot
from orchestrator.errors import Refused
from orchestrator.names import qualname
from orchestrator.plan.model import Target
from orchestrator.plan.options import (
    NAME_LIMIT,
    SLUG_DEFAULT,
    SLUG_MAX,
    SLUG_MIN,
    TIMESTAMP_TYPES,
    UUID_VERSIONS,
    Options,
)


def resolve_key_options(snap: Snapshot, options: Options, targets: list[Target]) -> list[Target]:
    """Give each target its uuid version, timestamp column and slug column; refuse bad ones.

    Every option naming a table must name a target of this plan; a timestamp column must
    exist and be timestamptz, timestamp or date, on a v7/v6 target; a slug column must not
    exist yet (keyshift adds it, and rollback drops it); slug lengths are 10..22.
    """
    by_key = {t.table.key: t for t in targets}

    def target_for(option: str, schema: str, table: str, column: str | None = None) -> Target:
        return _target_for(by_key, option, schema, table, column)

    if not SLUG_MIN <= options.slug_length <= SLUG_MAX:
        raise Refused(
            f"--slug-length {options.slug_length}",
            f"is outside {SLUG_MIN}..{SLUG_MAX}",
            f"choose a length from {SLUG_MIN} to {SLUG_MAX} ({SLUG_DEFAULT}, the default, encodes 128 bits)",
        )
    settings: dict[tuple[str, str], dict] = {k: {"uuid_version": options.uuid} for k in by_key}
    _uuid_settings(options, settings, target_for)
    _timestamp_settings(snap, options, settings, target_for)
    _slug_settings(snap, options, settings, target_for)
    return [dataclasses.replace(t, **settings[t.table.key]) for t in targets]


def _target_for(by_key: dict, option: str, schema: str, table: str, column: str | None) -> Target:
    """The target an option names; refused when the table is no target of this plan."""
    shown = qualname(schema, table) + (f".{column}" if column is not None else "")
    if (schema, table) not in by_key:
        raise Refused(
            f"{option} {shown}",
            f"names table {qualname(schema, table)}, which is not a target of this plan",
            f"add --table {qualname(schema, table)}, or leave the option out",
        )
    return by_key[(schema, table)]


def _uuid_settings(options: Options, settings: dict, target_for) -> None:
    """Each uuid.<table> option: a known version, given once for a target."""
    seen: set = set()
    for schema, table, version in options.uuid_tables:
        target_for("uuid", schema, table)
        if version not in UUID_VERSIONS:
            raise Refused(
                f"uuid.{qualname(schema, table)}",
                f"unknown version {version!r}",
                f"choose one of {', '.join(UUID_VERSIONS)}",
            )
        if ("uuid", schema, table) in seen:
            raise Refused(f"uuid.{qualname(schema, table)}", "is given twice", "give one version per table")
        seen.add(("uuid", schema, table))
        settings[(schema, table)]["uuid_version"] = version


def _timestamp_settings(snap: Snapshot, options: Options, settings: dict, target_for) -> None:
    """Each --timestamp-column: an existing point-in-time column of a v7/v6 target, one per table."""
    for schema, table, column in options.timestamp_columns:
        shown = f"--timestamp-column {qualname(schema, table)}.{column}"
        target = target_for("--timestamp-column", schema, table, column)
        if "timestamp_column" in settings[target.table.key]:
            raise Refused(
                shown,
                f"is a second timestamp column for {target.table.display}",
                "give one --timestamp-column per table",
            )
        columns = snap.target_columns.get(target.table.key, {})
        if column not in columns:
            raise Refused(
                shown,
                f"no column {column} in {target.table.display}",
                "name an existing timestamptz, timestamp or date column (names are case-sensitive)",
            )
        data_type = re.sub(r"\(\d+\)", "", columns[column])
        if data_type not in TIMESTAMP_TYPES:
            raise Refused(
                shown, f"is {columns[column]}, not a point in time", "name a timestamptz, timestamp or date column"
            )
        if settings[target.table.key]["uuid_version"] not in ("v7", "v6"):
            raise Refused(
                shown,
                f"{target.table.display} gets uuid {settings[target.table.key]['uuid_version']} "
                "keys, which carry no time",
                "add --uuid v7 (or v6) for it",
            )
        settings[target.table.key].update(timestamp_column=column, timestamp_type=data_type)


def _slug_settings(snap: Snapshot, options: Options, settings: dict, target_for) -> None:
    """Each --slug-column: a new column of a target, at most one per table, its name within the limit."""
    for schema, table, column in options.slug_columns:
        shown = f"--slug-column {qualname(schema, table)}.{column}"
        target = target_for("--slug-column", schema, table, column)
        if "slug_column" in settings[target.table.key]:
            raise Refused(
                shown, f"is a second slug column for {target.table.display}", "give one --slug-column per table"
            )
        columns = snap.target_columns.get(target.table.key, {})
        if column in columns:
            raise Refused(
                shown,
                f"{target.table.display} has a column {column} already ({columns[column]})",
                "name a new column: keyshift adds it, fills it and drops it again on rollback",
            )
        if len(column.encode()) > NAME_LIMIT:
            raise Refused(shown, f"is longer than {NAME_LIMIT} bytes", "choose a shorter column name")
        settings[target.table.key].update(slug_column=column, slug_length=options.slug_length)
