-- ============================================================================================
-- Relay runtime state: offsets, pipeline status, dead letters
--
-- Written by the relay directly; positions are (last_seq, last_id) in commit order (section 7).
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.relay_offsets (
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  last_seq       bigint NOT NULL DEFAULT 0,
  last_id        bigint NOT NULL DEFAULT 0,
  -- While the claim-check rows of an outbox row are partly delivered, (last_seq, last_id) is
  -- that row and next_row the row_num to resume at; NULL once last_id is fully delivered.
  next_row       bigint,
  worker_id      text,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay_group_id, pipeline)
);
-- The outbox table a forward pipeline reads, so retention also waits for pipelines that live only
-- in a relay's TOML file. Installs made before it: added here.
ALTER TABLE pgtrickle.relay_offsets ADD COLUMN IF NOT EXISTS outbox text;

-- Ownership epochs (fencing tokens): a relay that takes a pipeline bumps its epoch while it holds
-- the pipeline's advisory lock, and stores positions only while the epoch is still its own. A
-- stalled former owner that wakes up finds a newer epoch and stores nothing.
CREATE TABLE IF NOT EXISTS pgtrickle.relay_owners (
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  epoch          bigint NOT NULL,
  worker_id      text,
  taken_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay_group_id, pipeline)
);

-- The relays running now, a row each, written every 15 s by each relay (beside its pipelines'
-- status rows): a standby, which owns nothing and so writes no status row, shows here too. A row
-- older than 30 s is a relay gone; each relay deletes its group's rows older than a day.
CREATE TABLE IF NOT EXISTS pgtrickle.relay_instances (
  relay_group_id text NOT NULL,
  worker_id      text NOT NULL,
  version        text,
  started_at     timestamptz,
  heartbeat_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay_group_id, worker_id)
);

CREATE TABLE IF NOT EXISTS pgtrickle.relay_pipeline_status (
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  owner          text,
  owner_since    timestamptz,
  heartbeat_at   timestamptz,
  state          text,
  lag_rows       bigint,
  lag_seconds    double precision,
  last_error     text,
  PRIMARY KEY (relay_group_id, pipeline)
);
-- Where the pipeline is defined ('sql' or 'file') and its direction, so that pipelines of relays'
-- TOML files can be listed too. Installs made before them: added here.
ALTER TABLE pgtrickle.relay_pipeline_status
  ADD COLUMN IF NOT EXISTS origin text,
  ADD COLUMN IF NOT EXISTS direction text;
-- The messages the owner delivered since it took the pipeline (written with the heartbeat, every
-- 15 s at least: the console plots the rate from it), and the owning relay's version and start,
-- for the console's page of relays.
ALTER TABLE pgtrickle.relay_pipeline_status
  ADD COLUMN IF NOT EXISTS delivered bigint,
  ADD COLUMN IF NOT EXISTS relay_version text,
  ADD COLUMN IF NOT EXISTS relay_started_at timestamptz;

CREATE TABLE IF NOT EXISTS pgtrickle.relay_dead_letters (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  relay_group_id text,
  pipeline       text NOT NULL,
  direction      text,
  dedup_key      text,
  error          text NOT NULL,
  payload        jsonb,
  raw_payload    text,            -- the bytes as received when they are not JSON
  headers        jsonb,
  position       text,            -- where it came from: outbox id, topic/partition/offset ...
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS relay_dead_letters_pipeline_idx ON pgtrickle.relay_dead_letters (pipeline, created_at);
-- What sending a dead letter again needs (replay_dead_letters()): the message as the sink got it,
-- its body in `body`, the rest in `replay` (op, routes, key, headers, ...; binary values base64);
-- NULL for what relays before replay set aside. `attempts`: how often the sink refused it.
ALTER TABLE pgtrickle.relay_dead_letters
  ADD COLUMN IF NOT EXISTS replay jsonb,
  ADD COLUMN IF NOT EXISTS body bytea,
  ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS replay_requested_at timestamptz;
CREATE INDEX IF NOT EXISTS relay_dead_letters_replay_idx ON pgtrickle.relay_dead_letters (pipeline, id)
  WHERE replay_requested_at IS NOT NULL;

-- Asks the relay that owns a pipeline to send some of its dead letters again (p_ids; NULL: all of
-- them): each goes through the pipeline's sink as it was set aside, and is deleted once the target
-- accepted it; refused again, it stays with the new reason and one more attempt. Returns how many
-- were asked for. Dead letters without their message (set aside by an older relay) cannot be sent
-- again: an error names them.
-- The relay's answer for a dead letter an admin asked to send again (and only for such a one): sent
-- (p_error NULL), it goes; refused again, it keeps the new reason, one more attempt, and is no
-- longer asked for. The relay's role may not change or delete dead letters otherwise.
CREATE OR REPLACE FUNCTION pgtrickle._relay_dead_letter_replayed(p_pipeline text, p_id bigint, p_error text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  IF p_error IS NULL THEN
    DELETE FROM pgtrickle.relay_dead_letters AS d
    WHERE d.pipeline = p_pipeline AND d.id = p_id AND d.replay_requested_at IS NOT NULL;
  ELSE
    UPDATE pgtrickle.relay_dead_letters AS d
    SET error = left(p_error, 2000), attempts = d.attempts + 1, replay_requested_at = NULL
    WHERE d.pipeline = p_pipeline AND d.id = p_id AND d.replay_requested_at IS NOT NULL;
  END IF;
  RETURN FOUND;
END
$$;

CALL pgtrickle._relay_define('replay_dead_letters', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.replay_dead_letters(p_pipeline text, p_ids bigint[] DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_missing bigint[];
    v_old     bigint[];
    v_count   bigint;
  BEGIN
    IF p_ids IS NOT NULL THEN
      v_missing := ARRAY(SELECT i FROM unnest(p_ids) AS i
                         WHERE NOT EXISTS (SELECT FROM pgtrickle.relay_dead_letters AS d WHERE d.pipeline = p_pipeline AND d.id = i));
      IF cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'no_data_found',
          MESSAGE = format('pipeline %s has no dead letter %s', p_pipeline, array_to_string(v_missing, ', ')),
          HINT = 'SELECT id FROM pgtrickle.relay_dead_letters WHERE pipeline = ... lists them (a dead letter sent again is deleted).';
      END IF;
      v_old := ARRAY(SELECT d.id FROM pgtrickle.relay_dead_letters AS d
                     WHERE d.pipeline = p_pipeline AND d.id = ANY (p_ids) AND d.replay IS NULL ORDER BY d.id);
      IF cardinality(v_old) > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
          MESSAGE = format('dead letter %s of pipeline %s cannot be sent again: it was set aside by a relay that did not keep the message as sent',
                           array_to_string(v_old, ', '), p_pipeline),
          HINT = 'Its payload is in the payload (or raw_payload) column: write it to the outbox again, then delete the dead letter.';
      END IF;
    END IF;
    UPDATE pgtrickle.relay_dead_letters AS d SET replay_requested_at = now()
    WHERE d.pipeline = p_pipeline AND d.replay IS NOT NULL AND (p_ids IS NULL OR d.id = ANY (p_ids));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    -- The relay running the pipeline sends them at once; one taking it over looks when it starts.
    IF v_count > 0 THEN
      PERFORM pg_notify('pgtrickle_relay_replay', p_pipeline);
    END IF;
    RETURN v_count;
  END
  $fn$;
$ddl$);

-- The logical replication slots the pipelines of WAL-captured tables read (one per pipeline and
-- relay group), recorded by the relay when it creates one, so that delete_relay and
-- disable_outbox drop them: an abandoned slot holds the server's WAL forever.
CREATE TABLE IF NOT EXISTS pgtrickle.relay_slots (
  slot_name      text PRIMARY KEY,
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  outbox         text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- A slot the server invalidated, and the relay replaced by a new one (on_slot_lost "rebuild", or
-- rebuild_relay_slot once, which sets rebuild_requested): the changes after gap_from (the last one
-- delivered) up to gap_to (where the new slot starts) cannot be read. gap_state: 'rebuilding' from
-- the start of the rebuild until the new slot is made, 'announce' until the gap marker of each table
-- in gap_tables was delivered, then 'announced'.
ALTER TABLE pgtrickle.relay_slots
  ADD COLUMN IF NOT EXISTS rebuild_requested boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS gap_state text CHECK (gap_state IN ('rebuilding', 'announce', 'announced')),
  ADD COLUMN IF NOT EXISTS gap_from pg_lsn,
  ADD COLUMN IF NOT EXISTS gap_to pg_lsn,
  ADD COLUMN IF NOT EXISTS gap_at timestamptz,
  ADD COLUMN IF NOT EXISTS gap_tables oid[],
  ADD COLUMN IF NOT EXISTS rebuilds int NOT NULL DEFAULT 0;
-- The last gap of a pipeline's rebuilt slot, where its status is: {slot, from_lsn, to_lsn, at, backfill_id}.
ALTER TABLE pgtrickle.relay_pipeline_status ADD COLUMN IF NOT EXISTS slot_gap jsonb;

-- Drops the recorded slots of a pipeline (p_pipeline) or of an outbox (p_outbox). A slot being read
-- is released first: its reader's connection is ended (a relay reconnects and finds it gone). Run
-- by delete_relay and disable_outbox, with their (the installer's) rights.
CREATE OR REPLACE FUNCTION pgtrickle._relay_drop_slots(p_pipeline text, p_outbox text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_slot text;
BEGIN
  FOR v_slot IN
    DELETE FROM pgtrickle.relay_slots WHERE pipeline = p_pipeline OR outbox = p_outbox RETURNING slot_name
  LOOP
    -- Only a slot the relay can have created (the relay role writes this table: it must not get
    -- another system's slot dropped through it).
    CONTINUE WHEN NOT pgtrickle._relay_is_slot_name(v_slot) OR NOT EXISTS (
      SELECT 1 FROM pg_replication_slots
      WHERE slot_name = v_slot AND plugin = 'pgoutput' AND database = current_database());
    -- A relay reconnects at once: the slot may be taken again between the end of its reader and the
    -- drop, which is then tried again.
    FOR i IN 1..50 LOOP
      BEGIN
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = v_slot);
        PERFORM pg_drop_replication_slot(v_slot);
        EXIT;
      EXCEPTION WHEN object_in_use THEN
        NULL;
      END;
      BEGIN
        PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = v_slot AND active;
      EXCEPTION WHEN insufficient_privilege THEN
        -- pg_signal_backend ends no superuser's session: a relay logged in as one.
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
          MESSAGE = format('the replication slot "%s" is being read by a superuser''s session (%s), which pgtrickle-relay '
                           'does not end', v_slot,
                           (SELECT format('pid %s, role %s', a.pid, a.usename) FROM pg_replication_slots AS s
                            JOIN pg_stat_activity AS a ON a.pid = s.active_pid WHERE s.slot_name = v_slot)),
          HINT = 'Stop that relay first (and let it log in as a member of pgtrickle_relay, no superuser), then try again.';
      END;
      PERFORM pg_sleep(0.1);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = v_slot) THEN
      PERFORM pg_drop_replication_slot(v_slot);  -- still read after 5 s: its error says by whom
    END IF;
  END LOOP;
END
$$;

-- The relay made a new slot p_slot, starting at p_to, in place of one the server invalidated: the
-- gap is recorded, to be announced; every table the pipeline captures is backfilled (a backfill
-- under way starts over: the new slot's stream did not carry the changes between its chunks). Returns
-- the backfill (NULL when no table has a key to read it by) and the tables the gap marker goes to.
CREATE OR REPLACE FUNCTION pgtrickle._relay_slot_rebuilt(p_slot text, p_pipeline text, p_outbox text, p_group text, p_to pg_lsn)
RETURNS TABLE (backfill_id bigint, tables oid[])
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  s       pgtrickle.relay_slots;
  v_pub   text;
  v_id    bigint;
  v_rels  oid[];
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  SELECT * INTO s FROM pgtrickle.relay_slots AS r WHERE r.slot_name = p_slot AND r.pipeline = p_pipeline FOR UPDATE;
  IF NOT FOUND OR s.gap_state IS DISTINCT FROM 'rebuilding' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('the replication slot "%s" of pipeline "%s" is not being rebuilt', p_slot, p_pipeline);
  END IF;
  SELECT w.publication INTO v_pub FROM pgtrickle.relay_wal_publications AS w
  WHERE w.publication = p_outbox AND w.pipeline = p_pipeline;
  v_rels := CASE WHEN v_pub IS NOT NULL THEN ARRAY(SELECT m.rel::oid FROM pgtrickle._wal_published_tables(v_pub) AS m ORDER BY m.rel::regclass::text)
                 ELSE ARRAY(SELECT pgtrickle._outbox_source(t)::oid FROM pgtrickle.outbox_tables AS t WHERE t.outbox_name = p_outbox) END;
  UPDATE pgtrickle.relay_backfills SET state = 'cancelled', finished_at = now(), updated_at = now(),
         error = format('the replication slot "%s" was rebuilt: a backfill of every table follows', p_slot)
  WHERE pipeline = p_pipeline AND state IN ('pending', 'running');
  BEGIN
    v_id := CASE WHEN v_pub IS NOT NULL THEN pgtrickle._wal_backfill_create('the slot''s rebuild', p_pipeline, NULL)
                 ELSE pgtrickle._relay_backfill_create('the slot''s rebuild', p_pipeline, p_outbox, NULL) END;
  EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_table THEN
    RAISE WARNING 'pipeline "%": the replication slot "%" was rebuilt, but nothing is backfilled: %', p_pipeline, p_slot, SQLERRM;
  END;
  UPDATE pgtrickle.relay_slots SET gap_state = 'announce', gap_to = p_to, gap_tables = v_rels, rebuilds = rebuilds + 1
  WHERE slot_name = p_slot;
  INSERT INTO pgtrickle.relay_pipeline_status AS st (relay_group_id, pipeline, slot_gap)
  VALUES (p_group, p_pipeline, jsonb_build_object('slot', p_slot, 'from_lsn', s.gap_from::text, 'to_lsn', p_to::text,
                                                  'at', s.gap_at, 'backfill_id', v_id))
  ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET slot_gap = excluded.slot_gap;
  RETURN QUERY SELECT v_id, v_rels;
END
$$;

-- Asks the relay to replace a pipeline's replication slot that the server invalidated, once: it
-- makes a new slot, sends a gap marker (op gap) and backfills every table the pipeline captures.
-- Returns the slot. A slot still readable is not rebuilt (that would lose changes for nothing).
CALL pgtrickle._relay_define('rebuild_relay_slot', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.rebuild_relay_slot(p_name text)
  RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_slots text[];
    v_lost  text[];
  BEGIN
    PERFORM pgtrickle._relay_lock_catalog();
    v_slots := ARRAY(SELECT r.slot_name FROM pgtrickle.relay_slots AS r WHERE r.pipeline = p_name ORDER BY 1);
    IF cardinality(v_slots) = 0 THEN
      IF NOT EXISTS (SELECT FROM pgtrickle.relay_outbox_config AS c WHERE c.name = p_name) THEN
        PERFORM pgtrickle._relay_not_found(p_name);
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('rebuild_relay_slot: pipeline "%s" reads no replication slot (it captures no table from the WAL, '
                         'or has not started yet)', p_name);
    END IF;
    v_lost := ARRAY(SELECT s.slot_name FROM pg_replication_slots AS s WHERE s.slot_name = ANY (v_slots) AND s.wal_status = 'lost'
                    ORDER BY 1);
    IF cardinality(v_lost) = 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('rebuild_relay_slot: the replication slot of pipeline "%s" (%s) is not invalidated: every change it holds '
                         'can still be read, so nothing is rebuilt', p_name, array_to_string(v_slots, ', ')),
        HINT = 'A slot is rebuilt once the server invalidated it (wal_status ''lost'' in pg_replication_slots); see its lag in /health.';
    END IF;
    UPDATE pgtrickle.relay_slots SET rebuild_requested = true WHERE slot_name = ANY (v_lost);
    RETURN array_to_string(v_lost, ', ');
  END
  $fn$;
$ddl$);

-- Backfills of forward pipelines (their functions: 14_backfill.sql).
CREATE TABLE IF NOT EXISTS pgtrickle.relay_backfills (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline       text NOT NULL,
  outbox         text NOT NULL,          -- the outbox table the pipeline reads
  source_schema  text NOT NULL,
  source_table   text NOT NULL,
  key_columns    text[] NOT NULL,        -- the table's key, in index order: the chunks follow it
  where_clause   text,                   -- NULL: every row
  state          text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'cancelled', 'failed')),
  last_key       jsonb,                  -- the key of the last row done; NULL: none yet
  rows_done      bigint NOT NULL DEFAULT 0,   -- rows of the table read so far
  rows_sent      bigint NOT NULL DEFAULT 0,   -- of them, sent (the others changed meanwhile: their change was sent)
  rows_estimated bigint,                 -- the planner's estimate when the backfill was requested
  requested_by   text NOT NULL DEFAULT session_user,
  requested_at   timestamptz NOT NULL DEFAULT now(),
  started_at     timestamptz,
  updated_at     timestamptz,
  finished_at    timestamptz,
  error          text
);
-- The table by oid (a rename keeps it), and for a WAL pipeline's backfill of every table, the
-- tables after this one, taken in turn when it ends.
ALTER TABLE pgtrickle.relay_backfills ADD COLUMN IF NOT EXISTS source_oid oid;
ALTER TABLE pgtrickle.relay_backfills ADD COLUMN IF NOT EXISTS next_tables oid[] NOT NULL DEFAULT '{}';
-- The columns the read sends as their text (a Debezium pipeline's PostGIS values, composites).
ALTER TABLE pgtrickle.relay_backfills ADD COLUMN IF NOT EXISTS text_columns text[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX IF NOT EXISTS relay_backfills_active ON pgtrickle.relay_backfills (pipeline)
  WHERE state IN ('pending', 'running');

-- A pipeline's latest backfill, for list_relay_configs() and the relay's health: its state, rows
-- done, sent and estimated, and rows read per second so far.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_summary(p_pipeline text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT jsonb_build_object('id', b.id, 'state', b.state, 'table', format('%I.%I', b.source_schema, b.source_table),
                            'tables_after', cardinality(b.next_tables), 'where', b.where_clause, 'rows_done', b.rows_done,
                            'rows_sent', b.rows_sent, 'rows_estimated', b.rows_estimated,
                            'rows_per_second', CASE WHEN b.started_at IS NOT NULL AND b.updated_at > b.started_at
                              THEN round((b.rows_done / extract(epoch FROM b.updated_at - b.started_at))::numeric, 1) END,
                            'requested_at', b.requested_at, 'finished_at', b.finished_at, 'error', b.error)
  FROM pgtrickle.relay_backfills AS b
  WHERE b.pipeline = p_pipeline
  ORDER BY b.id DESC
  LIMIT 1
$$;

-- Deleting a pipeline also forgets its offsets: a new pipeline of the same name starts afresh.
-- _relay_delete forgets it and returns its WAL publications, which the session then drops itself
-- (_wal_publications_drop: their owner's to drop).
CREATE OR REPLACE FUNCTION pgtrickle._relay_delete(p_name text)
RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
DECLARE
  v_found  boolean;
  v_outbox text;
  v_pubs   text[];
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  v_outbox := coalesce((SELECT pgtrickle._relay_config_outbox_ref(c.config) FROM pgtrickle.relay_outbox_config AS c WHERE c.name = p_name),
                       (SELECT o.outbox FROM pgtrickle.relay_offsets AS o WHERE o.pipeline = p_name AND o.outbox IS NOT NULL LIMIT 1));
  WITH gone AS (
    DELETE FROM pgtrickle.relay_outbox_config WHERE name = p_name RETURNING 1
  ), gone_too AS (
    DELETE FROM pgtrickle.relay_inbox_config WHERE name = p_name RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM gone_too) INTO v_found;
  -- A pipeline of a relay's TOML file has no catalog entry, only its stored position.
  IF NOT v_found AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_offsets WHERE pipeline = p_name) THEN
    PERFORM pgtrickle._relay_not_found(p_name);
  END IF;
  DELETE FROM pgtrickle.relay_offsets WHERE pipeline = p_name;
  DELETE FROM pgtrickle.relay_pipeline_status WHERE pipeline = p_name;
  PERFORM pgtrickle._relay_drop_slots(p_name, NULL);
  WITH gone AS (DELETE FROM pgtrickle.relay_wal_publications WHERE pipeline = p_name RETURNING publication)
  SELECT coalesce(array_agg(publication), '{}') INTO v_pubs FROM gone;
  PERFORM pgtrickle._relay_backfill_forget(p_name, NULL);
  IF pgtrickle._outbox_is_stream(v_outbox) THEN
    PERFORM pgstream._stream_outbox_drop_unused(v_outbox);
  END IF;
  RETURN v_pubs;
END
$fn$;

CALL pgtrickle._relay_define('delete_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.delete_relay(p_name text)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ BEGIN PERFORM pgtrickle._wal_publications_drop(pgtrickle._relay_delete(p_name)); END $fn$;
$ddl$);

-- Every pipeline: those of the catalog, then those of relays' TOML files that a live relay runs
-- (read-only here, config NULL, origin 'file'). relay_group_id is the relay group assigned to run
-- the pipeline (NULL: any); owner, state and lag come from the freshest status row of a live relay
-- (heartbeat under 30 s). A disabled pipeline shows state 'disabled' and no owner, at once.
CALL pgtrickle._relay_define('list_relay_configs', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.list_relay_configs()
  RETURNS TABLE (name text, direction text, enabled boolean, config jsonb, relay_group_id text, owner text,
                 state text, lag bigint, lag_seconds double precision, last_error text, updated_at timestamptz,
                 origin text, backfill jsonb)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT * FROM (
      SELECT c.name, c.direction, c.enabled, c.config, pgtrickle._relay_config_group(c.config),
             CASE WHEN c.enabled THEN s.owner END,
             CASE WHEN c.enabled THEN s.state ELSE 'disabled' END,
             CASE WHEN c.enabled THEN s.lag_rows END, CASE WHEN c.enabled THEN s.lag_seconds END,
             CASE WHEN c.enabled THEN s.last_error END, c.updated_at, 'sql', pgtrickle._relay_backfill_summary(c.name)
      FROM pgtrickle._relay_all_configs() AS c
      LEFT JOIN LATERAL (
        SELECT * FROM pgtrickle.relay_pipeline_status AS s
        WHERE s.pipeline = c.name AND s.heartbeat_at > now() - interval '30 seconds'
        ORDER BY s.heartbeat_at DESC
        LIMIT 1
      ) AS s ON true
      UNION ALL
      (SELECT DISTINCT ON (s.pipeline) s.pipeline, s.direction, true, NULL::jsonb, s.relay_group_id, s.owner, s.state,
              s.lag_rows, s.lag_seconds, s.last_error, NULL::timestamptz, 'file', pgtrickle._relay_backfill_summary(s.pipeline)
       FROM pgtrickle.relay_pipeline_status AS s
       WHERE s.origin = 'file' AND s.heartbeat_at > now() - interval '30 seconds'
         AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_outbox_config AS c WHERE c.name = s.pipeline)
         AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_inbox_config AS c WHERE c.name = s.pipeline)
       ORDER BY s.pipeline, s.heartbeat_at DESC)
    ) AS p
    ORDER BY 1
  $fn$;
$ddl$);
