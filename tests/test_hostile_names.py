"""No name, object or role in the database can make keyshift run anything but its plan.

For each class of hostile characters (line breaks, quotes, backslashes, comment and statement
delimiters, dollar quotes, invisible characters, a name PostgreSQL cut at 63 bytes inside a
multi-byte character), one database gets a schema in which every kind of name keyshift meets
carries an attack built from that class: the schema, the target table (an integer key drawn
from a sequence), a child table with a foreign key to it, their columns, CHECK and UNIQUE
constraints, indexes, triggers and their function, a view and a materialized view, the
sequence, RLS policies, the roles that own the view and hold grants on all of them, and the
text of every comment. The same database holds a ``victim`` table with rows and an
unprivileged role ``mallory``: the attacks drop the one and make the other a superuser.

keyshift runs plan -> migrate -> check -> rollback through the real CLI, as the superuser the
tests connect as, watched from outside by an oracle it does not know about: event triggers
(ddl_command_end, sql_drop; enabled ALWAYS) that log every DDL command and every dropped
object, with the relation it belongs to, into a schema of the test's own; a snapshot of every
role (pg_authid without passwords, memberships, settings); and a catalog fingerprint by name,
never by OID (structure, constraints, indexes, triggers, views, grants through aclexplode,
owners, policies, comments, sequences, and an md5 of every table's rows).

What must hold: every DDL command and dropped object belongs to a relation of the plan (the
target, its child, the view and the materialized view over them, the key's sequence), to
schema keyshift, to yoyo's bookkeeping tables or to a temporary schema; no role changes;
every object outside the plan is identical after migrate; and either the conversion applied
(every converted column uuid, check exits 0) and rolled back to a fingerprint identical to
the start, or plan refused with exit 3, one line on stderr, no file written, nothing changed.
A refusal names one object: that kind of name is then made plain and plan runs again, so that
the kinds keyshift refuses never hide what it does with the others.

Run with -s to see, per class, the combinations (name kinds x characters) exercised and the
outcome; the total is printed at the end of the module.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from conftest import keyshift
from psycopg import sql

ORACLE = "hostile_oracle"  # the test's own schema: the DDL log and its event trigger functions

# --- the attacks ------------------------------------------------------------------------------
#
# Each class is a template: ``{k}`` is a short tag that keeps the names of one database apart
# (one per name kind) and the rest is the attack. A template may name overrides for a kind.


def _cut_inside_a_character(tag: str) -> str:
    """A name longer than 63 bytes whose 63rd byte falls inside a 3-byte character, followed by
    an attack PostgreSQL never sees (it clips the name at the last whole character)."""
    head = tag + "_"
    if (63 - len(head.encode())) % 3 == 0:
        head += "_"
    return head + "\u8868" * 30 + '"; DROP TABLE victim; --'


CLASSES: dict[str, dict] = {
    # The control: plain names, which must convert (never be refused).
    "plain": {"template": "{k}_plain", "tokens": ()},
    "newline": {"template": "{k}\nALTER ROLE mallory SUPERUSER;DROP TABLE IF EXISTS victim;--", "tokens": ("\n",)},
    "CR": {"template": "{k}\rALTER ROLE mallory SUPERUSER;DROP TABLE IF EXISTS victim;--", "tokens": ("\r",)},
    # Line breaks to Python's str.splitlines() and to editors, not to PostgreSQL's lexer.
    "U+2028 (and U+2029, U+0085)": {
        "template": "{k}\u2028\u2029\x85ALTER ROLE mallory SUPERUSER;DROP TABLE victim;--",
        "tokens": ("\u2028", "\u2029", "\x85"),
    },
    "double quote": {"template": '{k}"; ALTER ROLE mallory SUPERUSER; COMMIT; --', "tokens": ('"',)},
    # sqlparse takes \" for an escaped quote inside "...": the statement boundaries shift.
    "backslash double quote": {"template": '{k}\\"; ALTER ROLE mallory SUPERUSER; COMMIT; --', "tokens": ('\\"',)},
    "single quote": {"template": "{k}'; DROP TABLE IF EXISTS victim; COMMIT; --", "tokens": ("'",)},
    "backslash": {"template": "{k}\\'); DROP TABLE IF EXISTS victim; --\\", "tokens": ("\\",)},
    "semicolon": {"template": "{k}; DROP TABLE IF EXISTS victim; COMMIT; SELECT 1", "tokens": (";",)},
    "double dash": {"template": "{k} -- DROP TABLE IF EXISTS victim", "tokens": ("--",)},
    # Each name closes a block comment and opens one the next name closes.
    "block comments": {"template": "{k} */ DROP TABLE IF EXISTS victim; /*", "tokens": ("*/", "/*")},
    # $ks$ is the tag keyshift itself picks when a body holds $$.
    "dollar quotes": {"template": "{k}$$; DROP TABLE IF EXISTS victim; $tag$ $ks$", "tokens": ("$$", "$tag$")},
    # Invisible characters, with lookalikes of public.victim as the schema and the target.
    "zero width": {
        "template": "\ufeff{k}\u200b",
        "tokens": ("\u200b", "\ufeff"),
        "overrides": {"schema": "public\u200b", "target": "\ufeffvictim"},
    },
    "63 bytes cut inside a character": {"template": None, "tokens": ("63-byte cut",)},
}

#: Name kinds: key -> (tag, the kind counted in the report). Tags are short so that every
#: attack stays within PostgreSQL's 63 bytes (checked in _names).
KINDS = {
    "schema": ("s", "schema"),
    "target": ("t", "table"),
    "child": ("c", "table"),
    "key": ("id", "column"),
    "note": ("n", "column"),
    "up": ("up", "column"),
    "child_key": ("ci", "column"),
    "ref": ("fc", "column"),
    "child_note": ("cn", "column"),
    "fk": ("fk", "constraint (FK)"),
    "self_fk": ("sf", "constraint (FK)"),
    "check": ("ck", "constraint (CHECK)"),
    "unique": ("uq", "constraint (UNIQUE)"),
    "target_unique": ("tu", "constraint (UNIQUE)"),
    "index": ("ix", "index"),
    "target_index": ("ti", "index"),
    "trigger": ("tg", "trigger"),
    "view_trigger": ("vt", "trigger"),
    "function": ("fn", "function"),
    "view": ("v", "view"),
    "view_col": ("va", "column"),
    "matview": ("mv", "materialized view"),
    "matview_index": ("mi", "index"),
    "sequence": ("sq", "sequence"),
    "policy": ("po", "policy"),
    "child_policy": ("cp", "policy"),
    "role": ("r", "role in a grant"),
    "owner": ("o", "role in a grant"),
    "comment": ("cm", "comment text"),
    "untouched": ("u", "table"),
    "untouched_fn": ("uf", "function"),
}


def _names(cls: str, plain: frozenset[str] = frozenset()) -> dict[str, str]:
    """The names of one database, by kind; kinds whose label is in ``plain`` get plain names."""
    spec = CLASSES[cls]
    names = {}
    for kind, (tag, label) in KINDS.items():
        if label in plain:
            names[kind] = f"{tag}_plain"
            continue
        name = spec.get("overrides", {}).get(kind)
        if name is None:
            name = _cut_inside_a_character(tag) if spec["template"] is None else spec["template"].format(k=tag)
        if spec["template"] is not None and kind != "comment":
            assert len(name.encode()) <= 63, (kind, name)  # the attack must reach the catalog whole
        names[kind] = name
    return names


# --- the schema ---------------------------------------------------------------------------


@pytest.fixture
def cluster_roles(conn):
    """Names of the roles a test creates: roles belong to the cluster, not to the test's
    database, so each is dropped after the test with whatever it owns or was granted there."""
    names: list[str] = []
    yield names
    for role in ["mallory", *names]:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(role)))


def _victim(conn: psycopg.Connection, role_names: list[str]) -> None:
    """The targets of the attacks: table public.victim with rows, and role mallory."""
    for role in ["mallory", *role_names]:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.execute("CREATE ROLE mallory NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB")
    conn.execute(
        "CREATE TABLE public.victim (id int PRIMARY KEY, note text NOT NULL);"
        "INSERT INTO public.victim SELECT g, 'v' || g FROM generate_series(1, 25) AS g;"
    )


def _build(conn: psycopg.Connection, n: dict[str, str]) -> None:
    """Every kind of name at once, in one schema. ``n`` holds the names as written; PostgreSQL
    clips any longer than 63 bytes, consistently in every statement."""
    I = sql.Identifier  # noqa: E741, N806 - the one shorthand of this function
    payload = sql.Literal(n["comment"])
    s = n["schema"]
    for role in (n["role"], n["owner"]):
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER").format(I(role)))
    f = dict(
        s=I(s),
        t=I(s, n["target"]),
        c=I(s, n["child"]),
        u=I(s, n["untouched"]),
        key=I(n["key"]),
        note=I(n["note"]),
        up=I(n["up"]),
        ck=I(n["child_key"]),
        ref=I(n["ref"]),
        cn=I(n["child_note"]),
        fk=I(n["fk"]),
        sfk=I(n["self_fk"]),
        chk=I(n["check"]),
        uq=I(n["unique"]),
        tu=I(n["target_unique"]),
        ix=I(n["index"]),
        ti=I(n["target_index"]),
        tg=I(n["trigger"]),
        vt=I(n["view_trigger"]),
        fn=I(s, n["function"]),
        v=I(s, n["view"]),
        va=I(n["view_col"]),
        mv=I(s, n["matview"]),
        mi=I(n["matview_index"]),
        seq=I(s, n["sequence"]),
        po=I(n["policy"]),
        cp=I(n["child_policy"]),
        r=I(n["role"]),
        o=I(n["owner"]),
        uf=I(s, n["untouched_fn"]),
        p=payload,
    )
    conn.execute(
        sql.SQL("""
        CREATE SCHEMA {s};
        GRANT USAGE ON SCHEMA {s} TO {r};
        CREATE SEQUENCE {seq} AS integer;
        CREATE TABLE {t} (
            {key} integer NOT NULL DEFAULT nextval({seq_lit}::regclass),
            {note} text NOT NULL DEFAULT {p},
            {up} integer,
            PRIMARY KEY ({key}),
            CONSTRAINT {tu} UNIQUE ({note}, {key}),
            CONSTRAINT {sfk} FOREIGN KEY ({up}) REFERENCES {t} ({key}) ON DELETE SET NULL
        );
        ALTER SEQUENCE {seq} OWNED BY {t}.{key};
        CREATE TABLE {c} (
            {ck} bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            {ref} integer,
            {cn} text DEFAULT {p},
            CONSTRAINT {fk} FOREIGN KEY ({ref}) REFERENCES {t} ({key}) ON DELETE CASCADE DEFERRABLE,
            CONSTRAINT {chk} CHECK ({ref} IS NOT NULL OR {cn} <> {p}),
            CONSTRAINT {uq} UNIQUE ({ref}, {cn})
        );
        CREATE INDEX {ix} ON {c} ({ref}) WHERE {cn} IS DISTINCT FROM {p};
        CREATE INDEX {ti} ON {t} ({key}, {note}) WHERE {note} <> {p};
        INSERT INTO {t} ({note}) SELECT 'n' || g FROM generate_series(1, 30) AS g;
        UPDATE {t} SET {up} = {key} - 1 WHERE {key} % 3 = 0;
        INSERT INTO {c} ({ref}, {cn}) SELECT 1 + g % 30, 'c' || g FROM generate_series(1, 60) AS g;
        INSERT INTO {c} ({ref}, {cn}) VALUES (NULL, 'orphan');
        CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN RETURN NEW; END $fn$;
        CREATE TRIGGER {tg} BEFORE UPDATE OF {key} ON {t}
            FOR EACH ROW WHEN (OLD.{key} IS DISTINCT FROM NEW.{key} AND NEW.{note} <> {p}) EXECUTE FUNCTION {fn}();
        CREATE VIEW {v} AS
            SELECT c.{ck}, c.{ref}, t.{note}, {p}::text AS {va}
            FROM {c} AS c JOIN {t} AS t ON t.{key} = c.{ref};
        CREATE TRIGGER {vt} INSTEAD OF INSERT ON {v} FOR EACH ROW EXECUTE FUNCTION {fn}();
        ALTER VIEW {v} OWNER TO {o};
        CREATE MATERIALIZED VIEW {mv} AS SELECT {key}, {note}, {p}::text AS {va} FROM {t};
        CREATE UNIQUE INDEX {mi} ON {mv} ({key});
        ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {c} ENABLE ROW LEVEL SECURITY;
        CREATE POLICY {po} ON {t} FOR SELECT TO {r}, {o} USING ({key} IS NOT NULL AND {note} <> {p});
        CREATE POLICY {cp} ON {c} TO {r}, {o} USING ({ref} IS NOT NULL OR {cn} <> {p});
        GRANT SELECT, INSERT, UPDATE ({note}) ON {t} TO {r} WITH GRANT OPTION;
        GRANT SELECT ON {t}, {c} TO {o};
        GRANT SELECT ({ref}, {cn}), REFERENCES ({ref}) ON {c} TO {r};
        GRANT SELECT ON {v} TO {r};
        GRANT SELECT ON {mv} TO {r}, mallory;
        GRANT USAGE, SELECT ON SEQUENCE {seq} TO {r};
        GRANT EXECUTE ON FUNCTION {fn}() TO {r};
        -- Outside the plan: a table with an id-like column and no FK, and a function with an
        -- integer id parameter; plan may warn about them, never touch them.
        CREATE TABLE {u} ({key} integer, {note} text {chk_u});
        INSERT INTO {u} SELECT g, 'u' || g FROM generate_series(1, 10) AS g;
        CREATE FUNCTION {uf}({key} integer) RETURNS text LANGUAGE sql STABLE AS $uf$ SELECT {p}::text $uf$;
        GRANT SELECT ON {u} TO {r};
        GRANT SELECT ON public.victim TO mallory, {r};
        COMMENT ON SCHEMA {s} IS {p};
        COMMENT ON TABLE {t} IS {p};
        COMMENT ON TABLE {c} IS {p};
        COMMENT ON COLUMN {t}.{key} IS {p};
        COMMENT ON COLUMN {c}.{ref} IS {p};
        COMMENT ON CONSTRAINT {fk} ON {c} IS {p};
        COMMENT ON CONSTRAINT {chk} ON {c} IS {p};
        COMMENT ON CONSTRAINT {uq} ON {c} IS {p};
        COMMENT ON CONSTRAINT {sfk} ON {t} IS {p};
        COMMENT ON INDEX {s}.{ix} IS {p};
        COMMENT ON INDEX {s}.{ti} IS {p};
        COMMENT ON INDEX {s}.{mi} IS {p};
        COMMENT ON TRIGGER {tg} ON {t} IS {p};
        COMMENT ON TRIGGER {vt} ON {v} IS {p};
        COMMENT ON VIEW {v} IS {p};
        COMMENT ON COLUMN {v}.{va} IS {p};
        COMMENT ON MATERIALIZED VIEW {mv} IS {p};
        COMMENT ON SEQUENCE {seq} IS {p};
        COMMENT ON POLICY {po} ON {t} IS {p};
        COMMENT ON POLICY {cp} ON {c} IS {p};
        COMMENT ON FUNCTION {fn}() IS {p};
        COMMENT ON TABLE {u} IS {p};
    """).format(
            **f,
            seq_lit=sql.Literal(sql.Identifier(s, n["sequence"]).as_string(conn)),
            chk_u=sql.SQL("CHECK ({} <> {})").format(I(n["note"]), payload),
        )
    )


# --- the oracle -------------------------------------------------------------------------------

_ORACLE_SQL = """
CREATE SCHEMA {o};
CREATE TABLE {o}.owner_map (classid oid, objid oid, owner_schema text, owner_rel text, PRIMARY KEY (classid, objid));
CREATE TABLE {o}.ddl_log (
    id bigserial PRIMARY KEY, call bigint, phase text, tag text, object_type text, identity text,
    owner_schema text, owner_rel text, classid oid, objid oid, original boolean, schema_name text,
    object_name text, address_names text[], query text
);
CREATE SEQUENCE {o}.calls;
-- The relation an object belongs to (an index, a toast table, a column's sequence, a
-- constraint, trigger, policy, default or rule -> its table or view), read live.
CREATE FUNCTION {o}.rel_owner(rel oid) RETURNS text[] LANGUAGE sql STABLE AS $rel_owner$
    SELECT ARRAY[n.nspname::text, o.relname::text]
    FROM pg_class AS c
    JOIN pg_class AS o ON o.oid = coalesce(
        (SELECT i.indrelid FROM pg_index AS i WHERE i.indexrelid = c.oid),
        (SELECT d.refobjid FROM pg_depend AS d WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass
            AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1),
        (SELECT t.oid FROM pg_class AS t WHERE c.relkind = 't' AND t.reltoastrelid = c.oid),
        c.oid)
    JOIN pg_namespace AS n ON n.oid = o.relnamespace
    WHERE c.oid = rel
$rel_owner$;

CREATE FUNCTION {o}.owner_of(cls oid, obj oid) RETURNS text[] LANGUAGE plpgsql STABLE AS $owner_of$
BEGIN
    IF cls = 'pg_class'::regclass THEN
        RETURN {o}.rel_owner(obj);
    ELSIF cls = 'pg_type'::regclass THEN
        RETURN (SELECT coalesce({o}.rel_owner(coalesce(nullif(t.typrelid, 0), e.typrelid)),
                                ARRAY[n.nspname::text, 'type ' || t.typname])
                FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
                LEFT JOIN pg_type AS e ON e.oid = t.typelem WHERE t.oid = obj);
    ELSIF cls = 'pg_constraint'::regclass THEN
        RETURN (SELECT coalesce({o}.rel_owner(k.conrelid), ARRAY[n.nspname::text, 'constraint ' || k.conname])
                FROM pg_constraint AS k JOIN pg_namespace AS n ON n.oid = k.connamespace WHERE k.oid = obj);
    ELSIF cls = 'pg_trigger'::regclass THEN
        RETURN (SELECT {o}.rel_owner(tgrelid) FROM pg_trigger WHERE oid = obj);
    ELSIF cls = 'pg_policy'::regclass THEN
        RETURN (SELECT {o}.rel_owner(polrelid) FROM pg_policy WHERE oid = obj);
    ELSIF cls = 'pg_attrdef'::regclass THEN
        RETURN (SELECT {o}.rel_owner(adrelid) FROM pg_attrdef WHERE oid = obj);
    ELSIF cls = 'pg_rewrite'::regclass THEN
        RETURN (SELECT {o}.rel_owner(ev_class) FROM pg_rewrite WHERE oid = obj);
    ELSIF cls = 'pg_proc'::regclass THEN
        RETURN (SELECT ARRAY[n.nspname::text, 'function ' || p.proname]
                FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE p.oid = obj);
    ELSIF cls = 'pg_namespace'::regclass THEN
        RETURN (SELECT ARRAY[nspname::text, NULL] FROM pg_namespace WHERE oid = obj);
    END IF;
    RETURN NULL;
END
$owner_of$;

-- Every object that exists before keyshift runs, with the relation it belongs to: what the
-- sql_drop trigger (which fires after the catalog rows are gone) looks dropped objects up in.
INSERT INTO {o}.owner_map
SELECT x.classid, x.objid, o[1], o[2]
FROM (
    SELECT 'pg_class'::regclass::oid AS classid, oid AS objid FROM pg_class
    UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type
    UNION ALL SELECT 'pg_constraint'::regclass, oid FROM pg_constraint
    UNION ALL SELECT 'pg_trigger'::regclass, oid FROM pg_trigger
    UNION ALL SELECT 'pg_policy'::regclass, oid FROM pg_policy
    UNION ALL SELECT 'pg_attrdef'::regclass, oid FROM pg_attrdef
    UNION ALL SELECT 'pg_rewrite'::regclass, oid FROM pg_rewrite
    UNION ALL SELECT 'pg_proc'::regclass, oid FROM pg_proc
    UNION ALL SELECT 'pg_namespace'::regclass, oid FROM pg_namespace
) AS x, {o}.owner_of(x.classid, x.objid) AS o
WHERE x.objid >= 16384;

CREATE FUNCTION {o}.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $on_ddl$
DECLARE
    r record;
    owner text[];
    call bigint := nextval('{o}.calls');
    seen boolean := false;
BEGIN
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        seen := true;
        owner := {o}.owner_of(r.classid, r.objid);
        IF owner IS NULL THEN
            SELECT ARRAY[m.owner_schema, m.owner_rel] INTO owner FROM {o}.owner_map AS m
            WHERE m.classid = r.classid AND m.objid = r.objid;
        ELSE
            INSERT INTO {o}.owner_map VALUES (r.classid, r.objid, owner[1], owner[2])
            ON CONFLICT (classid, objid) DO UPDATE SET owner_schema = owner[1], owner_rel = owner[2];
        END IF;
        INSERT INTO {o}.ddl_log (call, phase, tag, object_type, identity, owner_schema, owner_rel, classid, objid,
                                 schema_name, query)
        VALUES (call, 'ddl', r.command_tag, r.object_type, r.object_identity, owner[1], owner[2],
                r.classid, r.objid, r.schema_name, left(current_query(), 4000));
    END LOOP;
    IF NOT seen THEN
        INSERT INTO {o}.ddl_log (call, phase, tag, query) VALUES (call, 'ddl', tg_tag, left(current_query(), 4000));
    END IF;
END
$on_ddl$;

CREATE FUNCTION {o}.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $on_drop$
DECLARE
    call bigint := nextval('{o}.calls');
BEGIN
    INSERT INTO {o}.ddl_log (call, phase, tag, object_type, identity, owner_schema, owner_rel, classid, objid,
                             original, schema_name, object_name, address_names, query)
    SELECT call, 'drop', tg_tag, d.object_type, d.object_identity, m.owner_schema, m.owner_rel, d.classid, d.objid,
           d.original, d.schema_name, d.object_name, d.address_names, left(current_query(), 4000)
    FROM pg_event_trigger_dropped_objects() AS d
    LEFT JOIN {o}.owner_map AS m ON m.classid = d.classid AND m.objid = d.objid;
END
$on_drop$;

CREATE EVENT TRIGGER hostile_oracle_ddl ON ddl_command_end EXECUTE FUNCTION {o}.on_ddl();
CREATE EVENT TRIGGER hostile_oracle_drop ON sql_drop EXECUTE FUNCTION {o}.on_drop();
-- Also under session_replication_role = replica.
ALTER EVENT TRIGGER hostile_oracle_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER hostile_oracle_drop ENABLE ALWAYS;
"""


def _install_oracle(conn: psycopg.Connection) -> None:
    conn.execute(_ORACLE_SQL.replace("{o}", ORACLE))


#: Object kinds whose address names are (schema, relation, ...): the relation they belong to.
_ON_A_RELATION = {
    "table",
    "view",
    "materialized view",
    "sequence",
    "foreign table",
    "index",
    "table column",
    "table constraint",
    "trigger",
    "policy",
    "rule",
    "default value",
}


def _ddl_outside_plan(conn: psycopg.Connection, plan_rels: set[tuple[str, str]], since: int) -> list[str]:
    """Every logged DDL command or dropped object after log id ``since`` that belongs to
    nothing the plan may touch, as readable lines."""
    rows = conn.execute(
        sql.SQL(
            "SELECT id, call, phase, tag, object_type, identity, owner_schema, owner_rel, original, address_names, query"
            " FROM {}.ddl_log WHERE id > %s ORDER BY id"
        ).format(sql.Identifier(ORACLE)),
        (since,),
    ).fetchall()
    # A dependent dropped along with the object a command dropped belongs where that object does.
    originals: dict[int, tuple] = {}
    for _id, call, phase, _tag, _ot, _ident, osch, orel, original, _names, _q in rows:
        if phase == "drop" and original and osch is not None:
            originals.setdefault(call, (osch, orel))
    bad = []
    for _id, call, phase, tag, otype, ident, osch, orel, original, names, query in rows:
        owner = (osch, orel) if osch is not None else None
        if owner is None and phase == "drop" and not original:
            owner = originals.get(call)
        if owner is None and phase == "drop" and otype in _ON_A_RELATION and names and len(names) >= 2:
            owner = (names[0], names[1])
        if owner is None and phase == "ddl" and otype is None and tag.startswith("DROP "):
            continue  # what a DROP dropped is logged, object by object, by the sql_drop trigger
        if owner is None and tag in ("GRANT", "REVOKE"):
            # A GRANT's object is not reported: what it changed is compared in the fingerprint
            # of every object outside the plan (aclexplode of relations, columns, functions...).
            continue
        if owner is not None and _may_touch(owner, plan_rels):
            continue
        bad.append(f"{phase} {tag} {otype} {ident!r} (belongs to {owner!r}) in: {query!r}")
    return bad


def _may_touch(owner: tuple[str, str | None], plan_rels: set[tuple[str, str]]) -> bool:
    schema, rel = owner
    if schema == "keyshift" or schema.startswith(("pg_temp", "pg_toast")):
        return True
    if schema == "public" and rel is not None and (rel.startswith("_yoyo") or rel == "yoyo_lock"):
        return True
    return (schema, rel) in plan_rels


def _log_position(conn) -> int:
    return conn.execute(
        sql.SQL("SELECT coalesce(max(id), 0) FROM {}.ddl_log").format(sql.Identifier(ORACLE))
    ).fetchone()[0]


def _roles(conn) -> list:
    """Every role and its attributes (not its password), memberships and settings."""
    cur = conn.execute("""
        SELECT a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb, a.rolcanlogin,
               a.rolreplication, a.rolbypassrls, a.rolconnlimit, a.rolvaliduntil, a.rolpassword IS NULL,
               ARRAY(SELECT format('%s<%s:%s', pg_get_userbyid(m.member), pg_get_userbyid(m.grantor), m.admin_option)
                     FROM pg_auth_members AS m WHERE m.roleid = a.oid ORDER BY 1),
               ARRAY(SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting AS s
                     WHERE s.setrole = a.oid ORDER BY 1)
        FROM pg_authid AS a ORDER BY a.rolname""")
    _COLUMNS["role"] = [d.name for d in cur.description]
    return cur.fetchall()


# --- the catalog fingerprint ------------------------------------------------------------------
#
# Every row starts with the (schema, relation) it belongs to, so that the objects outside the
# plan can be compared on their own; nothing holds an OID.

_ACL = (
    "ARRAY(SELECT format('%s>%s:%s:%s', pg_get_userbyid(x.grantor), "
    "CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, x.privilege_type, "
    "x.is_grantable) FROM aclexplode({}) AS x ORDER BY 1) AS acl"
)

_USER_NS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift', 'pg_toast') "
    "AND n.nspname !~ '^pg_(toast_)?temp_'"
)
#: yoyo's bookkeeping tables and keyshift's beside them (public._yoyo*, public.yoyo_lock): the one
#: thing keyshift may create outside the plan and schema keyshift.
_NOT_YOYO = "NOT (n.nspname = 'public' AND (c.relname LIKE '\\_yoyo%%' OR c.relname = 'yoyo_lock'))"

_FACTS = {
    "schema": f"""
        SELECT n.nspname, NULL, pg_get_userbyid(n.nspowner), {_ACL.format("n.nspacl")},
               obj_description(n.oid, 'pg_namespace')
        FROM pg_namespace AS n WHERE {_USER_NS}""",
    "relation": f"""
        SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner), {_ACL.format("c.relacl")},
               c.reloptions, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, c.relispopulated,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
               obj_description(c.oid, 'pg_class'), c.relreplident
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND {_NOT_YOYO} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')""",
    "column": f"""
        SELECT n.nspname, c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity,
               a.attgenerated, a.attcollation::regcollation::text, col_description(c.oid, a.attnum),
               {_ACL.format("a.attacl")}, a.attstattarget, a.attoptions
        FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE {_USER_NS} AND {_NOT_YOYO} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraint": f"""
        SELECT n.nspname, c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable,
               k.condeferred, k.convalidated, k.conislocal, obj_description(k.oid, 'pg_constraint')
        FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE {_USER_NS} AND {_NOT_YOYO}""",
    "index": f"""
        SELECT n.nspname, c.relname, i.relname, pg_get_indexdef(i.oid), obj_description(i.oid, 'pg_class'),
               x.indisclustered, x.indisreplident, x.indisvalid, i.reloptions
        FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS c ON c.oid = x.indrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE {_USER_NS} AND {_NOT_YOYO}""",
    "trigger": f"""
        SELECT n.nspname, c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled,
               obj_description(g.oid, 'pg_trigger')
        FROM pg_trigger AS g JOIN pg_class AS c ON c.oid = g.tgrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE {_USER_NS} AND NOT g.tgisinternal""",
    "policy": f"""
        SELECT n.nspname, c.relname, p.polname, p.polcmd, p.polpermissive,
               ARRAY(SELECT CASE r WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r) END FROM unnest(p.polroles) AS r
                     ORDER BY 1),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
               obj_description(p.oid, 'pg_policy')
        FROM pg_policy AS p JOIN pg_class AS c ON c.oid = p.polrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE {_USER_NS}""",
    "rule": f"""
        SELECT n.nspname, c.relname, w.rulename, pg_get_ruledef(w.oid), w.ev_enabled
        FROM pg_rewrite AS w JOIN pg_class AS c ON c.oid = w.ev_class
        JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE {_USER_NS} AND w.rulename <> '_RETURN'""",
    # A sequence belongs to the column that owns it (serial, identity), else to itself.
    "sequence": f"""
        SELECT coalesce(tn.nspname, n.nspname), coalesce(t.relname, c.relname), c.relname, n.nspname,
               format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache,
               s.seqcycle, pg_get_userbyid(c.relowner), {_ACL.format("c.relacl")},
               obj_description(c.oid, 'pg_class'), a.attname, d.deptype, c.relpersistence
        FROM pg_sequence AS s JOIN pg_class AS c ON c.oid = s.seqrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_class AS t ON t.oid = d.refobjid LEFT JOIN pg_namespace AS tn ON tn.oid = t.relnamespace
        LEFT JOIN pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE {_USER_NS}""",
    "function": f"""
        SELECT n.nspname, 'function ' || p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_functiondef(p.oid), pg_get_userbyid(p.proowner), {_ACL.format("p.proacl")},
               obj_description(p.oid, 'pg_proc')
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE {_USER_NS} AND p.prokind <> 'a'""",
    "type": f"""
        SELECT n.nspname, 'type ' || t.typname, t.typtype, pg_get_userbyid(t.typowner), {_ACL.format("t.typacl")}
        FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
        WHERE {_USER_NS} AND t.typrelid = 0 AND t.typelem = 0""",
    "default privileges": f"""
        SELECT coalesce(n.nspname, '(database)'), 'default acl', pg_get_userbyid(d.defaclrole), d.defaclobjtype,
               {_ACL.format("d.defaclacl")}
        FROM pg_default_acl AS d LEFT JOIN pg_namespace AS n ON n.oid = d.defaclnamespace
        WHERE n.nspname IS DISTINCT FROM 'keyshift'""",
    "event trigger": """
        SELECT '(database)', 'event trigger ' || e.evtname, e.evtevent, e.evtenabled, e.evtfoid::regproc::text,
               e.evttags, pg_get_userbyid(e.evtowner)
        FROM pg_event_trigger AS e""",
    "extension": """SELECT '(database)', 'extension ' || extname, extversion FROM pg_extension""",
    "database": f"""
        SELECT '(database)', 'database', pg_get_userbyid(d.datdba), {_ACL.format("d.datacl")}, d.datallowconn,
               d.datconnlimit, ARRAY(SELECT array_to_string(s.setconfig, ',') FROM pg_db_role_setting AS s
                                     WHERE s.setdatabase = d.oid ORDER BY 1)
        FROM pg_database AS d WHERE d.datname = current_database()""",
    "publication": """SELECT '(database)', 'publication ' || pubname, puballtables FROM pg_publication""",
}


def _rows_of_every_table(conn) -> list[tuple]:
    """Each table's and materialized view's rows, as an md5 of their text in order (the
    oracle's log, which grows as it watches, left out)."""
    rels = conn.execute(
        f"""
        SELECT n.nspname, c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND {_NOT_YOYO} AND c.relkind IN ('r', 'p', 'm') AND n.nspname <> %s
        ORDER BY 1, 2""",
        (ORACLE,),
    ).fetchall()
    out = []
    for schema, rel in rels:
        digest, count = conn.execute(
            sql.SQL(
                "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')), count(*) FROM {} AS x"
            ).format(sql.Identifier(schema, rel))
        ).fetchone()
        out.append((schema, rel, "rows", count, digest))
    out += [
        (r[0], r[1], "sequence state", r[2], r[3])
        for r in conn.execute(
            f"""
        SELECT coalesce(tn.nspname, s.schemaname), coalesce(t.relname, s.sequencename), s.sequencename, s.last_value
        FROM pg_sequences AS s JOIN pg_namespace AS n ON n.nspname = s.schemaname
        JOIN pg_class AS c ON c.relname = s.sequencename AND c.relnamespace = n.oid
        LEFT JOIN pg_depend AS d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
             AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_class AS t ON t.oid = d.refobjid LEFT JOIN pg_namespace AS tn ON tn.oid = t.relnamespace
        WHERE {_USER_NS} AND n.nspname <> %s""",
            (ORACLE,),
        ).fetchall()
    ]
    return out


def fingerprint(conn) -> dict[str, list[tuple]]:
    """Structure, privileges, comments and data of every object in the database outside schema
    keyshift and yoyo's tables, by name."""
    facts = {}
    for kind, query in _FACTS.items():
        cur = conn.execute(query)
        _COLUMNS[kind] = [d.name for d in cur.description]
        facts[kind] = sorted(cur.fetchall(), key=repr)
    facts["data"] = sorted(_rows_of_every_table(conn), key=repr)
    return facts


#: The column names of each kind of fact, to show which value of a row changed.
_COLUMNS: dict[str, list[str]] = {"data": ["schema", "relation", "what", "name or count", "value"]}


def _outside(facts: dict[str, list[tuple]], plan_rels: set[tuple[str, str]]) -> dict[str, list[tuple]]:
    return {k: [r for r in rows if (r[0], r[1]) not in plan_rels] for k, rows in facts.items()}


def _differences(before: dict, after: dict) -> list[str]:
    """Readable differences: a row whose first three values (where it belongs, its name) are
    found on both sides shows only the values that changed; others show as gone or new."""
    out = []
    for kind in before:
        gone = [r for r in before[kind] if r not in after[kind]]
        new = [r for r in after[kind] if r not in before[kind]]
        for r in gone:
            width = 1 if kind == "role" else 3
            same = [x for x in new if x[:width] == r[:width]]
            if len(same) == 1:
                new.remove(same[0])
                names = _COLUMNS.get(kind, [])
                changed = [
                    f"{names[i] if i < len(names) else i}: {a!r} -> {b!r}"
                    for i, (a, b) in enumerate(zip(r, same[0]))
                    if a != b
                ]
                out.append(f"{kind} {r[:width]!r} changed: {'; '.join(changed)}")
            else:
                out.append(f"{kind} gone: {r!r}")
        out += [f"{kind} new: {r!r}" for r in new]
    return out


# --- the test ---------------------------------------------------------------------------------


def _clip(name: str) -> str:
    """The name as the catalog holds it: PostgreSQL clips a name to 63 bytes, whole characters."""
    data = name.encode()
    return name if len(data) <= 63 else data[:63].decode(errors="ignore")


def _hostile_labels(cls: str, n: dict[str, str], conn) -> set[str]:
    """The name kinds whose name, as the catalog holds it, really carries this class's characters."""
    spec = CLASSES[cls]
    out = set()
    for key, (_tag, label) in KINDS.items():
        if key == "comment":
            table = sql.Identifier(_clip(n["schema"]), _clip(n["target"])).as_string(conn)
            held = conn.execute("SELECT obj_description(to_regclass(%s), 'pg_class')", (table,)).fetchone()[0]
            if spec["template"] is not None and held == n[key] and all(t in held for t in spec["tokens"]):
                out.add(label)
        elif spec["template"] is None:
            data = n[key].encode()
            if len(data) > 63 and _clip(n[key]).encode() != data[:63]:  # cut inside a character
                out.add(label)
        elif spec["tokens"] and all(t in _clip(n[key]) for t in spec["tokens"]):
            out.add(label)
    return out


def _named_in(line: str, n: dict[str, str]) -> set[str]:
    """The labels of the kinds whose name a refusal line quotes (as it is, or as Python's repr)."""
    out = set()
    for key, (_tag, label) in KINDS.items():
        name = _clip(n[key])
        escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in name)
        for form in {name, repr(name)[1:-1], ascii(name)[1:-1], escaped}:
            if re.search(r"(?<![A-Za-z0-9_])" + re.escape(form), line):
                out.add(label)
    return out


def _refusal_problems(result) -> list[str]:
    line = result.stderr.strip()
    problems = []
    if len(line.splitlines()) != 1:
        problems.append(f"refusal is not exactly one line on stderr: {result.stderr!r}")
    if "Traceback" in result.stderr:
        problems.append(f"refusal with a traceback: {result.stderr[-2000:]!r}")
    if "; " not in line:
        problems.append(f"refusal gives no fix: {line!r}")
    return problems


TOTAL: list[int] = []


@pytest.fixture(scope="module", autouse=True)
def _report_total():
    yield
    if TOTAL:
        print(f"\nhostile names: {sum(TOTAL)} combinations in all (name kinds x character classes)")


class Run:
    """One database's plan -> migrate -> check -> rollback, watched by the oracle."""

    def __init__(self, dsn: str, conn: psycopg.Connection, n: dict[str, str], mig: Path):
        self.dsn, self.conn, self.mig = dsn, conn, mig
        s = _clip(n["schema"])
        self.stored = {k: _clip(v) for k, v in n.items()}
        self.table = sql.Identifier(s, self.stored["target"]).as_string(conn)
        self.plan_rels = {(s, self.stored[k]) for k in ("target", "child", "view", "matview")}
        self.roles, self.start = _roles(conn), fingerprint(conn)
        # The key's sequence goes with the key and comes back (then OWNED BY it) in rollback.
        self.ddl_rels = self.plan_rels | {
            (r[3], r[2]) for r in self.start["sequence"] if (r[0], r[1]) in self.plan_rels
        }
        self.problems: list[str] = []
        self.outcome = "not run"
        self.mark = _log_position(conn)

    def watch(self, step: str, full: bool) -> None:
        """Nothing but the plan touched since the last step; with ``full``, everything is as at the start."""
        conn = self.conn
        outside = _ddl_outside_plan(conn, self.ddl_rels, self.mark)
        self.problems += [f"{step}: DDL outside the plan: {b}" for b in outside]
        self.mark = _log_position(conn)
        roles = _roles(conn)
        if roles != self.roles:
            self.problems.append(f"{step}: roles changed: {_differences({'role': self.roles}, {'role': roles})}")
        now = fingerprint(conn)
        if full:
            diff = _differences(self.start, now)
        else:
            diff = _differences(_outside(self.start, self.plan_rels), _outside(now, self.plan_rels))
        self.problems += [f"{step}: {d}" for d in diff]

    def plan(self):
        planned = keyshift(self.dsn, "plan", "--table", self.table, migrations=self.mig)
        if planned.returncode == 3:
            self.problems += _refusal_problems(planned)
            if self.mig.exists() and list(self.mig.iterdir()):
                self.problems.append(f"refused plan wrote files: {sorted(p.name for p in self.mig.iterdir())}")
            if self.conn.execute("SELECT to_regnamespace('keyshift') IS NOT NULL").fetchone()[0]:
                self.problems.append("refused plan created schema keyshift")
            self.watch("plan (refused)", full=True)
        elif planned.returncode == 0:
            self.watch("plan", full=True)
        else:
            self.problems.append(
                f"plan exited {planned.returncode}, neither 0 nor 3: {(planned.stdout + planned.stderr)[-3000:]}"
            )
        return planned

    def convert_check_rollback(self) -> None:
        migrated = keyshift(self.dsn, "migrate", migrations=self.mig)
        if migrated.returncode != 0:
            self.problems.append(f"migrate exited {migrated.returncode}: {(migrated.stdout + migrated.stderr)[-3000:]}")
            self.watch("migrate (failed: must have changed nothing)", full=True)
            self.outcome = "migrate failed"
            return
        self.watch("migrate", full=False)
        st = self.stored
        for table, column in (
            (st["target"], st["key"]),
            (st["target"], st["up"]),
            (st["child"], st["ref"]),
            (st["view"], st["ref"]),
            (st["matview"], st["key"]),
        ):
            name = sql.Identifier(st["schema"], table).as_string(self.conn)
            found = self.conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(%s)"
                " AND attname = %s",
                (name, column),
            ).fetchone()
            if not found or found[0] != "uuid":
                self.problems.append(f"migrate exited 0 but {name}.{column} is {found}, not uuid")
        checked = keyshift(self.dsn, "check")
        if checked.returncode != 0 or "not ok (" in checked.stdout:
            self.problems.append(f"check exited {checked.returncode}: {(checked.stdout + checked.stderr)[-3000:]}")
            self.outcome = "migrated, check failed"
        self.watch("check", full=False)
        back = keyshift(self.dsn, "rollback", migrations=self.mig)
        if back.returncode != 0:
            self.problems.append(f"rollback exited {back.returncode}: {(back.stdout + back.stderr)[-3000:]}")
            self.outcome = "migrated, rollback failed"
        elif self.outcome == "not run":
            self.outcome = "migrated, checked, rolled back"
        self.watch("rollback", full=True)


@pytest.mark.parametrize("cls", list(CLASSES))
def test_hostile_names_cannot_make_keyshift_run_anything_but_its_plan(dsn, conn, cluster_roles, tmp_path, cls):
    """Every name kind carries the class's attack; see the module's docstring for what must hold."""
    spec = CLASSES[cls]
    labels = {label for _tag, label in KINDS.values()}
    roles = [
        r for plain in (frozenset(), frozenset(labels)) for k, r in _names(cls, plain).items() if k in ("role", "owner")
    ]
    cluster_roles += roles
    _victim(conn, roles)
    _install_oracle(conn)
    refused: set[str] = set()
    problems: list[str] = []
    outcome = ""
    for attempt in range(len(labels) + 1):
        n = _names(cls, frozenset(refused))
        _build(conn, n)
        hostile = _hostile_labels(cls, n, conn)
        if attempt == 0 and spec["tokens"]:
            assert len(hostile) >= 12, (cls, sorted(hostile))  # the attack reached the catalog
        run = Run(dsn, conn, n, tmp_path / f"m{attempt}")
        assert conn.execute("SELECT to_regclass(%s) IS NOT NULL", (run.table,)).fetchone()[0], run.table
        planned = run.plan()
        problems += run.problems
        if planned.returncode == 3:
            line = planned.stderr.strip()
            print(f"hostile names [{cls}]: plan refused: {line!r}")
            named = _named_in(line, n) & hostile
            if cls == "plain":
                problems.append(f"the control (plain names) was refused: {line}")
            if not named or cls == "plain":
                outcome = f"refused at plan ({', '.join(sorted(hostile))} not converted)"
                break
            refused |= named
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(_clip(n["schema"]))))
            continue
        if planned.returncode == 0:
            run.problems = []
            run.convert_check_rollback()
            problems += run.problems
            outcome = run.outcome + (f" ({len(run.problems)} problems)" if run.problems else "")
            if refused:
                outcome += f" once {', '.join(sorted(refused))} had plain names (refused at plan)"
        else:
            outcome = f"plan exited {planned.returncode}"
        break
    exercised = len(refused | hostile) * len(spec["tokens"])
    TOTAL.append(exercised)
    print(f"hostile names [{cls}]: {exercised} combinations; {outcome}")
    assert not problems, f"[{cls}] " + "\n".join(problems)


def test_the_oracle_sees_every_kind_of_harm_an_injection_could_do(dsn, conn, cluster_roles):
    """The watch above can fail: DDL on an object outside the plan (altered, commented, dropped
    along with its dependents), a changed role, changed rows or grants of an untouched table are
    each reported; DDL on the plan's own tables is not."""
    n = _names("plain")
    cluster_roles += [n["role"], n["owner"]]
    _victim(conn, cluster_roles)
    _install_oracle(conn)
    _build(conn, n)
    run = Run(dsn, conn, n, Path("unused"))
    s, t = n["schema"], n["target"]
    conn.execute(
        sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET STATISTICS 50; COMMENT ON TABLE {} IS 'x'").format(
            sql.Identifier(s, t), sql.Identifier(n["note"]), sql.Identifier(s, n["child"])
        )
    )
    run.watch("the plan's own tables", full=False)
    assert run.problems == []
    harms = [
        ("ALTER TABLE public.victim ADD COLUMN x int", ("DDL outside the plan", "public.victim")),
        ("DROP TABLE public.victim", ("DDL outside the plan", "DROP TABLE")),
        ("ALTER ROLE mallory SUPERUSER", ("roles changed", "mallory")),
        (
            "GRANT ALL ON public.victim TO mallory",
            ("relation ('public', 'victim', 'r') changed: acl", "mallory:TRUNCATE"),
        ),
        (
            sql.SQL("UPDATE {} SET {} = 'changed'").format(
                sql.Identifier(s, n["untouched"]), sql.Identifier(n["note"])
            ),
            ("data (", n["untouched"]),
        ),
        (
            sql.SQL("COMMENT ON FUNCTION {}(integer) IS 'x'").format(sql.Identifier(s, n["untouched_fn"])),
            ("DDL outside the plan", n["untouched_fn"]),
        ),
        (sql.SQL("DROP TABLE {}").format(sql.Identifier(s, n["untouched"])), ("DDL outside the plan", "DROP TABLE")),
    ]
    for statement, words in harms:
        conn.execute("BEGIN")
        try:
            run.problems, run.mark = [], _log_position(conn)
            conn.execute(statement)
            run.watch("harm", full=False)
            found = "\n".join(run.problems)
            for w in words:
                assert w in found, (statement, w, found)
        finally:
            conn.execute("ROLLBACK")
