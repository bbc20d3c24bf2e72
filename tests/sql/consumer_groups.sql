-- Consumer groups: workers of a group share the work, an expired lease returns its rows,
-- offsets never move backwards, and seek_offset is the explicit way to move.

SELECT pgtrickle.create_outbox('jobs');
SELECT pgtrickle.outbox_publish('jobs', jsonb_build_object('n', n)) FROM generate_series(1, 2) AS n;   -- before the groups

SELECT pgtrickle.create_consumer_group('workers', 'jobs');                          -- latest
SELECT pgtrickle.create_consumer_group('workers', 'jobs', 'latest');                -- same again: a notice
SELECT pgtrickle.create_consumer_group('auditors', 'outbox_jobs', 'earliest');

SELECT pgtrickle.outbox_publish('jobs', jsonb_build_object('n', n)) FROM generate_series(3, 12) AS n;

CREATE FUNCTION ns(p_group text, p_consumer text, p_batch int DEFAULT 100, p_visibility int DEFAULT 30)
RETURNS int[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg((payload ->> 'n')::int ORDER BY outbox_id), '{}')
  FROM pgtrickle.poll_outbox(p_group, p_consumer, p_batch, p_visibility)
$$;
CREATE FUNCTION id_of(p_n int) RETURNS bigint LANGUAGE sql AS $$
  SELECT id FROM pgtrickle.outbox_jobs WHERE (payload ->> 'n')::int = p_n
$$;
CREATE FUNCTION lag_of(p_group text) RETURNS bigint LANGUAGE sql AS $$
  SELECT DISTINCT lag FROM pgtrickle.consumer_lag(p_group)
$$;

DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.create_consumer_group('workers', 'jobs', 'earliest') $q$,
    'consumer group "workers" already exists, for outbox pgtrickle.outbox_jobs with auto_offset_reset ''latest''', '42710');
  PERFORM expect_error($q$ SELECT pgtrickle.create_consumer_group('g', 'nope') $q$,
    'outbox for "nope" not found: enable it with SELECT pgtrickle.enable_outbox(''nope'')', '42704');
  PERFORM expect_error($q$ SELECT pgtrickle.create_consumer_group('g', 'jobs', 'middle') $q$,
    'auto_offset_reset must be ''earliest'' or ''latest'', got ''middle''');

  -- "latest" starts at the position when the group was created; "earliest" at the beginning.
  PERFORM assert_eq(ns('auditors', 'a1', 3), ARRAY[1, 2, 3], 'earliest');

  -- Two workers: non-overlapping leases.
  PERFORM assert_eq(ns('workers', 'w1', 2), ARRAY[3, 4], 'w1 leases 3-4');
  PERFORM assert_eq(ns('workers', 'w2', 2), ARRAY[5, 6], 'w2 leases the next rows');
  PERFORM assert_eq(ns('workers', 'w1', 2), ARRAY[3, 4], 'a worker holding a lease gets the same rows again');
  PERFORM assert_eq(lag_of('workers'), 10::bigint, 'lag counts unconsumed rows');

  -- w2 finishes first: the group position waits for w1's rows.
  PERFORM pgtrickle.commit_offset('workers', 'w2', id_of(6));
  PERFORM assert_eq((SELECT DISTINCT committed_offset FROM pgtrickle.consumer_lag('workers')), id_of(2), 'position waits for rows 3-4');
  PERFORM assert_eq(lag_of('workers'), 8::bigint, 'done rows are not lag');
  PERFORM assert_eq(ns('workers', 'w2', 2), ARRAY[7, 8], 'w2 moves on');
  PERFORM pgtrickle.commit_offset('workers', 'w1', id_of(4));
  PERFORM assert_eq((SELECT DISTINCT committed_offset FROM pgtrickle.consumer_lag('workers')), id_of(6),
                    'position moves over contiguous done leases');

  -- Committing again, or an older offset, changes nothing: offsets never move backwards.
  PERFORM pgtrickle.commit_offset('workers', 'w1', id_of(4));
  PERFORM pgtrickle.commit_offset('workers', 'w1', id_of(3));
  PERFORM assert_eq((SELECT DISTINCT committed_offset FROM pgtrickle.consumer_lag('workers')), id_of(6), 'never backwards');

  -- A partial commit keeps the rest of the lease.
  PERFORM assert_eq(ns('workers', 'w1', 3), ARRAY[9, 10, 11], 'w1 leases 9-11');
  PERFORM pgtrickle.commit_offset('workers', 'w1', id_of(9));
  PERFORM assert_eq(ns('workers', 'w1', 3), ARRAY[10, 11], 'the rest of the lease');
  PERFORM assert_eq(ns('workers', 'w3', 5, 1), ARRAY[12], 'w3 gets what nobody holds, for one second');

  -- Errors for unknown groups and consumers, and for offsets not held.
  PERFORM expect_error($q$ SELECT ns('nobody', 'w1') $q$, 'consumer group "nobody" not found', '42704');
  PERFORM expect_error($q$ SELECT pgtrickle.commit_offset('nobody', 'w1', 1) $q$, 'consumer group "nobody" not found');
  PERFORM expect_error($q$ SELECT pgtrickle.extend_lease('nobody', 'w1') $q$, 'consumer group "nobody" not found');
  PERFORM expect_error($q$ SELECT pgtrickle.seek_offset('nobody', 'w1', 0) $q$, 'consumer group "nobody" not found');
  PERFORM expect_error($q$ SELECT pgtrickle.consumer_heartbeat('nobody', 'w1') $q$, 'consumer group "nobody" not found');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.consumer_lag('nobody') $q$, 'consumer group "nobody" not found');
  PERFORM expect_error($q$ SELECT pgtrickle.drop_consumer_group('nobody') $q$, 'consumer group "nobody" not found');
  PERFORM expect_error($q$ SELECT pgtrickle.commit_offset('workers', 'stranger', 1) $q$,
    'consumer "stranger" is not a member of consumer group "workers"');
  PERFORM expect_error($q$ SELECT pgtrickle.extend_lease('workers', 'stranger') $q$,
    'consumer "stranger" is not a member of consumer group "workers"');
  PERFORM expect_error(format('SELECT pgtrickle.commit_offset(%L, %L, %s)', 'workers', 'w2', id_of(12)),
    'commit_offset: consumer "w2" of group "workers" holds no lease covering offset', '55000');
  PERFORM expect_error($q$ SELECT pgtrickle.commit_offset('workers', 'w1', 999999) $q$,
    'commit_offset: outbox pgtrickle.outbox_jobs has no committed row with id 999999');
  PERFORM pgtrickle.commit_offset('workers', 'w2', id_of(8));
  PERFORM expect_error($q$ SELECT pgtrickle.extend_lease('workers', 'w2') $q$,
    'extend_lease: consumer "w2" of group "workers" holds no lease', '55000');
  PERFORM expect_error($q$ SELECT ns('workers', 'w1', 0) $q$, 'batch size and visibility seconds must be at least 1');

  -- extend_lease: now() plus the extension.
  PERFORM assert_eq(pgtrickle.extend_lease('workers', 'w1', 120), now() + interval '120 seconds', 'extend_lease');
END
$$;

-- An expired lease returns its rows: w3's lease on row 12 lasted one second.
SELECT pg_sleep(1.2);
DO $$
BEGIN
  PERFORM assert_eq(ns('workers', 'w4', 5), ARRAY[12], 'an expired lease''s rows go to another worker');
  -- w3 was too slow: its commit is refused, nothing is committed twice.
  PERFORM expect_error(format('SELECT pgtrickle.commit_offset(%L, %L, %s)', 'workers', 'w3', id_of(12)),
    'holds no lease covering offset');
  PERFORM pgtrickle.commit_offset('workers', 'w4', id_of(12));
  PERFORM pgtrickle.commit_offset('workers', 'w1', id_of(11));
  PERFORM assert_eq((SELECT DISTINCT committed_offset FROM pgtrickle.consumer_lag('workers')), id_of(12), 'all consumed');
  PERFORM assert_eq(lag_of('workers'), 0::bigint, 'no lag');
  PERFORM assert_eq(ns('workers', 'w1'), '{}'::int[], 'nothing left');
END
$$;

-- consumer_lag: one row per consumer, liveness from heartbeats.
SELECT pgtrickle.consumer_heartbeat('workers', 'w9');   -- a consumer may announce itself before polling
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(consumer_id || ':' || is_alive ORDER BY consumer_id) FROM pgtrickle.consumer_lag('workers')),
                    ARRAY['w1:true', 'w2:true', 'w3:true', 'w4:true', 'w9:true'], 'consumers');
  PERFORM assert_eq((SELECT DISTINCT max_outbox_id FROM pgtrickle.consumer_lag('workers')), id_of(12), 'max_outbox_id');
  UPDATE pgtrickle.outbox_consumers SET last_heartbeat_at = now() - interval '10 minutes' WHERE consumer_id = 'w9';
  PERFORM assert_eq((SELECT is_alive FROM pgtrickle.consumer_lag('workers') WHERE consumer_id = 'w9'), false, 'silent consumer');
END
$$;

-- seek_offset moves the group explicitly, backwards too, and drops every lease.
DO $$
BEGIN
  PERFORM assert_eq(ns('auditors', 'a1', 3), ARRAY[1, 2, 3], 'auditor still holds its lease');
  PERFORM pgtrickle.seek_offset('auditors', 'a1', id_of(10));
  PERFORM assert_eq(ns('auditors', 'a2', 5), ARRAY[11, 12], 'after seeking forward');
  PERFORM pgtrickle.seek_offset('auditors', 'a1', 0);
  PERFORM assert_eq(ns('auditors', 'a1', 2), ARRAY[1, 2], 'after seeking to the beginning');
  PERFORM expect_error($q$ SELECT pgtrickle.seek_offset('auditors', 'a1', 424242) $q$,
    'seek_offset: outbox pgtrickle.outbox_jobs has no committed row with id 424242');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.consumer_lag('auditors') WHERE consumer_id = 'a1'), 1::bigint, 'a1 listed');
END
$$;

-- A group without consumers still reports its lag.
SELECT pgtrickle.create_consumer_group('idle', 'jobs', 'earliest');
DO $$
BEGIN
  PERFORM assert_eq((SELECT row(consumer_id, committed_offset, lag)::text FROM pgtrickle.consumer_lag('idle')),
                    row(NULL::text, 0::bigint, 12::bigint)::text, 'lag of a group without consumers');
END
$$;

-- Dropping.
SELECT pgtrickle.drop_consumer_group('idle');
SELECT pgtrickle.drop_consumer_group('idle', p_if_exists => true);
SELECT pgtrickle.disable_outbox('jobs');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_consumer_groups), 0::bigint, 'disabling the outbox drops its groups');
END
$$;
