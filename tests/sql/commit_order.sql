-- Commit order. Outbox ids are taken when rows are inserted; transactions commit in another
-- order. Readers walk (commit seq, id) up to outbox_watermark(), which numbers what committed since
-- its last round, so they neither skip a row whose transaction committed late nor see one before
-- it committed. Concurrent sessions are in tests/isolation and the relay's tests; one session can
-- check the machinery itself.

SELECT pgtrickle.create_outbox('ev');
SELECT pgtrickle.create_consumer_group('readers', 'ev', 'earliest');

-- How the relay reads: in a statement after taking the watermark.
CREATE FUNCTION read_ev(p_after_seq bigint, p_after_id bigint)
RETURNS TABLE (seq bigint, id bigint) LANGUAGE plpgsql AS $$
DECLARE
  v_wm bigint := pgtrickle.outbox_watermark();
BEGIN
  RETURN QUERY SELECT c.seq, o.id FROM pgtrickle.outbox_ev AS o
    JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_ev' AND c.xid = o.xid
    WHERE c.seq <= v_wm AND (c.seq, o.id) > (p_after_seq, p_after_id)
    ORDER BY c.seq, o.id;
END
$$;

-- A row with a lower id committed after one with a higher id was read: it comes next, not skipped.
INSERT INTO pgtrickle.outbox_ev (id, payload, kind) VALUES (100, '{"n": "late id, first commit"}', 'event');
SELECT set_config('my.seq100', (SELECT seq FROM read_ev(0, 0) WHERE id = 100)::text, false);
INSERT INTO pgtrickle.outbox_ev (id, payload, kind) VALUES (50, '{"n": "early id, second commit"}', 'event');

DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(id) FROM read_ev(0, 0)), ARRAY[100, 50]::bigint[], 'rows in commit order');
  -- A reader that has consumed row 100 still gets row 50: it committed after.
  PERFORM assert_eq((SELECT array_agg(id) FROM read_ev(current_setting('my.seq100')::bigint, 100)), ARRAY[50]::bigint[],
                    'nothing skipped after id 100');
  -- The same through a consumer group.
  PERFORM assert_eq((SELECT array_agg(outbox_id) FROM pgtrickle.poll_outbox('readers', 'w1', 1)), ARRAY[100]::bigint[], 'first poll');
  PERFORM pgtrickle.commit_offset('readers', 'w1', 100);
  PERFORM assert_eq((SELECT array_agg(outbox_id) FROM pgtrickle.poll_outbox('readers', 'w1', 10)), ARRAY[50]::bigint[], 'second poll');
  PERFORM pgtrickle.commit_offset('readers', 'w1', 50);
END
$$;

-- Transactions that commit between two rounds come in the order of their last row: one that wrote
-- after another committed (and so may depend on it) comes after it.
INSERT INTO pgtrickle.outbox_ev (payload, kind) VALUES ('{"n": "first"}', 'event');
INSERT INTO pgtrickle.outbox_ev (payload, kind) VALUES ('{"n": "second"}', 'event');
DO $$
DECLARE
  v_wm bigint := pgtrickle.outbox_watermark();
BEGIN
  PERFORM assert_eq((SELECT array_agg(o.payload ->> 'n' ORDER BY c.seq) FROM pgtrickle.outbox_ev AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_ev' AND c.xid = o.xid
                     WHERE c.seq <= v_wm AND o.payload ->> 'n' IN ('first', 'second')),
                    ARRAY['first', 'second'], 'numbered in one round, in the order they committed');
  PERFORM assert_eq((SELECT array_agg(payload ->> 'n') FROM pgtrickle.poll_outbox('readers', 'w1', 10)),
                    ARRAY['first', 'second'], 'polled in that order');
  PERFORM pgtrickle.commit_offset('readers', 'w1', (SELECT id FROM pgtrickle.outbox_ev WHERE payload ->> 'n' = 'second'));
END
$$;

-- Inside the writing transaction: its rows have no position yet and the watermark stays put.
SELECT set_config('my.wm_before', pgtrickle.outbox_watermark()::text, false);
BEGIN;
SELECT pgtrickle.outbox_publish('ev', '{"n": "pending"}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT seq FROM pgtrickle.outbox_commits WHERE outbox = 'outbox_ev' AND xid = pg_current_xact_id()),
                    NULL::bigint, 'no position before commit');
  PERFORM assert_eq(pgtrickle.outbox_watermark(), current_setting('my.wm_before', true)::bigint, 'watermark before commit');
END
$$;
COMMIT;
DO $$
BEGIN
  PERFORM assert_eq((SELECT max(seq) FROM read_ev(0, 0)), pgtrickle.outbox_watermark(), 'the commit moved the watermark');
  PERFORM assert_eq((SELECT id FROM read_ev(0, 0) ORDER BY seq DESC, id DESC LIMIT 1),
                    (SELECT id FROM pgtrickle.outbox_ev WHERE payload ->> 'n' = 'pending'), 'the committed row is readable');
END
$$;

-- The writer takes no part in the numbering: no lock, no commit row, nothing at its commit.
BEGIN;
SELECT pgtrickle.outbox_publish('ev', '{"n": "numbered early"}');
DO $$
BEGIN
  ASSERT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), 'the writer holds no lock';
  ASSERT NOT EXISTS (SELECT 1 FROM pgtrickle.outbox_commits WHERE xid = pg_current_xact_id()), 'nor a commit row';
  ASSERT NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'pgtrickle.outbox_ev'::regclass), 'no trigger on the outbox';
END
$$;
COMMIT;

-- Rolled back writes never appear; a number lost to an aborted commit leaves a harmless gap.
BEGIN;
SELECT pgtrickle.outbox_publish('ev', '{"n": "rolled back"}');
ROLLBACK;
SELECT nextval('pgtrickle.outbox_commit_seq');
SELECT pgtrickle.outbox_publish('ev', '{"n": "after the gap"}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(payload ->> 'n') FROM pgtrickle.poll_outbox('readers', 'w1', 10)),
                    ARRAY['pending', 'numbered early', 'after the gap'], 'remaining rows, none rolled back');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_ev WHERE payload ->> 'n' = 'rolled back'), 0::bigint, 'no rolled back row');
END
$$;

-- A transaction writing two outboxes gets a position in each; a failed statement inside a
-- savepoint leaves no trace.
SELECT pgtrickle.create_outbox('ev2');
BEGIN;
SELECT pgtrickle.outbox_publish('ev', '{"n": "both 1"}');
SAVEPOINT s;
SELECT pgtrickle.outbox_publish('ev2', '{"n": "undone"}');
ROLLBACK TO SAVEPOINT s;
SELECT pgtrickle.outbox_publish('ev2', '{"n": "both 2"}');
COMMIT;
DO $$
BEGIN
  PERFORM pgtrickle.outbox_watermark();
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_commits
                     WHERE xid = (SELECT xid FROM pgtrickle.outbox_ev WHERE payload ->> 'n' = 'both 1')), 2::bigint,
                    'one commit row per outbox');
  PERFORM assert_eq((SELECT array_agg(payload ->> 'n') FROM pgtrickle.outbox_ev2), ARRAY['both 2'], 'savepoint rollback');
  ASSERT NOT EXISTS (SELECT 1 FROM pgtrickle.outbox_commits WHERE seq IS NULL), 'every committed writer is numbered';
END
$$;

-- Reading must happen in READ COMMITTED: a snapshot taken before the watermark could miss rows.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT expect_error($q$ SELECT * FROM pgtrickle.poll_outbox('readers', 'w1') $q$,
                    'poll_outbox needs READ COMMITTED isolation', '25000');
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT expect_error($q$ SELECT pgtrickle.outbox_watermark() $q$,
                    'outbox_watermark() needs READ COMMITTED, this transaction is REPEATABLE READ', '25000');
COMMIT;

-- An idle database costs a comparison, not a scan: once a round found every visible row
-- numbered, the next one, while no transaction anywhere has ended, reads no outbox. (Another
-- database's transaction ending in between makes the round scan: tried until a quiet moment.)
CREATE FUNCTION outbox_ev_scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables
  WHERE schemaname = 'pgtrickle' AND relname = 'outbox_ev'
$$;
DO $$
DECLARE
  v_before bigint;
  v_quiet  boolean := false;
BEGIN
  PERFORM pgtrickle.outbox_watermark();
  ASSERT outbox_ev_scans() > 0, 'a round after the last commits reads the outboxes';
  FOR i IN 1..200 LOOP
    PERFORM pgtrickle.outbox_watermark();
    v_before := outbox_ev_scans();
    PERFORM pgtrickle.outbox_watermark();
    IF outbox_ev_scans() = v_before THEN
      v_quiet := true;
      EXIT;
    END IF;
  END LOOP;
  ASSERT v_quiet, 'with nothing ended since the last round, a round reads no outbox';
END
$$;
-- A commit after such a round is numbered by the next one.
SELECT pgtrickle.outbox_watermark();
SELECT pgtrickle.outbox_watermark();
SELECT pgtrickle.outbox_publish('ev', '{"n": "after an idle round"}');
DO $$
DECLARE
  v_wm bigint := pgtrickle.outbox_watermark();
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_ev AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_ev' AND c.xid = o.xid
                     WHERE o.payload ->> 'n' = 'after an idle round' AND c.seq <= v_wm), 1::bigint,
                    'a commit after an idle round is numbered');
END
$$;

-- Each outbox is numbered on its own: a round for one outbox reads and numbers only it, and its
-- watermark covers every committed row of it; the other outbox's rows wait for their own round,
-- and get higher numbers than any watermark given before.
SELECT pgtrickle.create_outbox('other');
SELECT pgtrickle.outbox_publish('ev', '{"n": "ev, own round"}');
SELECT pgtrickle.outbox_publish('other', '{"n": "other, own round"}');
DO $$
DECLARE
  v_ev bigint := (SELECT w.watermark FROM pgtrickle.outbox_watermarks(ARRAY['outbox_ev']) AS w);
  v_other bigint;
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_ev AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_ev' AND c.xid = o.xid
                     WHERE o.payload ->> 'n' = 'ev, own round' AND c.seq <= v_ev), 1::bigint,
                    'the outbox asked for is numbered up to its watermark');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_other AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_other' AND c.xid = o.xid), 0::bigint,
                    'the other outbox is not numbered by that round');
  SELECT w.watermark INTO v_other FROM pgtrickle.outbox_watermarks(ARRAY['outbox_other', 'outbox_ev', 'no_such_outbox']) AS w
  WHERE w.outbox = 'outbox_other';
  PERFORM assert_eq((SELECT min(c.seq) > v_ev FROM pgtrickle.outbox_commits AS c WHERE c.outbox = 'outbox_other'), true,
                    'its rows get numbers above every watermark given before');
  PERFORM assert_eq((SELECT max(c.seq) FROM pgtrickle.outbox_commits AS c WHERE c.outbox = 'outbox_other'), v_other,
                    'its watermark is its highest number');
  PERFORM assert_eq(pgtrickle.outbox_watermark() >= v_other, true, 'the watermark of every outbox covers each one');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_numbered WHERE unit = 'no_such_outbox'), 0::bigint,
                    'a name that is no outbox leaves nothing behind');
END
$$;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT expect_error($q$ SELECT * FROM pgtrickle.outbox_watermarks(ARRAY['outbox_ev']) $q$,
                    'outbox_watermarks() needs READ COMMITTED, this transaction is REPEATABLE READ', '25000');
COMMIT;
