-- views_restored.sql
--
-- Claim: every view and materialized view that read a converted column when the
-- conversion began, as recorded in keyshift.converted_view, exists now under the same
-- name, of the same kind, with the same owner, the same ACL (grants; a default ACL counts as
-- what it grants), the same columns in
-- the same order and the same definition (the query tree, see below), and a materialized view holds
-- data (it was refilled, not left unpopulated) and is CLUSTERed ON the same index, if any.
--
-- Why: a key cannot change type while a view reads it, so the conversion drops these
-- views and creates them again. A view that is missing, narrower, owned by someone else or
-- granted differently breaks the application or its permissions after the cutover, and an
-- unpopulated materialized view fails every query until someone refreshes it.
--
-- The definition compared is keyshift.view_definition (sql/functions/catalog_text.sql):
-- pg_get_viewdef deparsed under search_path = pg_catalog alone, whatever this session's path
-- is. pg_get_viewdef qualifies every relation, function and operator not visible on the
-- current path (`OPERATOR(public.%)`), so the same view prints differently under two paths;
-- under one fixed path it prints the query tree PostgreSQL stores, which is what the view
-- does: the text it was created from (BETWEEN, IN lists, unqualified names) never enters.
-- Column types are not in it; the columns are compared by name and position. A row recorded
-- by an earlier keyshift, without fixed_definition, is compared by its session-path text.
--
-- One row: one recorded view that is missing or different; `problem` says what differs.
--
-- Applies to (orchestrator/verify/checks.py): with no such registry row the check is skipped.
-- applies-to: keyshift.converted_view
-- skip-reason: no view read a converted column
WITH recorded AS (
    -- Plans that follow one another can each record the same view: the newest record counts
    -- (plan ids are zero-padded numbers: the longest, then the greatest, is the newest).
    SELECT DISTINCT ON (rec.view_schema, rec.view_name)
        rec.plan_id,
        rec.view_schema,
        rec.view_name,
        rec.relkind,
        rec.owner,
        -- A view whose ACL is the default (NULL) and one whose explicit ACL equals that
        -- default grant the same: compare what each grants, never NULL against text.
        coalesce(rec.acl, acldefault('r', to_regrole(quote_ident(rec.owner)))::text) AS acl,
        rec.column_names,
        coalesce(rec.fixed_definition, rec.definition) AS definition,
        rec.fixed_definition IS NOT NULL AS fixed,
        rec.clustered_index,
        to_regclass(format('%I.%I', rec.view_schema, rec.view_name)) AS relid
    FROM keyshift.converted_view AS rec
    ORDER BY rec.view_schema ASC, rec.view_name ASC, length(rec.plan_id) DESC, rec.plan_id DESC
),

current_state AS (
    SELECT
        r.*,
        c.relkind AS current_relkind,
        c.relispopulated,
        pg_get_userbyid(c.relowner) AS current_owner,
        coalesce(c.relacl, acldefault('r', c.relowner))::text AS current_acl,
        array(
            SELECT a.attname
            FROM pg_attribute AS a
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
        ) AS current_columns,
        CASE
            WHEN r.fixed THEN keyshift.view_definition(c.oid)
            WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid)
        END AS current_definition,
        (
            SELECT ic.relname
            FROM pg_index AS i
            INNER JOIN pg_class AS ic ON i.indexrelid = ic.oid
            WHERE i.indrelid = c.oid AND i.indisclustered
        ) AS current_clustered_index
    FROM recorded AS r
    LEFT JOIN pg_class AS c ON r.relid = c.oid
),

verdict AS (
    SELECT
        s.*,
        CASE
            WHEN s.relid IS NULL THEN 'view missing'
            WHEN s.current_relkind <> s.relkind THEN 'kind differs'
            WHEN s.current_owner <> s.owner THEN 'owner differs: ' || s.current_owner
            WHEN coalesce(s.current_acl, '') <> coalesce(s.acl, '') THEN 'grants differ: ' || s.current_acl
            WHEN s.current_columns <> s.column_names THEN 'columns differ'
            WHEN s.current_definition <> s.definition THEN 'definition differs'
            WHEN s.relkind = 'm' AND NOT s.relispopulated THEN 'materialized view not populated'
            WHEN coalesce(s.current_clustered_index, '') <> coalesce(s.clustered_index, '') THEN 'CLUSTER ON differs'
        END AS problem
    FROM current_state AS s
)

SELECT
    p.plan_id,
    p.view_schema,
    p.view_name,
    CASE p.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END AS kind,
    p.problem,
    p.definition AS recorded_definition,
    p.current_definition
FROM verdict AS p
WHERE p.problem IS NOT NULL
ORDER BY p.view_schema, p.view_name;
