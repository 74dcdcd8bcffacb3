-- keyshift.statement_setting(setting_name text) RETURNS text
--
-- Purpose: current_setting(setting_name), read ONCE per statement instead of once per row,
-- for the USING expressions of step 03 (ALTER TABLE ... ALTER COLUMN ... TYPE uuid USING):
--   keyshift.keyed_uuid_v4(keyshift.statement_setting('keyshift.key') || 'public.orders:', id)
-- PostgreSQL plans such an expression once (expression_planner) and there evaluates every
-- IMMUTABLE function whose arguments are constants; so the key text, and the hash seeds the
-- inlined keyed_uuid_* functions derive from it, become constants of that one statement, and
-- per row only the arithmetic on the id is left (make bench: about a fifth of the rewrite of
-- a 3-million-row table). With current_setting (STABLE) every row re-read the setting and
-- re-hashed the key three times.
--
-- Volatility: declared IMMUTABLE on purpose, which is only true where keyshift calls it:
-- inside the one transaction of `keyshift migrate`, after step 01 has set keyshift.key and
-- the keyshift.time_base_* settings, none of which changes again before COMMIT. Never use it
-- in an index, a view, a default or any plan that outlives the statement. It is used only in
-- ALTER TABLE, whose planned expression no EXPLAIN or auto_explain prints; statements that go
-- through the executor (step 01's CREATE TABLE ... AS) read the key with current_setting, so
-- the key never appears as a constant in a plan that could be logged.
-- STRICT; PARALLEL SAFE. Not inlined (its body is only STABLE), which is the point.

CREATE OR REPLACE FUNCTION keyshift.statement_setting(setting_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.current_setting(setting_name)
$$;

COMMENT ON FUNCTION keyshift.statement_setting(text) IS
'current_setting() read once per statement (declared IMMUTABLE on purpose): for keyshift migrate step 03 only.';
