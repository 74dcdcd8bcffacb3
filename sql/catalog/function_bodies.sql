-- function_bodies.sql: the plpgsql and SQL functions and procedures whose bodies may use a
-- converted key: those whose source holds the name of a table with a converted column, and
-- the trigger functions of triggers on such a table (NEW and OLD are its rows). pg_depend
-- does not track what a plpgsql body reads, so the bodies are read here and parsed by
-- catalog/function_uses.py. Functions of extensions, of keyshift and of the system schemas
-- are left out.
-- Parameters: %(relids)s (oid[] of the tables with a converted column), %(names)s (text[],
-- their names in lower case).
-- trigger_tables: the tables (schema, name) whose triggers call the function.
WITH fn AS (
    SELECT
        p.oid,
        l.lanname AS language,
        p.prokind
    FROM pg_proc AS p
    INNER JOIN pg_namespace AS n ON p.pronamespace = n.oid
    INNER JOIN pg_language AS l ON p.prolang = l.oid
    WHERE
        l.lanname IN ('plpgsql', 'sql')
        AND p.prokind IN ('f', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'keyshift')
        AND n.nspname NOT LIKE 'pg\_%%'
        AND NOT EXISTS (
            SELECT 1
            FROM pg_depend AS d
            WHERE
                d.classid = 'pg_proc'::regclass
                AND d.objid = p.oid
                AND d.deptype = 'e'
        )
        AND (
            EXISTS (
                SELECT 1
                FROM unnest(%(names)s::text[]) AS t (name)
                WHERE strpos(lower(p.prosrc), t.name) > 0
            )
            OR EXISTS (
                SELECT 1
                FROM pg_trigger AS tg
                WHERE tg.tgfoid = p.oid AND tg.tgrelid = any(%(relids)s::oid[])
            )
        )
),

triggers AS (
    SELECT
        tg.tgfoid,
        jsonb_agg(DISTINCT jsonb_build_array(tn.nspname, tc.relname)) AS tables
    FROM pg_trigger AS tg
    INNER JOIN pg_class AS tc ON tg.tgrelid = tc.oid
    INNER JOIN pg_namespace AS tn ON tc.relnamespace = tn.oid
    WHERE tg.tgrelid = any(%(relids)s::oid[])
    GROUP BY tg.tgfoid
)

SELECT
    fn.oid::regprocedure::text AS signature,
    fn.language,
    fn.prokind,
    pg_get_functiondef(fn.oid) AS definition,
    coalesce(triggers.tables, '[]'::jsonb) AS trigger_tables
FROM fn
LEFT JOIN triggers ON fn.oid = triggers.tgfoid
ORDER BY signature;
