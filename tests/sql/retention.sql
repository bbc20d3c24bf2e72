-- Retention deletes old outbox rows, but never one that an enabled pipeline or a consumer
-- group has not consumed.

CREATE TABLE items (id int PRIMARY KEY, v text);
SELECT pgtrickle.enable_outbox('items', 1);
UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 1 WHERE source_table = 'items';
INSERT INTO items SELECT n, 'x' FROM generate_series(1, 3) AS n;   -- row 1: claim check (3 rows)
INSERT INTO items VALUES (10, 'a');                                -- rows 2 .. 5: one each
INSERT INTO items VALUES (11, 'b');
INSERT INTO items VALUES (12, 'c');
INSERT INTO items VALUES (13, 'd');
INSERT INTO items VALUES (14, 'new');                              -- row 6: stays young

-- Rows 1-5 are two hours old.
UPDATE pgtrickle.outbox_items SET created_at = now() - interval '2 hours' WHERE id <= 5;

CREATE FUNCTION pos(p_id bigint) RETURNS bigint LANGUAGE sql AS $$
  SELECT pgtrickle.outbox_watermark();   -- numbers what committed
  SELECT c.seq FROM pgtrickle.outbox_items AS o JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_items' AND c.xid = o.xid
  WHERE o.id = p_id
$$;
CREATE FUNCTION left_ids() RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM pgtrickle.outbox_items
$$;

-- An enabled pipeline without an offset has consumed nothing: nothing goes.
SELECT pgtrickle.set_relay_outbox('items-out', config => '{"stream_table": "items", "sink_type": "stdout"}');
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 0::bigint, 'unconsumed rows stay');
  PERFORM assert_eq(left_ids(), ARRAY[1, 2, 3, 4, 5, 6]::bigint[], 'all rows left');
END
$$;

-- The position stored in the relay group the pipeline runs in decides (an unassigned pipeline
-- runs under 'default'); a position another group left behind holds nothing.
INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id)
VALUES ('default', 'items-out', pos(2), 2), ('dc-gone', 'items-out', 0, 0);
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 2::bigint, 'rows 1-2 consumed in the group that runs the pipeline');
  PERFORM assert_eq(left_ids(), ARRAY[3, 4, 5, 6]::bigint[], 'rows left');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_delta_rows_items WHERE outbox_id = 1), 0::bigint,
                    'claim-check rows of a deleted row go too');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_commits AS c WHERE c.outbox = 'outbox_items'
                     AND NOT EXISTS (SELECT 1 FROM pgtrickle.outbox_items AS o WHERE o.xid = c.xid)), 0::bigint,
                    'commit rows of deleted rows go too');
END
$$;

-- A claim-check row the relay has only partly delivered (next_row set) is not consumed yet.
UPDATE pgtrickle.relay_offsets SET last_seq = pos(3), last_id = 3, next_row = 2 WHERE relay_group_id = 'default';
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 0::bigint, 'row 3 is being delivered');
  UPDATE pgtrickle.relay_offsets SET next_row = NULL WHERE relay_group_id = 'default';
  PERFORM assert_eq(pgtrickle.outbox_status('items') -> 'pending_by_pipeline', '{"items-out": 3}'::jsonb, 'rows 4-6 pending');
END
$$;

-- A consumer group holds rows as well; a disabled pipeline does not.
SELECT pgtrickle.create_consumer_group('auditors', 'items', 'earliest');
UPDATE pgtrickle.relay_offsets SET last_seq = pos(6), last_id = 6 WHERE pipeline = 'items-out';
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 0::bigint, 'the group has consumed nothing');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.poll_outbox('auditors', 'a', 1)), 1::bigint, 'poll one row');
  PERFORM pgtrickle.commit_offset('auditors', 'a', 3);
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 1::bigint, 'row 3 consumed by everyone');
  PERFORM assert_eq(left_ids(), ARRAY[4, 5, 6]::bigint[], 'rows left');
END
$$;
SELECT pgtrickle.drop_consumer_group('auditors');
-- A second, disabled pipeline on the same table has no say; a pipeline in pg_trickle's
-- positional layout is recognised, with its p_group as the relay group it runs in.
SELECT pgtrickle.set_relay_outbox('items-slow', config => '{"stream_table": "public.items", "sink_type": "stdout", "enabled": false}');
SELECT pgtrickle.set_relay_outbox('items-pos', 'items', 'dc1', '{"type": "stdout"}');
INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id)
VALUES ('dc1', 'items-pos', pos(4), 4), ('default', 'items-pos', 0, 0);
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 1::bigint, 'up to what items-pos consumed');
  PERFORM assert_eq(left_ids(), ARRAY[5, 6]::bigint[], 'rows left');
  PERFORM assert_eq(pgtrickle.outbox_status('items') -> 'pending_by_pipeline', '{"items-out": 0, "items-pos": 2}'::jsonb,
                    'pending rows per enabled pipeline');
END
$$;

-- A pipeline of a relay's TOML file (not in the catalog) holds rows from its first stored
-- position on, until delete_relay forgets it.
INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id, next_row, outbox)
VALUES ('dc1', 'items-toml', pos(5), 5, 2, 'outbox_items'), ('dc2', 'items-toml', pos(6), 6, NULL, 'outbox_items');
UPDATE pgtrickle.relay_offsets SET last_seq = pos(5), last_id = 5 WHERE pipeline = 'items-pos';
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 0::bigint, 'row 5 is still being delivered by the TOML pipeline in dc1');
  PERFORM assert_eq(pgtrickle.outbox_status('items') -> 'pending_by_pipeline' -> 'items-toml', '2'::jsonb,
                    'its pending rows are shown, from its slowest relay group');
END
$$;
SELECT pgtrickle.delete_relay('items-toml');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'items-toml'), 0::bigint, 'forgotten');
END
$$;

-- With every reader done, age alone decides: the young row stays.
SELECT pgtrickle.delete_relay('items-pos');
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 1::bigint, 'row 5');
  PERFORM assert_eq(left_ids(), ARRAY[6]::bigint[], 'only the young row is left');
END
$$;

-- Without any reader, age alone decides.
SELECT pgtrickle.create_outbox('audit_log');
SELECT pgtrickle.outbox_publish('audit_log', '{"old": true}');
SELECT pgtrickle.outbox_publish('audit_log', '{"old": false}');
UPDATE pgtrickle.outbox_audit_log SET created_at = now() - interval '25 hours' WHERE payload ->> 'old' = 'true';
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 1::bigint, 'the 25-hour-old event (retention 24 h)');
  PERFORM assert_eq((SELECT array_agg(payload ->> 'old') FROM pgtrickle.outbox_audit_log), ARRAY['false'], 'young event left');
END
$$;
