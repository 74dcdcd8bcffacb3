"""Where to connect: --dsn, then DATABASE_URL, then the embedded cluster.

An empty ``--dsn ''`` is an error, never a fall-back to another database; a DSN that libpq
cannot parse is refused before any connection. A password never leaves this module in clear:
``redact`` is what every message uses, and ``target`` names a connection without it.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestrator.errors import ConnectionFailed, UsageError


def resolve(dsn: str | None) -> str:
    """Return the DSN to use; start the embedded cluster only when nothing else is given.

    ``--dsn ''`` (an unset shell variable, say) is refused: it must not silently mean another
    database. A DATABASE_URL that is set but empty counts as unset, as in the Makefile."""
    if dsn is not None:
        if not dsn.strip():
            raise UsageError(
                "--dsn ''",
                "is empty",
                "give a libpq DSN or URL, or leave --dsn out to use DATABASE_URL or the embedded cluster",
            )
        return check(dsn, "--dsn")
    env = os.environ.get("DATABASE_URL")
    if env and env.strip():
        return check(env, "DATABASE_URL")
    from orchestrator.connect import embedded

    return embedded.ensure_running()


def check(dsn: str, where: str = "--dsn") -> str:
    """``dsn`` when libpq can parse it; otherwise refused by name (never with its password)."""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        secret = _password_like(dsn)
        if secret:
            reason = reason.replace(secret, "***")
        raise UsageError(
            f"{where} {redact(dsn)}",
            f"is not a valid libpq DSN or URL ({reason})",
            "write it as 'host=H port=P dbname=D user=U' or postgresql://U@H:P/D (percent-encode special characters)",
        ) from None
    return dsn


def target(conn: psycopg.Connection) -> str:
    """Where ``conn`` is connected: database, host, port and user, never the password."""
    info = conn.info
    return f"database {info.dbname} on {info.host}:{info.port} as user {info.user}"


def redact(dsn: str) -> str:
    """The DSN with any password replaced by ``***``: safe to print and log."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # Not parseable: strip anything that looks like a password rather than echo it.
        text = re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", dsn)
        return re.sub(r"(password\s*=\s*)\S+", r"\1***", text)
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)


def describe(dsn: str) -> str:
    """A short human name for the target database, without secrets."""
    try:
        p = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return redact(dsn)
    host = p.get("host") or "localhost"
    port = p.get("port") or "5432"
    return f"{p.get('dbname') or p.get('user') or '?'} on {host}:{port}"


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    """Open a connection, or raise ConnectionFailed naming the target without its password."""
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        raise connection_failed(dsn, exc) from None


def connection_failed(dsn: str, exc: Exception) -> ConnectionFailed:
    """The one error for an unreachable database: its name and the server's reason, no password."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    secret = _password(dsn)
    if secret:
        reason = reason.replace(secret, "***")
    return ConnectionFailed(
        f"database {describe(dsn)}",
        f"cannot connect ({reason})",
        "check --dsn or DATABASE_URL, or unset both to use the embedded cluster",
    )


def yoyo_uri(dsn: str) -> str:
    """The yoyo URI for a libpq DSN or URL: every parameter travels as a query argument."""
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    return "postgresql+psycopg:///?" + urlencode(params)


def _password_like(dsn: str) -> str | None:
    """What an unparseable DSN may hold as a password (``user:PASSWORD@`` or ``password=…``)."""
    m = re.search(r"//[^:/@]*:([^@]*)@", dsn) or re.search(r"password\s*=\s*(\S+)", dsn)
    return m.group(1) if m and m.group(1) else None


def _password(dsn: str) -> str | None:
    try:
        return conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        return None
