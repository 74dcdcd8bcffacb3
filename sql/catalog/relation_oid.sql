-- relation_oid.sql: the oid of one relation (table, view, sequence, index, ...) named by its
-- schema and name, whatever its kind. Parameters: %(schema)s, %(table)s (the relation's name,
-- whatever its kind). No row when absent.
SELECT c.oid::bigint AS relid
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE n.nspname = %(schema)s AND c.relname = %(table)s;
