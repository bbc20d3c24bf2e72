-- Message formats in pipeline configs: "format": "debezium" (Debezium's topic naming for a Kafka sink
-- with no topic; its options) and "cloudevents_mode"; options of a format refused without it.

CREATE FUNCTION fwd(p_config text) RETURNS jsonb LANGUAGE sql
AS $$ SELECT pgtrickle.relay_normalize_config('forward', p_config::jsonb, 'p') $$;

DO $$
BEGIN
  -- The README's Debezium example, as written.
  CREATE TABLE customers (id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text NOT NULL);
  PERFORM pgtrickle.enable_outbox('customers');
  PERFORM pgtrickle.set_relay_outbox('customers-to-kafka', config => '{
    "stream_table": "customers", "sink_type": "kafka", "brokers": "kafka1:9092",
    "format": "debezium", "topic_prefix": "PostgreSQL_server"}'::jsonb);
  PERFORM assert_eq((SELECT config #>> '{sink,topic}' FROM pgtrickle.relay_outbox_config WHERE name = 'customers-to-kafka'),
                    'PostgreSQL_server.{schema}.{table}', 'Debezium''s topic naming when no topic is given');
  -- docs/debezium.md's example, as written (the nested form).
  PERFORM pgtrickle.set_relay_outbox('customers-to-kafka', config => '{
    "source": {"type": "outbox", "stream_table": "customers"},
    "sink":   {"type": "kafka", "brokers": "localhost:9092"},
    "format": "debezium", "topic_prefix": "PostgreSQL_server"
  }');
  PERFORM assert_eq((SELECT config #>> '{sink,topic}' FROM pgtrickle.relay_outbox_config WHERE name = 'customers-to-kafka'),
                    'PostgreSQL_server.{schema}.{table}', 'docs/debezium.md''s example');
  -- Without topic_prefix: the pipeline's name.
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "format": "debezium"}') #>> '{sink,topic}',
                    'p.{schema}.{table}', 'the topic prefix defaults to the pipeline''s name');
  -- A topic given is kept.
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "topic": "cdc", "format": "debezium",
                          "schemas": true, "tombstones": false, "decimal_handling": "string", "time_precision": "connect",
                          "binary_handling": "base64-url-safe", "interval_handling": "string"}'),
    '{"source": {"type": "outbox", "stream_table": "t"}, "sink": {"type": "kafka", "brokers": "k:9092", "topic": "cdc"},
      "format": "debezium", "schemas": true, "tombstones": false, "decimal_handling": "string", "time_precision": "connect",
      "binary_handling": "base64-url-safe", "interval_handling": "string"}'::jsonb, 'every Debezium option');
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "webhook", "url": "http://h/x", "format": "cloudevents",
                          "cloudevents_mode": "binary"}') ->> 'cloudevents_mode', 'binary', 'CloudEvents binary mode');

  -- Wrong values and combinations, each named with what to write.
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "kafka", "brokers": "k:9092", "topic": "x", "schemas": true}') $q$,
                       '"schemas" shapes Debezium''s change events: it needs "format": "debezium"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "json", "cloudevents_mode": "binary"}') $q$,
                       '"cloudevents_mode" says how CloudEvents travel: it needs "format": "cloudevents"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "debezium", "granularity": "delta"}') $q$,
                       'it needs "granularity": "row", got "delta"');
  PERFORM expect_error($q$ SELECT fwd('{"source": {"type": "pgstream", "stream_id": 1}, "sink": {"type": "stdout"}, "format": "debezium"}') $q$,
                       'a pgstream stream sends the events its subscriptions define');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "debezium", "decimal_handling": "exact"}') $q$,
                       '"precise", "double", "string"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "debezium", "topic_prefix": ""}') $q$,
                       '"topic_prefix" must not be empty');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "webhook", "url": "http://h/x", "batch": true,
                                         "format": "cloudevents", "cloudevents_mode": "binary"}') $q$,
                       'a batched request carries many events');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "avro"}') $q$,
                       '"json", "cloudevents", "debezium", "outbox_event_router"');

  -- Debezium's outbox event router: its topic for a Kafka sink, its settings under Debezium's names.
  PERFORM assert_eq(fwd('{"source": {"type": "wal", "tables": ["public.outbox"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                          "format": "outbox_event_router"}') #>> '{sink,topic}',
                    'outbox.event.{{ aggregatetype }}', 'the router''s default topic');
  PERFORM assert_eq(fwd('{"source": {"type": "wal", "tables": ["public.outbox"]}, "sink": {"type": "kafka", "brokers": "k:9092"},
                          "format": "outbox_event_router", "outbox_event_router": {"transforms.outbox.route.by.field": "type",
                          "route.topic.replacement": "events.${routedByValue}"}}') #>> '{sink,topic}',
                    'events.{{ type }}', 'route.by.field and route.topic.replacement, a connector''s prefix kept');
  -- docs/debezium.md's migration example, as written.
  PERFORM assert_eq(fwd('{
  "source": {"type": "wal", "tables": ["public.outbox"]},
  "sink": {"type": "kafka", "brokers": "kafka1:9092"},
  "format": "outbox_event_router",
  "outbox_event_router": {"transforms.outbox.table.expand.json.payload": "true",
                          "transforms.outbox.table.fields.additional.placement": "type:header:eventType"}}') #>> '{sink,topic}',
                    'outbox.event.{{ aggregatetype }}', 'docs/debezium.md''s migration example');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "json", "outbox_event_router": {}}') $q$,
                       'it needs "format": "outbox_event_router"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "outbox_event_router", "tombstones": false}') $q$,
                       'the outbox event router sends only inserted rows'' payloads, and no tombstones');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "outbox_event_router",
                                         "outbox_event_router": {"route.by.fields": "x"}}') $q$,
                       'outbox_event_router "route.by.fields" is none of the router''s settings');
END
$$;
