-- referencing_foreign_keys.sql: the foreign keys of other tables that reference one table
-- (a table TRUNCATE cannot empty alone), shown as "name on table".
-- Parameters: %(relid)s (table oid). One row per foreign key.
SELECT format('%%s on %%s', con.conname, con.conrelid::regclass) AS shown
FROM pg_constraint AS con
WHERE
    con.contype = 'f'
    AND con.confrelid = %(relid)s
    AND con.conrelid <> con.confrelid
ORDER BY 1;
