-- Template variables always empty for a pipeline's outbox are warned about when the pipeline is
-- set (the field report's subject "tpl.{stream_table}.{op}.{outbox_id}.{refresh_id}" on a plain
-- table dead-lettered every message): {refresh_id} on an outbox of this install, a row field
-- naming no column. Nothing for what works, nor while the outbox does not exist yet.
-- expect-stdout: WARNING:  pipeline "tpl": sink key "subject" uses {refresh_id}, which is always empty on outbox outbox_orders
-- expect-stdout: WARNING:  pipeline "typo": sink key "subject" uses the row field {{ regon }}, but public.orders has no such column, so it is always empty; its columns are: id, region
-- expect-stdout: WARNING:  pipeline "typo-key": key "key" uses the row field {{ cust }}, but public.orders has no such column

CREATE TABLE orders (id int PRIMARY KEY, region text);
SELECT pgtrickle.enable_outbox('orders');

SELECT pgtrickle.set_relay_outbox('tpl', config => '{"stream_table": "orders", "sink_type": "nats", "nats_url": "nats://n:4222",
  "subject_template": "tpl.{stream_table}.{op}.{outbox_id}.{refresh_id}"}');
SELECT pgtrickle.set_relay_outbox('typo', config => '{"stream_table": "orders", "sink_type": "nats", "nats_url": "nats://n:4222",
  "subject_template": "revenue.{{ regon }}"}');
SELECT pgtrickle.set_relay_outbox('typo-key', config => '{"stream_table": "orders", "sink_type": "stdout", "key": "{{ cust }}-{{ id }}"}');

DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_template_warnings(
    '{"source": {"type": "outbox", "stream_table": "orders"}, "sink": {"type": "nats", "subject": "o.{{ region }}.{op}.{outbox_id}"}}')),
    0::bigint, 'a template of columns and variables that exist: no warning');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_template_warnings(
    '{"source": {"type": "outbox", "stream_table": "not_yet"}, "sink": {"type": "nats", "subject": "o.{refresh_id}"}}')),
    0::bigint, 'an outbox that does not exist yet: nothing to tell');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_template_warnings(
    '{"source": {"type": "outbox", "stream_table": "orders"}, "sink": {"type": "nats", "subject": "o.{{refresh_id}}"}}')),
    1::bigint, 'a row field named refresh_id is a row field: warned as a missing column, once');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.list_relay_configs()), 3::bigint, 'warnings do not refuse the pipeline');
END
$$;

-- The relay's login asks the same when a pipeline starts, and `validate` does, with its own rights.
SELECT current_database() || '_relay' AS relay \gset
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
SET SESSION AUTHORIZATION :"relay";
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_template_warnings(
    '{"source": {"type": "outbox", "stream_table": "orders"}, "sink": {"type": "nats", "subject": "o.{refresh_id}.{{ regon }}"}}')),
    2::bigint, 'the relay''s role reads the same two warnings');
END
$$;
RESET SESSION AUTHORIZATION;
