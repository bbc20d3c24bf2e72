-- Secrets in pipeline configs: only the relay's role reads raw configs; pipeline admins read them
-- redacted (URL passwords, secret-looking query parameters, webhook headers, librdkafka secrets,
-- keys marked secret), references shown as written; storing a literal secret warns.
-- expect-stdout: WARNING:  pipeline "hook": sink.headers, sink.signing_secret, sink.url stored as literal text, readable by members of pgtrickle_relay
-- expect-stdout: HINT:  Write a reference instead, e.g. "${ENV:NAME}" or "${FILE:/path/to/secret}"
-- expect-stdout: WARNING:  pipeline "kafka-in": source.brokers, source.rdkafka stored as literal text
-- expect-stdout: WARNING:  pipeline "inbox-remote": sink.postgres_url stored as literal text

SELECT current_database() || '_padmin' AS padmin, current_database() || '_relay' AS relay \gset
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;

SET SESSION AUTHORIZATION :"padmin";
SELECT pgtrickle.set_relay_outbox('hook', config => $${
  "source": {"type": "outbox", "stream_table": "orders"},
  "sink": {"type": "webhook",
           "url": "https://hook:hunter2@hooks.example.com/in?api_key=K3Y&Token=T0K&x=1&sig=abc&from=${ENV:FROM}",
           "headers": {"Authorization": "Bearer s3cr3t", "X-Trace": "plain", "X-Api-Key": "${ENV:HOOK_KEY}"},
           "signing_secret": "shh"}}$$::jsonb);
SELECT pgtrickle.set_relay_outbox('hook-refs', config => $${
  "source": {"type": "outbox", "stream_table": "orders"},
  "sink": {"type": "webhook", "url": "https://hook:${ENV:HOOK_PASS}@hooks.example.com/in?token=${FILE:/run/secrets/t}",
           "headers": {"Authorization": "${FILE:/run/secrets/auth}"}, "signing_secret": "${ENV:SIGNING}"}}$$::jsonb);
SELECT pgtrickle.set_relay_inbox('kafka-in', config => $${
  "source": {"type": "kafka", "brokers": ["k1:9092", "kafka://u:pw@k2:9092"], "topic": "t", "group_id": "g",
             "rdkafka": {"sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.config": "principal=x secret=y",
                         "sasl.password": "pw", "ssl.key.pem": "-----BEGIN", "ssl.key.password": "${ENV:KP}"}},
  "sink": {"type": "pg-inbox", "inbox_name": "k"}}$$::jsonb);
SELECT pgtrickle.set_relay_inbox('inbox-remote', config => $${
  "source": {"type": "redis", "url": "redis://r:6379/0", "stream_key": "s", "group": "g"},
  "sink": {"type": "pg-inbox", "inbox_name": "k", "postgres_url": "postgresql://u:pw@db.example.com/app?sslpassword=x"}}$$::jsonb);
RESET SESSION AUTHORIZATION;

-- The raw catalog: the relay's role only.
SET SESSION AUTHORIZATION :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT config FROM pgtrickle.relay_outbox_config $q$,
                       'permission denied for table relay_outbox_config', '42501');
  PERFORM expect_error($q$ SELECT config FROM pgtrickle.relay_inbox_config $q$,
                       'permission denied for table relay_inbox_config', '42501');

  -- What the admin sees instead.
  PERFORM assert_eq((SELECT config -> 'sink' FROM pgtrickle.get_relay_config('hook')),
                    $j${"type": "webhook",
                       "url": "https://hook:***@hooks.example.com/in?api_key=***&Token=***&x=1&sig=***&from=${ENV:FROM}",
                       "headers": {"Authorization": "***", "X-Trace": "***", "X-Api-Key": "${ENV:HOOK_KEY}"},
                       "signing_secret": "***"}$j$::jsonb,
                    'a webhook sink, redacted');
  PERFORM assert_eq((SELECT config -> 'sink' FROM pgtrickle.list_relay_configs() WHERE name = 'hook-refs'),
                    $j${"type": "webhook", "url": "https://hook:${ENV:HOOK_PASS}@hooks.example.com/in?token=${FILE:/run/secrets/t}",
                       "headers": {"Authorization": "${FILE:/run/secrets/auth}"}, "signing_secret": "${ENV:SIGNING}"}$j$::jsonb,
                    'references are shown as written');
  PERFORM assert_eq((SELECT config #> '{source,rdkafka}' FROM pgtrickle.get_relay_config('kafka-in')),
                    $j${"sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.config": "***", "sasl.password": "***",
                       "ssl.key.pem": "***", "ssl.key.password": "${ENV:KP}"}$j$::jsonb,
                    'librdkafka secrets');
  PERFORM assert_eq((SELECT config #> '{source,brokers}' FROM pgtrickle.list_relay_configs() WHERE name = 'kafka-in'),
                    '["k1:9092", "kafka://u:***@k2:9092"]'::jsonb, 'URLs in a list');
  PERFORM assert_eq((SELECT config #>> '{sink,postgres_url}' FROM pgtrickle.get_relay_config('inbox-remote')), '***',
                    'a key marked secret');
END
$$;
RESET SESSION AUTHORIZATION;

-- The relay reads the raw configs it runs.
SET SESSION AUTHORIZATION :"relay";
DO $$
BEGIN
  PERFORM assert_eq((SELECT config #>> '{sink,signing_secret}' FROM pgtrickle.relay_outbox_config WHERE name = 'hook'), 'shh',
                    'the relay reads the raw config');
  PERFORM assert_eq((SELECT config #>> '{source,rdkafka,sasl.password}' FROM pgtrickle.relay_inbox_config WHERE name = 'kafka-in'),
                    'pw', 'also of reverse pipelines');
END
$$;
RESET SESSION AUTHORIZATION;

-- The redaction rules one by one, on the flat layout too (as pg_trickle's own functions store it).
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle._relay_redact($j${"stream_table": "t", "sink_type": "webhook",
      "webhook_url": "http://a:b@h/p?PassWord=1&access_token=2&credentials=3&authz=4&pwd=5&passwd=6&signature=7&page=2",
      "webhook_headers": {"X-A": "1"}, "rdkafka.sasl.password": "p", "rdkafka.client.id": "c",
      "nats_url": "nats://x:y@n1:4222,nats://z:w@n2:4222"}$j$::jsonb),
    $j${"stream_table": "t", "sink_type": "webhook",
      "webhook_url": "http://a:***@h/p?PassWord=***&access_token=***&credentials=***&authz=***&pwd=***&passwd=***&signature=***&page=2",
      "webhook_headers": {"X-A": "***"}, "rdkafka.sasl.password": "***", "rdkafka.client.id": "c",
      "nats_url": "nats://x:***@n1:4222,nats://z:***@n2:4222"}$j$::jsonb,
    'flat layout');
  PERFORM assert_eq(pgtrickle._relay_redact('{"sink": {"type": "webhook", "url": "http://h:8080?x=a@b"}}'),
                    '{"sink": {"type": "webhook", "url": "http://h:8080?x=a@b"}}'::jsonb, 'a port is no password');
  PERFORM assert_eq(pgtrickle._relay_literal_secrets('{"sink": {"type": "webhook", "url": "http://h/p?token=${ENV:T}",
                                                               "headers": {"A": "${ENV:A}"}}}'),
                    '{}'::text[], 'references are not literal secrets');
END
$$;

-- A reference in a key whose value becomes a name others can see (a table in pg_class, a slot in
-- pg_replication_slots, a stream or a consumer group on a broker) would publish the secret it
-- resolves to under that name: refused, as a pipeline admin would try it, and nothing is created.
SET SESSION AUTHORIZATION :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_inbox('named-by-secret', config => '{
      "source": {"type": "redis", "url": "redis://r:6379/0", "stream_key": "s", "group": "g"},
      "sink": {"type": "pg-inbox", "inbox_table": "${ENV:PGTRICKLE_RELAY_SECRET}"}}') $q$,
    'pipeline "named-by-secret": sink "pg-inbox" key "inbox_table" names a table, which others can see: a reference '
    '(${ENV:...} or ${FILE:...}) is not allowed there, as its value would be published under that name; write the name itself',
    '22023');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('slot-by-secret', config => '{
      "source": {"type": "outbox", "stream_table": "orders", "slot_name": "pgtrickle_${FILE:/run/secrets/t}"},
      "sink": {"type": "stdout"}}') $q$,
    'source "outbox" key "slot_name" names a replication slot, which others can see', '22023');
  ASSERT NOT EXISTS (SELECT 1 FROM pgtrickle.list_relay_configs() WHERE name IN ('named-by-secret', 'slot-by-secret')),
    'a refused pipeline is not stored';
END
$$;
RESET SESSION AUTHORIZATION;

-- Every key the spec marks so, whole or inside a longer name, at its place in a pipeline.
DO $$
DECLARE
  k         record;
  v_dir     text;
  v_config  jsonb;
  v_count   int := 0;
BEGIN
  FOR k IN SELECT role, backend, key, names_object FROM pgtrickle.relay_config_keys WHERE names_object IS NOT NULL LOOP
    v_dir := CASE WHEN (k.role = 'source' AND k.backend NOT IN ('outbox', 'pgstream', 'wal')) OR k.backend = 'pg-inbox'
                  THEN 'reverse' ELSE 'forward' END;
    v_config := CASE v_dir WHEN 'forward' THEN '{"source": {"type": "outbox", "stream_table": "t"}, "sink": {"type": "stdout"}}'
                           ELSE '{"source": {"type": "stdin"}, "sink": {"type": "pg-inbox", "inbox_name": "i"}}' END;
    PERFORM expect_error(format('SELECT pgtrickle.relay_normalize_config(%L, %L)', v_dir,
      CASE WHEN k.role = 'pipeline' THEN v_config || jsonb_build_object(k.key, v)
           ELSE jsonb_set(v_config, ARRAY[k.role], jsonb_build_object('type', k.backend, k.key, v)) END),
      format('%s names %s, which others can see', pgtrickle._relay_place_key(k.role, k.backend, k.key), k.names_object), '22023')
    FROM unnest(ARRAY['"${ENV:SECRET}"', '"orders_${FILE:/run/secrets/t}"', '["a", "${ENV:SECRET}"]']::jsonb[]) AS v;
    v_count := v_count + 1;
  END LOOP;
  ASSERT v_count >= 20, format('only %s keys name objects', v_count);
  -- Keys naming nothing keep their references.
  PERFORM pgtrickle.relay_normalize_config('forward', '{"stream_table": "t", "sink_type": "nats", "url": "${ENV:NATS_URL}",
                                                        "subject": "a.b", "token": "${FILE:/run/secrets/nats}"}');
END
$$;
