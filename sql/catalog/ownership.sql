-- ownership.sql: relations among the given oids the current user cannot ALTER or DROP
-- (ALTER TABLE, DROP VIEW and DROP SEQUENCE need ownership: being the owner or holding the
-- owner role's privileges; a superuser always can).
-- Parameters: %(relids)s (relation oids). One row per relation the user cannot alter.
SELECT
    n.nspname AS rel_schema,
    c.relname AS rel_name,
    c.relkind::text AS relkind,
    pg_get_userbyid(c.relowner) AS owner,
    current_user::text AS current_role_name
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.oid = any(%(relids)s::oid[])
    AND NOT pg_has_role(c.relowner, 'USAGE')
ORDER BY n.nspname, c.relname;
