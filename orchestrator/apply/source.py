"""Migration files as keyshift reads them: whole, checked by PostgreSQL's own parser, never split.

yoyo's own ``Migration.load()`` cuts a ``.sql`` file into statements with a lexer that does
not follow PostgreSQL's quoting (DESIGN.md §5): a legal name can move the statement
boundaries. keyshift therefore never calls ``load()`` or ``process_steps`` of
yoyo's own class. :class:`SourceMigration` is the yoyo ``Migration`` that yoyo's backend
needs for ``to_apply``, ``to_rollback``, ``log_migration`` and ``mark_one``; its ``load()``
reads the file itself: the text (valid UTF-8, else refused by name) and the directives
``-- depends:`` and ``-- transactional:`` of the leading comment block, read line by line.

Before a transaction opens, every file that will run is parsed with pglast (PostgreSQL's
parser, :func:`validate`): a file that does not parse, or that holds a statement that would
end or split the one transaction (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION ...)
or change roles (SET/RESET ROLE, SET SESSION AUTHORIZATION, RESET ALL, CREATE/ALTER/DROP
ROLE, GRANT/REVOKE of a role, ALTER DATABASE ... SET ROLE), or change how the server reads
quotes (SET/RESET standard_conforming_strings or backslash_quote), is refused naming the
file, the line and the statement. The text then goes to the server in one piece
(``runner.run_text``), with standard_conforming_strings pinned on as pglast reads it;
what no parser can see (a role changed through set_config, say) is caught at run time
(``runner.run_file``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pglast import enums, parser
from yoyo.migrations import Migration, MigrationList

from orchestrator.errors import KeyshiftError, MigrationFailed

#: yoyo's directives, read only from the leading comment block (DESIGN.md §5).
DIRECTIVES = ("depends", "transactional")
#: yoyo's own temporary files (``yoyo new``) are no migrations.
_YOYO_TEMP_PREFIX = "_tmp_yoyonew"
_DIGITS = frozenset("0123456789")


def plan_id_of(migration_id: str) -> str | None:
    """``0007`` for a migration id ``0007_03_...`` that keyshift plan wrote; None otherwise."""
    if (
        len(migration_id) > 8
        and set(migration_id[:4]) <= _DIGITS
        and migration_id[4] == "_"
        and set(migration_id[5:7]) <= _DIGITS
        and migration_id[7] == "_"
    ):
        return migration_id[:4]
    return None


def rollback_path(path: Path | str) -> Path:
    path = Path(path)
    return path.with_name(path.name[: -len(".sql")] + ".rollback.sql")


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, read once; None when there is no such file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def read_text(path: Path) -> str:
    """The whole file as text; a file that is not valid UTF-8 is refused by name."""
    return decode(path, path.read_bytes())


def decode(path: Path, data: bytes) -> str:
    """``data`` (the bytes read from ``path``) as text; not valid UTF-8: refused by name."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MigrationFailed(
            f"migration file {path}",
            f"is not valid UTF-8 (byte {exc.start}, line {line})",
            "save it as UTF-8 (keyshift plan writes UTF-8), or plan again; nothing was changed",
        ) from None


def directives(text: str) -> dict[str, str]:
    """``-- depends:`` / ``-- transactional:`` values of the leading comment block.

    Read line by line: blank lines and ``--`` lines make up the block, the first other line
    ends it. A directive counts only in the exact form keyshift writes it: ``-- `` and the
    directive's name at the start of the line, so a header line that quotes a name (indented,
    or after other words) is never taken for one. A directive given twice is joined with a
    space, as yoyo does."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("--"):
            break
        for name in DIRECTIVES:
            head = f"-- {name}:"
            if line.startswith(head):
                value = line[len(head) :].strip()
                found[name] = f"{found[name]} {value}" if name in found else value
    return found


class SourceMigration(Migration):
    """A yoyo migration whose file keyshift reads whole; it has no steps to process.

    ``load()`` reads the file and its ``.rollback.sql`` once, as bytes: every sha256 keyshift
    compares or records (manifest, applied-file checksums) is of these bytes, and the text
    that runs is decoded from them. Nothing reads the files again."""

    registry: dict[str, SourceMigration]
    #: The file's bytes and their sha256, as read by load().
    data: bytes
    sha256: str
    #: The .rollback.sql file's bytes and sha256, as read by load(); None when there is none.
    rollback_data: bytes | None
    rollback_sha256: str | None

    def load(self) -> None:
        if self.loaded:
            return
        path = Path(self.path)
        data = path.read_bytes()
        back = read_bytes(self.rollback_path)
        text = decode(path, data)
        found = directives(text)
        transactional = found.get("transactional", "true").strip().lower()
        if transactional not in ("true", "false"):
            raise MigrationFailed(
                f"migration file {path.name}",
                f"has '-- transactional: {found['transactional']}'",
                "write true or false, or leave the directive out",
            )
        depends = set()
        for dep in found.get("depends", "").split():
            if dep not in self.registry:
                raise MigrationFailed(
                    f"migration file {path.name}",
                    f"depends on {dep}, which is not in {path.parent}",
                    "restore that migration file, or correct the '-- depends:' line",
                )
            depends.add(self.registry[dep])
        self.source = text
        self.data, self.sha256 = data, sha256(data)
        self.rollback_data = back
        self.rollback_sha256 = None if back is None else sha256(back)
        self.use_transactions = transactional == "true"
        self._depends = depends
        self.steps = []  # loaded; keyshift runs self.source whole (runner.run_text)

    def process_steps(self, backend, direction, force=False):
        raise RuntimeError("keyshift runs a migration file whole; yoyo's steps are never used")

    @property
    def rollback_path(self) -> Path:
        return rollback_path(self.path)

    def rollback_source(self) -> str | None:
        """The text of the .rollback.sql file as load() read it; None when the migration has none."""
        self.load()
        return None if self.rollback_data is None else decode(self.rollback_path, self.rollback_data)

    def digests(self) -> dict[Path, str | None]:
        """The sha256 of the file and of its .rollback.sql (None: absent), as load() read them."""
        self.load()
        return {Path(self.path): self.sha256, self.rollback_path: self.rollback_sha256}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_dir(migrations_dir: Path) -> MigrationList:
    """Every migration of the directory, in yoyo's order (file name), each read and checked
    for UTF-8 and directives. ``post-apply`` files are kept apart as yoyo does (keyshift
    never runs them); a Python migration is refused: it can only run through yoyo's steps."""
    if not migrations_dir.is_dir():
        why = "is not a directory" if migrations_dir.exists() else "does not exist"
        raise KeyshiftError(
            f"migrations directory {migrations_dir}", why, "run keyshift plan first, or pass --migrations"
        )
    items, post_apply = [], []
    registry: dict[str, SourceMigration] = {}
    for path in sorted(migrations_dir.iterdir()):
        if path.name.startswith(_YOYO_TEMP_PREFIX) or path.suffix not in (".sql", ".py"):
            continue
        if not path.is_file():
            _refuse_unreadable(path)
            continue
        if path.suffix == ".py":
            raise MigrationFailed(
                f"migration file {path}",
                "is a Python migration",
                "keyshift applies .sql migrations only; move it to another directory",
            )
        if path.suffix != ".sql" or path.name.endswith(".rollback.sql"):
            continue
        m = SourceMigration(path.stem, str(path), source_dir=str(migrations_dir))
        m.registry = registry
        registry[m.id] = m
        (post_apply if m.id.startswith("post-apply") else items).append(m)
    for m in items:
        try:
            m.load()
        except OSError as exc:
            raise MigrationFailed(
                f"migration file {m.path}",
                f"cannot be read ({exc.strerror or exc})",
                "restore it or remove it from the migrations directory; nothing was changed",
            ) from None
    return MigrationList(items, post_apply)


def _refuse_unreadable(path: Path) -> None:
    """A .sql entry that is no file: a symbolic link to nothing is refused, a directory is skipped."""
    if path.is_symlink() and not path.exists():
        raise MigrationFailed(
            f"migration file {path}",
            "is a symbolic link to nothing",
            "restore its target or remove the link; nothing was changed",
        )


# --- what may run: PostgreSQL's parser decides -------------------------------------------

_TRANSACTION_KINDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE SAVEPOINT",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO SAVEPOINT",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
_ROLE_STATEMENTS = {
    "AlterRoleStmt": "ALTER ROLE",
    "AlterRoleSetStmt": "ALTER ROLE ... SET",
    "CreateRoleStmt": "CREATE ROLE",
    "DropRoleStmt": "DROP ROLE",
    "GrantRoleStmt": "GRANT or REVOKE of a role",
}
_ROLE_SETTINGS = {"role": "ROLE", "session_authorization": "SESSION AUTHORIZATION"}
#: Settings that change how the server reads quotes and backslashes: the file would no longer
#: be read the way PostgreSQL's parser (pglast, standard_conforming_strings on) read it here.
_LEXER_SETTINGS = {"standard_conforming_strings": "standard_conforming_strings", "backslash_quote": "backslash_quote"}
_VAR_RESET = enums.parsenodes.VariableSetKind.VAR_RESET
_VAR_RESET_ALL = enums.parsenodes.VariableSetKind.VAR_RESET_ALL
_OBJECT_ROLE = enums.parsenodes.ObjectType.OBJECT_ROLE


def _refused_kind(stmt) -> tuple[str, str] | None:
    """(statement kind, why) for a statement keyshift never runs; None for any other."""
    name = type(stmt).__name__
    if name == "TransactionStmt":
        kind = _TRANSACTION_KINDS.get(enums.parsenodes.TransactionStmtKind(stmt.kind).name, "a transaction statement")
        return kind, "it would end or split keyshift's one transaction"
    if name == "VariableSetStmt":
        if stmt.kind == _VAR_RESET_ALL:
            return "RESET ALL", "it would reset the session's role"
        return _refused_setting(stmt, "")
    if name == "AlterDatabaseSetStmt":
        return _refused_setting(stmt.setstmt, "ALTER DATABASE ... ")
    if name in _ROLE_STATEMENTS:
        return _ROLE_STATEMENTS[name], "a migration never creates, changes or grants roles"
    if name == "RenameStmt" and stmt.renameType == _OBJECT_ROLE:
        return "ALTER ROLE ... RENAME", "a migration never creates, changes or grants roles"
    return None


def _refused_setting(stmt, prefix: str) -> tuple[str, str] | None:
    """(kind, why) for a SET or RESET of a role setting or of one that changes how the
    server reads quotes; None for any other setting."""
    if stmt is None:
        return None
    name = (stmt.name or "").lower()
    verb = "RESET" if stmt.kind == _VAR_RESET else "SET"
    if name in _ROLE_SETTINGS:
        return f"{prefix}{verb} {_ROLE_SETTINGS[name]}", "it would change the role the migration runs as"
    if name in _LEXER_SETTINGS:
        return (
            f"{prefix}{verb} {_LEXER_SETTINGS[name]}",
            "it would change how the server reads quotes and backslashes in the files that follow",
        )
    return None


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def _first_token(text: str, offset: int) -> int:
    """The offset of the first character at or after ``offset`` that is neither white space
    nor inside a comment: where a statement pglast located (with or without the comments
    before it, depending on the PostgreSQL version it parses as) really starts. Used only to
    name a line in a refusal."""
    i, n = offset, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        else:
            break
    return i


def validate(name: str, text: str) -> None:
    """Refuse (MigrationFailed, one line) a file PostgreSQL cannot parse, or one holding a
    statement keyshift never runs inside its transaction; ``name`` names the file."""
    try:
        statements = parser.parse_sql(text)
    except parser.ParseError as exc:
        message, location = exc.args[0], (exc.args[1] if len(exc.args) > 1 else 0)
        raise MigrationFailed(
            f"migration file {name} line {_line_at(text, location)}",
            f"does not parse as PostgreSQL ({message})",
            "fix that line, or plan again; nothing was changed",
        ) from None
    for raw in statements:
        refused = _refused_kind(raw.stmt)
        if refused:
            kind, why = refused
            line = _line_at(text, _first_token(text, raw.stmt_location or 0))
            raise MigrationFailed(
                f"migration file {name} line {line}",
                f"holds {kind}: {why}",
                "remove that statement (keyshift runs every migration in one transaction, as the role "
                "it connects as); nothing was changed",
            )


def validate_files(paths_and_texts: list[tuple[Path, str | None]]) -> None:
    """PostgreSQL's parser over every file that will run (``validate``), before the transaction
    opens; a file that is absent (None) is not read."""
    for path, text in paths_and_texts:
        if text is not None:
            validate(path.name, text)
