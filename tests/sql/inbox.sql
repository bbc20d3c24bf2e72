-- Inbox tables: creation, idempotent landing, processing helpers, views, health, dropping.

SELECT pgtrickle.create_inbox('orders');
SELECT pgtrickle.create_inbox('orders');   -- again: a notice

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
                     FROM pg_attribute WHERE attrelid = 'pgtrickle.inbox_orders'::regclass AND attnum > 0 AND NOT attisdropped),
                    ARRAY['event_id text', 'event_type text', 'source text', 'aggregate_id text', 'payload jsonb',
                          'headers jsonb', 'received_at timestamp with time zone', 'processed_at timestamp with time zone',
                          'processed boolean', 'error text', 'retry_count integer', 'trace_id text'], 'inbox columns');
  ASSERT to_regclass('pgtrickle.inbox_orders_pending') IS NOT NULL AND to_regclass('pgtrickle.inbox_orders_dlq') IS NOT NULL
     AND to_regclass('pgtrickle.inbox_orders_stats') IS NOT NULL, 'views';
  PERFORM assert_eq((SELECT row(inbox_schema, max_retries, schedule, with_dead_letter, with_stats, retention_hours, is_managed)::text
                     FROM pgtrickle.pgt_inbox_config WHERE inbox_name = 'orders'),
                    row('pgtrickle', 3, '1s', true, true, 72, true)::text, 'catalog row');
END
$$;

-- Landing is idempotent on event_id, as the relay writes it.
INSERT INTO pgtrickle.inbox_orders (event_id, event_type, aggregate_id, payload)
VALUES ('e1', 'created', 'o1', '{"n": 1}'), ('e2', 'created', 'o2', '{"n": 2}'), ('e3', 'paid', 'o1', '{"n": 3}')
ON CONFLICT (event_id) DO NOTHING;
INSERT INTO pgtrickle.inbox_orders (event_id, event_type, payload) VALUES ('e1', 'created', '{"n": "dup"}')
ON CONFLICT (event_id) DO NOTHING;

DO $$
BEGIN
  PERFORM assert_eq((SELECT payload ->> 'n' FROM pgtrickle.inbox_orders WHERE event_id = 'e1'), '1', 'duplicate ignored');
  PERFORM assert_eq(pgtrickle.inbox_mark_processed('orders', 'e1'), true, 'marked');
  PERFORM assert_eq(pgtrickle.inbox_mark_processed('orders', 'e1'), false, 'already processed');
  PERFORM assert_eq(pgtrickle.inbox_mark_processed('orders', 'nope'), false, 'unknown event');
  PERFORM assert_eq((SELECT processed FROM pgtrickle.inbox_orders WHERE event_id = 'e1'), true, 'processed follows processed_at');
  PERFORM assert_eq(pgtrickle.inbox_mark_failed('orders', 'e2', 'boom 1'), 1, 'first failure');
  PERFORM assert_eq(pgtrickle.inbox_mark_failed('orders', 'e2', 'boom 2'), 2, 'second failure');
  PERFORM assert_eq(pgtrickle.inbox_mark_failed('orders', 'e2', 'boom 3'), 3, 'third failure');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_failed('orders', 'e1', 'late') $q$,
                       'inbox "orders" has no unprocessed event "e1"', 'P0002');
  PERFORM assert_eq((SELECT array_agg(event_id ORDER BY event_id) FROM pgtrickle.inbox_orders_pending), ARRAY['e3'], 'pending');
  PERFORM assert_eq((SELECT array_agg(event_id || ':' || error) FROM pgtrickle.inbox_orders_dlq), ARRAY['e2:boom 3'], 'dead letters');
  PERFORM assert_eq((SELECT array_agg(row(event_type, message_count, processed_count, pending_count, dlq_count)::text ORDER BY event_type)
                     FROM pgtrickle.inbox_orders_stats),
                    ARRAY[row('created', 2, 1, 0, 1)::text, row('paid', 1, 0, 1, 0)::text], 'stats');
  PERFORM assert_eq(pgtrickle.inbox_health('orders') - 'oldest_pending_age_seconds' - 'last_received_at',
                    '{"inbox_name": "orders", "inbox_schema": "pgtrickle", "inbox_table": "pgtrickle.inbox_orders",
                      "status": "WARNING", "total_messages": 3, "pending_messages": 1, "dlq_messages": 1,
                      "processed_messages": 1, "max_retries": 3, "retention_hours": 72}'::jsonb, 'health with a dead letter');
  -- max_retries lives in the catalog: raising it brings the dead letter back to pending.
  UPDATE pgtrickle.pgt_inbox_config SET max_retries = 5 WHERE inbox_name = 'orders';
  PERFORM assert_eq((SELECT array_agg(event_id ORDER BY event_id) FROM pgtrickle.inbox_orders_pending), ARRAY['e2', 'e3'], 'pending after raising max_retries');
  UPDATE pgtrickle.pgt_inbox_config SET max_retries = 3 WHERE inbox_name = 'orders';
  PERFORM assert_eq(pgtrickle.replay_inbox_messages('orders', ARRAY['e1', 'e2', 'nope']), 2::bigint, 'replayed');
  PERFORM assert_eq((SELECT array_agg(event_id || ':' || retry_count || ':' || processed ORDER BY event_id) FROM pgtrickle.inbox_orders),
                    ARRAY['e1:0:false', 'e2:0:false', 'e3:0:false'], 'all pending again');
  PERFORM assert_eq(pgtrickle.inbox_health('orders') ->> 'status', 'OK', 'healthy again');
END
$$;

-- Another schema, without the optional views: its owner lets the role that makes inbox tables
-- create there (without, create_inbox says what to grant).
CREATE SCHEMA app;
SELECT expect_error($q$ SELECT pgtrickle.create_inbox('payments', 'app') $q$,
                    'create_inbox: role pgtrickle_maker, which makes inbox tables, may not create in schema app', '42501');
GRANT USAGE, CREATE ON SCHEMA app TO pgtrickle_maker WITH GRANT OPTION;
SELECT pgtrickle.create_inbox('payments', 'app', p_max_retries => 1, with_dead_letter => false, with_stats => false);
DO $$
BEGIN
  ASSERT to_regclass('app.inbox_payments') IS NOT NULL AND to_regclass('app.inbox_payments_pending') IS NOT NULL, 'table and pending view';
  ASSERT to_regclass('app.inbox_payments_dlq') IS NULL AND to_regclass('app.inbox_payments_stats') IS NULL, 'no optional views';
  INSERT INTO app.inbox_payments (event_id) VALUES ('p1');
  PERFORM pgtrickle.inbox_mark_failed('payments', 'p1', 'x');
  PERFORM assert_eq((pgtrickle.inbox_health('payments') ->> 'dlq_messages')::int, 1, 'one failure is enough with max_retries 1');
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox('payments') $q$,
                       'create_inbox: inbox "payments" already exists in schema "app"', '42710');
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox('x', 'no_such_schema') $q$, 'create_inbox: schema "no_such_schema" does not exist');
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox('') $q$, 'create_inbox: the inbox name must not be empty');
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox('x', p_max_retries => -1) $q$, 'max_retries must be at least 0');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_health('nope') $q$, 'inbox "nope" not found', '42704');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_processed('nope', 'e') $q$, 'inbox "nope" not found');
  PERFORM expect_error($q$ SELECT pgtrickle.drop_inbox('nope') $q$, 'inbox "nope" not found');
END
$$;

-- Dropping: the views and the catalog row go; the table only with p_cascade.
SELECT pgtrickle.drop_inbox('orders');
SELECT pgtrickle.drop_inbox('orders', p_if_exists => true);
SELECT pgtrickle.drop_inbox('payments', p_cascade => true);
DO $$
BEGIN
  ASSERT to_regclass('pgtrickle.inbox_orders') IS NOT NULL, 'table kept without p_cascade';
  ASSERT to_regclass('pgtrickle.inbox_orders_pending') IS NULL, 'views dropped';
  ASSERT to_regclass('app.inbox_payments') IS NULL, 'table dropped with p_cascade';
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.pgt_inbox_config), 0::bigint, 'catalog empty');
END
$$;
-- Re-creating over the kept table adopts it, rows included.
SELECT pgtrickle.create_inbox('orders');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.inbox_orders_pending), 3::bigint, 'kept rows are pending again');
END
$$;
