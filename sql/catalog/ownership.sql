-- ownership.sql: the owner of each of the given relations, and whether the current user may
-- ALTER or DROP it (ALTER TABLE, DROP VIEW and DROP SEQUENCE need ownership: being the owner
-- or holding the owner role's privileges; a superuser always can).
-- Parameters: %(relids)s (relation oids). One row per relation.
SELECT
    n.nspname AS rel_schema,
    c.relname AS rel_name,
    c.relkind::text AS relkind,
    pg_get_userbyid(c.relowner) AS owner,
    current_user::text AS current_role_name,
    pg_has_role(c.relowner, 'USAGE') AS can_alter
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE c.oid = any(%(relids)s::oid[])
ORDER BY n.nspname, c.relname;
