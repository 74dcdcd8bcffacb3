-- 0001_03_convert_key_columns.rollback: undo of convert keys and references to uuid
-- Statements run top-down, in undo order.
-- sqlfluff:rules:references.special_chars:quoted_identifiers_policy:none
-- sqlfluff:layout:type:table_reference:spacing_after:any

-- public.category: rows written since migrate need ids the sequence never issued; refuse
-- before anything changes when too few are left (column type, MAXVALUE/MINVALUE; no CYCLE).
DO $$
DECLARE
    rows_since bigint;
    r record;
BEGIN
    SELECT count(*) INTO rows_since
    FROM "public"."category" AS t
    WHERE NOT EXISTS (SELECT 1 FROM "keyshift"."map_public__category" AS m WHERE m.new_id = t."id");
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'category', rows_since);
    IF rows_since > r.ids_left THEN
        RAISE EXCEPTION USING
        MESSAGE = format(
            'keyshift: %s row(s) of %s were written since migrate and need integer ids, but only %s are '
            || 'left on the grid of %s (from %s to %s, step %s: the limit of %s and of MINVALUE/MAXVALUE)',
            rows_since, 'public.category', r.ids_left, 'sequence public.category_id_seq', r.first_id,
            CASE WHEN r.step > 0 THEN r.highest ELSE r.lowest END, r.step, 'bigint'
        ),
        HINT = 'nothing was changed; an integer key of this type cannot take them all without reissuing ids: delete or move aside rows written since migrate until they fit, or keep the uuid keys';
    END IF;
END
$$;

-- public.item: rows written since migrate need ids the sequence never issued; refuse
-- before anything changes when too few are left (column type, MAXVALUE/MINVALUE; no CYCLE).
DO $$
DECLARE
    rows_since bigint;
    r record;
BEGIN
    SELECT count(*) INTO rows_since
    FROM "public"."item" AS t
    WHERE NOT EXISTS (SELECT 1 FROM "keyshift"."map_public__item" AS m WHERE m.new_id = t."id");
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'item', rows_since);
    IF rows_since > r.ids_left THEN
        RAISE EXCEPTION USING
        MESSAGE = format(
            'keyshift: %s row(s) of %s were written since migrate and need integer ids, but only %s are '
            || 'left on the grid of %s (from %s to %s, step %s: the limit of %s and of MINVALUE/MAXVALUE)',
            rows_since, 'public.item', r.ids_left, 'sequence public.item_id_seq', r.first_id,
            CASE WHEN r.step > 0 THEN r.highest ELSE r.lowest END, r.step, 'integer'
        ),
        HINT = 'nothing was changed; an integer key of this type cannot take them all without reissuing ids: delete or move aside rows written since migrate until they fit, or keep the uuid keys';
    END IF;
END
$$;

-- public.category: rows written since migrate get the ids its sequence would have issued next
-- (keyshift.rollback_ids), in the order they were written where the key tells it; the mapping keeps them.
DO $$
DECLARE
    rows_since bigint;
    r record;
BEGIN
    SELECT count(*) INTO rows_since
    FROM "public"."category" AS t
    WHERE NOT EXISTS (SELECT 1 FROM "keyshift"."map_public__category" AS m WHERE m.new_id = t."id");
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'category', rows_since);
    INSERT INTO "keyshift"."map_public__category" (old_id, new_id)
    SELECT
        (r.first_id + (row_number() OVER (ORDER BY substring(uuid_send(t."id") FROM 1 FOR 8), t."id") - 1) * r.step)::bigint AS old_id,
        t."id" AS new_id
    FROM "public"."category" AS t
    WHERE NOT EXISTS (SELECT 1 FROM "keyshift"."map_public__category" AS m WHERE m.new_id = t."id");
    PERFORM set_config('keyshift.ids_given_5c2ca5980fc8ab0a', rows_since::text, TRUE);
END
$$;

CREATE FUNCTION "pg_temp"."keyshift_old_id_map_public__category"(uuid) RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT old_id FROM "keyshift"."map_public__category" WHERE new_id = $1 $$;

-- public.item: rows written since migrate get the ids its sequence would have issued next
-- (keyshift.rollback_ids), in the order they were written where the key tells it; the mapping keeps them.
DO $$
DECLARE
    rows_since bigint;
    r record;
BEGIN
    SELECT count(*) INTO rows_since
    FROM "public"."item" AS t
    WHERE NOT EXISTS (SELECT 1 FROM "keyshift"."map_public__item" AS m WHERE m.new_id = t."id");
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'item', rows_since);
    INSERT INTO "keyshift"."map_public__item" (old_id, new_id)
    SELECT
        (r.first_id + (row_number() OVER (ORDER BY substring(uuid_send(t."id") FROM 1 FOR 8), t."id") - 1) * r.step)::bigint AS old_id,
        t."id" AS new_id
    FROM "public"."item" AS t
    WHERE NOT EXISTS (SELECT 1 FROM "keyshift"."map_public__item" AS m WHERE m.new_id = t."id");
    PERFORM set_config('keyshift.ids_given_563b1851339bc556', rows_since::text, TRUE);
END
$$;

CREATE FUNCTION "pg_temp"."keyshift_old_id_map_public__item"(uuid) RETURNS bigint
LANGUAGE sql STABLE
AS $$ SELECT old_id FROM "keyshift"."map_public__item" WHERE new_id = $1 $$;

ALTER TABLE "public"."item"
ALTER COLUMN "category_id" TYPE bigint USING "pg_temp"."keyshift_old_id_map_public__category"("category_id"),
ALTER COLUMN "id" TYPE integer USING "pg_temp"."keyshift_old_id_map_public__item"("id");

ALTER TABLE "public"."category"
ALTER COLUMN "id" TYPE bigint USING "pg_temp"."keyshift_old_id_map_public__category"("id"),
ALTER COLUMN "parent_id" TYPE bigint USING "pg_temp"."keyshift_old_id_map_public__category"("parent_id");

ALTER TABLE "public"."category" ALTER COLUMN "id" ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME "public"."category_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO CYCLE
);

-- Privileges it was created with go; the ACL the plan read is granted below.
DO $$
DECLARE
    grantee text;
BEGIN
    FOR grantee IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
        FROM pg_catalog.pg_class AS c, pg_catalog.aclexplode(c.relacl) AS a
        WHERE c.oid = '"public"."category_id_seq"'::regclass AND (false OR a.grantee <> c.relowner)
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE %s FROM %s', '"public"."category_id_seq"'::regclass, grantee);
    END LOOP;
END
$$;

-- The sequence continues where it was, or after the last id rollback gave out.
DO $$
DECLARE
    r record;
BEGIN
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'category', 0);
    IF current_setting('keyshift.ids_given_5c2ca5980fc8ab0a')::bigint = 0 OR r.first_id = r.sequence_next THEN
        PERFORM setval('"public"."category_id_seq"', r.start_value, r.start_called);
    ELSIF r.step > 0 THEN
        PERFORM setval('"public"."category_id_seq"', least(r.first_id - r.step, r.highest)::bigint, TRUE);
    ELSE
        PERFORM setval('"public"."category_id_seq"', greatest(r.first_id - r.step, r.lowest)::bigint, TRUE);
    END IF;
END
$$;

-- Claim sequence_after_every_key, proven here, inside the rollback transaction: the next value of the sequence
-- of public.category lies beyond every key and every old id, so the next INSERT cannot collide.
DO $$
DECLARE
    r record;
    s record;
    next_value numeric;
    extreme numeric;
BEGIN
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'category', 0);
    IF current_setting('keyshift.ids_given_5c2ca5980fc8ab0a')::bigint = 0 THEN
        IF (SELECT (q.last_value, q.is_called) FROM "public"."category_id_seq" AS q) IS DISTINCT FROM (r.start_value, r.start_called) THEN
            RAISE EXCEPTION USING
            MESSAGE = format(
                'keyshift: claim sequence_after_every_key failed: no id was given out, yet %s does not stand as it was saved (%s, called %s)',
                'public.category_id_seq', r.start_value, r.start_called
            ),
            HINT = 'nothing was changed; the rollback files do not restore this sequence: restore them as planned';
        END IF;
        RETURN;
    END IF;
    SELECT q.last_value, q.is_called, p.seqincrement, p.seqmin, p.seqmax, p.seqcycle INTO STRICT s
    FROM "public"."category_id_seq" AS q, pg_catalog.pg_sequence AS p
    WHERE p.seqrelid = '"public"."category_id_seq"'::regclass;
    next_value := s.last_value::numeric + CASE WHEN s.is_called THEN s.seqincrement ELSE 0 END;
    IF s.seqcycle AND next_value > s.seqmax THEN
        next_value := s.seqmin;
    ELSIF s.seqcycle AND next_value < s.seqmin THEN
        next_value := s.seqmax;
    END IF;
    IF s.seqincrement > 0 THEN
        SELECT greatest((SELECT max(t."id") FROM "public"."category" AS t), (SELECT max(m.old_id) FROM "keyshift"."map_public__category" AS m)) INTO extreme;
    ELSE
        SELECT least((SELECT min(t."id") FROM "public"."category" AS t), (SELECT min(m.old_id) FROM "keyshift"."map_public__category" AS m)) INTO extreme;
    END IF;
    IF next_value BETWEEN s.seqmin AND s.seqmax AND sign(s.seqincrement) * (next_value - extreme) <= 0 THEN
        RAISE EXCEPTION USING
        MESSAGE = format(
            'keyshift: claim sequence_after_every_key failed: the next value of %s is %s, not beyond %s, the furthest key or old id of %s',
            'public.category_id_seq', next_value, extreme, 'public.category'
        ),
        HINT = 'nothing was changed; the rollback files do not restore this sequence: restore them as planned';
    END IF;
END
$$;

ALTER TABLE "public"."item" ALTER COLUMN "id" SET DEFAULT nextval('public.item_id_seq'::regclass);

-- The sequence continues where it was, or after the last id rollback gave out.
DO $$
DECLARE
    r record;
BEGIN
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'item', 0);
    IF current_setting('keyshift.ids_given_563b1851339bc556')::bigint = 0 OR r.first_id = r.sequence_next THEN
        PERFORM setval('"public"."item_id_seq"', r.start_value, r.start_called);
    ELSIF r.step > 0 THEN
        PERFORM setval('"public"."item_id_seq"', least(r.first_id - r.step, r.highest)::bigint, TRUE);
    ELSE
        PERFORM setval('"public"."item_id_seq"', greatest(r.first_id - r.step, r.lowest)::bigint, TRUE);
    END IF;
END
$$;

-- Claim sequence_after_every_key, proven here, inside the rollback transaction: the next value of the sequence
-- of public.item lies beyond every key and every old id, so the next INSERT cannot collide.
DO $$
DECLARE
    r record;
    s record;
    next_value numeric;
    extreme numeric;
BEGIN
    SELECT * INTO STRICT r FROM keyshift.rollback_ids('public', 'item', 0);
    IF current_setting('keyshift.ids_given_563b1851339bc556')::bigint = 0 THEN
        IF (SELECT (q.last_value, q.is_called) FROM "public"."item_id_seq" AS q) IS DISTINCT FROM (r.start_value, r.start_called) THEN
            RAISE EXCEPTION USING
            MESSAGE = format(
                'keyshift: claim sequence_after_every_key failed: no id was given out, yet %s does not stand as it was saved (%s, called %s)',
                'public.item_id_seq', r.start_value, r.start_called
            ),
            HINT = 'nothing was changed; the rollback files do not restore this sequence: restore them as planned';
        END IF;
        RETURN;
    END IF;
    SELECT q.last_value, q.is_called, p.seqincrement, p.seqmin, p.seqmax, p.seqcycle INTO STRICT s
    FROM "public"."item_id_seq" AS q, pg_catalog.pg_sequence AS p
    WHERE p.seqrelid = '"public"."item_id_seq"'::regclass;
    next_value := s.last_value::numeric + CASE WHEN s.is_called THEN s.seqincrement ELSE 0 END;
    IF s.seqcycle AND next_value > s.seqmax THEN
        next_value := s.seqmin;
    ELSIF s.seqcycle AND next_value < s.seqmin THEN
        next_value := s.seqmax;
    END IF;
    IF s.seqincrement > 0 THEN
        SELECT greatest((SELECT max(t."id") FROM "public"."item" AS t), (SELECT max(m.old_id) FROM "keyshift"."map_public__item" AS m)) INTO extreme;
    ELSE
        SELECT least((SELECT min(t."id") FROM "public"."item" AS t), (SELECT min(m.old_id) FROM "keyshift"."map_public__item" AS m)) INTO extreme;
    END IF;
    IF next_value BETWEEN s.seqmin AND s.seqmax AND sign(s.seqincrement) * (next_value - extreme) <= 0 THEN
        RAISE EXCEPTION USING
        MESSAGE = format(
            'keyshift: claim sequence_after_every_key failed: the next value of %s is %s, not beyond %s, the furthest key or old id of %s',
            'public.item_id_seq', next_value, extreme, 'public.item'
        ),
        HINT = 'nothing was changed; the rollback files do not restore this sequence: restore them as planned';
    END IF;
END
$$;

DROP FUNCTION "pg_temp"."keyshift_old_id_map_public__category"(uuid);

DROP FUNCTION "pg_temp"."keyshift_old_id_map_public__item"(uuid);
