-- Pipeline config: the three accepted shapes, their canonical form, and validation errors.

CREATE FUNCTION fwd(p_config text) RETURNS jsonb LANGUAGE sql
AS $$ SELECT pgtrickle.relay_normalize_config('forward', p_config::jsonb, 'p') $$;
CREATE FUNCTION rev(p_config text) RETURNS jsonb LANGUAGE sql
AS $$ SELECT pgtrickle.relay_normalize_config('reverse', p_config::jsonb, 'p') $$;

-- Flat form: pipeline options, prefixed keys, unprefixed keys of the far then the near side.
DO $$
BEGIN
  PERFORM assert_eq(fwd('{"stream_table": "orders", "sink_type": "kafka", "kafka_brokers": ["k1:9092", "k2:9092"],
                          "topic_template": "orders.{op}", "kafka_key": "id", "compression": "ZSTD",
                          "batch_size": 500, "granularity": "delta", "key": ["id"]}'),
    '{"source": {"type": "outbox", "stream_table": "orders"},
      "sink": {"type": "kafka", "brokers": ["k1:9092", "k2:9092"], "topic": "orders.{op}", "key": "id", "compression": "zstd"},
      "batch_size": 500, "granularity": "delta", "key": ["id"]}'::jsonb,
    'flat kafka pipeline');
  PERFORM assert_eq(fwd('{"table": "orders", "sink_type": "webhook", "webhook_url": "https://x.example/h",
                          "webhook_headers": {"X-A": "1"}, "method": "put", "timeout_ms": 1500.0}'),
    '{"source": {"type": "outbox", "stream_table": "orders"},
      "sink": {"type": "webhook", "url": "https://x.example/h", "headers": {"X-A": "1"}, "method": "PUT", "timeout_ms": 1500}}'::jsonb,
    'flat webhook pipeline, alias "table", enum spelling and integer normalised');
  -- The far side (the sink of a forward pipeline) wins for a key both sides have.
  PERFORM assert_eq(fwd('{"outbox": "events", "group": "g1", "sink_type": "pg-inbox", "inbox_name": "x",
                          "retention_hours": 5}'),
    '{"source": {"type": "outbox", "outbox": "events", "group": "g1"},
      "sink": {"type": "pg-inbox", "inbox_name": "x", "retention_hours": 5}}'::jsonb,
    'retention_hours goes to the sink of a forward pipeline');
  -- Reverse: the sink defaults to pg-inbox; "inbox" is an alias of that type.
  PERFORM assert_eq(rev('{"source_type": "kafka", "brokers": "k:9092", "topics": ["a", "b"], "group_id": "g",
                          "auto_offset_reset": "latest", "inbox_name": "payments", "max_retries": 5}'),
    '{"source": {"type": "kafka", "brokers": "k:9092", "topic": ["a", "b"], "group_id": "g", "auto_offset_reset": "latest"},
      "sink": {"type": "pg-inbox", "inbox_name": "payments", "max_retries": 5}}'::jsonb,
    'flat reverse kafka pipeline');
  PERFORM assert_eq(rev('{"source": {"type": "nats", "url": "nats://n:4222", "stream": "s", "durable_name": "d"},
                          "sink": {"type": "inbox", "inbox": "orders"}}') -> 'sink',
    '{"type": "pg-inbox", "inbox_name": "orders"}'::jsonb, 'type alias inbox and key alias inbox');
  -- pg_trickle's stored layout, including its "group": null.
  PERFORM assert_eq(fwd('{"source_type": "outbox", "source": {"outbox": "orders", "group": null, "retention_hours": 24},
                          "sink_type": "nats", "sink": {"type": "nats", "url": "nats://n:4222", "subject": "a.b"}}'),
    '{"source": {"type": "outbox", "outbox": "orders", "retention_hours": 24},
      "sink": {"type": "nats", "url": "nats://n:4222", "subject": "a.b"}}'::jsonb,
    'pg_trickle layout');
  -- Canonical input comes out unchanged.
  PERFORM assert_eq(fwd('{"source": {"type": "outbox", "stream_table": "t"}, "sink": {"type": "stdout", "format": "csv"},
                          "format": "cloudevents", "dead_letter": false}'),
    '{"source": {"type": "outbox", "stream_table": "t"}, "sink": {"type": "stdout", "format": "csv"},
      "format": "cloudevents", "dead_letter": false}'::jsonb,
    'canonical form is a fixed point');
  -- Secrets and other values may be references the relay resolves.
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "nats", "nats_url": "${ENV:NATS_URL}", "subject": "a",
                          "nats_token": "${FILE:/run/secrets/nats}", "create_stream": "${ENV:CREATE}",
                          "batch_size": "${ENV:BATCH}"}'),
    '{"source": {"type": "outbox", "stream_table": "t"},
      "sink": {"type": "nats", "url": "${ENV:NATS_URL}", "subject": "a", "token": "${FILE:/run/secrets/nats}",
               "create_stream": "${ENV:CREATE}"},
      "batch_size": "${ENV:BATCH}"}'::jsonb,
    'references are accepted for scalar keys');
  -- NATS templates: row fields in {{ }} may hold spaces.
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "nats", "nats_url": "u",
                          "subject": "revenue.{{ region }}.{op}"}') #>> '{sink,subject}',
                    'revenue.{{ region }}.{op}', 'template subject');
END
$$;

-- Types: missing, unknown, wrong direction. The lists in the messages come from the spec tables.
CREATE FUNCTION valid(p_role text) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(backend, ', ' ORDER BY backend) FROM pgtrickle.relay_backends WHERE role = p_role
$$;
DO $$
BEGIN
  ASSERT (SELECT bool_and(valid('sink') LIKE '%' || t || '%') FROM unnest(ARRAY['kafka', 'nats', 'pg-inbox', 'stdout', 'webhook']) AS t),
    'the sink types include the ones of the seeds';
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t"}') $q$,
    'relay.invalid_config: pipeline "p": sink_type is required; valid sink types: ' || valid('sink'),
    '22023');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "natz"}') $q$,
    'unknown sink type "natz" (did you mean "nats"?); valid sink types: ' || valid('sink'));
  PERFORM expect_error($q$ SELECT rev('{"inbox_name": "x"}') $q$,
    'source_type is required; valid source types: ' || valid('source'));
  PERFORM expect_error($q$ SELECT fwd('{"source_type": "kafka", "sink_type": "stdout"}') $q$,
    'a forward pipeline reads an outbox, a pgstream stream or tables from the WAL, so its source type must be "outbox", "pgstream" or "wal", not "kafka"');
  PERFORM expect_error($q$ SELECT rev('{"source_type": "nats", "sink_type": "kafka"}') $q$,
    'a reverse pipeline writes into a PostgreSQL inbox, so its sink type must be "pg-inbox", not "kafka"');
  PERFORM expect_error($q$ SELECT rev('{"source_type": "outbox", "inbox_name": "x"}') $q$,
    'a pipeline that reads an outbox is a forward pipeline: use set_relay_outbox');
  PERFORM expect_error($q$ SELECT rev('{"source": {"type": "pgstream", "stream_id": 1}, "inbox_name": "x"}') $q$,
    'a pipeline that reads a pgstream stream is a forward pipeline: use set_relay_outbox');
  PERFORM expect_error($q$ SELECT fwd('{"sink": {"type": "nats"}, "sink_type": "kafka"}') $q$,
    'sink type is given twice and differs: "nats" (sink.type) and "kafka" (sink_type)');
  PERFORM expect_error($q$ SELECT fwd('{"sink": "nats"}') $q$, '"sink" must be a JSON object such as {"type": "..."}');
  PERFORM expect_error($q$ SELECT fwd('[1, 2]') $q$, 'relay.invalid_config: pipeline "p": the config must be a JSON object');
  PERFORM expect_error($q$ SELECT pgtrickle.relay_normalize_config('sideways', '{}') $q$,
    'direction must be ''forward'' or ''reverse''');
END
$$;

-- Keys: unknown (with a suggestion), twice, missing, one-of groups.
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "nats_ulr": "u", "subject": "a"}') $q$,
    'relay.invalid_config: pipeline "p": unknown key "nats_ulr" (did you mean "nats_url"?)', '22023');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "nats_url": "u", "subject": "a", "colour": 1}') $q$,
    'unknown key "colour"; a forward pipeline from "outbox" to "nats" accepts the keys of source "outbox", sink "nats" and the pipeline options');
  PERFORM expect_error($q$ SELECT fwd('{"source": {"type": "outbox", "stream_table": "t"},
                                         "sink": {"type": "kafka", "brokers": "b", "topik": "t"}}') $q$,
    'sink "kafka" has no key "topik" (did you mean "topic"?); its keys are: '
    || (SELECT string_agg(key, ', ' ORDER BY key) FROM pgtrickle.relay_config_keys WHERE role = 'sink' AND backend = 'kafka'));
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "nats_url": "u",
                                         "subject_template": "a", "nats_subject": "b"}') $q$,
    'sink "nats" key "subject" is given twice, as "nats_subject" and as "subject_template"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "subject": "a"}') $q$,
    'sink "nats" needs key "url" (flat form: "nats_url")');
  PERFORM expect_error($q$ SELECT fwd('{"sink": {"type": "file"}, "source": {"type": "outbox", "outbox": "o"}}') $q$,
    'sink "file" needs key "path"');
  PERFORM expect_error($q$ SELECT fwd('{"sink_type": "stdout"}') $q$,
    'source "outbox" needs exactly one of outbox, stream_table');
  PERFORM expect_error($q$ SELECT fwd('{"sink_type": "stdout", "outbox": "a", "table": "b"}') $q$,
    'source "outbox" needs exactly one of outbox, stream_table, got outbox and stream_table');
  PERFORM expect_error($q$ SELECT rev('{"source_type": "nats", "nats_url": "u", "nats_stream": "s", "nats_consumer": "c"}') $q$,
    'sink "pg-inbox" needs exactly one of inbox_name, inbox_table');
  PERFORM expect_error($q$ SELECT rev('{"source_type": "nats", "nats_url": "u", "nats_stream": "s", "nats_consumer": "c",
                                         "inbox_name": "a", "inbox_table": "b"}') $q$,
    'sink "pg-inbox" needs exactly one of inbox_name, inbox_table, got inbox_name and inbox_table');
END
$$;

-- Values: each type names the key, what it expects and what it got.
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "file", "path": "/tmp/x", "rotate_bytes": "ten"}') $q$,
    'relay.invalid_config: pipeline "p": sink "file" key "rotate_bytes" must be an integer, got "ten"', '22023');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "file", "path": "/tmp/x", "max_files": 2.5}') $q$,
    'sink "file" key "max_files" must be an integer, got 2.5');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "file", "path": "/tmp/x", "fsync": "yes"}') $q$,
    'sink "file" key "fsync" must be true or false, got "yes"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "file", "path": 7}') $q$,
    'sink "file" key "path" must be a string, got 7');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "batch_size": "1000"}') $q$,
    'option "batch_size" must be an integer, got "1000"');
  -- Integers are checked against the key's range, so no backend ever holds a wrapped value.
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "batch_size": 0}') $q$,
    'option "batch_size" must be between 1 and 100000, got 0');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "webhook", "url": "http://h/", "timeout_ms": 5000000000}') $q$,
    'sink "webhook" key "timeout_ms" must be between 1 and 3600000, got 5000000000');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "redis", "url": "redis://h", "stream_key": "s", "maxlen": -1}') $q$,
    'sink "redis" key "maxlen" must be at least 0, got -1');
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "redis", "url": "redis://h", "stream_key": "s", "maxlen": 5000000000.0}') #>> '{sink,maxlen}',
                    '5000000000', 'a size past 2^31 is kept, as an integer');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "xml"}') $q$,
    'option "format" must be one of "json", "cloudevents", "debezium", "outbox_event_router", got "xml"');
  -- "format" is also a key of the stdout sink: a value only the sink accepts goes there.
  ASSERT fwd('{"stream_table": "t", "sink_type": "stdout", "format": "csv"}') -> 'sink' ->> 'format' = 'csv',
    'a flat "format": "csv" is the stdout sink''s format';
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "kafka", "brokers": "b", "topic": "t", "acks": 2}') $q$,
    'sink "kafka" key "acks" must be one of "all", "1", "0", got 2');
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "kafka", "brokers": "b", "topic": "t", "acks": 1}') #>> '{sink,acks}',
                    '1', 'a numeric acks is its enum value');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "kafka", "brokers": ["a", 1], "topic": "t"}') $q$,
    'sink "kafka" key "brokers" must be a string or an array of strings, got ["a", 1]');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "webhook", "url": "u", "headers": "${ENV:H}"}') $q$,
    'sink "webhook" key "headers" must be a JSON object, got "${ENV:H}"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "url": "u", "subject": "a..b"}') $q$,
    'sink "nats" key "subject": "a..b" is not a valid subject');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "url": "u", "subject": "orders.*.x"}') $q$,
    '"orders.*.x" is a wildcard, but a publish subject must be concrete; use a template such as "orders.{op}.x"');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "nats", "url": "u", "subject_template": ">"}') $q$,
    'sink "nats" key "subject": ">" is a wildcard');
END
$$;

-- Secret values never appear in errors.
DO $$
DECLARE
  v_message text;
BEGIN
  BEGIN
    PERFORM fwd('{"stream_table": "t", "sink_type": "nats", "url": "u", "subject": "a", "nats_password": ["hunter2"]}');
  EXCEPTION WHEN invalid_parameter_value THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
  END;
  PERFORM assert_eq(v_message, 'relay.invalid_config: pipeline "p": sink "nats" key "password" must be a string, got ***',
                    'error about a secret key');
  PERFORM expect_error($q$ SELECT rev('{"source_type": "nats", "url": "u", "stream": "s", "consumer": "c", "inbox_name": "i",
                                         "postgres_url": {"password": "hunter2"}}') $q$,
    'sink "pg-inbox" key "postgres_url" must be a string, got ***');
END
$$;

-- The validator knows backends only from the spec tables: a new backend needs rows, not code.
INSERT INTO pgtrickle.relay_backends (role, backend, flat_prefixes) VALUES ('sink', 'carrier-pigeon', '{}');
INSERT INTO pgtrickle.relay_config_keys (role, backend, key, value_type, required, aliases, secret) VALUES
  ('sink', 'carrier-pigeon', 'loft',   'string',  true,  '{coop}', false),
  ('sink', 'carrier-pigeon', 'birds',  'integer', false, '{}',     false),
  ('sink', 'carrier-pigeon', 'seed',   'string',  false, '{}',     true);
DO $$
BEGIN
  PERFORM assert_eq(fwd('{"stream_table": "t", "sink_type": "carrier-pigeon", "carrier_pigeon_coop": "north", "birds": 3}') -> 'sink',
                    '{"type": "carrier-pigeon", "loft": "north", "birds": 3}'::jsonb, 'default flat prefix of a new backend');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "carrier-pigeon", "birds": 3}') $q$,
    'sink "carrier-pigeon" needs key "loft" (flat form: "carrier_pigeon_loft")');
  PERFORM expect_error($q$ SELECT fwd('{"stream_table": "t", "sink_type": "carrier-pigeon", "loft": "n", "seed": 1}') $q$,
    'sink "carrier-pigeon" key "seed" must be a string, got ***');
END
$$;
DELETE FROM pgtrickle.relay_config_keys WHERE backend = 'carrier-pigeon';
DELETE FROM pgtrickle.relay_backends WHERE backend = 'carrier-pigeon';
