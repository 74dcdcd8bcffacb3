-- 0001_01_map_keys.rollback: undo of map old integer keys to new uuid keys
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- Claim mapping_covers_every_row, proven here, inside the rollback transaction: every row of public."t""; DROP TABLE victim; --"
-- has its integer id exactly once in the mapping table that rollback keeps.
DO $$
DECLARE
    bad bigint;
    sample text;
BEGIN
    SELECT count(*), min(t."id"::text) INTO bad, sample
    FROM "public"."t""; DROP TABLE victim; --" AS t
    LEFT JOIN (
        SELECT m.old_id, count(*) AS n FROM "keyshift"."map_public__t""; DROP TABLE victim; --" AS m GROUP BY m.old_id
    ) AS m ON t."id" = m.old_id
    WHERE m.n IS DISTINCT FROM 1;
    IF bad > 0 THEN
        RAISE EXCEPTION USING
        MESSAGE = format(
            'keyshift: claim mapping_covers_every_row failed: %s row(s) of %s have an id that %s holds not exactly once '
            || '(as old_id), e.g. id %s',
            bad, 'public."t""; DROP TABLE victim; --"', 'keyshift."map_public__t""; DROP TABLE victim; --"', sample
        ),
        HINT = 'nothing was changed; the mapping rollback keeps would not translate every uuid to the id its '
        || 'row has: restore the rollback files as planned and the mapping table from a backup';
    END IF;
END
$$;

-- public."t""; DROP TABLE victim; --": rollback keeps its mapping table (old id -> uuid of every row, rows written since
-- migrate with the ids rollback gave them); keyshift drop-map removes it.
INSERT INTO keyshift.rolled_back_mapping (plan_id, table_schema, table_name, key_column, map_table)
VALUES ('0001', 'public', 't"; DROP TABLE victim; --', 'id', 'map_public__t"; DROP TABLE victim; --');

DO $$
BEGIN
    RAISE NOTICE USING
    MESSAGE = format(
        'keyshift: kept mapping table %s of %s (%s rows: old integer id -> uuid, rows written since '
        || 'migrate included)',
        'keyshift."map_public__t""; DROP TABLE victim; --"',
        'public."t""; DROP TABLE victim; --"',
        (SELECT count(*) FROM "keyshift"."map_public__t""; DROP TABLE victim; --")
    ),
    HINT = 'keyshift export-map --table public."t""; DROP TABLE victim; --" exports it; keyshift drop-map --table public."t""; DROP TABLE victim; --" removes it';
END
$$;

DELETE FROM "keyshift"."plan_check"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_table_property"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_view"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_slug"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."fingerprint"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."saved_sequence"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."invalidated_session"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_index"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_constraint"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_column"
WHERE plan_id = '0001';

DELETE FROM "keyshift"."converted_table"
WHERE plan_id = '0001';

-- When no conversion is left and no mapping is kept, keyshift drops what it created, each
-- object by name and alone: what something outside keyshift still uses is kept, and a NOTICE
-- says what to do.
DO $$
DECLARE
    o record;
    users text;
    others text;
    remaining bigint;
    kept text [] := ARRAY[]::text [];
    kept_oids oid [] := ARRAY[]::oid [];
BEGIN
    IF EXISTS (SELECT 1 FROM "keyshift"."converted_table") OR EXISTS (SELECT 1 FROM "keyshift"."rolled_back_mapping") THEN
        RETURN;  -- conversions or kept mappings remain: keyshift keeps all it made
    END IF;
    FOR o IN
        SELECT v.label, v.classid, v.objid, v.drop_statement, v.callers
        FROM (VALUES
            (0, 'function keyshift.uuid_v7()', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."uuid_v7"()')::oid, 'DROP FUNCTION "keyshift"."uuid_v7"()', ARRAY[]::text []),
            (1, 'function keyshift.uuid_v7(timestamp with time zone)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."uuid_v7"(timestamp with time zone)')::oid, 'DROP FUNCTION "keyshift"."uuid_v7"(timestamp with time zone)', ARRAY['function keyshift.uuid_v7()']::text []),
            (2, 'function keyshift.uuid_v6()', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."uuid_v6"()')::oid, 'DROP FUNCTION "keyshift"."uuid_v6"()', ARRAY[]::text []),
            (3, 'function keyshift.uuid_v6(timestamp with time zone)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."uuid_v6"(timestamp with time zone)')::oid, 'DROP FUNCTION "keyshift"."uuid_v6"(timestamp with time zone)', ARRAY['function keyshift.uuid_v6()']::text []),
            (4, 'function keyshift.keyed_uuid_v7(timestamp with time zone, text, bigint)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."keyed_uuid_v7"(timestamp with time zone, text, bigint)')::oid, 'DROP FUNCTION "keyshift"."keyed_uuid_v7"(timestamp with time zone, text, bigint)', ARRAY[]::text []),
            (5, 'function keyshift.keyed_uuid_v7_at(bigint, text, bigint)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."keyed_uuid_v7_at"(bigint, text, bigint)')::oid, 'DROP FUNCTION "keyshift"."keyed_uuid_v7_at"(bigint, text, bigint)', ARRAY['function keyshift.keyed_uuid_v7(timestamp with time zone, text, bigint)']::text []),
            (6, 'function keyshift.keyed_uuid_v6(timestamp with time zone, text, bigint)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."keyed_uuid_v6"(timestamp with time zone, text, bigint)')::oid, 'DROP FUNCTION "keyshift"."keyed_uuid_v6"(timestamp with time zone, text, bigint)', ARRAY[]::text []),
            (7, 'function keyshift.keyed_uuid_v6_at(bigint, text, bigint)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."keyed_uuid_v6_at"(bigint, text, bigint)')::oid, 'DROP FUNCTION "keyshift"."keyed_uuid_v6_at"(bigint, text, bigint)', ARRAY['function keyshift.keyed_uuid_v6(timestamp with time zone, text, bigint)']::text []),
            (8, 'function keyshift.keyed_uuid_v4(text, bigint)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."keyed_uuid_v4"(text, bigint)')::oid, 'DROP FUNCTION "keyshift"."keyed_uuid_v4"(text, bigint)', ARRAY[]::text []),
            (9, 'function keyshift.unique_slug(regclass, name, integer)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."unique_slug"(regclass, name, integer)')::oid, 'DROP FUNCTION "keyshift"."unique_slug"(regclass, name, integer)', ARRAY[]::text []),
            (10, 'function keyshift.random_slug(integer)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."random_slug"(integer)')::oid, 'DROP FUNCTION "keyshift"."random_slug"(integer)', ARRAY['function keyshift.unique_slug(regclass, name, integer)']::text []),
            (11, 'function keyshift.base62(uuid, integer)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."base62"(uuid, integer)')::oid, 'DROP FUNCTION "keyshift"."base62"(uuid, integer)', ARRAY['function keyshift.random_slug(integer)']::text []),
            (12, 'function keyshift.statement_setting(text)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."statement_setting"(text)')::oid, 'DROP FUNCTION "keyshift"."statement_setting"(text)', ARRAY[]::text []),
            (13, 'function keyshift.table_fingerprint(name, name, boolean)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."table_fingerprint"(name, name, boolean)')::oid, 'DROP FUNCTION "keyshift"."table_fingerprint"(name, name, boolean)', ARRAY[]::text []),
            (14, 'function keyshift.rollback_ids(name, name, bigint)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."rollback_ids"(name, name, bigint)')::oid, 'DROP FUNCTION "keyshift"."rollback_ids"(name, name, bigint)', ARRAY[]::text []),
            (15, 'function keyshift.index_definition(oid)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."index_definition"(oid)')::oid, 'DROP FUNCTION "keyshift"."index_definition"(oid)', ARRAY[]::text []),
            (16, 'function keyshift.view_definition(oid)', 'pg_catalog.pg_proc'::pg_catalog.regclass, pg_catalog.to_regprocedure('"keyshift"."view_definition"(oid)')::oid, 'DROP FUNCTION "keyshift"."view_definition"(oid)', ARRAY[]::text []),
            (17, 'table keyshift.converted_table', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_table"')::oid, 'DROP TABLE "keyshift"."converted_table"', ARRAY[]::text []),
            (18, 'table keyshift.converted_column', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_column"')::oid, 'DROP TABLE "keyshift"."converted_column"', ARRAY[]::text []),
            (19, 'table keyshift.converted_constraint', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_constraint"')::oid, 'DROP TABLE "keyshift"."converted_constraint"', ARRAY[]::text []),
            (20, 'table keyshift.saved_sequence', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."saved_sequence"')::oid, 'DROP TABLE "keyshift"."saved_sequence"', ARRAY[]::text []),
            (21, 'table keyshift.fingerprint', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."fingerprint"')::oid, 'DROP TABLE "keyshift"."fingerprint"', ARRAY[]::text []),
            (22, 'table keyshift.converted_index', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_index"')::oid, 'DROP TABLE "keyshift"."converted_index"', ARRAY[]::text []),
            (23, 'table keyshift.converted_view', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_view"')::oid, 'DROP TABLE "keyshift"."converted_view"', ARRAY[]::text []),
            (24, 'table keyshift.invalidated_session', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."invalidated_session"')::oid, 'DROP TABLE "keyshift"."invalidated_session"', ARRAY[]::text []),
            (25, 'table keyshift.converted_slug', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_slug"')::oid, 'DROP TABLE "keyshift"."converted_slug"', ARRAY[]::text []),
            (26, 'table keyshift.plan_check', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."plan_check"')::oid, 'DROP TABLE "keyshift"."plan_check"', ARRAY[]::text []),
            (27, 'table keyshift.rolled_back_mapping', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."rolled_back_mapping"')::oid, 'DROP TABLE "keyshift"."rolled_back_mapping"', ARRAY[]::text []),
            (28, 'table keyshift.converted_table_property', 'pg_catalog.pg_class'::pg_catalog.regclass, pg_catalog.to_regclass('"keyshift"."converted_table_property"')::oid, 'DROP TABLE "keyshift"."converted_table_property"', ARRAY[]::text [])
        ) AS v (ord, label, classid, objid, drop_statement, callers)
        WHERE v.objid IS NOT NULL
        ORDER BY v.ord
    LOOP
        SELECT string_agg(DISTINCT CASE
            WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN (
                SELECT i.type || ' ' || i.identity
                FROM pg_catalog.pg_rewrite AS r
                CROSS JOIN LATERAL
                    pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) AS i
                WHERE r.oid = d.objid
            )
            ELSE (
                SELECT i.type || ' ' || i.identity
                FROM pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) AS i
            )
        END, '; ')
        INTO users
        FROM pg_catalog.pg_depend AS d
        WHERE d.refclassid = o.classid AND d.refobjid = o.objid AND d.deptype = 'n';
        IF users IS NULL AND NOT (o.callers && kept) THEN
            EXECUTE o.drop_statement;
        ELSE
            kept := kept || o.label;
            kept_oids := kept_oids || o.objid;
            RAISE NOTICE USING
            MESSAGE = pg_catalog.format(
                'keyshift: kept %s: %s',
                o.label,
                coalesce('used by ' || users, 'called by the kept ' || array_to_string(
                    ARRAY(SELECT c FROM unnest(o.callers) AS c WHERE c = ANY(kept)), ' and the kept '
                ))
            ),
            HINT = pg_catalog.format(
                'keyshift needs it no more; once nothing uses it: %s, or keep it as your own', o.drop_statement
            );
        END IF;
    END LOOP;
    -- What is left in the schema besides the marker; an extension's members are shown as the
    -- extension.
    SELECT
        count(*),
        string_agg(DISTINCT CASE
            WHEN d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN (
                SELECT i.type || ' ' || i.identity
                FROM pg_catalog.pg_rewrite AS r
                CROSS JOIN LATERAL
                    pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) AS i
                WHERE r.oid = d.objid
            )
            ELSE (
                SELECT i.type || ' ' || i.identity
                FROM pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) AS i
            )
        END, '; ') FILTER (
            WHERE NOT d.objid = ANY(kept_oids)
            AND NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_depend AS e
                WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e'
            )
        )
    INTO remaining, others
    FROM pg_catalog.pg_depend AS d
    WHERE
        d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
        AND d.refobjid = pg_catalog.to_regnamespace('"keyshift"')
        AND d.deptype = 'n'
        AND NOT (
            d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
            AND d.objid = pg_catalog.to_regclass('"keyshift"."installation"')
        );
    IF remaining = 0 THEN
        DROP TABLE "keyshift"."installation";
        DROP SCHEMA "keyshift";
    ELSIF others IS NOT NULL THEN
        RAISE NOTICE USING
        MESSAGE = 'keyshift: kept schema keyshift and its marker keyshift.installation, which also hold '
        || others || ', not created by keyshift',
        HINT = 'keep them (the next plan uses the schema), or move those objects to another schema '
        || '(ALTER ... SET SCHEMA), then DROP TABLE keyshift.installation and DROP SCHEMA keyshift';
    ELSE
        RAISE NOTICE USING
        MESSAGE = 'keyshift: kept schema keyshift and its marker keyshift.installation, which hold '
        || 'what keyshift kept above',
        HINT = 'the next plan uses them; a rollback that leaves no conversion drops them once nothing '
        || 'uses what keyshift kept';
    END IF;
END
$$;
