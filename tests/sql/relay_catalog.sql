-- Pipeline catalog: setters, enable/disable/delete, readers, secrets, status, notifications.
-- expect-stdout: Asynchronous notification "pgtrickle_relay_config" with payload "{"direction" : "forward", "event" : "INSERT", "name" : "note-fwd", "enabled" : true}"
-- expect-stdout: Asynchronous notification "pgtrickle_relay_config" with payload "{"direction" : "forward", "event" : "UPDATE", "name" : "note-fwd", "enabled" : false}"
-- expect-stdout: Asynchronous notification "pgtrickle_relay_config" with payload "{"direction" : "reverse", "event" : "INSERT", "name" : "note-rev", "enabled" : true}"
-- expect-stdout: Asynchronous notification "pgtrickle_relay_config" with payload "{"direction" : "forward", "event" : "DELETE", "name" : "note-fwd", "enabled" : false}"

-- pg_trickle 0.29's positional forms store the canonical config.
SELECT pgtrickle.set_relay_outbox('pos-fwd', 'orders', 'billing', '{"type": "kafka", "brokers": "k:9092", "topic": "orders"}');
SELECT pgtrickle.set_relay_inbox('pos-rev', 'payments', '{"type": "nats", "url": "nats://n:4222", "stream": "S", "consumer": "c"}',
                                 p_max_retries => 5, p_enabled => false);
DO $$
BEGIN
  PERFORM assert_eq((SELECT config FROM pgtrickle.relay_outbox_config WHERE name = 'pos-fwd'),
    '{"source": {"type": "outbox", "outbox": "orders", "group": "billing", "retention_hours": 24},
      "sink": {"type": "kafka", "brokers": "k:9092", "topic": "orders"}}'::jsonb, 'positional set_relay_outbox');
  PERFORM assert_eq((SELECT config FROM pgtrickle.relay_inbox_config WHERE name = 'pos-rev'),
    '{"source": {"type": "nats", "url": "nats://n:4222", "stream": "S", "consumer": "c"},
      "sink": {"type": "pg-inbox", "inbox_name": "payments", "max_retries": 5, "schedule": "1s",
               "with_dead_letter": true, "retention_hours": 72}}'::jsonb, 'positional set_relay_inbox');
  PERFORM assert_eq((SELECT enabled FROM pgtrickle.relay_inbox_config WHERE name = 'pos-rev'), false, 'p_enabled => false');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('x', 'orders', NULL, '{"brokers": "k"}') $q$,
    'relay.invalid_config: pipeline "x": sink_type is required');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('x', 'orders', NULL, '{"type": "kafka", "brokers": "k", "topic": "t", "batch": 1}') $q$,
    'sink "kafka" has no key "batch"');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_inbox('x', 'payments', '{"url": "u"}') $q$,
    'source_type is required');
  -- The relay group: "relay_group" in the JSON form, p_group in the positional one.
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('x', config => '{"stream_table": "orders", "sink_type": "stdout", "relay_group": ""}') $q$,
    'relay_group must name a relay group');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('x', config => '{"source": {"type": "outbox", "stream_table": "orders", "group": "dc1"},
                                                                              "sink": {"type": "stdout"}, "relay_group": "dc2"}') $q$,
    'relay_group "dc2" and source group "dc1" disagree');
  PERFORM pgtrickle.set_relay_outbox('grouped', config => '{"stream_table": "orders", "sink_type": "stdout", "relay_group": "dc1"}');
  PERFORM assert_eq((SELECT relay_group_id FROM pgtrickle.list_relay_configs() WHERE name = 'grouped'), 'dc1', 'relay_group listed');
  PERFORM pgtrickle.delete_relay('grouped');
END
$$;

-- "enabled" in the flat form: taken out of the config; kept when not given on update.
SELECT pgtrickle.set_relay_outbox('flat', config => '{"stream_table": "t", "sink_type": "stdout", "enabled": false}');
SELECT pgtrickle.set_relay_outbox('flat', config => '{"stream_table": "t", "sink_type": "stdout", "format": "cloudevents"}');
DO $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM pgtrickle.get_relay_config('flat');
  PERFORM assert_eq(r.enabled, false, 'enabled kept on update without "enabled"');
  PERFORM assert_eq(r.config, '{"source": {"type": "outbox", "stream_table": "t"}, "sink": {"type": "stdout"},
                                "format": "cloudevents"}'::jsonb, 'updated config, without "enabled"');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('flat', config => '{"stream_table": "t", "sink_type": "stdout",
                                                                                  "enabled": "${ENV:ON}"}') $q$,
    'option "enabled" must be true or false here');
END
$$;
SELECT pgtrickle.set_relay_outbox('flat', config => '{"stream_table": "t", "sink_type": "stdout", "enabled": true}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT enabled FROM pgtrickle.get_relay_config('flat')), true, 'enabled from the config');
END
$$;

-- Names: required, and unique across both directions.
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox(NULL, config => '{"stream_table": "t", "sink_type": "stdout"}') $q$,
    'relay.invalid_config: the pipeline name must not be empty', '22023');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('  ', config => '{"stream_table": "t", "sink_type": "stdout"}') $q$,
    'the pipeline name must not be empty');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_inbox('flat', config => '{"source_type": "kafka", "brokers": "b", "topic": "t",
                                                                              "group_id": "g", "inbox_name": "i"}') $q$,
    'pipeline "flat": the name is already used by a forward pipeline', '42710');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('pos-rev', config => '{"stream_table": "t", "sink_type": "stdout"}') $q$,
    'the name is already used by a reverse pipeline');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_relay('nope') $q$, 'relay: pipeline "nope" not found', 'P0002');
  PERFORM expect_error($q$ SELECT pgtrickle.disable_relay('nope') $q$, 'relay: pipeline "nope" not found', 'P0002');
  PERFORM expect_error($q$ SELECT pgtrickle.delete_relay('nope') $q$, 'relay: pipeline "nope" not found', 'P0002');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.get_relay_config('nope') $q$, 'relay: pipeline "nope" not found', 'P0002');
END
$$;

-- Secrets are shown as *** by the readers, references are shown; the catalog keeps the value.
SELECT pgtrickle.set_relay_inbox('secret-rev', config => '{"source_type": "nats", "nats_url": "nats://n:4222", "nats_stream": "S",
  "nats_consumer": "c", "inbox_name": "i", "postgres_url": "postgresql://app:hunter2@db/app"}');
SELECT pgtrickle.set_relay_outbox('secret-fwd', config => '{"stream_table": "t", "sink_type": "nats", "nats_url": "nats://n:4222",
  "subject": "a", "nats_token": "s3cr3t", "nats_password": "${ENV:NATS_PASSWORD}"}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT config #>> '{sink,postgres_url}' FROM pgtrickle.get_relay_config('secret-rev')), '***',
                    'get_relay_config redacts postgres_url');
  PERFORM assert_eq((SELECT config -> 'sink' FROM pgtrickle.list_relay_configs() WHERE name = 'secret-fwd'),
                    '{"type": "nats", "url": "nats://n:4222", "subject": "a", "token": "***",
                      "password": "${ENV:NATS_PASSWORD}"}'::jsonb, 'list_relay_configs redacts the token, shows the reference');
  PERFORM assert_eq((SELECT config #>> '{sink,postgres_url}' FROM pgtrickle.relay_inbox_config WHERE name = 'secret-rev'),
                    'postgresql://app:hunter2@db/app', 'the catalog keeps the secret for the relay');
  -- Configs stored by hand in an older layout are redacted too.
  INSERT INTO pgtrickle.relay_outbox_config (name, config)
  VALUES ('by-hand', '{"stream_table": "t", "sink_type": "nats", "nats_token": "plain", "sink": {"token": "x", "type": "nats"}}');
  PERFORM assert_eq((SELECT config FROM pgtrickle.get_relay_config('by-hand')),
                    '{"stream_table": "t", "sink_type": "nats", "nats_token": "***", "sink": {"token": "***", "type": "nats"}}'::jsonb,
                    'redaction of a flat stored config');
END
$$;

-- Passwords inside URLs and conninfo strings are hidden too, whatever the key.
SELECT pgtrickle.set_relay_outbox('url-pw', config => '{"stream_table": "t", "sink_type": "webhook",
  "url": "https://hook:pa55@hooks.example.com/in?x=1"}');
SELECT pgtrickle.set_relay_outbox('amqp-pw', config => '{"stream_table": "t", "sink_type": "nats", "subject": "a",
  "nats_url": "nats://bob:hunter2@n:4222"}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT config #>> '{sink,url}' FROM pgtrickle.get_relay_config('url-pw')),
                    'https://hook:***@hooks.example.com/in?x=1', 'a webhook URL shows its user, not its password');
  PERFORM assert_eq((SELECT config #>> '{sink,url}' FROM pgtrickle.list_relay_configs() WHERE name = 'amqp-pw'),
                    'nats://bob:***@n:4222', 'list_relay_configs hides a password in a broker URL');
  PERFORM assert_eq(pgtrickle._relay_redact_url('"host=db user=r password=''a b'' sslpassword=k port=5"'),
                    '"host=db user=r password=*** sslpassword=*** port=5"'::jsonb, 'conninfo passwords');
END
$$;

-- Owner, state and lag come from the freshest status row of a live relay.
INSERT INTO pgtrickle.relay_pipeline_status (relay_group_id, pipeline, owner, owner_since, heartbeat_at, state, lag_rows, lag_seconds, last_error)
VALUES ('dc1', 'pos-fwd', 'relay-a:1', now(), now() - interval '5 seconds', 'running', 12, 0.5, NULL),
       ('dc2', 'pos-fwd', 'relay-b:1', now(), now() - interval '1 second', 'retrying', 40, 2.0, 'broker down'),
       ('dc1', 'flat', 'relay-a:1', now(), now() - interval '2 minutes', 'running', 1, 0, NULL);
INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id) VALUES ('dc1', 'pos-fwd', 3, 7), ('dc2', 'pos-fwd', 2, 5);
DO $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM pgtrickle.list_relay_configs() WHERE name = 'pos-fwd';
  PERFORM assert_eq(row(r.relay_group_id, r.owner, r.state, r.lag, r.lag_seconds, r.last_error, r.origin)::text,
                    row('billing', 'relay-b:1', 'retrying', 40::bigint, 2.0::float8, 'broker down', 'sql')::text,
                    'the assigned relay group (p_group), and the freshest status row');
  SELECT * INTO r FROM pgtrickle.list_relay_configs() WHERE name = 'flat';
  PERFORM assert_eq(r.owner, NULL, 'no owner shown when its heartbeat is stale');
  PERFORM assert_eq((SELECT array_agg(name ORDER BY name) FROM pgtrickle.list_relay_configs()),
                    (SELECT array_agg(name ORDER BY name) FROM (SELECT name FROM pgtrickle.relay_outbox_config
                                                               UNION ALL SELECT name FROM pgtrickle.relay_inbox_config) AS n),
                    'list_relay_configs lists both directions');
  PERFORM assert_eq((SELECT array_agg(name) FROM pgtrickle.list_relay_configs()),
                    (SELECT array_agg(name ORDER BY name) FROM pgtrickle.list_relay_configs()), 'ordered by name');
  PERFORM assert_eq((SELECT relay_group_id FROM pgtrickle.list_relay_configs() WHERE name = 'flat'), NULL,
                    'a pipeline assigned to no relay group shows NULL (any group may run it)');
END
$$;

-- A disabled pipeline shows so at once, without the owner of its last status row.
SELECT pgtrickle.disable_relay('pos-fwd');
DO $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM pgtrickle.list_relay_configs() WHERE name = 'pos-fwd';
  PERFORM assert_eq(row(r.enabled, r.state, r.owner, r.lag)::text, row(false, 'disabled', NULL::text, NULL::bigint)::text,
                    'disabled, no owner');
END
$$;
SELECT pgtrickle.enable_relay('pos-fwd');

-- A pipeline of a relay's TOML file is listed while a live relay runs it, marked as from a file;
-- the catalog functions say where to change it.
INSERT INTO pgtrickle.relay_pipeline_status (relay_group_id, pipeline, owner, owner_since, heartbeat_at, state, origin, direction)
VALUES ('dc1', 'from-toml', 'relay-a:1', now(), now(), 'running', 'file', 'forward'),
       ('dc1', 'old-toml', 'relay-a:1', now(), now() - interval '2 minutes', 'running', 'file', 'forward');
DO $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM pgtrickle.list_relay_configs() WHERE name = 'from-toml';
  PERFORM assert_eq(row(r.direction, r.enabled, r.config, r.relay_group_id, r.owner, r.state, r.origin)::text,
                    row('forward', true, NULL::jsonb, 'dc1', 'relay-a:1', 'running', 'file')::text, 'a TOML pipeline');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.list_relay_configs() WHERE name = 'old-toml'), 0::bigint,
                    'one no live relay runs is not listed');
  PERFORM expect_error($q$ SELECT pgtrickle.disable_relay('from-toml') $q$, 'is defined in a relay''s config file');
END
$$;
DELETE FROM pgtrickle.relay_pipeline_status WHERE pipeline IN ('from-toml', 'old-toml');

-- delete_relay forgets the pipeline's offsets and status in every relay group.
SELECT pgtrickle.delete_relay('pos-fwd');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'pos-fwd'), 0::bigint, 'offsets deleted');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_pipeline_status WHERE pipeline = 'pos-fwd'), 0::bigint, 'status deleted');
END
$$;

-- updated_at moves with each change.
UPDATE pgtrickle.relay_outbox_config SET updated_at = '2000-01-01' WHERE name = 'flat';
SELECT pgtrickle.disable_relay('flat');
DO $$
BEGIN
  ASSERT (SELECT updated_at > '2000-01-01' FROM pgtrickle.list_relay_configs() WHERE name = 'flat'), 'updated_at not refreshed';
END
$$;

-- Notifications on channel pgtrickle_relay_config (psql prints them; see expect-stdout above).
LISTEN pgtrickle_relay_config;
SELECT pgtrickle.set_relay_outbox('note-fwd', config => '{"stream_table": "t", "sink_type": "stdout"}');
SELECT pgtrickle.disable_relay('note-fwd');
SELECT pgtrickle.set_relay_inbox('note-rev', config => '{"source_type": "kafka", "brokers": "b", "topic": "t", "group_id": "g",
                                                         "inbox_name": "i"}');
SELECT pgtrickle.delete_relay('note-fwd');
UNLISTEN *;
