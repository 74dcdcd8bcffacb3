"""redis-rewrite: move Redis keys that embed an old integer id to the new uuid.

After the migrate COMMIT (never inside the transaction: Redis cannot roll back with PostgreSQL),
keys such as ``user_sessions:42`` of table public.custom_user become ``user_sessions:<new uuid>``,
or are unlinked with ``--action delete``. The step:

- walks the keyspace with SCAN MATCH <glob> COUNT <batch> (never KEYS, which blocks the server);
- parses the id out of each key by the pattern (``{id}`` marks where it sits);
- looks the batch's ids up in keyshift.<map_table> with one ``old_id = ANY(...)`` query;
- renames with RENAMENX (value and TTL travel with the key; a key that already exists under the
  new name is never overwritten but reported as a conflict) or deletes with UNLINK (frees memory
  in the background, so Redis never blocks), one pipeline per batch;
- leaves alone keys already in new form (a uuid where the id goes), so the step is idempotent and
  can be re-run after a crash; reports, never touches, keys whose id has no mapping.

The Redis password never reaches output: every message uses ``redact``.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg import sql

from orchestrator.catalog import mappings
from orchestrator.connect import dsn as dsnmod
from orchestrator.errors import EXIT_FAILED, EXIT_OK, ConnectionFailed, KeyshiftError, MigrationFailed, Refused
from orchestrator.names import parse_qualified

ACTIONS = ("rename", "delete")
DEFAULT_BATCH = 1000
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
#: keys shown per kind (unknown ids, conflicts...) in the report; the counts are always complete
SHOW = 20
_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")
#: an old id as the application wrote it: canonical decimal (no sign but '-', no leading zeros)
_INTEGER = re.compile(rb"-?[0-9]+")


# --- the URL, without secrets ---------------------------------------------------------------


def redact(url: str) -> str:
    """The Redis URL with any password (user:password@ or ?password=) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            elif parts.scheme in ("redis", "rediss") and userinfo:
                userinfo = "***"  # redis://secret@host: redis-py reads a lone userinfo as the password
            netloc = f"{userinfo}@{host}"
        query = parts.query
        if query:
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query)], safe="*")
        out = url
        if netloc != parts.netloc:
            out = out.replace("//" + parts.netloc, "//" + netloc, 1)
        if query != parts.query:
            out = out.replace("?" + parts.query, "?" + query, 1)
        return out
    except ValueError:
        return re.sub(r"(//)[^/@]*@", r"\1***@", re.sub(r"(password=)[^&]*", r"\1***", url))


def _secret(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.password:
            return parts.password
        if parts.username and parts.scheme in ("redis", "rediss") and "@" in parts.netloc:
            return parts.username if ":" not in parts.netloc.rsplit("@", 1)[0] else None
        return dict(parse_qsl(parts.query)).get("password")
    except ValueError:
        return None


def scrub(url: str, text: str) -> str:
    secret = _secret(url)
    return text.replace(secret, "***") if secret else text


def connect(url: str):
    """A Redis client that answered PING, or ConnectionFailed naming the server without its password."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        client.ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        reason = scrub(url, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise ConnectionFailed(
            f"redis {redact(url)}",
            f"cannot connect ({reason})",
            "check --redis-url (or REDIS_URL): scheme, host, port, password",
        ) from None
    return client


# --- the key pattern ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    """A key pattern with one ``{id}``: ``user_sessions:{id}``, ``cache:user:{id}:profile``."""

    text: str
    prefix: bytes
    suffix: bytes

    @classmethod
    def parse(cls, text: str) -> Pattern:
        if text.count("{id}") != 1:
            raise Refused(
                f"key pattern {text!r}",
                "must contain {id} exactly once, where the old id sits in the key",
                "e.g. --pattern 'user_sessions:{id}'",
            )
        before, after = text.split("{id}")
        if not before and not after:
            raise Refused(
                f"key pattern {text!r}",
                "would match every key of the database",
                "add the fixed part of the key, e.g. 'user_sessions:{id}'",
            )
        return cls(text, before.encode(), after.encode())

    @property
    def glob(self) -> bytes:
        """The SCAN MATCH glob: the fixed parts escaped, the id a ``*``."""
        esc = lambda b: _GLOB_SPECIAL.sub(rb"\\\1", b)  # noqa: E731
        return esc(self.prefix) + b"*" + esc(self.suffix)

    def id_part(self, key: bytes) -> bytes | None:
        if len(key) < len(self.prefix) + len(self.suffix) + 1:
            return None
        if not key.startswith(self.prefix) or not key.endswith(self.suffix):
            return None
        return key[len(self.prefix) : len(key) - len(self.suffix)]

    def key(self, new_id: uuid.UUID) -> bytes:
        return self.prefix + str(new_id).encode() + self.suffix


def _is_uuid(part: bytes) -> bool:
    if len(part) != 36:
        return False
    try:
        return str(uuid.UUID(part.decode("ascii"))).encode() == part.lower()
    except ValueError:
        return False


# --- the step -------------------------------------------------------------------------------


@dataclass
class Outcome:
    table: str
    pattern: str
    action: str
    dry_run: bool
    scanned: int = 0  # keys SCAN returned for the glob (a key may come back twice)
    done: int = 0  # renamed / deleted (or that would be, in a dry run)
    already_new: int = 0  # the id is already a uuid: left alone
    unknown: int = 0  # an integer id with no row in the mapping: left alone
    conflicts: int = 0  # rename target exists already: left alone
    vanished: int = 0  # expired or removed between SCAN and the pipeline
    other: int = 0  # matched the glob but the id part is neither integer nor uuid
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, key: bytes, extra: str = "") -> None:
        shown = self.examples.setdefault(kind, [])
        if len(shown) < SHOW:
            shown.append(key.decode("utf-8", "backslashreplace") + extra)

    def lines(self) -> list[str]:
        verb = {"rename": "renamed", "delete": "deleted"}[self.action]
        if self.dry_run:
            verb = f"would be {verb}"
        out = []
        labels = {
            "unknown": "no mapping for this id (left alone)",
            "conflicts": "new key exists already (left alone)",
            "other": "id part is neither an integer nor a uuid (left alone)",
            "vanished": "expired or removed during the run",
        }
        for kind, label in labels.items():
            for example in self.examples.get(kind, []):
                out.append(f"  {label}: {example}")
            more = getattr(self, kind) - len(self.examples.get(kind, []))
            if more > 0:
                out.append(f"  {label}: ... and {more} more")
        out.append(
            f"redis {self.table} {self.pattern}: {self.done} key(s) {verb}, {self.already_new} already new,"
            f" {self.unknown} unknown id(s), {self.conflicts} conflict(s), {self.other} other,"
            f" {self.vanished} vanished; {self.scanned} scanned"
            + (" (dry run: nothing changed)" if self.dry_run else "")
        )
        return out


def rewrite(
    client,
    conn: psycopg.Connection,
    table: tuple[str, str],
    pattern: Pattern,
    action: str = "rename",
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
) -> Outcome:
    """Rewrite every key matching ``pattern`` through the mapping of ``table``."""
    if action not in ACTIONS:
        raise Refused(f"--action {action}", "is not a known action", f"use one of {', '.join(ACTIONS)}")
    if batch < 1:
        raise Refused(f"--batch {batch}", "must be at least 1", "e.g. --batch 1000")
    m = mappings.mapping(conn, *table)
    lookup = sql.SQL("SELECT old_id, new_id FROM {} WHERE old_id = ANY(%s::bigint[])").format(m.ident)
    outcome = Outcome(m.display, pattern.text, action, dry_run)
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=pattern.glob, count=batch)
        outcome.scanned += len(keys)
        wanted = _ids_of(keys, pattern, outcome)
        if wanted:
            found = dict(conn.execute(lookup, ([i for _, i in wanted],)).fetchall())
            moves = []
            for key, old in wanted:
                new = found.get(old)
                if new is None:
                    outcome.unknown += 1
                    outcome.note("unknown", key)
                else:
                    moves.append((key, pattern.key(new)))
            _move(client, moves, action, dry_run, outcome)
        if cursor == 0:
            return outcome


def _ids_of(keys: list[bytes], pattern: Pattern, outcome: Outcome) -> list[tuple[bytes, int]]:
    """(key, old id) of each key that holds an old integer id; the others are counted."""
    wanted: list[tuple[bytes, int]] = []
    for key in keys:
        part = pattern.id_part(key)
        if part is None:
            outcome.other += 1
            outcome.note("other", key)
        elif _INTEGER.fullmatch(part) and str(int(part)).encode() == part and BIGINT_MIN <= int(part) <= BIGINT_MAX:
            wanted.append((key, int(part)))
        elif _is_uuid(part):
            outcome.already_new += 1
        else:
            outcome.other += 1
            outcome.note("other", key)
    return wanted


def _move(client, moves: list[tuple[bytes, bytes]], action: str, dry_run: bool, outcome: Outcome) -> None:
    """Rename (RENAMENX) or unlink one batch of keys in one pipeline, or count what would happen."""
    import redis

    if dry_run and action == "rename" and moves:
        pipe = client.pipeline(transaction=False)
        for _, new_key in moves:
            pipe.exists(new_key)
        for (old_key, new_key), exists in zip(moves, pipe.execute()):
            if exists:
                outcome.conflicts += 1
                outcome.note("conflicts", old_key, " -> " + new_key.decode())
            else:
                outcome.done += 1
    elif dry_run:
        outcome.done += len(moves)
    elif moves:
        pipe = client.pipeline(transaction=False)
        for old_key, new_key in moves:
            if action == "rename":
                pipe.renamenx(old_key, new_key)
            else:
                pipe.unlink(old_key)
        for (old_key, new_key), result in zip(moves, pipe.execute(raise_on_error=False)):
            if isinstance(result, redis.ResponseError) and "no such key" in str(result).lower():
                outcome.vanished += 1
                outcome.note("vanished", old_key)
            elif isinstance(result, Exception):
                raise result
            elif action == "delete":
                if result:
                    outcome.done += 1
                else:
                    outcome.vanished += 1
                    outcome.note("vanished", old_key)
            elif result:
                outcome.done += 1
            else:
                outcome.conflicts += 1
                outcome.note("conflicts", old_key, " -> " + new_key.decode())


# --- command line ---------------------------------------------------------------------------


def url_from(given: str | None) -> str:
    url = given or os.environ.get("REDIS_URL")
    if not url:
        raise Refused(
            "--redis-url",
            "is not given and REDIS_URL is not set",
            "pass --redis-url redis://HOST:PORT/DB or export REDIS_URL",
        )
    return url


@dataclass(frozen=True)
class Job:
    table: tuple[str, str]
    pattern: Pattern


def jobs_from_migrate_args(args) -> tuple[str | None, list[Job]]:
    """Parse and check migrate's Redis options BEFORE anything changes: bad input refuses (exit 3) and
    an unreachable Redis fails (exit 1) while the database is still untouched."""
    specs = getattr(args, "redis_key", None) or []
    if not specs:
        if getattr(args, "redis_url", None):
            raise Refused("--redis-url", "is given without --redis-key", "add --redis-key 'S.T=PATTERN'")
        return None, []
    jobs = []
    for spec in specs:
        if "=" not in spec:
            raise Refused(
                f"--redis-key {spec!r}",
                "is not of the form SCHEMA.TABLE=PATTERN",
                "e.g. --redis-key 'public.custom_user=user_sessions:{id}'",
            )
        table, pat = spec.split("=", 1)
        jobs.append(Job(parse_qualified(table, "--redis-key"), Pattern.parse(pat)))
    if args.redis_batch < 1:
        raise Refused(f"--redis-batch {args.redis_batch}", "must be at least 1", "e.g. --redis-batch 1000")
    url = url_from(args.redis_url)
    connect(url).close()
    return url, jobs


def mappings_before_commit(jobs: list[Job]):
    """For execute.migrate: inside the transaction, after the checks, every --redis-key table
    must have a mapping the step can read (converted in replace mode, mapping kept); otherwise
    nothing is committed, rather than a committed conversion whose Redis step cannot run."""
    if not jobs:
        return None

    def check(conn) -> None:
        for job in jobs:
            try:
                mappings.mapping(conn, *job.table)
            except Refused as exc:
                raise MigrationFailed(
                    f"--redis-key {exc.obj}",
                    exc.reason,
                    f"nothing was committed; {exc.fix}, or leave that --redis-key out",
                ) from None

    return check


def run_after_commit(dsn: str, url: str | None, jobs: list[Job], action: str, batch: int) -> int:
    """migrate's Redis step, after COMMIT: a failure here leaves the database converted, says so."""
    if not jobs:
        return EXIT_OK
    try:
        client = connect(url)
        with dsnmod.connect(dsn, autocommit=True) as conn:
            for job in jobs:
                for line in rewrite(client, conn, job.table, job.pattern, action, batch).lines():
                    print(scrub(url, line))
    except KeyshiftError as exc:
        print(
            f"keyshift: the migration is committed, but the Redis step stopped: {scrub(url, exc.line())};"
            " fix it and re-run keyshift redis-rewrite (it is idempotent)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except Exception as exc:  # a Redis error mid-run: the database stays converted
        print(
            f"keyshift: the migration is committed, but the Redis step stopped: {scrub(url, str(exc))};"
            " re-run keyshift redis-rewrite (it is idempotent)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
