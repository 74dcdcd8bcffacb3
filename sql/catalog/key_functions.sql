-- key_functions.sql: user functions that the catalog cannot tie to a converted key but
-- that probably handle one: an integer parameter named like a target's key
-- (get_user(user_id integer)), or a result of a target's row type (RETURNS users,
-- RETURNS SETOF users). Their bodies keep working on integers after the conversion, so
-- plan warns about each by name. Functions of extensions and of keyshift are left out.
-- Parameters: %(names)s (text[] of key-like names), %(rowtypes)s (oid[] of row types).
WITH fn AS (
    SELECT
        p.oid,
        p.prorettype,
        p.proretset,
        p.proargnames,
        coalesce(p.proallargtypes, p.proargtypes::oid[]) AS argtypes
    FROM pg_proc AS p
    INNER JOIN pg_namespace AS n ON p.pronamespace = n.oid
    WHERE
        n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift')
        AND n.nspname NOT LIKE 'pg\_%%'
        AND NOT EXISTS (
            SELECT 1
            FROM pg_depend AS d
            WHERE
                d.classid = 'pg_proc'::regclass
                AND d.objid = p.oid
                AND d.deptype = 'e'
        )
)

SELECT
    fn.oid::regprocedure::text AS signature,
    format('takes %%s %%I', format_type(a.argtype, NULL), a.argname) AS reason
FROM fn
CROSS JOIN LATERAL unnest(fn.argtypes, fn.proargnames) AS a (argtype, argname)
WHERE
    a.argtype IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
    AND a.argname = any(%(names)s::text[])
UNION ALL
SELECT
    fn.oid::regprocedure::text AS signature,
    format(
        'returns %%s%%s', CASE WHEN fn.proretset THEN 'SETOF ' ELSE '' END, format_type(fn.prorettype, NULL)
    ) AS reason
FROM fn
WHERE fn.prorettype = any(%(rowtypes)s::oid[])
ORDER BY signature, reason;
