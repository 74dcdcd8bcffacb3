-- keyshift.index_definition(index_oid oid) RETURNS text
-- keyshift.view_definition(view_oid oid) RETURNS text
--
-- Purpose: pg_get_indexdef and pg_get_viewdef deparsed under ONE fixed search path,
-- pg_catalog alone, whatever the caller's is. PostgreSQL qualifies in its deparse every
-- relation, function, operator and operator class that is not visible on the current path
-- (`public.gin_trgm_ops`, `OPERATOR(public.%)`), so the same index or view prints differently
-- under two paths. Step 01 records the definition of every index and view the conversion
-- rebuilds through these functions, and checks/indexes_restored.sql and
-- checks/views_restored.sql compare the current one through them: a correct conversion reads
-- the same under any session search path, with psql's or keyshift's.
--
-- What the text holds (and so what the comparison covers): for an index its name, the
-- schema-qualified table, the access method, UNIQUE and NULLS NOT DISTINCT, each key column
-- (by name, or its expression), its operator class when it is not the default for the
-- column's type (schema-qualified, so one opclass only), its collation when not the
-- column's, ASC/DESC and NULLS FIRST/LAST (indoption), the INCLUDE columns, the storage
-- parameters (WITH, reloptions) and the predicate. Column types never appear, so an index
-- on an integer key and the same index on its uuid print the same. Not in the text: the
-- tablespace (compared beside it), CLUSTER ON and replica identity
-- (checks/table_properties_restored.sql). For a view, the query as PostgreSQL stores it.
--
-- NULL for an oid that is not an index (resp. a view or materialized view).
-- STABLE, STRICT; not inlined (SET search_path), which is the point.

CREATE OR REPLACE FUNCTION keyshift.index_definition(index_oid oid)
RETURNS text
LANGUAGE sql
STABLE
STRICT
SET search_path = pg_catalog
AS $$
    SELECT pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM pg_catalog.pg_index AS i
    WHERE i.indexrelid = index_oid
$$;

CREATE OR REPLACE FUNCTION keyshift.view_definition(view_oid oid)
RETURNS text
LANGUAGE sql
STABLE
STRICT
SET search_path = pg_catalog
AS $$
    SELECT pg_catalog.pg_get_viewdef(c.oid)
    FROM pg_catalog.pg_class AS c
    WHERE c.oid = view_oid AND c.relkind IN ('v', 'm')
$$;
