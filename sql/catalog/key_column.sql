-- key_column.sql: the primary-key column of a target: type, default, identity and the
-- sequence behind it (serial, identity, or a plain nextval() default), and whether another
-- column's default uses that sequence too.
-- Parameters: %(relid)s (table oid), %(column)s (column name).
SELECT
    a.attname AS column_name,
    format_type(a.atttypid, a.atttypmod) AS data_type,
    a.attnotnull AS not_null,
    pg_get_expr(d.adbin, d.adrelid) AS default_expr,
    a.attidentity::text AS identity,
    sn.nspname AS seq_schema,
    sc.relname AS seq_name,
    format_type(s.seqtypid, NULL) AS seq_type,
    s.seqstart AS seq_start,
    s.seqincrement AS seq_increment,
    s.seqmin AS seq_min,
    s.seqmax AS seq_max,
    s.seqcache AS seq_cache,
    s.seqcycle AS seq_cycle,
    coalesce(dep.deptype::text, '') AS seq_dependency,
    -- The sequence's ACL entries in stored order, the owner's own included, as JSON
    -- [privilege, grantee (null: PUBLIC), grantable]: rollback rebuilds exactly this ACL.
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_array(
                        x.privilege_type,
                        CASE WHEN x.grantee <> 0 THEN pg_get_userbyid(x.grantee) END,
                        x.is_grantable
                    ) ORDER BY x.ord
                )
            FROM aclexplode(sc.relacl) WITH ORDINALITY AS x (grantor, grantee, privilege_type, is_grantable, ord)
        )::text,
        '[]'
    ) AS seq_grants,
    sc.relacl IS NOT NULL AS seq_acl_is_set,
    obj_description(sc.oid, 'pg_class') AS seq_comment,
    pg_get_userbyid(sc.relowner) AS seq_owner,
    sc.relpersistence::text AS seq_persistence,
    -- A plain nextval() default: does any other default use the sequence, or a column own it?
    -- When not, step 05 drops it, so no orphaned sequence is left behind.
    (
        SELECT count(*)
        FROM pg_depend AS od
        WHERE
            od.refclassid = 'pg_class'::regclass
            AND od.refobjid = sc.oid
            AND od.classid = 'pg_attrdef'::regclass
            AND od.objid IS DISTINCT FROM d.oid
    ) + (
        SELECT count(*)
        FROM pg_depend AS ow
        WHERE
            ow.classid = 'pg_class'::regclass
            AND ow.objid = sc.oid
            AND ow.refclassid = 'pg_class'::regclass
            AND ow.deptype IN ('a', 'i')
    ) > 0 AS seq_used_elsewhere
FROM pg_attribute AS a
LEFT JOIN pg_attrdef AS d ON a.attrelid = d.adrelid AND a.attnum = d.adnum
LEFT JOIN pg_depend AS dep
    ON
        a.attrelid = dep.refobjid
        AND a.attnum = dep.refobjsubid
        AND dep.classid = 'pg_class'::regclass
        AND dep.refclassid = 'pg_class'::regclass
        AND dep.deptype IN ('a', 'i')
        AND EXISTS (
            SELECT 1 FROM pg_class AS dc
            WHERE dc.oid = dep.objid AND dc.relkind = 'S'
        )
LEFT JOIN pg_class AS sc
    ON sc.oid = coalesce(
        dep.objid,
        (
            SELECT dd.refobjid
            FROM pg_depend AS dd
            INNER JOIN pg_class AS ddc ON dd.refobjid = ddc.oid AND ddc.relkind = 'S'
            WHERE dd.classid = 'pg_attrdef'::regclass AND dd.objid = d.oid
            ORDER BY dd.refobjid
            LIMIT 1
        )
    )
LEFT JOIN pg_namespace AS sn ON sc.relnamespace = sn.oid
LEFT JOIN pg_sequence AS s ON sc.oid = s.seqrelid
WHERE a.attrelid = %(relid)s AND a.attname = %(column)s AND NOT a.attisdropped;
