-- The install applied over the previous one (2026-11-24: writers numbered their own commits under a
-- lock, from triggers on every captured table) converges: the old triggers are gone, rows written
-- before the upgrade keep their place in commit order ahead of rows written after, a pipeline set
-- before carries on, and capture works as today's.

-- The previous install, in place of the one run.sh applied.
SET client_min_messages = warning;
DROP SCHEMA pgtrickle CASCADE;
\i tests/sql/support/install_2026_11_24.sql
RESET client_min_messages;

CREATE TABLE orders (id int PRIMARY KEY, note text);
SELECT pgtrickle.enable_outbox('orders');
INSERT INTO orders VALUES (1, 'before'), (2, 'before');
UPDATE orders SET note = 'before, updated' WHERE id = 1;
SELECT pgtrickle.set_relay_outbox('orders-out', config => '{"stream_table": "orders", "sink_type": "stdout"}'::jsonb);
SELECT pgtrickle.create_consumer_group('upgrade_readers', 'outbox_orders', 'earliest');

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger
                     WHERE tgrelid IN ('pgtrickle.outbox_orders'::regclass, 'pgtrickle.outbox_commits'::regclass)),
                    ARRAY['outbox_commits_number', 'pgtrickle_outbox_commit'],
                    'the previous install numbered commits from triggers on the outbox and its commit table');
END
$$;

\i :install_sql

INSERT INTO orders VALUES (3, 'after');
DELETE FROM orders WHERE id = 2;

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger
                     WHERE tgrelid IN ('pgtrickle.outbox_orders'::regclass, 'pgtrickle.outbox_commits'::regclass)),
                    NULL, 'no trigger is left on the outbox or its commit table');
  PERFORM assert_eq((SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal),
                    ARRAY['pgtrickle_outbox_delete', 'pgtrickle_outbox_insert', 'pgtrickle_outbox_truncate', 'pgtrickle_outbox_update'],
                    'the capture triggers are on the table');
  PERFORM assert_eq((SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgtrickle'::regnamespace
                       AND proname IN ('_outbox_register_commit', '_outbox_number_commit')), 0::bigint,
                    'the previous commit numbering is gone');
  PERFORM assert_eq((SELECT string_agg(payload::text, ' | ' ORDER BY outbox_id)
                     FROM pgtrickle.poll_outbox('upgrade_readers', 'w1', 10)),
                    '{"v": 1, "deleted": [], "inserted": [{"id": 1, "note": "before"}, {"id": 2, "note": "before"}], "full_refresh": false}'
                    || ' | {"v": 1, "deleted": [{"id": 1, "note": "before"}], "inserted": [{"id": 1, "note": "before, updated"}], "full_refresh": false}'
                    || ' | {"v": 1, "deleted": [], "inserted": [{"id": 3, "note": "after"}], "full_refresh": false}'
                    || ' | {"v": 1, "deleted": [{"id": 2, "note": "before"}], "inserted": [], "full_refresh": false}',
                    'rows written before and after the upgrade, in commit order, through the consumer group set before');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.list_relay_configs() WHERE name = 'orders-out'), 1::bigint,
                    'the pipeline set before the upgrade is still there');
END
$$;
