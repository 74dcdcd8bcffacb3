"""The [keyshift] section of yoyo.ini and the key options of a plan (command line first, then yoyo.ini)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import Refused
from orchestrator.names import parse_qualified
from orchestrator.plan import options as planoptions


def ini_key_settings(names: set) -> tuple[dict, dict[str, list[str]]]:
    """The per-table key settings of yoyo.ini's [keyshift] that concern this plan's tables
    (yoyo.ini serves many plans): {(schema, table): version} from uuid.S.T lines, and the
    timestamp_column / slug_column entries naming one of them."""
    ini = ini_defaults()
    per_table = {
        parse_qualified(t, "uuid."): v for t, v in ini_table_uuid().items() if parse_qualified(t, "uuid.") in names
    }
    columns = {
        key: [c for c in ini.get(key, "").split() if parse_qualified(c, key, 3)[:2] in names]
        for key in ("timestamp_column", "slug_column")
    }
    return per_table, columns


def key_options(args, facts: dict) -> dict:
    """The key options of a plan (--uuid-for, --timestamp-column, --slug-column, --slug-length),
    command line first, then the [keyshift] section of yoyo.ini; plus what the server offers."""
    ini = ini_defaults()
    per_table, from_ini = ini_key_settings({parse_qualified(t) for t in args.table})
    for item in args.uuid_for or []:
        name, sep, version = item.rpartition("=")
        if not sep:
            raise Refused(f"--uuid-for {item!r}", "has no version", "write SCHEMA.TABLE=v7 (v4, v7 or v6)")
        per_table[parse_qualified(name, "--uuid-for")] = version.strip()
    ts_cols = args.timestamp_column if args.timestamp_column is not None else from_ini["timestamp_column"]
    slug_cols = args.slug_column if args.slug_column is not None else from_ini["slug_column"]
    length = args.slug_length if args.slug_length is not None else ini.get("slug_length", planoptions.SLUG_DEFAULT)
    try:
        length = int(length)
    except ValueError:
        raise Refused(f"slug_length {length!r}", "is not a number", "give a length from 10 to 22") from None
    return dict(
        uuid_tables=tuple((s, t, v) for (s, t), v in per_table.items()),
        timestamp_columns=tuple(parse_qualified(c, "--timestamp-column", 3) for c in ts_cols),
        slug_columns=tuple(parse_qualified(c, "--slug-column", 3) for c in slug_cols),
        slug_length=length,
        native_uuidv7=bool(facts["has_native_uuidv7"]),
        server_version_num=int(facts["server_version_num"]),
    )


def parse_reference(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``SCHEMA.TABLE.COL=SCHEMA.TARGET`` -> ((schema, table, col), (schema, target))."""
    column, sep, target = text.partition("=")
    if not sep:
        raise Refused(
            f"--reference {text!r}", "has no '=TARGET'", "write --reference SCHEMA.TABLE.COLUMN=SCHEMA.TARGET_TABLE"
        )
    return (parse_qualified(column, "--reference", parts=3), parse_qualified(target, "--reference", parts=2))


def _read_ini(path: Path | None, case_sensitive: bool = False):
    """yoyo.ini (in the current directory) parsed; a malformed file is refused by name."""
    import configparser

    ini = configparser.ConfigParser()
    if case_sensitive:
        ini.optionxform = str  # table names are case-sensitive
    where = path or Path.cwd() / "yoyo.ini"
    try:
        ini.read([where])
    except configparser.Error as exc:
        reason = " ".join(str(exc).split())
        raise Refused(
            f"{where}",
            f"cannot be read as an ini file ({reason})",
            "fix that line (each option once per section: list several tables space-separated on one line)",
        ) from None
    return ini


def ini_table_uuid(path: Path | None = None) -> dict[str, str]:
    """``uuid.SCHEMA.TABLE = v7`` lines of [keyshift] in yoyo.ini, names case preserved."""
    ini = _read_ini(path, case_sensitive=True)
    if not ini.has_section("keyshift"):
        return {}
    return {k[len("uuid.") :]: v.strip() for k, v in ini["keyshift"].items() if k.lower().startswith("uuid.")}


def ini_defaults(path: Path | None = None) -> dict[str, str]:
    """Plan and migrate defaults from the [keyshift] section of yoyo.ini (command-line options win)."""
    ini = _read_ini(path)
    return dict(ini["keyshift"]) if ini.has_section("keyshift") else {}
