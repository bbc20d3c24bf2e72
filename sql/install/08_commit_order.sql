-- ============================================================================================
-- Outbox: commit order
--
-- Outbox ids are handed out when rows are inserted, not when their transaction commits, so a
-- reader that remembers "last id" skips rows of a transaction that commits late. Instead each
-- writing transaction gets a number once it has committed, and readers walk positions (seq, id).
--
-- Readers do the numbering, not writers: outbox_watermark() numbers the transactions that became
-- visible since its last round (the snapshot stored in outbox_numbering: those in progress then,
-- and those started after it), so a writer pays nothing for the order at commit and concurrent
-- writers never wait for each other. A round numbers the transactions of each outbox in the order
-- of their last outbox id: when one transaction writes after another committed (the only order an
-- observer can tell, and the one a key's changes follow), its rows have higher ids, so it comes
-- later. Rounds take turns under a lock (_outbox_numbering_turn), numbers only grow, and no row can later appear
-- below the watermark a round returned.
-- ============================================================================================

CREATE SEQUENCE IF NOT EXISTS pgtrickle.outbox_commit_seq;

-- One row per (outbox, writing transaction), written when the transaction is numbered.
-- committed_at is when its rows were written (the latest), which delivery latency is measured from.
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_commits (
  outbox       text NOT NULL,
  xid          xid8 NOT NULL,
  seq          bigint,
  committed_at timestamptz,
  PRIMARY KEY (outbox, xid)
);
ALTER TABLE pgtrickle.outbox_commits ADD COLUMN IF NOT EXISTS committed_at timestamptz;
CREATE INDEX IF NOT EXISTS outbox_commits_seq_idx ON pgtrickle.outbox_commits (outbox, seq);

-- Earlier installs numbered at commit, in the writer's transaction: gone. Dropping the trigger
-- waits for writers still between their registration and their commit, so every transaction
-- before the snapshot stored below was numbered, and every later one is found by a round.
DROP TRIGGER IF EXISTS outbox_commits_number ON pgtrickle.outbox_commits;
DROP FUNCTION IF EXISTS pgtrickle._outbox_number_commit();
DROP FUNCTION IF EXISTS pgtrickle._outbox_commit_lock_key();

-- The snapshot up to which every writing transaction is numbered, and the highest number given.
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_numbering (
  only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  numbered_to  pg_snapshot NOT NULL,
  numbered_seq bigint NOT NULL
);
INSERT INTO pgtrickle.outbox_numbering (numbered_to, numbered_seq)
SELECT pg_current_snapshot(), CASE WHEN is_called THEN last_value ELSE 0 END FROM pgtrickle.outbox_commit_seq
ON CONFLICT DO NOTHING;

-- Readers that wait for new rows (one per reading session): the capture notifies
-- pgtrickle_outbox_new only while one waits, so busy writers do not queue notifications, whose
-- commit is serialized database-wide. Unlogged: a session's row means nothing after a restart.
CREATE UNLOGGED TABLE IF NOT EXISTS pgtrickle.outbox_waiters (
  outbox text NOT NULL,
  pid    int NOT NULL,
  PRIMARY KEY (outbox, pid)
);

-- The SELECT that finds an outbox's transactions visible now but not at the last round:
-- (outbox, xid, last id, time of the last row). $1: the last round's in-progress xids, $2 its xmax.
-- Never the round's own transaction, whose rows it sees before they are committed.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_new_commits_sql(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('SELECT %L::text AS outbox, o.xid, max(o.id) AS last_id, max(o.created_at) AS written_at '
                'FROM pgtrickle.%I AS o WHERE (o.xid = ANY ($1) OR o.xid >= $2) '
                'AND o.xid < pg_snapshot_xmax(pg_current_snapshot()) '
                'AND o.xid IS DISTINCT FROM pg_current_xact_id_if_assigned() GROUP BY o.xid', p_outbox, p_outbox)
$$;

-- The numbering rounds' turn (pgtrickle._lock_numbering, until the transaction ends): waited
-- for (p_wait), or taken only if free at once (returns whether it was).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_numbering_turn(p_wait boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF p_wait THEN
    LOCK TABLE pgtrickle._lock_numbering IN SHARE UPDATE EXCLUSIVE MODE;
  ELSE
    LOCK TABLE pgtrickle._lock_numbering IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
  END IF;
  RETURN true;
EXCEPTION WHEN lock_not_available THEN
  RETURN false;
END
$$;

-- Numbers the transactions that committed since the last round, then returns the highest number:
-- every committed row of every outbox has a number up to it, and none can appear below it later.
-- Read rows with seq <= this value in a later statement (READ COMMITTED).
CREATE OR REPLACE FUNCTION pgtrickle.outbox_watermark()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_last     pg_snapshot;
  v_scan     text;
  v_seq      bigint;
  v_numbered text[];
  v_streams  bigint[];
  v_now      pg_snapshot;
  v_none     boolean;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
      MESSAGE = format('outbox_watermark() needs READ COMMITTED, this transaction is %s',
                       upper(current_setting('transaction_isolation'))),
      HINT = 'A transaction''s single snapshot misses commits the watermark counts: read the outbox in READ COMMITTED.';
  END IF;
  -- One round at a time, until the round's transaction ends, so the next one (its statements see
  -- what committed before they start) carries on from this one's snapshot. A round already
  -- under way is not waited for: what it numbers is announced to waiting readers when it commits,
  -- and meanwhile the numbers committed so far are the watermark. (A lock, not FOR UPDATE on the
  -- row: a round that finds nothing writes nothing, and commits without waiting for the disk.)
  -- Nothing committed or rolled back since this session's last round found every visible row
  -- numbered: the snapshot is the same, there is nothing to number, and an idle database costs a
  -- comparison, not a scan of every outbox. Any transaction ending anywhere in the cluster changes
  -- the snapshot, and the round runs.
  IF pg_current_snapshot()::text = current_setting('pgtrickle.numbered_idle_to', true) THEN
    RETURN coalesce((SELECT n.numbered_seq FROM pgtrickle.outbox_numbering AS n), 0);
  END IF;
  IF pgtrickle._outbox_numbering_turn(false) THEN
    SELECT numbered_to INTO v_last FROM pgtrickle.outbox_numbering;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = 'pgtrickle.outbox_numbering has lost its row, so outbox commits cannot be numbered',
        HINT = 'Run `pgtrickle-relay install` again: it restores the row.';
    END IF;
    SELECT string_agg(pgtrickle._outbox_new_commits_sql(t.outbox_name), ' UNION ALL ' ORDER BY t.outbox_name) INTO v_scan
    FROM pgtrickle.outbox_tables AS t
    WHERE NOT pgtrickle._outbox_is_stream(t.outbox_name) AND to_regclass(format('pgtrickle.%I', t.outbox_name)) IS NOT NULL;
    -- The pgstream streams share one table: one scan for all of them, whatever their number.
    v_streams := ARRAY(SELECT substr(t.outbox_name, length('pgstream_') + 1)::bigint FROM pgtrickle.outbox_tables AS t
                       WHERE pgtrickle._outbox_is_stream(t.outbox_name));
    IF cardinality(v_streams) > 0 THEN
      v_scan := concat_ws(' UNION ALL ', v_scan,
        'SELECT ''pgstream_'' || e.stream_id AS outbox, e.xid, max(e.id) AS last_id, max(e.created_at) AS written_at '
        'FROM pgstream.events AS e WHERE e.stream_id = ANY ($3) AND (e.xid = ANY ($1) OR e.xid >= $2) '
        'AND e.xid < pg_snapshot_xmax(pg_current_snapshot()) '
        'AND e.xid IS DISTINCT FROM pg_current_xact_id_if_assigned() GROUP BY e.stream_id, e.xid');
    END IF;
    IF v_scan IS NOT NULL THEN
      -- One statement, so the snapshot stored is the one the rows were found in.
      EXECUTE format($q$
        WITH found AS (%s),
        numbered AS (
          INSERT INTO pgtrickle.outbox_commits AS c (outbox, xid, seq, committed_at)
          SELECT f.outbox, f.xid, nextval('pgtrickle.outbox_commit_seq'), f.written_at
          FROM (SELECT * FROM found ORDER BY outbox, last_id) AS f
          ON CONFLICT (outbox, xid) DO UPDATE SET seq = excluded.seq, committed_at = excluded.committed_at
            WHERE c.seq IS NULL   -- registered by an earlier install, never numbered
          RETURNING c.outbox, c.seq)
        , stored AS (
          UPDATE pgtrickle.outbox_numbering
          SET numbered_to = pg_current_snapshot(), numbered_seq = coalesce((SELECT max(seq) FROM numbered), numbered_seq)
          WHERE EXISTS (SELECT FROM found)
          RETURNING 1)
        SELECT (SELECT array_agg(DISTINCT outbox) FROM numbered), NOT EXISTS (SELECT FROM found), pg_current_snapshot()
      $q$, v_scan)
      INTO v_numbered, v_none, v_now
      USING ARRAY(SELECT pg_snapshot_xip(v_last)), pg_snapshot_xmax(v_last), v_streams;
      IF v_none THEN
        -- Every row visible to that statement was numbered already: its snapshot, kept for this
        -- session (no write, so no transaction of its own that would change the next snapshot).
        PERFORM set_config('pgtrickle.numbered_idle_to', v_now::text, false);
      END IF;
      -- Readers waiting for these outboxes learn of the rows when this round commits.
      PERFORM pg_notify('pgtrickle_outbox_new', n.outbox) FROM unnest(v_numbered) AS n(outbox)
      WHERE EXISTS (SELECT FROM pgtrickle.outbox_waiters AS w WHERE w.outbox = n.outbox);
    END IF;
  END IF;
  SELECT numbered_seq INTO v_seq FROM pgtrickle.outbox_numbering;
  RETURN coalesce(v_seq, 0);
END
$$;

-- Replaced by the relay reading up to outbox_watermark() with prepared statements.
DROP FUNCTION IF EXISTS pgtrickle.outbox_pending_commits(text, bigint, integer);

-- A reading session waits for new rows of an outbox (p_waiting) or reads again. Rows of sessions
-- that ended without saying so go too.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_waiting(p_outbox text, p_waiting boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  IF p_waiting THEN
    DELETE FROM pgtrickle.outbox_waiters AS w
    WHERE w.outbox = p_outbox AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.pid = w.pid);
    INSERT INTO pgtrickle.outbox_waiters (outbox, pid) VALUES (p_outbox, pg_backend_pid()) ON CONFLICT DO NOTHING;
  ELSE
    DELETE FROM pgtrickle.outbox_waiters WHERE outbox = p_outbox AND pid = pg_backend_pid();
  END IF;
END
$$;

-- Earlier installs registered each writing transaction from a statement trigger on the outbox.
DROP FUNCTION IF EXISTS pgtrickle._outbox_register_commit() CASCADE;
