-- The install itself: version, convergence over an older or damaged install without losing
-- data, and serialisation of concurrent installs. (run.sh already checks that applying it
-- twice, through psql and as one libpq string, changes nothing.)
-- expect-stdout: concurrent install: another session has held the install lock for 00:00:00.3: pid

DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.relay_schema_version(), '1', 'schema version');
END
$$;

-- Some state worth keeping.
CREATE TABLE kept (id int PRIMARY KEY);
SELECT pgtrickle.enable_outbox('kept');
INSERT INTO kept VALUES (1), (2);
SELECT pgtrickle.set_relay_outbox('kept-out', config => '{"stream_table": "kept", "sink_type": "stdout", "enabled": false}');
SELECT pgtrickle.create_consumer_group('kept-group', 'kept', 'earliest');
SELECT count(*) FROM pgtrickle.poll_outbox('kept-group', 'w');
SELECT pgtrickle.commit_offset('kept-group', 'w', 1);
SELECT pgtrickle.create_inbox('kept_inbox');
INSERT INTO pgtrickle.inbox_kept_inbox (event_id) VALUES ('e1');
INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id) VALUES ('g', 'kept-out', 1, 1);
CREATE TEMP TABLE before AS
  SELECT (SELECT jsonb_agg(c ORDER BY name) FROM (SELECT name, enabled, config FROM pgtrickle.relay_outbox_config) AS c) AS configs,
         (SELECT jsonb_agg(o ORDER BY id) FROM pgtrickle.outbox_kept AS o) AS outbox_rows,
         (SELECT jsonb_agg(g) FROM pgtrickle.outbox_consumer_groups AS g) AS groups,
         (SELECT jsonb_agg(r) FROM pgtrickle.relay_offsets AS r) AS offsets,
         (SELECT jsonb_agg(i) FROM pgtrickle.inbox_kept_inbox AS i) AS inbox_rows;

-- Damage it the way an older or hand-edited install might look.
ALTER TABLE pgtrickle.relay_outbox_config DROP COLUMN created_at, DROP COLUMN updated_at;
DROP TRIGGER relay_outbox_config_notify ON pgtrickle.relay_outbox_config;
DROP TABLE pgtrickle.outbox_waiters;
DELETE FROM pgtrickle.relay_config_keys WHERE role = 'sink' AND backend = 'nats';
INSERT INTO pgtrickle.relay_config_keys (role, backend, key, value_type) VALUES ('sink', 'stdout', 'obsolete', 'string');
DROP FUNCTION pgtrickle.list_relay_configs();
CREATE OR REPLACE FUNCTION pgtrickle.enable_relay(p_name text) RETURNS void LANGUAGE sql AS $$ SELECT 1/0 $$;
-- An older version with other result columns, which CREATE OR REPLACE cannot change.
DROP FUNCTION pgtrickle.consumer_lag(text);
CREATE FUNCTION pgtrickle.consumer_lag(p_group text) RETURNS TABLE (consumer text, lag int) LANGUAGE sql AS $$ SELECT 'x', 1 $$;
REVOKE USAGE ON SCHEMA pgtrickle FROM pgtrickle_relay;

\i :install_sql

DO $$
DECLARE
  b record;
BEGIN
  SELECT * INTO b FROM before;
  ASSERT (SELECT count(*) = 2 FROM pg_attribute WHERE attrelid = 'pgtrickle.relay_outbox_config'::regclass
          AND attname IN ('created_at', 'updated_at') AND NOT attisdropped), 'timestamp columns back';
  ASSERT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'relay_outbox_config_notify'), 'notify trigger back';
  ASSERT to_regclass('pgtrickle.outbox_waiters') IS NOT NULL, 'the waiting readers'' table back';
  ASSERT EXISTS (SELECT 1 FROM pgtrickle.relay_config_keys WHERE backend = 'nats' AND key = 'subject'), 'spec rows back';
  ASSERT NOT EXISTS (SELECT 1 FROM pgtrickle.relay_config_keys WHERE key = 'obsolete'), 'stray spec row removed';
  ASSERT to_regprocedure('pgtrickle.list_relay_configs()') IS NOT NULL, 'function back';
  PERFORM assert_eq((SELECT array_agg(consumer_id) FROM pgtrickle.consumer_lag('kept-group')), ARRAY['w'],
                    'function with changed result columns replaced');
  ASSERT has_schema_privilege('pgtrickle_relay', 'pgtrickle', 'USAGE'), 'schema grant back';
  PERFORM pgtrickle.enable_relay('kept-out');   -- the real function again

  PERFORM assert_eq((SELECT jsonb_agg(c ORDER BY name) FROM (SELECT name, enabled, config FROM pgtrickle.relay_outbox_config) AS c),
                    jsonb_set(b.configs, '{0,enabled}', 'true'), 'pipelines kept');
  PERFORM assert_eq((SELECT jsonb_agg(o ORDER BY id) FROM pgtrickle.outbox_kept AS o), b.outbox_rows, 'outbox rows kept');
  PERFORM assert_eq((SELECT jsonb_agg(g) FROM pgtrickle.outbox_consumer_groups AS g), b.groups, 'consumer group kept');
  PERFORM assert_eq((SELECT jsonb_agg(r) FROM pgtrickle.relay_offsets AS r), b.offsets, 'offsets kept');
  PERFORM assert_eq((SELECT jsonb_agg(i) FROM pgtrickle.inbox_kept_inbox AS i), b.inbox_rows, 'inbox rows kept');
END
$$;

-- Capture keeps working after the re-install.
INSERT INTO kept VALUES (3);
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(outbox_id) FROM pgtrickle.poll_outbox('kept-group', 'w')),
                    (SELECT array_agg(id ORDER BY id) FROM pgtrickle.outbox_kept WHERE id > 1), 'new rows after re-install');
END
$$;

-- A second install waits while another holds the install lock (here: for its lock_timeout), then names the holder.
\setenv PGHOST :HOST
\setenv PGPORT :PORT
\setenv PGUSER :USER
\setenv PGDATABASE :DBNAME
BEGIN;
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7072753140512305409); END $$;
\! PGOPTIONS='-c lock_timeout=300' psql -X -q -v ON_ERROR_STOP=1 -f "$PGTRICKLE_RELAY_INSTALL_SQL" 2>&1 | grep -o 'another session has held the install lock for [0-9:.]*: pid' | sed 's/^/concurrent install: /'
COMMIT;
