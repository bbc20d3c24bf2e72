-- ============================================================================================
-- Outbox: commit order
--
-- Outbox ids are handed out when rows are inserted, not when their transaction commits, so a
-- reader that remembers "last id" skips rows of a transaction that commits late. Instead each
-- writing transaction gets a number once it has committed, and readers walk positions (seq, id).
--
-- Readers do the numbering, not writers: a numbering round numbers the transactions that became
-- visible since the last round (the snapshot stored: those in progress then, and those started
-- after it), so a writer pays nothing for the order at commit and concurrent writers never wait
-- for each other. A round numbers the transactions of each outbox in the order of their last
-- outbox id: when one transaction writes after another committed (the only order an observer can
-- tell, and the one a key's changes follow), its rows have higher ids, so it comes later.
--
-- Each outbox is numbered on its own (its snapshot and highest number in outbox_numbered; all
-- pgstream streams share one, as they share one table), so a round costs what the outboxes it is
-- asked for hold, not every outbox of the database: outbox_watermarks(outboxes) is what a reader
-- calls. Rounds of one outbox take turns (an advisory lock), numbers only grow, and no row can
-- later appear below the watermark a round returned for its outbox. outbox_watermark() numbers
-- every outbox at once, for retention and applications, with every round excluded meanwhile.
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

-- A key only the install's functions read: outbox_watermark() keeps in its session the snapshot up
-- to which every row was numbered, signed with it, since a session's setting is the caller's to
-- write (a forged one would skip rounds).
CREATE TABLE IF NOT EXISTS pgtrickle._session_key (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  key      text NOT NULL
);
REVOKE ALL ON pgtrickle._session_key FROM PUBLIC;
INSERT INTO pgtrickle._session_key (key) VALUES (md5(random()::text || clock_timestamp()::text) || gen_random_uuid()::text)
ON CONFLICT DO NOTHING;

-- Readers that wait for new rows (one per reading session): the capture notifies
-- pgtrickle_outbox_new only while one waits, so busy writers do not queue notifications, whose
-- commit is serialized database-wide. Unlogged: a session's row means nothing after a restart.
CREATE UNLOGGED TABLE IF NOT EXISTS pgtrickle.outbox_waiters (
  outbox text NOT NULL,
  pid    int NOT NULL,
  PRIMARY KEY (outbox, pid)
);

-- Where each outbox's numbering stands: the snapshot up to which every writing transaction of it
-- is numbered, and the highest number it was given. `unit` is the outbox, or 'pgstream' for all
-- streams. An outbox without a row stands where outbox_numbering does (the database-wide row of
-- earlier installs, which every outbox was numbered up to, and of new outboxes, which had no rows).
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_numbered (
  unit         text PRIMARY KEY,
  numbered_to  pg_snapshot NOT NULL,
  numbered_seq bigint NOT NULL
);

-- Is this the outbox of a pgstream stream: the view pgtrickle.pgstream_<N> over pgstream.events
-- (17_pgstream_events.sql)? Only pgstream.stream_outbox() registers such names (the others are outbox_...).
-- Its rows go only when their partition is dropped, and nothing writes it but the stream's triggers.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_is_stream(p_outbox text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- No SET clause, so that the planner inlines it into the rounds that call it per outbox; its one
-- operator is named with its schema, so no search path changes what it means.
AS $$ SELECT coalesce(p_outbox OPERATOR(pg_catalog.~) '^pgstream_[0-9]+$', false) $$;

-- The numbering unit of an outbox: the pgstream streams share one table, and so one unit.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_numbering_unit(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
-- Inlined, as _outbox_is_stream is.
AS $$ SELECT CASE WHEN pgtrickle._outbox_is_stream(p_outbox) THEN 'pgstream' ELSE p_outbox END $$;

-- The highest commit number of an outbox: every committed row of it has a number up to this, and
-- none can appear below it later. Read rows with seq <= this value in a later statement.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_numbered_seq(p_outbox text)
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce((SELECT u.numbered_seq FROM pgtrickle.outbox_numbered AS u
                   WHERE u.unit = pgtrickle._outbox_numbering_unit(p_outbox)),
                  (SELECT n.numbered_seq FROM pgtrickle.outbox_numbering AS n), 0)
$$;

DROP FUNCTION IF EXISTS pgtrickle._outbox_new_commits_sql(text);
DROP FUNCTION IF EXISTS pgtrickle._outbox_unit_turn(text[]);

-- Numbers the transactions of the given units that committed since each unit's last round, in one
-- statement (so the snapshot stored is the one the rows were found in), and notifies the readers
-- waiting for the outboxes that got numbers, unless only `p_told` waits (the listening session of
-- the relay that asked, which learns of them otherwise). The caller holds the units' turns. Returns the
-- outboxes that got numbers, and the statement's snapshot when it found nothing to number (every
-- unit was numbered up to it).
DROP FUNCTION IF EXISTS pgtrickle._outbox_number(text[]);
DROP FUNCTION IF EXISTS pgtrickle._outbox_number(text[], int);
CREATE FUNCTION pgtrickle._outbox_number(p_units text[], p_told int, OUT numbered text[], OUT idle_to pg_snapshot)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_scan     text;
  v_none     boolean;
  v_now      pg_snapshot;
  v_streams  bigint[];
  v_outboxes text[];
  v_xids     xid8[];
  v_written  timestamptz[];
BEGIN
  IF 'pgstream' = ANY (p_units) THEN
    v_streams := ARRAY(SELECT substr(t.outbox_name, length('pgstream_') + 1)::bigint FROM pgtrickle.outbox_tables AS t
                       WHERE pgtrickle._outbox_is_stream(t.outbox_name));
  END IF;
  -- Each outbox's transactions visible now but not at its last round: (outbox, xid, last id, time
  -- of the last row). Never the round's own transaction, whose rows it sees before they commit.
  WITH since AS (
    SELECT x.unit, coalesce(u.numbered_to, n.numbered_to) AS snap
    FROM unnest(p_units) AS x(unit)
    LEFT JOIN pgtrickle.outbox_numbered AS u ON u.unit = x.unit
    CROSS JOIN pgtrickle.outbox_numbering AS n)
  SELECT string_agg(q, ' UNION ALL ') INTO v_scan FROM (
    SELECT format('SELECT %L::text AS outbox, o.xid, max(o.id) AS last_id, max(o.created_at) AS written_at '
                  'FROM pgtrickle.%I AS o WHERE (o.xid = ANY (%L::xid8[]) OR o.xid >= %L::xid8) '
                  'AND o.xid < pg_snapshot_xmax(pg_current_snapshot()) '
                  'AND o.xid IS DISTINCT FROM pg_current_xact_id_if_assigned() GROUP BY o.xid',
                  t.outbox_name, t.outbox_name, ARRAY(SELECT pg_snapshot_xip(s.snap)), pg_snapshot_xmax(s.snap)) AS q
    FROM since AS s JOIN pgtrickle.outbox_tables AS t ON t.outbox_name = s.unit
    WHERE to_regclass(format('pgtrickle.%I', t.outbox_name)) IS NOT NULL
    UNION ALL
    -- The pgstream streams share one table: one scan for all of them, whatever their number.
    SELECT format('SELECT ''pgstream_'' || e.stream_id AS outbox, e.xid, max(e.id) AS last_id, max(e.created_at) AS written_at '
                  'FROM pgstream.events AS e WHERE e.stream_id = ANY (%L::bigint[]) AND (e.xid = ANY (%L::xid8[]) OR e.xid >= %L::xid8) '
                  'AND e.xid < pg_snapshot_xmax(pg_current_snapshot()) '
                  'AND e.xid IS DISTINCT FROM pg_current_xact_id_if_assigned() GROUP BY e.stream_id, e.xid',
                  v_streams, ARRAY(SELECT pg_snapshot_xip(s.snap)), pg_snapshot_xmax(s.snap))
    FROM since AS s
    WHERE s.unit = 'pgstream' AND cardinality(v_streams) > 0) AS scans(q);
  IF v_scan IS NULL THEN
    idle_to := pg_current_snapshot();
    RETURN;
  END IF;
  -- Only the scan is planned each round (its text names the tables and snapshots); what it found
  -- is numbered and stored by statements planned once per session.
  EXECUTE format('SELECT array_agg(f.outbox ORDER BY f.outbox, f.last_id), array_agg(f.xid ORDER BY f.outbox, f.last_id), '
                 'array_agg(f.written_at ORDER BY f.outbox, f.last_id), pg_current_snapshot() FROM (%s) AS f', v_scan)
    INTO v_outboxes, v_xids, v_written, v_now;
  IF v_outboxes IS NULL THEN
    idle_to := v_now;
    RETURN;
  END IF;
  WITH numbered AS (
    INSERT INTO pgtrickle.outbox_commits AS c (outbox, xid, seq, committed_at)
    SELECT f.outbox, f.xid, nextval('pgtrickle.outbox_commit_seq'), f.written_at
    FROM (SELECT * FROM unnest(v_outboxes, v_xids, v_written) WITH ORDINALITY AS x(outbox, xid, written_at, n)
          ORDER BY x.n) AS f   -- numbered in the order found: by outbox, then by each commit's last row
    ON CONFLICT (outbox, xid) DO UPDATE SET seq = excluded.seq, committed_at = excluded.committed_at
      WHERE c.seq IS NULL   -- registered by an earlier install, never numbered
    RETURNING c.outbox, c.seq),
  stored AS (
    INSERT INTO pgtrickle.outbox_numbered AS u (unit, numbered_to, numbered_seq)
    SELECT f.unit, v_now, coalesce(n.seq, pgtrickle._outbox_numbered_seq(f.unit))
    FROM (SELECT DISTINCT pgtrickle._outbox_numbering_unit(o) AS unit FROM unnest(v_outboxes) AS o) AS f
    LEFT JOIN (SELECT pgtrickle._outbox_numbering_unit(numbered.outbox) AS unit, max(numbered.seq) AS seq
               FROM numbered GROUP BY 1) AS n ON n.unit = f.unit
    ON CONFLICT (unit) DO UPDATE SET numbered_to = excluded.numbered_to,
                                     numbered_seq = greatest(u.numbered_seq, excluded.numbered_seq)
    RETURNING 1)
  SELECT (SELECT array_agg(DISTINCT outbox) FROM numbered) INTO numbered;
  v_none := false;
  -- Readers waiting for these outboxes learn of the rows when this round commits.
  PERFORM pg_notify('pgtrickle_outbox_new', n.outbox) FROM unnest(numbered) AS n(outbox)
  WHERE EXISTS (SELECT FROM pgtrickle.outbox_waiters AS w WHERE w.outbox = n.outbox AND w.pid IS DISTINCT FROM p_told);
  idle_to := CASE WHEN v_none THEN v_now END;
END
$$;

-- The turn of every numbering round at once (pgtrickle._lock_numbering, until the transaction
-- ends), which outbox_watermark() and what reads every outbox's rows together take: waited for
-- (p_wait), or taken only if free at once (returns whether it was). A round of some outboxes takes
-- the table's ROW SHARE lock, then each outbox's advisory lock.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_numbering_turn(p_wait boolean)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF p_wait THEN
    LOCK TABLE pgtrickle._lock_numbering IN EXCLUSIVE MODE;
  ELSE
    LOCK TABLE pgtrickle._lock_numbering IN EXCLUSIVE MODE NOWAIT;
  END IF;
  RETURN true;
EXCEPTION WHEN lock_not_available THEN
  RETURN false;
END
$$;

-- The turns of some outboxes' rounds (their numbering units' rows, locked until the transaction
-- ends): waited for, a second at most. Row locks, not advisory locks, which any login could take
-- and hold. Returns the units whose turns were taken (of registered outboxes; 'pgstream' once a
-- stream is).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_unit_turn(p_units text[])
RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_units   text[];
  v_locked  text[];
  v_timeout text;
BEGIN
  LOCK TABLE pgtrickle._lock_numbering IN ROW SHARE MODE;
  v_units := ARRAY(SELECT DISTINCT u FROM unnest(p_units) AS u
                   WHERE CASE WHEN u = 'pgstream'
                              THEN EXISTS (SELECT FROM pgtrickle.outbox_tables AS t WHERE pgtrickle._outbox_is_stream(t.outbox_name))
                              ELSE EXISTS (SELECT FROM pgtrickle.outbox_tables AS t WHERE t.outbox_name = u) END);
  INSERT INTO pgtrickle.outbox_numbered (unit, numbered_to, numbered_seq)
  SELECT u, n.numbered_to, n.numbered_seq FROM unnest(v_units) AS u CROSS JOIN pgtrickle.outbox_numbering AS n
  ON CONFLICT (unit) DO NOTHING;
  -- The free turns are taken at once (the usual case, without a subtransaction). A turn held by a
  -- round under way is waited for, as that round ends in a moment; one held longer (a transaction
  -- left open after a round), or by a round waiting for one of ours, is not: the outboxes whose
  -- turns were free are numbered, the others keep the numbers they have.
  v_locked := ARRAY(SELECT u.unit FROM pgtrickle.outbox_numbered AS u WHERE u.unit = ANY (v_units)
                    ORDER BY u.unit FOR NO KEY UPDATE SKIP LOCKED);
  IF cardinality(v_locked) = cardinality(v_units) THEN
    RETURN v_locked;
  END IF;
  v_timeout := current_setting('lock_timeout');
  PERFORM set_config('lock_timeout', '1s', true);
  BEGIN
    PERFORM FROM pgtrickle.outbox_numbered AS u WHERE u.unit = ANY (v_units) AND u.unit <> ALL (v_locked)
    ORDER BY u.unit FOR NO KEY UPDATE;
    v_locked := v_units;
  EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
    v_locked := v_locked || ARRAY(SELECT u.unit FROM pgtrickle.outbox_numbered AS u
                                  WHERE u.unit = ANY (v_units) AND u.unit <> ALL (v_locked)
                                  ORDER BY u.unit FOR NO KEY UPDATE SKIP LOCKED);
  END;
  PERFORM set_config('lock_timeout', v_timeout, true);
  RETURN v_locked;
END
$$;

-- The highest commit number of any outbox.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_all_numbered_seq()
RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT greatest((SELECT max(u.numbered_seq) FROM pgtrickle.outbox_numbered AS u),
                  (SELECT n.numbered_seq FROM pgtrickle.outbox_numbering AS n), 0)
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_require_read_committed(p_function text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
      MESSAGE = format('%s needs READ COMMITTED, this transaction is %s', p_function,
                       upper(current_setting('transaction_isolation'))),
      HINT = 'A transaction''s single snapshot misses commits the watermark counts: read the outbox in READ COMMITTED.';
  END IF;
END
$$;

-- Numbers what committed to these outboxes since their last rounds, then returns each one's
-- watermark: every committed row of the outbox has a number up to it, and none can appear below it
-- later. Waits for a round of the same outboxes under way, so every commit visible before the call
-- is numbered. Read rows with seq <= the watermark in a later statement (READ COMMITTED).
-- `numbered`: whether this round gave the outbox new numbers. `p_told`: the caller's listening
-- session (its process id), which the round does not notify.
DROP FUNCTION IF EXISTS pgtrickle.outbox_watermarks(text[]);
CREATE OR REPLACE FUNCTION pgtrickle.outbox_watermarks(p_outboxes text[], p_told int DEFAULT NULL)
RETURNS TABLE (outbox text, watermark bigint, numbered boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_units    text[];
  v_numbered text[];
BEGIN
  PERFORM pgtrickle._outbox_require_read_committed('outbox_watermarks()');
  -- Only a session of the caller's own login is left out: no one silences another relay.
  IF p_told IS NOT NULL AND NOT EXISTS (SELECT FROM pg_stat_activity AS a WHERE a.pid = p_told AND a.usename = session_user) THEN
    p_told := NULL;
  END IF;
  v_units := ARRAY(SELECT DISTINCT pgtrickle._outbox_numbering_unit(o) FROM unnest(p_outboxes) AS o
                   WHERE o IS NOT NULL ORDER BY 1);
  v_units := pgtrickle._outbox_unit_turn(v_units);
  v_numbered := (pgtrickle._outbox_number(v_units, p_told)).numbered;
  RETURN QUERY
    SELECT m.o, coalesce(u.numbered_seq, n.numbered_seq, 0), coalesce(m.o = ANY (v_numbered), false)
    FROM (SELECT o, pgtrickle._outbox_numbering_unit(o) AS unit FROM unnest(p_outboxes) AS o) AS m
    LEFT JOIN pgtrickle.outbox_numbered AS u ON u.unit = m.unit
    LEFT JOIN pgtrickle.outbox_numbering AS n ON true;
END
$$;

-- A snapshot as outbox_watermark() keeps it in its session: its text and a signature no caller
-- can make without the install's key.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_idle_signed(p_snapshot pg_snapshot)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p_snapshot::text || ' ' || md5(k.key || p_snapshot::text) FROM pgtrickle._session_key AS k $$;

-- Numbers what committed to every outbox since the last round, then returns the highest number:
-- every committed row of every outbox has a number up to it, and none can appear below it later.
-- Read rows with seq <= this value in a later statement (READ COMMITTED).
CREATE OR REPLACE FUNCTION pgtrickle.outbox_watermark()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_idle pg_snapshot;
BEGIN
  PERFORM pgtrickle._outbox_require_read_committed('outbox_watermark()');
  -- Nothing committed or rolled back since this session's last round found every visible row
  -- numbered: the snapshot is the same, there is nothing to number, and an idle database costs a
  -- comparison, not a scan of every outbox. Any transaction ending anywhere in the cluster changes
  -- the snapshot, and the round runs.
  IF pgtrickle._outbox_idle_signed(pg_current_snapshot()) = current_setting('pgtrickle.numbered_idle_to', true) THEN
    RETURN pgtrickle._outbox_all_numbered_seq();
  END IF;
  -- Every outbox's rounds wait meanwhile, so no number below the one returned is still to commit.
  -- A round of every outbox already under way is not waited for: what it numbers is announced to
  -- waiting readers when it commits, and meanwhile the numbers committed so far are the watermark.
  IF pgtrickle._outbox_numbering_turn(false) THEN
    IF NOT EXISTS (SELECT FROM pgtrickle.outbox_numbering) THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = 'pgtrickle.outbox_numbering has lost its row, so outbox commits cannot be numbered',
        HINT = 'Run `pgtrickle-relay install` again: it restores the row.';
    END IF;
    v_idle := (pgtrickle._outbox_number(ARRAY(SELECT DISTINCT pgtrickle._outbox_numbering_unit(t.outbox_name)
                                               FROM pgtrickle.outbox_tables AS t), NULL)).idle_to;
    IF v_idle IS NOT NULL THEN
      -- Every row visible to that statement was numbered already: its snapshot, kept for this
      -- session (no write, so no transaction of its own that would change the next snapshot).
      PERFORM set_config('pgtrickle.numbered_idle_to', pgtrickle._outbox_idle_signed(v_idle), false);
    END IF;
  END IF;
  RETURN pgtrickle._outbox_all_numbered_seq();
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
