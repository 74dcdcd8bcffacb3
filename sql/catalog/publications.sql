-- publications.sql: logical-replication publications that publish any of the given tables.
-- Subscribers' copies keep integer columns: converting a published table stops replication.
-- Parameters: %(relids)s (table oids). One row per publication and table.
SELECT
    pt.pubname::text AS pubname,
    p.puballtables AS all_tables,
    n.nspname AS table_schema,
    c.relname AS table_name
FROM pg_publication_tables AS pt
INNER JOIN pg_publication AS p ON pt.pubname = p.pubname
INNER JOIN pg_namespace AS n ON pt.schemaname = n.nspname
INNER JOIN pg_class AS c ON n.oid = c.relnamespace AND pt.tablename = c.relname
WHERE c.oid = any(%(relids)s::oid[])
ORDER BY pt.pubname, n.nspname, c.relname;
