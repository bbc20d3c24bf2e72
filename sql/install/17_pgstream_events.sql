-- ============================================================================================
-- Subscriptions (postgres-stream): the events
--
-- Each stream reads as an outbox (pgtrickle.pgstream_<N>), and pgstream.events is kept in daily
-- partitions, dropped after their retention unless a reader still needs them.
-- ============================================================================================

-- --------------------------------------------------------------------------------------------
-- A stream as an outbox
-- --------------------------------------------------------------------------------------------

-- The outbox of stream p_stream_id: the view pgtrickle.pgstream_<N>, in the layout of an outbox
-- table, registered in pgtrickle.outbox_tables. Created when missing (by a pipeline reading the
-- stream, or an admin: subscribing makes none, so no login can make streams every reader pays
-- for); the transactions of the stream's events written before are numbered then. Returns its name.
CREATE OR REPLACE FUNCTION pgstream.stream_outbox(p_stream_id bigint)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
  v_name text := 'pgstream_' || p_stream_id;
  v_rel  regclass;
  v_last pg_snapshot;
BEGIN
  IF p_stream_id IS NULL OR p_stream_id < 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('pgstream.stream_outbox: the stream id must be a number from 0 up, got %s', coalesce(p_stream_id::text, 'NULL'));
  END IF;
  IF EXISTS (SELECT FROM pgtrickle.outbox_tables WHERE outbox_name = v_name)
     AND to_regclass(format('pgtrickle.%I', v_name)) IS NOT NULL THEN
    RETURN v_name;
  END IF;
  PERFORM pgtrickle._relay_lock_catalog();   -- concurrent first subscriptions of a stream queue here
  v_rel := to_regclass(format('pgtrickle.%I', v_name));
  IF v_rel IS NOT NULL AND (SELECT c.relkind FROM pg_class AS c WHERE c.oid = v_rel) <> 'v' THEN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
      MESSAGE = format('pgstream.stream_outbox: pgtrickle.%I exists and is not the view of stream %s', v_name, p_stream_id),
      HINT = 'Rename or drop that table; the name is the stream''s.';
  END IF;
  EXECUTE format($v$
    CREATE OR REPLACE VIEW pgtrickle.%I AS
    SELECT e.id, e.created_at, 0::bigint AS inserted_count, 0::bigint AS deleted_count, false AS is_claim_check,
           e.payload, NULL::uuid AS refresh_id, '{}'::jsonb AS headers, 'event'::text AS kind, e.xid
    FROM pgstream.events AS e
    WHERE e.stream_id = %s
  $v$, v_name, p_stream_id);
  INSERT INTO pgtrickle.outbox_tables (outbox_name, source_schema, source_table, delta_table)
  VALUES (v_name, NULL, v_name, NULL)
  ON CONFLICT (outbox_name) DO NOTHING;
  -- Events written before: their transactions visible to the last numbering round are numbered
  -- here, as that round would have; the later ones are found by the next round, which runs after
  -- this transaction (its turn is held until then) and so sees the stream registered.
  PERFORM pgtrickle._outbox_numbering_turn(true);
  SELECT coalesce(u.numbered_to, o.numbered_to) INTO v_last
  FROM pgtrickle.outbox_numbering AS o LEFT JOIN pgtrickle.outbox_numbered AS u ON u.unit = 'pgstream';
  WITH found AS (
    SELECT e.xid, max(e.id) AS last_id, max(e.created_at) AS written_at
    FROM pgstream.events AS e
    WHERE e.stream_id = p_stream_id AND e.xid < pg_snapshot_xmax(v_last)
      AND NOT e.xid = ANY (ARRAY(SELECT pg_snapshot_xip(v_last)))
    GROUP BY e.xid),
  numbered AS (
    INSERT INTO pgtrickle.outbox_commits (outbox, xid, seq, committed_at)
    SELECT v_name, f.xid, nextval('pgtrickle.outbox_commit_seq'), f.written_at
    FROM (SELECT * FROM found ORDER BY last_id) AS f
    ON CONFLICT (outbox, xid) DO NOTHING
    RETURNING seq)
  INSERT INTO pgtrickle.outbox_numbered AS u (unit, numbered_to, numbered_seq)
  SELECT 'pgstream', v_last, max(n.seq) FROM numbered AS n HAVING count(*) > 0
  ON CONFLICT (unit) DO UPDATE SET numbered_seq = greatest(u.numbered_seq, excluded.numbered_seq);
  PERFORM pgtrickle._outbox_grant(ARRAY[v_name]);
  RETURN v_name;
END
$$;

-- A stream's outbox no pipeline of the catalog reads, no relay has a position in and no consumer
-- group follows goes (its view, registration and commit numbers): streams cost every numbering
-- round, and are made again, with their events, by the next pipeline that reads them.
CREATE OR REPLACE FUNCTION pgstream._stream_outbox_drop_unused(p_outbox text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pgtrickle._outbox_is_stream(p_outbox)
     OR EXISTS (SELECT FROM pgtrickle._relay_all_configs() AS c WHERE pgtrickle._relay_config_outbox_ref(c.config) = p_outbox)
     OR EXISTS (SELECT FROM pgtrickle.relay_offsets AS o WHERE o.outbox = p_outbox)
     OR EXISTS (SELECT FROM pgtrickle.outbox_consumer_groups AS g WHERE g.outbox_name = p_outbox) THEN
    RETURN;
  END IF;
  EXECUTE format('DROP VIEW IF EXISTS pgtrickle.%I', p_outbox);
  DELETE FROM pgtrickle.outbox_commits WHERE outbox = p_outbox;
  DELETE FROM pgtrickle.outbox_tables WHERE outbox_name = p_outbox;
END
$$;

-- The publication of stream p_stream_id, for pipelines that read it from the WAL ("read_from":
-- "wal"): the inserts into pgstream.events of that stream alone, published as the partitioned
-- table's own (publish_via_partition_root), named pgtrickle_pgstream_<N>. Created when missing;
-- returns its name. It stays when no pipeline reads it any more: a publication no slot reads costs
-- nothing.
CREATE OR REPLACE FUNCTION pgstream.stream_publication(p_stream_id bigint)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name text := 'pgtrickle_pgstream_' || p_stream_id;
  v_mine text := format('stream_id = %s', p_stream_id);
BEGIN
  IF p_stream_id IS NULL OR p_stream_id < 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('pgstream.stream_publication: the stream id must be a number from 0 up, got %s', coalesce(p_stream_id::text, 'NULL'));
  END IF;
  IF current_setting('wal_level') <> 'logical' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('reading stream %s from the WAL needs wal_level = logical, and it is %s', p_stream_id, current_setting('wal_level')),
      HINT = 'Set wal_level = logical (a server restart), or read the events table: leave "read_from" out (or "table").';
  END IF;
  PERFORM pgtrickle._relay_lock_catalog();   -- two pipelines of a new stream starting at once
  IF EXISTS (SELECT FROM pg_publication WHERE pubname = v_name) THEN
    -- Ours only: pgstream.events alone, inserts only, this stream's rows.
    IF NOT EXISTS (SELECT FROM pg_publication AS p
                   JOIN pg_publication_rel AS r ON r.prpubid = p.oid AND r.prrelid = 'pgstream.events'::regclass
                   WHERE p.pubname = v_name AND p.pubinsert AND NOT p.pubupdate AND NOT p.pubdelete AND p.pubviaroot
                     AND pg_get_expr(r.prqual, r.prrelid) = '(' || v_mine || ')'
                     AND (SELECT count(*) FROM pg_publication_rel AS o WHERE o.prpubid = p.oid) = 1) THEN
      RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
        MESSAGE = format('the publication %s exists and is not the one of stream %s (pgstream.events, inserts, WHERE %s)',
                         v_name, p_stream_id, v_mine),
        HINT = format('Drop or rename it (DROP PUBLICATION %I): the name is the stream''s.', v_name);
    END IF;
    RETURN v_name;
  END IF;
  EXECUTE format('CREATE PUBLICATION %I FOR TABLE pgstream.events WHERE (%s) '
                 'WITH (publish = ''insert'', publish_via_partition_root = true)', v_name, v_mine);
  RETURN v_name;
END
$$;

-- --------------------------------------------------------------------------------------------
-- Daily partitions
-- --------------------------------------------------------------------------------------------

-- The partitions of pgstream.events with their ranges (the default partition: NULL bounds).
CREATE OR REPLACE FUNCTION pgstream._partitions()
RETURNS TABLE (partition regclass, range_from timestamptz, range_to timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass, b[1]::timestamptz, b[2]::timestamptz
  FROM pg_inherits AS i
  JOIN pg_class AS c ON c.oid = i.inhrelid
  LEFT JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)') AS b) AS x ON true
  WHERE i.inhparent = 'pgstream.events'::regclass
$$;

-- Who still needs events of a partition: enabled pipelines (in the relay group they run in) and
-- consumer groups of a stream that have not consumed one of its events there. An event whose
-- transaction has no commit number yet is not consumed. Run outbox_watermark() before.
CREATE OR REPLACE FUNCTION pgstream._partition_holders(p_partition regclass)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t pgtrickle.outbox_tables;
BEGIN
  FOR t IN SELECT * FROM pgtrickle.outbox_tables AS o WHERE pgtrickle._outbox_is_stream(o.outbox_name) ORDER BY o.outbox_name LOOP
    RETURN QUERY EXECUTE format($q$
      SELECT r.who FROM (
        SELECT format('pipeline "%%s"', p.pipeline) AS who, p.last_seq AS seq, p.last_id AS id, p.complete
        FROM pgtrickle._outbox_pipeline_positions($1) AS p
        UNION ALL
        SELECT format('consumer group "%%s"', g.group_name), g.committed_seq, g.committed_id, 1
        FROM pgtrickle.outbox_consumer_groups AS g WHERE g.outbox_name = $2) AS r
      WHERE EXISTS (SELECT FROM %s AS e
                    LEFT JOIN pgtrickle.outbox_commits AS c ON c.outbox = $2 AND c.xid = e.xid
                    WHERE e.stream_id = $3 AND (c.seq IS NULL OR (c.seq, e.id, 1) > (r.seq, r.id, r.complete)))
      ORDER BY 1
    $q$, p_partition) USING t, t.outbox_name, substr(t.outbox_name, length('pgstream_') + 1)::bigint;
  END LOOP;
END
$$;

-- One maintenance run at a time: a lock only the installer takes (as pgtrickle._lock_catalog),
-- held until the transaction ends. Returns whether it was free.
CREATE TABLE IF NOT EXISTS pgstream._lock_maintenance ();
REVOKE ALL ON pgstream._lock_maintenance FROM PUBLIC;
CREATE OR REPLACE FUNCTION pgstream._maintenance_turn()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  LOCK TABLE pgstream._lock_maintenance IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
  RETURN true;
EXCEPTION WHEN lock_not_available THEN
  RETURN false;
END
$$;

-- Creates the partitions of today and of partition_settings.days_ahead days after it (UTC days),
-- and drops those whose whole range is older than retention_days days, except a partition still
-- holding an event some enabled pipeline or consumer group has not consumed ('kept', with who).
-- A day whose range already has rows in the default partition is not created ('skipped': its rows
-- stay there). Never waits long for a lock ('busy': tried again next run). One run at a time.
-- Returns what it did.
CREATE OR REPLACE FUNCTION pgstream.maintain_partitions()
RETURNS TABLE (partition text, action text, reason text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
  v_set   pgstream.partition_settings;
  v_day   date;
  v_from  timestamptz;
  v_name  text;
  v_who   text[];
  p       record;
BEGIN
  IF NOT pgstream._maintenance_turn() THEN
    RETURN QUERY SELECT NULL::text, 'skipped'::text, 'another maintenance run is under way'::text;
    RETURN;
  END IF;
  SELECT * INTO v_set FROM pgstream.partition_settings;
  v_set.days_ahead := coalesce(v_set.days_ahead, 3);
  v_set.retention_days := coalesce(v_set.retention_days, 7);

  FOR v_day IN SELECT (now() AT TIME ZONE 'UTC')::date + n FROM generate_series(0, v_set.days_ahead) AS n LOOP
    v_from := format('%s 00:00:00+00', v_day)::timestamptz;
    v_name := 'events_' || to_char(v_day, 'YYYYMMDD');
    CONTINUE WHEN EXISTS (SELECT FROM pgstream._partitions() AS x
                          WHERE x.range_from < v_from + interval '1 day' AND x.range_to > v_from);
    IF EXISTS (SELECT FROM pgstream.events_default AS d
               WHERE d.created_at >= v_from AND d.created_at < v_from + interval '1 day') THEN
      RETURN QUERY SELECT format('pgstream.%I', v_name), 'skipped'::text,
        'the default partition already holds events of that day; they stay there'::text;
      CONTINUE;
    END IF;
    BEGIN
      -- Made apart and attached: ATTACH locks the parent only against other DDL, not writers.
      EXECUTE format('CREATE TABLE pgstream.%I (LIKE pgstream.events INCLUDING DEFAULTS)', v_name);
      PERFORM pgstream._lock('LOCK TABLE pgstream.events IN SHARE UPDATE EXCLUSIVE MODE', 'pgstream.events',
                             'pgstream.maintain_partitions');
      PERFORM pgstream._lock('LOCK TABLE pgstream.events_default IN ACCESS EXCLUSIVE MODE', 'pgstream.events_default',
                             'pgstream.maintain_partitions');
      EXECUTE format('ALTER TABLE pgstream.events ATTACH PARTITION pgstream.%I FOR VALUES FROM (%L) TO (%L)',
                     v_name, format('%s 00:00:00+00', v_day), format('%s 00:00:00+00', v_day + 1));
      RETURN QUERY SELECT format('pgstream.%I', v_name), 'created'::text, format('day %s (UTC)', v_day);
    EXCEPTION WHEN lock_not_available THEN
      RETURN QUERY SELECT format('pgstream.%I', v_name), 'busy'::text, SQLERRM;
    END;
  END LOOP;

  -- Rows are kept by their commit's number: number what committed since the last read.
  PERFORM pgtrickle.outbox_watermark();
  FOR p IN SELECT x.* FROM pgstream._partitions() AS x
           WHERE x.range_to <= now() - make_interval(days => v_set.retention_days)
           ORDER BY x.range_from LOOP
    v_who := ARRAY(SELECT pgstream._partition_holders(p.partition));
    IF cardinality(v_who) > 0 THEN
      RETURN QUERY SELECT p.partition::text, 'kept'::text,
        format('past retention, but %s not consumed all of its events', array_to_string(v_who, ', ')
               || CASE WHEN cardinality(v_who) = 1 THEN ' has' ELSE ' have' END);
      CONTINUE;
    END IF;
    BEGIN
      PERFORM pgstream._lock('LOCK TABLE pgstream.events IN ACCESS EXCLUSIVE MODE', 'pgstream.events', 'pgstream.maintain_partitions');
      -- Its transactions' commit numbers go with it.
      EXECUTE format('DELETE FROM pgtrickle.outbox_commits AS c USING (SELECT DISTINCT e.stream_id, e.xid FROM %s AS e) AS e
                      WHERE c.outbox = ''pgstream_'' || e.stream_id AND c.xid = e.xid', p.partition);
      v_name := p.partition::text;   -- named before it goes
      EXECUTE format('DROP TABLE %s', p.partition);
      RETURN QUERY SELECT v_name, 'dropped'::text,
        format('older than %s days (up to %s)', v_set.retention_days, p.range_to);
    EXCEPTION WHEN lock_not_available THEN
      RETURN QUERY SELECT p.partition::text, 'busy'::text, SQLERRM;
    WHEN insufficient_privilege THEN
      -- A partition someone else made (a DBA's CREATE TABLE ... PARTITION OF): theirs to drop.
      RETURN QUERY SELECT p.partition::text, 'kept'::text,
        format('past retention, but it belongs to role %s, and only partitions of role %s are dropped here: '
               'drop it as its owner, or ALTER TABLE %s OWNER TO %s',
               (SELECT c.relowner::regrole FROM pg_class AS c WHERE c.oid = p.partition), current_user, p.partition, current_user);
    END;
  END LOOP;
END
$$;

-- Every partition: its range, the planner's row estimate (NULL before the first ANALYZE),
-- whether it is past retention and, if so, who keeps it.
CREATE OR REPLACE FUNCTION pgstream.partition_status()
RETURNS TABLE (partition text, range_from timestamptz, range_to timestamptz, rows_estimate bigint,
               past_retention boolean, kept_for text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT x.partition::text, x.range_from, x.range_to,
         CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END,
         coalesce(x.range_to <= now() - make_interval(days => s.retention_days), false),
         CASE WHEN x.range_to <= now() - make_interval(days => s.retention_days)
              THEN ARRAY(SELECT pgstream._partition_holders(x.partition)) END
  FROM pgstream._partitions() AS x
  JOIN pg_class AS c ON c.oid = x.partition
  CROSS JOIN (SELECT coalesce(max(retention_days), 7) AS retention_days FROM pgstream.partition_settings) AS s
  ORDER BY x.range_from NULLS LAST
$$;

-- A fresh install has today's partitions and those ahead.
DO $$ BEGIN PERFORM pgstream.maintain_partitions(); END $$;

-- Every stream's outbox and every subscribed table's trigger again, as this install generates
-- them (only what differs is rewritten).
DO $$
DECLARE
  r record;
BEGIN
  PERFORM pgstream.stream_outbox(substr(t.outbox_name, length('pgstream_') + 1)::bigint)
  FROM pgtrickle.outbox_tables AS t WHERE pgtrickle._outbox_is_stream(t.outbox_name);
  FOR r IN SELECT DISTINCT ON (table_oid, operation) table_oid, operation, key
           FROM pgstream.subscriptions WHERE table_oid IS NOT NULL ORDER BY table_oid, operation, key LOOP
    BEGIN
      PERFORM pgstream._generate(r.table_oid, r.operation, r.key);
    EXCEPTION WHEN lock_not_available OR insufficient_privilege OR object_in_use THEN
      RAISE WARNING 'the pgstream trigger of % (%) was left as it was: %', pgstream._bound_table(r.table_oid), r.operation, SQLERRM
        USING HINT = 'Install again later; an unchanged subscription keeps working meanwhile.';
    END;
  END LOOP;
END
$$;
