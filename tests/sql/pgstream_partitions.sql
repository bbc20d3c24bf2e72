-- pgstream.events partitions: made ahead by the install, old ones dropped, but never one holding an
-- event an enabled pipeline has not consumed. And a subscription change never queues behind a
-- long transaction on its table.

CREATE FUNCTION day_partitions() RETURNS text[] LANGUAGE sql AS $$
  SELECT array_agg(partition ORDER BY range_from) FROM pgstream.partition_status() WHERE range_from IS NOT NULL
$$;

-- The install made today's partition and 3 days ahead (UTC days).
SELECT assert_eq(day_partitions(),
                 ARRAY(SELECT 'pgstream.events_' || to_char((now() AT TIME ZONE 'UTC')::date + n, 'YYYYMMDD') FROM generate_series(0, 3) AS n),
                 'today and 3 days ahead');
SELECT assert_eq((SELECT count(*) FROM pgstream.maintain_partitions()), 0::bigint, 'nothing to do again');
UPDATE pgstream.partition_settings SET days_ahead = 5;
SELECT assert_eq((SELECT array_agg(action) FROM pgstream.maintain_partitions()), ARRAY['created', 'created'], 'two more days ahead');

-- Two old days of stream 1: 2020-01-01 and 2020-01-02, one transaction each.
CREATE TABLE pgstream.events_20200101 PARTITION OF pgstream.events FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-01-02 00:00:00+00');
CREATE TABLE pgstream.events_20200102 PARTITION OF pgstream.events FOR VALUES FROM ('2020-01-02 00:00:00+00') TO ('2020-01-03 00:00:00+00');
-- Made as maintain_partitions makes them: pgtrickle_maker's.
ALTER TABLE pgstream.events_20200101 OWNER TO pgtrickle_maker;
ALTER TABLE pgstream.events_20200102 OWNER TO pgtrickle_maker;
SELECT pgstream.stream_outbox(1);
INSERT INTO pgstream.events (stream_id, payload, created_at) VALUES (1, '{"n": 1}', '2020-01-01 10:00+00'), (1, '{"n": 2}', '2020-01-01 11:00+00');
INSERT INTO pgstream.events (stream_id, payload, created_at) VALUES (1, '{"n": 3}', '2020-01-02 10:00+00');
INSERT INTO pgstream.events (stream_id, payload) VALUES (1, '{"n": 4}');   -- today
SELECT pgtrickle.outbox_watermark();
SELECT assert_eq((SELECT array_agg(o.payload ->> 'n' ORDER BY c.seq, o.id) FROM pgtrickle.pgstream_1 AS o
                  JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'pgstream_1' AND c.xid = o.xid),
                 ARRAY['1', '2', '3', '4'], 'the stream in commit order');

-- A pipeline reading stream 1, which has consumed the first transaction.
SELECT pgtrickle.set_relay_outbox('p', config => '{"source": {"type": "pgstream", "stream_id": 1}, "sink": {"type": "stdout"}}');
INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id)
SELECT 'default', 'p', c.seq, 2 FROM pgtrickle.outbox_commits AS c JOIN pgtrickle.pgstream_1 AS o ON c.outbox = 'pgstream_1' AND c.xid = o.xid
WHERE o.id = 2;

CREATE TEMPORARY TABLE run AS SELECT * FROM pgstream.maintain_partitions();
SELECT * FROM run;
DO $$
BEGIN
  PERFORM assert_eq((SELECT action FROM run WHERE partition = 'pgstream.events_20200101'), 'dropped', 'the consumed old day is dropped');
  PERFORM assert_eq((SELECT action || ': ' || reason FROM run WHERE partition = 'pgstream.events_20200102'),
                    'kept: past retention, but pipeline "p" has not consumed all of its events', 'the unconsumed old day is kept');
  PERFORM assert_eq(to_regclass('pgstream.events_20200101'), NULL, 'dropped with DROP TABLE');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_commits AS c WHERE c.outbox = 'pgstream_1'), 2::bigint,
                    'the commit numbers of its transaction went with it');
  PERFORM assert_eq((SELECT kept_for FROM pgstream.partition_status() WHERE partition = 'pgstream.events_20200102'),
                    ARRAY['pipeline "p"'], 'partition_status says who keeps it');
  PERFORM assert_eq((SELECT past_retention FROM pgstream.partition_status() WHERE partition = 'pgstream.events_20200102'), true,
                    'past retention');
END
$$;

-- A disabled pipeline keeps nothing; once the pipeline has consumed it, it goes.
UPDATE pgtrickle.relay_outbox_config SET enabled = false;
SELECT assert_eq((SELECT kept_for FROM pgstream.partition_status() WHERE partition = 'pgstream.events_20200102'), '{}'::text[],
                 'a disabled pipeline keeps nothing');
UPDATE pgtrickle.relay_outbox_config SET enabled = true;
UPDATE pgtrickle.relay_offsets SET last_seq = c.seq, last_id = o.id
FROM pgtrickle.pgstream_1 AS o JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'pgstream_1' AND c.xid = o.xid
WHERE o.payload ->> 'n' = '3' AND pipeline = 'p';
SELECT assert_eq((SELECT array_agg(partition || ' ' || action) FROM pgstream.maintain_partitions() WHERE action <> 'created'),
                 ARRAY['pgstream.events_20200102 dropped'], 'consumed: dropped');
SELECT assert_eq((SELECT array_agg(o.payload ->> 'n') FROM pgtrickle.pgstream_1 AS o), ARRAY['4'], 'today''s event stays');

-- An old partition a DBA made stays: it is its owner's to drop, and the run says so.
CREATE ROLE partitions_dba NOLOGIN;
CREATE TABLE pgstream.events_20191231 PARTITION OF pgstream.events FOR VALUES FROM ('2019-12-31 00:00:00+00') TO ('2020-01-01 00:00:00+00');
ALTER TABLE pgstream.events_20191231 OWNER TO partitions_dba;
SELECT assert_eq((SELECT array_agg(partition || ' ' || action || ': ' || reason) FROM pgstream.maintain_partitions() WHERE action <> 'created'),
                 ARRAY['pgstream.events_20191231 kept: past retention, but it belongs to role partitions_dba, and only partitions '
                       'of role pgtrickle_maker are dropped here: drop it as its owner, or ALTER TABLE pgstream.events_20191231 '
                       'OWNER TO pgtrickle_maker'], 'a DBA''s partition: kept, and why');
DROP TABLE pgstream.events_20191231;
DROP ROLE partitions_dba;

-- A day whose range already has rows in the default partition is not created; they stay there.
INSERT INTO pgstream.events (stream_id, payload, created_at) VALUES (1, '{"n": 5}', (now() AT TIME ZONE 'UTC')::date + 8);
UPDATE pgstream.partition_settings SET days_ahead = 9;
SELECT assert_eq((SELECT array_agg(action ORDER BY partition) FROM pgstream.maintain_partitions()), ARRAY['created', 'created', 'skipped', 'created'],
                 'days 6 to 9 made, but day 8');
SELECT assert_eq((SELECT count(*) FROM pgstream.events_default), 1::bigint, 'its row stays in the default partition');

-- ---- Lock safety --------------------------------------------------------------------------------

CREATE TABLE public.busy (id int PRIMARY KEY);
-- Another session holds a lock on the table in a long transaction.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('holder', format('dbname=%s', current_database())
                      || coalesce(' host=' || nullif(current_setting('unix_socket_directories'), ''), '')
                      || ' port=' || current_setting('port'));
SELECT dblink_exec('holder', 'BEGIN; INSERT INTO public.busy VALUES (1)');   -- ROW EXCLUSIVE until it ends
SELECT clock_timestamp() AS started \gset
SELECT expect_error($q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
                       VALUES ('busy', 1, 'INSERT', 'public', 'busy')$q$,
                    'subscription "busy": table public.busy is busy: no lock on it within 4 seconds, held by pid', '55P03');
SELECT assert_eq(clock_timestamp() - :'started'::timestamptz < interval '8 seconds', true, 'the retries end within the window');
SELECT assert_eq((SELECT count(*) FROM pgstream.subscriptions WHERE key = 'busy'), 0::bigint, 'nothing was changed');
SELECT dblink_exec('holder', 'COMMIT');
INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name) VALUES ('busy', 1, 'INSERT', 'public', 'busy');
SELECT assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.busy'::regclass AND tgname = 'pgstream_insert'), 1::bigint,
                 'once the transaction ended, it goes through');
SELECT dblink_disconnect('holder');
