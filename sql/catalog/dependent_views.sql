-- dependent_views.sql: every view and materialized view that uses one column, directly or
-- through other views, with all that is needed to drop it and create it again unchanged:
-- definition, options, owner, grants, comments, column comments, indexes and triggers (and their comments),
-- and what a materialized view keeps beside them: its tablespace, each column's statistics target and
-- storage when set, each index's tablespace and the statistics targets of its expression columns.
-- grants lists the ACL entries in their stored order, the owner's included, so that a
-- REVOKE ALL from the owner followed by these GRANTs rebuilds the same relacl.
-- depth is the longest chain of views from the column: create in ascending depth, drop in
-- descending depth. definition is pg_get_viewdef with search_path = pg_catalog (qualified).
-- Parameters: %(relid)s (table oid), %(column)s (column name).
WITH RECURSIVE col AS (
    SELECT a.attrelid, a.attnum
    FROM pg_attribute AS a
    WHERE a.attrelid = %(relid)s AND a.attname = %(column)s
),

chain (view_oid, depth) AS (
    SELECT DISTINCT
        r.ev_class AS view_oid,
        1 AS depth
    FROM col
    INNER JOIN pg_depend AS d
        ON
            col.attrelid = d.refobjid AND col.attnum = d.refobjsubid
            AND d.classid = 'pg_rewrite'::regclass
    INNER JOIN pg_rewrite AS r ON d.objid = r.oid
    WHERE r.ev_class <> col.attrelid
    UNION ALL
    SELECT DISTINCT
        r.ev_class AS view_oid,
        chain.depth + 1 AS depth
    FROM chain
    INNER JOIN pg_depend AS d
        ON
            chain.view_oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
            AND d.classid = 'pg_rewrite'::regclass
    INNER JOIN pg_rewrite AS r ON d.objid = r.oid
    WHERE r.ev_class <> chain.view_oid AND chain.depth < 100
),

views AS (
    SELECT
        chain.view_oid,
        max(chain.depth) AS depth
    FROM chain
    GROUP BY chain.view_oid
)

SELECT
    v.oid::bigint AS oid,
    n.nspname AS view_schema,
    v.relname AS view_name,
    v.relkind::text AS relkind,
    views.depth,
    pg_get_viewdef(v.oid) AS definition,
    coalesce(v.reloptions, '{}') AS options,
    (
        SELECT s.spcname FROM pg_tablespace AS s
        WHERE s.oid = v.reltablespace
    ) AS tablespace,
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_object(
                        'column', a.attname,
                        'statistics', nullif(a.attstattarget, -1),
                        'storage', CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END
                    ) ORDER BY a.attnum
                )
            FROM pg_attribute AS a
            INNER JOIN pg_type AS t ON a.atttypid = t.oid
            WHERE
                a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND (nullif(a.attstattarget, -1) IS NOT NULL OR a.attstorage <> t.typstorage)
        ),
        '[]'
    ) AS column_settings,
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_object(
                        'name', ic.relname,
                        'tablespace', (
                            SELECT s.spcname FROM pg_tablespace AS s
                            WHERE s.oid = ic.reltablespace
                        ),
                        'statistics', (
                            SELECT jsonb_agg(jsonb_build_array(a.attnum, a.attstattarget) ORDER BY a.attnum)
                            FROM pg_attribute AS a
                            WHERE a.attrelid = ic.oid AND nullif(a.attstattarget, -1) IS NOT NULL
                        )
                    ) ORDER BY ic.relname
                )
            FROM pg_index AS i
            INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
            WHERE
                i.indrelid = v.oid
                AND (
                    ic.reltablespace <> 0
                    OR EXISTS (
                        SELECT 1 FROM pg_attribute AS a
                        WHERE a.attrelid = ic.oid AND nullif(a.attstattarget, -1) IS NOT NULL
                    )
                )
        ),
        '[]'
    ) AS index_settings,
    pg_get_userbyid(v.relowner) AS owner,
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_object(
                        'privilege', x.privilege_type,
                        'column', a.attname,
                        'grantee', CASE WHEN x.grantee <> 0 THEN pg_get_userbyid(x.grantee) END,
                        'grantable', x.is_grantable
                    ) ORDER BY a.attnum NULLS FIRST, x.ord
                )
            FROM (
                SELECT
                    NULL::smallint AS attnum,
                    NULL::name AS attname,
                    v.relacl AS acl
                UNION ALL
                SELECT
                    c.attnum,
                    c.attname,
                    c.attacl AS acl
                FROM pg_attribute AS c
                WHERE c.attrelid = v.oid AND c.attnum > 0 AND NOT c.attisdropped
            ) AS a
            CROSS JOIN
                LATERAL aclexplode(a.acl) WITH ORDINALITY AS x (grantor, grantee, privilege_type, is_grantable, ord)
        ),
        '[]'
    ) AS grants,
    v.relacl IS NOT NULL AS acl_is_set,
    obj_description(v.oid, 'pg_class') AS comment,
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_object('column', a.attname, 'comment', col_description(v.oid, a.attnum))
                    ORDER BY a.attnum
                )
            FROM pg_attribute AS a
            WHERE
                a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND col_description(v.oid, a.attnum) IS NOT NULL
        ),
        '[]'
    ) AS column_comments,
    coalesce(
        (
            SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY ic.relname)
            FROM pg_index AS i
            INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
            WHERE i.indrelid = v.oid
        ),
        '{}'
    ) AS indexes,
    (
        SELECT ic.relname
        FROM pg_index AS i
        INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
        WHERE i.indrelid = v.oid AND i.indisclustered
    ) AS clustered_index,
    coalesce(
        (
            SELECT array_agg(pg_get_triggerdef(t.oid) ORDER BY t.tgname)
            FROM pg_trigger AS t
            WHERE t.tgrelid = v.oid AND NOT t.tgisinternal
        ),
        '{}'
    ) AS triggers,
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_object('name', ic.relname, 'comment', obj_description(ic.oid, 'pg_class'))
                    ORDER BY ic.relname
                )
            FROM pg_index AS i
            INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
            WHERE i.indrelid = v.oid AND obj_description(ic.oid, 'pg_class') IS NOT NULL
        ),
        '[]'
    ) AS index_comments,
    coalesce(
        (
            SELECT
                jsonb_agg(
                    jsonb_build_object('name', t.tgname, 'comment', obj_description(t.oid, 'pg_trigger'))
                    ORDER BY t.tgname
                )
            FROM pg_trigger AS t
            WHERE t.tgrelid = v.oid AND NOT t.tgisinternal AND obj_description(t.oid, 'pg_trigger') IS NOT NULL
        ),
        '[]'
    ) AS trigger_comments
FROM views
INNER JOIN pg_class AS v ON views.view_oid = v.oid
INNER JOIN pg_namespace AS n ON v.relnamespace = n.oid
ORDER BY views.depth, n.nspname, v.relname;
