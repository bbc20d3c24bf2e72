-- Every SQL example of the seed documents that needs only PostgreSQL, as written there.
-- expect-stdout lines are not used here; all checks are assertions.

-- Seed 001 (relay README): register a forward pipeline (outbox -> NATS).
SELECT pgtrickle.set_relay_outbox(
  'orders-to-nats',
  config => '{
    "stream_table": "orders_stream",
    "sink_type": "nats",
    "nats_url": "nats://localhost:4222",
    "nats_stream": "pgtrickle",
    "subject_template": "pgtrickle.{stream_table}.{op}"
  }'::jsonb
);
SELECT pgtrickle.enable_relay('orders-to-nats');

-- Seed 001: register a reverse pipeline (NATS -> inbox).
SELECT pgtrickle.set_relay_inbox(
  'nats-to-orders-inbox',
  config => '{
    "source_type": "nats",
    "nats_url": "nats://localhost:4222",
    "nats_stream": "commands",
    "nats_consumer": "relay-consumer",
    "inbox_table": "orders_inbox"
  }'::jsonb
);
SELECT pgtrickle.enable_relay('nats-to-orders-inbox');

DO $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM pgtrickle.get_relay_config('orders-to-nats');
  PERFORM assert_eq(r.direction, 'forward', 'direction of orders-to-nats');
  PERFORM assert_eq(r.enabled, true, 'orders-to-nats is enabled');
  PERFORM assert_eq(r.config, '{"source": {"type": "outbox", "stream_table": "orders_stream"},
                                "sink": {"type": "nats", "url": "nats://localhost:4222", "stream": "pgtrickle",
                                         "subject": "pgtrickle.{stream_table}.{op}"}}'::jsonb,
                    'canonical config of orders-to-nats');

  SELECT * INTO r FROM pgtrickle.get_relay_config('nats-to-orders-inbox');
  PERFORM assert_eq(r.direction, 'reverse', 'direction of nats-to-orders-inbox');
  PERFORM assert_eq(r.config, '{"source": {"type": "nats", "url": "nats://localhost:4222", "stream": "commands",
                                           "consumer": "relay-consumer"},
                                "sink": {"type": "pg-inbox", "inbox_table": "orders_inbox"}}'::jsonb,
                    'canonical config of nats-to-orders-inbox');
END
$$;

-- Seed 001: manage pipelines.
-- List all pipelines
SELECT * FROM pgtrickle.list_relay_configs();

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(name || ':' || direction || ':' || enabled ORDER BY name)
                     FROM pgtrickle.list_relay_configs()),
                    ARRAY['nats-to-orders-inbox:reverse:true', 'orders-to-nats:forward:true'],
                    'list_relay_configs after the README steps');
END
$$;

-- Disable a pipeline
SELECT pgtrickle.disable_relay('orders-to-nats');

DO $$
BEGIN
  PERFORM assert_eq((SELECT enabled FROM pgtrickle.list_relay_configs() WHERE name = 'orders-to-nats'), false,
                    'orders-to-nats disabled');
END
$$;

-- Delete a pipeline
SELECT pgtrickle.delete_relay('orders-to-nats');

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(name) FROM pgtrickle.list_relay_configs()), ARRAY['nats-to-orders-inbox'],
                    'only the reverse pipeline is left');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.get_relay_config('orders-to-nats') $q$,
                       'relay: pipeline "orders-to-nats" not found', 'P0002');
END
$$;

-- Seed 000 (blog): enable the outbox on a table.
CREATE TABLE revenue_by_region (region text, day date, revenue numeric, order_count int, PRIMARY KEY (region, day));
SELECT pgtrickle.enable_outbox('revenue_by_region');
INSERT INTO revenue_by_region VALUES ('europe', '2026-04-27', 149800.00, 1201);
UPDATE revenue_by_region SET revenue = 150200.50, order_count = 1203 WHERE region = 'europe';

DO $$
BEGIN
  -- "For an aggregate that was updated, the old aggregate value is in deleted and the new value is in inserted."
  PERFORM assert_eq((SELECT payload FROM pgtrickle.outbox_revenue_by_region ORDER BY id DESC LIMIT 1),
    '{"v": 1, "full_refresh": false,
      "inserted": [{"region": "europe", "day": "2026-04-27", "revenue": 150200.50, "order_count": 1203}],
      "deleted":  [{"region": "europe", "day": "2026-04-27", "revenue": 149800.00, "order_count": 1201}]}'::jsonb,
    'outbox row of the update');
END
$$;

-- Seed 000: the pipelines of its relay.toml, in the canonical form the TOML maps to.
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.relay_normalize_config('forward',
      '{"source": {"type": "outbox", "stream_table": "revenue_by_region"},
        "sink": {"type": "kafka", "brokers": "kafka:9092", "topic": "revenue-deltas"}}', 'revenue-to-kafka') -> 'sink',
    '{"type": "kafka", "brokers": "kafka:9092", "topic": "revenue-deltas"}'::jsonb, 'revenue-to-kafka');
  -- Publishing to a wildcard subject is refused, with what to write instead.
  PERFORM expect_error($q$ SELECT pgtrickle.relay_normalize_config('forward',
      '{"source": {"type": "outbox", "stream_table": "order_view"},
        "sink": {"type": "nats", "url": "nats://localhost:4222", "subject": "orders.>"}}', 'orders-to-nats') $q$,
    'relay.invalid_config: pipeline "orders-to-nats": sink "nats" key "subject": "orders.>" is a wildcard, '
    'but a publish subject must be concrete; use a template such as "orders.{op}"', '22023');
  PERFORM pgtrickle.relay_normalize_config('forward',
      '{"source": {"type": "outbox", "stream_table": "fraud_alerts"},
        "sink": {"type": "webhook", "url": "https://hooks.example.com/fraud", "method": "POST"}}', 'alerts-to-webhook');
  PERFORM assert_eq(pgtrickle.relay_normalize_config('forward',
      '{"source": {"type": "outbox", "stream_table": "revenue_by_region"},
        "sink": {"type": "nats", "url": "nats://localhost:4222", "subject_template": "revenue.{{ region }}"}}',
      'regional-revenue') #>> '{sink,subject}',
    'revenue.{{ region }}', 'regional-revenue subject template');
  PERFORM assert_eq(pgtrickle.relay_normalize_config('reverse',
      '{"source": {"type": "kafka", "brokers": "kafka:9092", "topic": "payment-events", "group_id": "pgtrickle-inbox"},
        "sink": {"type": "inbox", "inbox_name": "payment_events"}}', 'payments-from-kafka') -> 'sink',
    '{"type": "pg-inbox", "inbox_name": "payment_events"}'::jsonb, 'payments-from-kafka sink');
END
$$;

-- Seed 000: the inbox direction.
-- Create the inbox
SELECT pgtrickle.create_inbox('payment_events');

-- The blog's aggregate reads a customer_id column: derived from the payload, as an
-- application would add it.
ALTER TABLE pgtrickle.inbox_payment_events
  ADD COLUMN customer_id text GENERATED ALWAYS AS (payload ->> 'customer_id') STORED;

INSERT INTO pgtrickle.inbox_payment_events (event_id, event_type, payload) VALUES
  ('pay-1', 'payment', '{"customer_id": "c1", "amount": "10.50"}'),
  ('pay-2', 'payment', '{"customer_id": "c1", "amount": "4.50"}'),
  ('pay-3', 'payment', '{"customer_id": "c2", "amount": "7"}'),
  ('pay-4', 'payment', '{"customer_id": "c2", "amount": "100"}');
SELECT pgtrickle.inbox_mark_processed('payment_events', 'pay-4');

CREATE TEMP TABLE payment_summary AS
SELECT customer_id,
       SUM((payload->>'amount')::numeric) AS total_paid,
       COUNT(*) AS payment_count
FROM pgtrickle.inbox_payment_events
WHERE processed = false
GROUP BY customer_id;

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(customer_id || '=' || total_paid || '/' || payment_count ORDER BY customer_id)
                     FROM payment_summary),
                    ARRAY['c1=15.00/2', 'c2=7/1'], 'the blog''s payment summary over unprocessed events');
END
$$;
