-- Each pipeline reading a table captured from the WAL holds a slot and a replication connection:
-- past four, set_relay_outbox says so and names the way out, one pipeline of source type "wal",
-- which docs/capture.md's "Many tables, one slot" moves to as written here.
-- expect-stdout: WARNING:  pipeline "t5-to-file": 5 pipelines each read a table captured from the WAL
-- expect-stdout: HINT:  One pipeline of source type "wal" reads many tables through one slot

DO $$
BEGIN
  FOR i IN 1..5 LOOP
    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i);
    PERFORM pgtrickle.enable_outbox(format('t%s', i), capture => 'wal');
  END LOOP;
END
$$;
SELECT pgtrickle.set_relay_outbox('t1-to-file', config => '{"stream_table": "t1", "sink_type": "stdout"}'::jsonb);
SELECT pgtrickle.set_relay_outbox('t2-to-file', config => '{"stream_table": "t2", "sink_type": "stdout"}'::jsonb);
SELECT pgtrickle.set_relay_outbox('t3-to-file', config => '{"stream_table": "t3", "sink_type": "stdout"}'::jsonb);
SELECT pgtrickle.set_relay_outbox('t4-to-file', config => '{"stream_table": "t4", "sink_type": "stdout"}'::jsonb);
-- A disabled one holds no slot, and is not counted.
SELECT pgtrickle.set_relay_outbox('t5-off', config => '{"stream_table": "t5", "sink_type": "stdout", "enabled": false}'::jsonb);
SELECT pgtrickle.set_relay_outbox('t5-to-file', config => '{"stream_table": "t5", "sink_type": "stdout"}'::jsonb);

-- The move: the single-table pipelines and captures go, one pipeline reads every table.
DO $$
BEGIN
  FOR i IN 1..5 LOOP
    PERFORM pgtrickle.delete_relay(format('t%s-to-file', i));
    PERFORM pgtrickle.disable_outbox(format('t%s', i));
  END LOOP;
  PERFORM pgtrickle.delete_relay('t5-off');
END
$$;
SELECT pgtrickle.set_relay_outbox('shop-to-nats', config => '{
  "source": {"type": "wal", "tables": ["public.t1", "public.t2", "public.t3", "public.t4", "public.t5"]},
  "sink":   {"type": "nats", "url": "nats://localhost:4222", "subject_template": "pgtrickle.{stream_table}.{op}"}}'::jsonb);
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables WHERE capture = 'wal'), 0::bigint, 'no single-table WAL capture left');
  PERFORM assert_eq((SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_publication_tables
                     WHERE pubname LIKE pgtrickle._wal_pipeline_publication('shop-to-nats', 'sql') || '%'),
                    ARRAY['t1', 't2', 't3', 't4', 't5'], 'one publication holds every table');
END
$$;
SELECT pgtrickle.backfill_relay('shop-to-nats');
