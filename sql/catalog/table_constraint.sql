-- table_constraint.sql: whether one table has a constraint of the given name (constraint
-- names are per table, not per schema). Parameters: %(relid)s (table oid), %(name)s.
-- One row when it has one.
SELECT con.conname::text AS conname
FROM pg_constraint AS con
WHERE con.conrelid = %(relid)s AND con.conname = %(name)s;
