"""plan reads plpgsql and SQL function bodies (pglast) and refuses those that use a converted
key as an integer: all of them in one run, each with its signature, what was found and the fix."""

from __future__ import annotations

from conftest import keyshift

SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, user_id integer REFERENCES users (id), total numeric);
INSERT INTO users (name) VALUES ('ada'), ('grace');
INSERT INTO orders (user_id, total) VALUES (1, 10), (2, 20);

CREATE FUNCTION keep_founders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.id IN (1, 2) THEN
        RAISE EXCEPTION 'founders stay';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER founders BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION keep_founders();

CREATE FUNCTION renumber() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id BETWEEN 1 AND 9 THEN
        NEW.id := 10;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER renumbered BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION renumber();

CREATE FUNCTION user_name(p_user integer) RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    found_name text;
BEGIN
    SELECT u.name INTO found_name FROM users AS u WHERE u.id = p_user;
    RETURN found_name;
END $$;

CREATE FUNCTION is_admin(p_name text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    who public.users.id%TYPE;
BEGIN
    SELECT id INTO who FROM public.users WHERE name = p_name;
    RETURN who = 1;
END $$;

CREATE FUNCTION order_total(uid bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT sum(o.total) FROM orders AS o WHERE o.user_id = uid
$$;

CREATE PROCEDURE bump_names() LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET name = name || '!' WHERE id + 0 > 0;
END $$;

CREATE FUNCTION names_of_users() RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT name FROM users WHERE name <> 'x' ORDER BY id
$$;

CREATE FUNCTION ada_number() RETURNS integer LANGUAGE plpgsql STABLE AS $$
DECLARE
    n integer;
BEGIN
    SELECT id INTO n FROM users WHERE name = 'ada';
    RETURN n;
END $$;

CREATE TABLE robots (id serial PRIMARY KEY);
CREATE FUNCTION first_robot_if_users() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM robots WHERE id = 1 AND EXISTS (SELECT 1 FROM users)
$$;

CREATE FUNCTION count_things(n integer) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    RETURN n + 1;
END $$;

CREATE FUNCTION uuid_lookup(p uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v users.id%TYPE;
BEGIN
    SELECT id INTO v FROM users WHERE id = p;
    RETURN v::text;
END $$;
"""

BLOCKED = {
    "public.keep_founders()": ["compares OLD.id (public.users.id) with the constant 1, the constant 2"],
    "public.renumber()": [
        "compares NEW.id (public.users.id) with the constant 1, the constant 9",
        "assigns the constant 10 to NEW.id (public.users.id)",
    ],
    "public.user_name(integer)": ["compares public.users.id with integer parameter p_user"],
    "public.is_admin(text)": ["compares variable who (public.users.id%TYPE) with the constant 1"],
    "public.order_total(bigint)": ["compares public.orders.user_id with integer parameter uid"],
    "public.bump_names()": ["does arithmetic on public.users.id (+)"],
    "public.ada_number()": ["stores public.users.id in integer variable n"],
}


def _blocker_lines(stderr: str) -> dict[str, str]:
    out = {}
    for line in stderr.strip().splitlines()[:-1]:
        assert line.startswith("keyshift: function "), line
        out[line.split(": ", 2)[1].removeprefix("function ")] = line
    return out


def test_every_function_using_the_key_as_an_integer_blocks_in_one_run(conn, dsn, tmp_path):
    conn.execute(SCHEMA)
    out = keyshift(dsn, "plan", "--table", "public.users", "--no-rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "7 function(s) use a converted key as an integer" in out.stderr.strip().splitlines()[-1], out.stderr
    lines = _blocker_lines(out.stderr)
    assert set(lines) == set(BLOCKED), out.stderr
    for signature, findings in BLOCKED.items():
        for finding in findings:
            assert finding in lines[signature], lines[signature]
        assert "drop it before the plan and create the uuid version after migrate" in lines[signature]
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_functions_named_with_the_rehearsals_blockers(conn, dsn, tmp_path):
    """Rehearsed, the functions are named in the same run as what the copy refuses."""
    conn.execute(SCHEMA + "CREATE VIEW every_id AS SELECT id FROM users UNION SELECT id FROM robots;")
    out = keyshift(dsn, "plan", "--table", "public.users", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 3, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert "found 8 blocker(s)" in lines[-1], out.stderr
    named = [line.split(": ", 2)[1] for line in lines[:-1]]
    assert set(named) == {f"function {s}" for s in BLOCKED} | {"view public.every_id"}, out.stderr


def test_functions_that_do_not_use_the_key_as_an_integer_pass(conn, dsn, tmp_path):
    conn.execute(SCHEMA)
    for signature in BLOCKED:
        kind = "PROCEDURE" if signature == "public.bump_names()" else "FUNCTION"
        conn.execute(f"DROP {kind} {signature} CASCADE")
    out = keyshift(dsn, "plan", "--table", "public.users", "--rehearse", migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "uuid_lookup" not in out.stdout + out.stderr
    assert "names_of_users" not in out.stdout + out.stderr
    assert "count_things" not in out.stdout + out.stderr
    assert "first_robot_if_users" not in out.stdout + out.stderr
    migrated = keyshift(dsn, "migrate", migrations=tmp_path / "m")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert sorted(conn.execute("SELECT names_of_users()").fetchall()) == [("ada",), ("grace",)]


def test_a_percent_type_variable_alone_is_a_warning(conn, dsn, tmp_path):
    conn.execute(
        "CREATE TABLE users (id serial PRIMARY KEY, name text);"
        "CREATE FUNCTION last_user() RETURNS text LANGUAGE plpgsql AS $$ DECLARE v users.id%TYPE; n integer := 0; "
        "BEGIN SELECT max(id::text) INTO v FROM users; RETURN v || n; END $$;"
    )
    out = keyshift(dsn, "plan", "--table", "public.users", "--no-rehearse", migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "function public.last_user() declares variable v as public.users.id%TYPE" in out.stdout, out.stdout


def test_external_mode_keeps_integer_keys_and_the_functions_that_use_them(conn, dsn, tmp_path):
    conn.execute(SCHEMA)
    out = keyshift(dsn, "plan", "--table", "public.users", "--mode", "external", migrations=tmp_path / "m")
    assert out.returncode == 0, out.stdout + out.stderr
