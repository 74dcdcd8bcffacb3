"""Every property of a converted table, its children, its indexes and its views holds after
migrate and comes back identical after rollback: CLUSTER ON (table and materialized view),
replica identity (FULL, USING INDEX of a rebuilt index), table and index storage parameters,
statistics targets of converted columns, tablespaces of rebuilt indexes, comments on rebuilt
constraints, indexes and columns, index and constraint names; an index of an extension's
operator class and a view whose text does not read back as written pass every check, under
any search path."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from conftest import ROOT, keyshift, pg_dump_schema, run_keyshift, without_restrict
from psycopg import sql

CHECKS = ROOT / "checks"

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE TABLE person (id serial PRIMARY KEY, name text NOT NULL)
    WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.05);
ALTER TABLE person REPLICA IDENTITY FULL;
ALTER TABLE person ALTER COLUMN id SET STATISTICS 321;
ALTER INDEX person_pkey SET (fillfactor = 80);
COMMENT ON COLUMN person.id IS 'who';
COMMENT ON CONSTRAINT person_pkey ON person IS 'the key';
CREATE INDEX person_name_trgm ON person USING gin (name gin_trgm_ops);
CREATE INDEX person_id_name ON person (id DESC, name text_pattern_ops) WITH (fillfactor = 60)
    TABLESPACE {tablespace} WHERE name <> '';
COMMENT ON INDEX person_id_name IS 'lookup';
ALTER TABLE person CLUSTER ON person_pkey;
INSERT INTO person (name) SELECT 'p' || g FROM generate_series(1, 20) AS g;

CREATE TABLE pet (
    id serial PRIMARY KEY,
    owner_id integer NOT NULL CONSTRAINT pet_owner_fk REFERENCES person,
    name text NOT NULL
);
ALTER TABLE pet ALTER COLUMN owner_id SET STATISTICS 222;
COMMENT ON COLUMN pet.owner_id IS 'owner';
COMMENT ON CONSTRAINT pet_owner_fk ON pet IS 'the owner';
CREATE UNIQUE INDEX pet_owner_name ON pet (owner_id, name) INCLUDE (id) WITH (fillfactor = 90);
ALTER TABLE pet REPLICA IDENTITY USING INDEX pet_owner_name;
ALTER TABLE pet CLUSTER ON pet_owner_name;
CREATE INDEX pet_owner_trgm ON pet USING gin ((owner_id::text) gin_trgm_ops) WHERE owner_id IS NOT NULL;
INSERT INTO pet (owner_id, name) SELECT g, 'pet' || g FROM generate_series(1, 20) AS g;

CREATE VIEW pet_owner WITH (security_barrier = true) AS
    SELECT p.id, p.name, t.name AS pet
    FROM person AS p JOIN pet AS t ON t.owner_id = p.id
    WHERE p.name % 'p1' AND t.id BETWEEN 1 AND 10 AND t.name IN ('pet1', 'pet2');
CREATE MATERIALIZED VIEW pet_count WITH (fillfactor = 40) TABLESPACE {tablespace} AS
    SELECT owner_id, count(*) AS pets FROM pet GROUP BY owner_id;
ALTER MATERIALIZED VIEW pet_count ALTER COLUMN pets SET STATISTICS 77;
ALTER MATERIALIZED VIEW pet_count ALTER COLUMN owner_id SET STATISTICS 88;
CREATE UNIQUE INDEX pet_count_owner ON pet_count (owner_id) WITH (fillfactor = 50) TABLESPACE {tablespace};
CREATE INDEX pet_count_many ON pet_count ((pets * 2), owner_id);
ALTER INDEX pet_count_many ALTER COLUMN 1 SET STATISTICS 55;
ALTER MATERIALIZED VIEW pet_count CLUSTER ON pet_count_owner;
COMMENT ON INDEX pet_count_owner IS 'one row per owner';
"""

#: What each relation, index and converted column is, in catalog terms (types left out: they change).
PROPERTIES = """
SELECT 'relation ' || c.relname, concat_ws(' | ', c.relkind, c.relreplident, c.reloptions::text,
    (SELECT t.spcname FROM pg_tablespace AS t WHERE t.oid = c.reltablespace),
    (SELECT string_agg(i.indexrelid::regclass::text, ',') FROM pg_index AS i
     WHERE i.indrelid = c.oid AND i.indisclustered),
    (SELECT string_agg(i.indexrelid::regclass::text, ',') FROM pg_index AS i
     WHERE i.indrelid = c.oid AND i.indisreplident),
    obj_description(c.oid, 'pg_class'))
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm', 'v', 'i')
UNION ALL
SELECT 'column ' || a.attrelid::regclass || '.' || a.attname,
    concat_ws(' | ', a.attnum, a.attstattarget, a.attstorage, a.attnotnull,
        col_description(a.attrelid, a.attnum))
FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm', 'i') AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || con.conrelid::regclass || '.' || con.conname,
    concat_ws(' | ', con.contype, con.conindid::regclass, obj_description(con.oid, 'pg_constraint'))
FROM pg_constraint AS con JOIN pg_namespace AS n ON n.oid = con.connamespace
WHERE n.nspname = 'public'
ORDER BY 1
"""


#: One property of a converted table, its indexes and constraints or a rebuilt materialized view
#: taken away, each, and the check that must then report it.
BREAKS = (
    ("table_properties_restored.sql", "ALTER TABLE person REPLICA IDENTITY DEFAULT"),
    ("table_properties_restored.sql", "ALTER TABLE pet REPLICA IDENTITY USING INDEX pet_pkey"),
    ("table_properties_restored.sql", "ALTER TABLE pet SET WITHOUT CLUSTER"),
    ("table_properties_restored.sql", "ALTER TABLE person RESET (fillfactor)"),
    ("table_properties_restored.sql", "ALTER TABLE person ALTER COLUMN id SET STATISTICS -1"),
    ("table_properties_restored.sql", "COMMENT ON COLUMN pet.owner_id IS NULL"),
    ("table_properties_restored.sql", "ALTER MATERIALIZED VIEW pet_count ALTER COLUMN pets SET STATISTICS 1"),
    ("table_properties_restored.sql", "ALTER MATERIALIZED VIEW pet_count SET TABLESPACE pg_default"),
    ("indexes_restored.sql", "ALTER INDEX person_id_name SET TABLESPACE pg_default"),
    ("indexes_restored.sql", "ALTER INDEX pet_owner_name SET (fillfactor = 91)"),
    ("indexes_restored.sql", "COMMENT ON INDEX person_id_name IS NULL"),
    ("indexes_restored.sql", "COMMENT ON CONSTRAINT person_pkey ON person IS 'another'"),
    ("foreign_keys_restored.sql", "COMMENT ON CONSTRAINT pet_owner_fk ON pet IS NULL"),
)


def properties(conn: psycopg.Connection) -> dict[str, str]:
    return {k: v for k, v in conn.execute(PROPERTIES).fetchall() if "yoyo" not in k}


def changed(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple]:
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _tablespace(conn: psycopg.Connection, tmp_path: Path) -> str:
    name = f"ks_props_{os.getpid()}_{tmp_path.name}"[:60]
    location = tmp_path / "tablespace"
    location.mkdir()
    conn.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(sql.Identifier(name), sql.Literal(str(location))))
    return name


def test_every_property_holds_after_migrate_and_comes_back_after_rollback(dsn, conn, tmp_path):
    space = _tablespace(conn, tmp_path)
    try:
        conn.execute(SCHEMA.replace("{tablespace}", sql.Identifier(space).as_string(conn)))
        dump0, props0 = without_restrict(pg_dump_schema(dsn)), properties(conn)
        rows0 = conn.execute("SELECT name, pet FROM pet_owner ORDER BY 1, 2").fetchall()
        assert rows0
        mig = tmp_path / "m"
        planned = keyshift(dsn, "plan", "--table", "public.person", "--rehearse", migrations=mig)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        migrated = keyshift(dsn, "migrate", migrations=mig)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        # converted: every property as it was, only the types changed
        diff = changed(props0, properties(conn))
        assert not diff, "\n".join(f"{k}: {v}" for k, v in sorted(diff.items()))
        assert conn.execute("SELECT name, pet FROM pet_owner ORDER BY 1, 2").fetchall() == rows0
        # every check passes, under the migration's search path and under one without public
        for env in ({}, {"PGOPTIONS": "-c search_path=pg_catalog"}):
            checked = run_keyshift("check", "--dsn", dsn, env=env)
            assert checked.returncode == 0, (env, checked.stdout + checked.stderr)
        # and the claims that prove them report each one taken away
        for check, breaking in BREAKS:
            with conn.transaction(force_rollback=True):
                assert conn.execute((CHECKS / check).read_text()).fetchall() == [], check
                conn.execute(breaking)
                rows = conn.execute((CHECKS / check).read_text()).fetchall()
            assert rows, breaking
        rolled = keyshift(dsn, "rollback", migrations=mig)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        diff = changed(props0, properties(conn))
        assert not diff, "\n".join(f"{k}: {v}" for k, v in sorted(diff.items()))
        assert without_restrict(pg_dump_schema(dsn)) == dump0
    finally:
        conn.execute("DROP INDEX IF EXISTS person_id_name")
        conn.execute("DROP MATERIALIZED VIEW IF EXISTS pet_count")
        conn.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(space)))
