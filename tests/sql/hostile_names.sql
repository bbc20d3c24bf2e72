-- Names that break naive SQL: quotes, spaces, semicolons, unicode, names near and over the
-- 63-byte identifier limit, the same table name in two schemas.

CREATE SCHEMA "My ""Schema""; x";
CREATE TABLE "My ""Schema""; x"."We;ird ""quoted"" name" ("select" int PRIMARY KEY, "a""b" text, "x y" text);
CREATE TABLE "Ünïcødé 表" (id int PRIMARY KEY, "värde" text);
CREATE TABLE public."x""); DROP TABLE public.victim; --" (id int PRIMARY KEY);
CREATE TABLE public.victim (id int);
-- 60 ASCII bytes, and 21 three-byte characters (63 bytes).
CREATE TABLE aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (id int PRIMARY KEY);
CREATE TABLE "表表表表表表表表表表表表表表表表表表表表表" (id int PRIMARY KEY);
CREATE SCHEMA a;
CREATE SCHEMA b;
CREATE TABLE a.orders (id int PRIMARY KEY, src text DEFAULT 'a');
CREATE TABLE b.orders (id int PRIMARY KEY, src text DEFAULT 'b');

SELECT pgtrickle.enable_outbox('"My ""Schema""; x"."We;ird ""quoted"" name"');
SELECT pgtrickle.enable_outbox('"Ünïcødé 表"');
SELECT pgtrickle.enable_outbox('public."x""); DROP TABLE public.victim; --"');
SELECT pgtrickle.enable_outbox('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
SELECT pgtrickle.enable_outbox('"表表表表表表表表表表表表表表表表表表表表表"');
SELECT pgtrickle.enable_outbox('a.orders');
SELECT pgtrickle.enable_outbox('b.orders');

INSERT INTO "My ""Schema""; x"."We;ird ""quoted"" name" VALUES (1, 'q"uote', 'sp ace');
INSERT INTO "Ünïcødé 表" VALUES (1, 'ö');
INSERT INTO public."x""); DROP TABLE public.victim; --" VALUES (1);
INSERT INTO aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa VALUES (1);
INSERT INTO "表表表表表表表表表表表表表表表表表表表表表" VALUES (1);
INSERT INTO a.orders (id) VALUES (1);
INSERT INTO b.orders (id) VALUES (1), (2);

DO $$
DECLARE
  r          record;
  v_rows     jsonb;
  v_expected jsonb;
BEGIN
  ASSERT to_regclass('public.victim') IS NOT NULL, 'the victim table survived';
  FOR r IN SELECT * FROM pgtrickle.outbox_tables LOOP
    -- Every derived name fits the identifier limit, so PostgreSQL did not cut it silently ...
    ASSERT octet_length(r.outbox_name) <= 63 AND octet_length(r.delta_table) <= 63,
      format('name too long: %s / %s', r.outbox_name, r.delta_table);
    ASSERT to_regclass(format('pgtrickle.%I', r.outbox_name)) IS NOT NULL, format('missing outbox %s', r.outbox_name);
    ASSERT to_regclass(format('pgtrickle.%I', r.delta_table)) IS NOT NULL, format('missing delta table %s', r.delta_table);
    -- ... and each outbox got the rows of its own table.
    EXECUTE format('SELECT jsonb_agg(x) FROM pgtrickle.%I AS o, jsonb_array_elements(o.payload -> ''inserted'') AS x', r.outbox_name)
      INTO v_rows;
    EXECUTE format('SELECT jsonb_agg(to_jsonb(t.*)) FROM %I.%I AS t', r.source_schema, r.source_table) INTO v_expected;
    PERFORM assert_eq(v_rows, v_expected, format('outbox rows of %I.%I', r.source_schema, r.source_table));
  END LOOP;

  PERFORM assert_eq((SELECT outbox_name FROM pgtrickle.outbox_tables WHERE source_table = 'We;ird "quoted" name'),
                    'outbox_We;ird "quoted" name', 'quotes and semicolons are kept in the outbox name');
  PERFORM assert_eq((SELECT outbox_name FROM pgtrickle.outbox_tables WHERE source_table = 'Ünïcødé 表'),
                    'outbox_Ünïcødé 表', 'unicode outbox name');
  -- 'outbox_' + 60 bytes is too long: cut, plus 7 hex digits of md5('schema.table').
  PERFORM assert_eq((SELECT outbox_name FROM pgtrickle.outbox_tables WHERE source_table LIKE 'aaaa%'),
                    'outbox_' || repeat('a', 48) || '_' || left(md5('public.' || repeat('a', 60)), 7), 'long ASCII name');
  -- Multibyte names are cut on a character boundary.
  PERFORM assert_eq((SELECT outbox_name FROM pgtrickle.outbox_tables WHERE source_table LIKE '表%'),
                    'outbox_' || repeat('表', 16) || '_' || left(md5('public.' || repeat('表', 21)), 7), 'long unicode name');
  -- The same table name in two schemas: the second gets its own outbox.
  PERFORM assert_eq((SELECT array_agg(source_schema || ':' || outbox_name || ':' || delta_table ORDER BY source_schema)
                     FROM pgtrickle.outbox_tables WHERE source_table = 'orders'),
                    ARRAY['a:outbox_orders:outbox_delta_rows_orders',
                          'b:outbox_orders_' || left(md5('b.orders'), 7) || ':outbox_delta_rows_orders_' || left(md5('b.orders'), 7)],
                    'a.orders and b.orders');
  PERFORM assert_eq((SELECT outbox_table FROM pgtrickle.resolve_outbox('b.orders')),
                    'outbox_orders_' || left(md5('b.orders'), 7), 'resolve b.orders');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.resolve_outbox('orders') $q$,
                       'outbox reference "orders" is ambiguous');
  PERFORM assert_eq((SELECT stream_table FROM pgtrickle.resolve_outbox('"My ""Schema""; x"."We;ird ""quoted"" name"')),
                    'We;ird "quoted" name', 'resolve a hostile name');
END
$$;

-- Event outboxes, publishing, status and disabling with such names.
SELECT pgtrickle.create_outbox('it''s "all"; fine');
SELECT pgtrickle.outbox_publish('it''s "all"; fine', '{"k": "v"}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle."outbox_it's ""all""; fine"), 1::bigint, 'event in a hostile outbox');
  PERFORM assert_eq(pgtrickle.outbox_status('"Ünïcødé 表"') ->> 'outbox_table', 'pgtrickle."outbox_Ünïcødé 表"', 'status');
END
$$;
SELECT pgtrickle.disable_outbox('"My ""Schema""; x"."We;ird ""quoted"" name"');
SELECT pgtrickle.disable_outbox('public."x""); DROP TABLE public.victim; --"');
SELECT pgtrickle.disable_outbox('"表表表表表表表表表表表表表表表表表表表表表"');
INSERT INTO "My ""Schema""; x"."We;ird ""quoted"" name" VALUES (2);
DO $$
BEGIN
  ASSERT to_regclass('public.victim') IS NOT NULL, 'the victim table survived disabling';
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables), 5::bigint, 'three outboxes disabled');
END
$$;

-- Pipelines and inboxes with hostile names.
SELECT pgtrickle.set_relay_outbox('we"ird; pipe''line 表', config => '{"stream_table": "\"Ünïcødé 表\"", "sink_type": "stdout"}');
SELECT pgtrickle.create_inbox('in"box; x');
INSERT INTO pgtrickle."inbox_in""box; x" (event_id, payload) VALUES ('e1', '{}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT config #>> '{source,stream_table}' FROM pgtrickle.get_relay_config('we"ird; pipe''line 表')),
                    '"Ünïcødé 表"', 'pipeline with a hostile name');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle."inbox_in""box; x_pending"), 1::bigint, 'pending view of a hostile inbox');
  PERFORM assert_eq((pgtrickle.inbox_health('in"box; x') ->> 'pending_messages')::int, 1, 'inbox health');
  PERFORM expect_error(format('SELECT pgtrickle.create_inbox(%L)', repeat('é', 25)),
                       'create_inbox: the inbox name "' || repeat('é', 25) || '" is too long: at most 49 bytes, it has 50', '42622');
END
$$;
SELECT pgtrickle.drop_inbox('in"box; x', p_cascade => true);
