-- ============================================================================================
-- Consumer groups
--
-- Direct polling of an outbox by applications. The workers of one group share the work: each
-- poll hands a worker a lease on the next rows (in commit order) that nobody else holds; an
-- expired lease returns its rows to the group; a commit marks a lease done, and the group's
-- position moves over done leases that follow it without a gap, never backwards. Offsets
-- exposed to callers are outbox ids.
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.outbox_consumer_groups (
  group_name        text PRIMARY KEY,
  outbox_name       text NOT NULL REFERENCES pgtrickle.outbox_tables (outbox_name) ON DELETE CASCADE,
  auto_offset_reset text NOT NULL DEFAULT 'latest' CHECK (auto_offset_reset IN ('earliest', 'latest')),
  committed_seq     bigint NOT NULL DEFAULT 0,   -- every row up to (committed_seq, committed_id) is consumed
  committed_id      bigint NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_consumer_groups_outbox_idx ON pgtrickle.outbox_consumer_groups (outbox_name);

CREATE TABLE IF NOT EXISTS pgtrickle.outbox_consumers (
  group_name            text NOT NULL REFERENCES pgtrickle.outbox_consumer_groups ON DELETE CASCADE,
  consumer_id           text NOT NULL,
  last_heartbeat_at     timestamptz NOT NULL DEFAULT now(),
  last_committed_at     timestamptz,
  last_committed_offset bigint,
  PRIMARY KEY (group_name, consumer_id)
);

-- Rows (first_seq, first_id) .. (last_seq, last_id) in commit order, handed to one consumer.
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_consumer_leases (
  group_name  text NOT NULL,
  consumer_id text NOT NULL,
  first_seq   bigint NOT NULL,
  first_id    bigint NOT NULL,
  last_seq    bigint NOT NULL,
  last_id     bigint NOT NULL,
  expires_at  timestamptz NOT NULL,
  done        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (group_name, first_seq, first_id),
  FOREIGN KEY (group_name, consumer_id) REFERENCES pgtrickle.outbox_consumers ON DELETE CASCADE
);

-- A consumer group, locked when p_lock: polls and commits of one group run one at a time.
CREATE OR REPLACE FUNCTION pgtrickle._consumer_group(p_group text, p_lock boolean)
RETURNS pgtrickle.outbox_consumer_groups
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  g pgtrickle.outbox_consumer_groups;
BEGIN
  IF p_lock THEN
    SELECT * INTO g FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_group FOR UPDATE;
  ELSE
    SELECT * INTO g FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_group;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('consumer group "%s" not found', p_group),
      HINT = 'Create it with SELECT pgtrickle.create_consumer_group(group_name, outbox).';
  END IF;
  RETURN g;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._consumer_require(p_group text, p_consumer text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgtrickle.outbox_consumers WHERE group_name = p_group AND consumer_id = p_consumer) THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('consumer "%s" is not a member of consumer group "%s"', p_consumer, p_group),
      HINT = 'A consumer joins its group with its first poll_outbox.';
  END IF;
END
$$;

-- Commit position (seq) of the committed outbox row with this id, or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_seq_of(p_outbox text, p_id bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_seq bigint;
BEGIN
  EXECUTE format('SELECT r.seq FROM (%s) AS r WHERE r.id = $1 AND r.seq IS NOT NULL', pgtrickle._outbox_rows_sql(p_outbox))
    INTO v_seq USING p_id;
  RETURN v_seq;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._consumer_group_create(p_name text, p_outbox text, p_rel regclass, p_auto_offset_reset text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t      pgtrickle.outbox_tables;
  g      pgtrickle.outbox_consumer_groups;
  v_seq  bigint := 0;
  v_id   bigint := 0;
BEGIN
  IF p_name IS NULL OR btrim(p_name) = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'create_consumer_group: the group name must not be empty';
  END IF;
  IF p_auto_offset_reset IS NULL OR p_auto_offset_reset NOT IN ('earliest', 'latest') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('create_consumer_group: auto_offset_reset must be ''earliest'' or ''latest'', got %s',
                       coalesce(quote_literal(p_auto_offset_reset), 'NULL'));
  END IF;
  t := pgtrickle._outbox_find(p_outbox, p_rel);
  IF t.outbox_name IS NULL THEN
    PERFORM pgtrickle._outbox_not_found(p_outbox);
  END IF;
  PERFORM pgtrickle._relay_lock_catalog();
  SELECT * INTO g FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_name;
  IF FOUND THEN
    IF g.outbox_name = t.outbox_name AND g.auto_offset_reset = p_auto_offset_reset THEN
      RAISE NOTICE 'consumer group "%" already exists', p_name;
      RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
      MESSAGE = format('consumer group "%s" already exists, for outbox pgtrickle.%I with auto_offset_reset ''%s''',
                       p_name, g.outbox_name, g.auto_offset_reset);
  END IF;
  IF p_auto_offset_reset = 'latest' THEN
    -- "latest" is the position now: rows committed from here on are the group's.
    EXECUTE format('SELECT r.seq, r.id FROM (%s) AS r WHERE r.seq <= $1 ORDER BY r.seq DESC, r.id DESC LIMIT 1',
                   pgtrickle._outbox_rows_sql(t.outbox_name))
      INTO v_seq, v_id USING (SELECT w.watermark FROM pgtrickle.outbox_watermarks(ARRAY[t.outbox_name]) AS w);
  END IF;
  INSERT INTO pgtrickle.outbox_consumer_groups (group_name, outbox_name, auto_offset_reset, committed_seq, committed_id)
  VALUES (p_name, t.outbox_name, p_auto_offset_reset, coalesce(v_seq, 0), coalesce(v_id, 0));
END
$$;

CALL pgtrickle._relay_define('create_consumer_group', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_consumer_group(p_name text, p_outbox text, p_auto_offset_reset text DEFAULT 'latest')
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._consumer_group_create(p_name, p_outbox, pgtrickle._relay_regclass(p_outbox), p_auto_offset_reset) $fn$;
$ddl$);

CALL pgtrickle._relay_define('drop_consumer_group', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.drop_consumer_group(p_name text, p_if_exists boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    DELETE FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_name;
    IF NOT FOUND THEN
      IF coalesce(p_if_exists, false) THEN
        RAISE NOTICE 'consumer group "%" not found, skipping', p_name;
      ELSE
        PERFORM pgtrickle._consumer_group(p_name, false);   -- raises "not found"
      END IF;
    END IF;
  END
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('poll_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.poll_outbox(p_group text, p_consumer text, p_batch_size int DEFAULT 100,
                                                   p_visibility_seconds int DEFAULT 30)
  RETURNS TABLE (outbox_id bigint, pgt_id uuid, created_at timestamptz, inserted_count bigint, deleted_count bigint,
                 is_claim_check boolean, payload jsonb, headers jsonb)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  #variable_conflict use_column
  DECLARE
    g       pgtrickle.outbox_consumer_groups;
    l       pgtrickle.outbox_consumer_leases;
    v_next  pgtrickle.outbox_consumer_leases;
    v_rows  text;
    v_wm    bigint;
    v_seq   bigint;
    v_id    bigint;
    v_fseq  bigint;
    v_fid   bigint;
    v_lseq  bigint;
    v_lid   bigint;
  BEGIN
    IF p_consumer IS NULL OR btrim(p_consumer) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'poll_outbox: the consumer id must not be empty';
    END IF;
    IF p_batch_size IS NULL OR p_batch_size < 1 OR p_visibility_seconds IS NULL OR p_visibility_seconds < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('poll_outbox: batch size and visibility seconds must be at least 1, got %s and %s',
                         coalesce(p_batch_size::text, 'NULL'), coalesce(p_visibility_seconds::text, 'NULL'));
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
        MESSAGE = 'poll_outbox needs READ COMMITTED isolation: it must see rows that commit while it waits for the outbox watermark';
    END IF;

    g := pgtrickle._consumer_group(p_group, true);
    INSERT INTO pgtrickle.outbox_consumers (group_name, consumer_id) VALUES (p_group, p_consumer)
    ON CONFLICT (group_name, consumer_id) DO UPDATE SET last_heartbeat_at = now();
    -- Expired leases give their rows back to the group.
    DELETE FROM pgtrickle.outbox_consumer_leases AS x
    WHERE x.group_name = p_group AND NOT x.done AND x.expires_at <= now();
    v_rows := pgtrickle._outbox_rows_sql(g.outbox_name);

    -- A consumer that still holds a lease gets the same rows again.
    SELECT * INTO l FROM pgtrickle.outbox_consumer_leases AS x
    WHERE x.group_name = p_group AND x.consumer_id = p_consumer AND NOT x.done
    ORDER BY x.first_seq, x.first_id LIMIT 1;

    IF NOT FOUND THEN
      v_wm := (SELECT w.watermark FROM pgtrickle.outbox_watermarks(ARRAY[g.outbox_name]) AS w);
      -- The first row past the group position that no lease covers ...
      v_seq := g.committed_seq;
      v_id := g.committed_id;
      LOOP
        EXECUTE format('SELECT r.seq, r.id FROM (%s) AS r WHERE r.seq <= $1 AND (r.seq, r.id) > ($2, $3) '
                       'ORDER BY r.seq, r.id LIMIT 1', v_rows)
          INTO v_fseq, v_fid USING v_wm, v_seq, v_id;
        IF v_fseq IS NULL THEN
          RETURN;   -- nothing to hand out
        END IF;
        SELECT x.last_seq, x.last_id INTO v_seq, v_id FROM pgtrickle.outbox_consumer_leases AS x
        WHERE x.group_name = p_group
          AND (x.first_seq, x.first_id) <= (v_fseq, v_fid) AND (x.last_seq, x.last_id) >= (v_fseq, v_fid);
        EXIT WHEN NOT FOUND;
      END LOOP;
      -- ... and up to batch-size rows from there, stopping before the next lease.
      SELECT * INTO v_next FROM pgtrickle.outbox_consumer_leases AS x
      WHERE x.group_name = p_group AND (x.first_seq, x.first_id) > (v_fseq, v_fid)
      ORDER BY x.first_seq, x.first_id LIMIT 1;
      EXECUTE format('SELECT b.seq, b.id FROM (SELECT r.seq, r.id FROM (%s) AS r '
                     '  WHERE r.seq <= $1 AND (r.seq, r.id) >= ($2, $3) AND ($4::bigint IS NULL OR (r.seq, r.id) < ($4, $5)) '
                     '  ORDER BY r.seq, r.id LIMIT $6) AS b '
                     'ORDER BY b.seq DESC, b.id DESC LIMIT 1', v_rows)
        INTO v_lseq, v_lid USING v_wm, v_fseq, v_fid, v_next.first_seq, v_next.first_id, p_batch_size;
      INSERT INTO pgtrickle.outbox_consumer_leases (group_name, consumer_id, first_seq, first_id, last_seq, last_id, expires_at)
      VALUES (p_group, p_consumer, v_fseq, v_fid, v_lseq, v_lid, now() + make_interval(secs => p_visibility_seconds))
      RETURNING * INTO l;
    END IF;

    RETURN QUERY EXECUTE format(
      'SELECT (r.o).id, (r.o).refresh_id, (r.o).created_at, (r.o).inserted_count, (r.o).deleted_count, '
      '       (r.o).is_claim_check, (r.o).payload, (r.o).headers '
      'FROM (%s) AS r WHERE (r.seq, r.id) >= ($1, $2) AND (r.seq, r.id) <= ($3, $4) ORDER BY r.seq, r.id', v_rows)
      USING l.first_seq, l.first_id, l.last_seq, l.last_id;
  END
  $fn$;
$ddl$);

-- Marks the caller's lease done up to p_last_offset (an outbox id it was handed), then moves
-- the group position over every done lease that directly follows it.
CALL pgtrickle._relay_define('commit_offset', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.commit_offset(p_group text, p_consumer text, p_last_offset bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    g      pgtrickle.outbox_consumer_groups := pgtrickle._consumer_group(p_group, true);
    l      pgtrickle.outbox_consumer_leases;
    v_rows text := pgtrickle._outbox_rows_sql(g.outbox_name);
    v_seq  bigint;
    v_nseq bigint;
    v_nid  bigint;
    v_gap  boolean;
  BEGIN
    PERFORM pgtrickle._consumer_require(p_group, p_consumer);
    v_seq := pgtrickle._outbox_seq_of(g.outbox_name, p_last_offset);
    IF v_seq IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('commit_offset: outbox pgtrickle.%I has no committed row with id %s', g.outbox_name, p_last_offset);
    END IF;

    IF (v_seq, p_last_offset) > (g.committed_seq, g.committed_id) THEN
      SELECT * INTO l FROM pgtrickle.outbox_consumer_leases AS x
      WHERE x.group_name = p_group AND x.consumer_id = p_consumer AND NOT x.done
        AND (x.first_seq, x.first_id) <= (v_seq, p_last_offset) AND (x.last_seq, x.last_id) >= (v_seq, p_last_offset);
      IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
          MESSAGE = format('commit_offset: consumer "%s" of group "%s" holds no lease covering offset %s',
                           p_consumer, p_group, p_last_offset),
          HINT = 'The lease probably expired and its rows were handed to another consumer; poll again. '
                 'Use extend_lease() while processing takes long.';
      END IF;
      IF (l.last_seq, l.last_id) > (v_seq, p_last_offset) THEN
        -- Part of the lease: the rest stays leased to the consumer.
        EXECUTE format('SELECT r.seq, r.id FROM (%s) AS r WHERE (r.seq, r.id) > ($1, $2) ORDER BY r.seq, r.id LIMIT 1', v_rows)
          INTO v_nseq, v_nid USING v_seq, p_last_offset;
        UPDATE pgtrickle.outbox_consumer_leases SET first_seq = v_nseq, first_id = v_nid
        WHERE group_name = p_group AND first_seq = l.first_seq AND first_id = l.first_id;
        INSERT INTO pgtrickle.outbox_consumer_leases (group_name, consumer_id, first_seq, first_id, last_seq, last_id, expires_at, done)
        VALUES (p_group, p_consumer, l.first_seq, l.first_id, v_seq, p_last_offset, l.expires_at, true);
      ELSE
        UPDATE pgtrickle.outbox_consumer_leases SET done = true
        WHERE group_name = p_group AND first_seq = l.first_seq AND first_id = l.first_id;
      END IF;

      -- Advance over done leases that follow the position without an unconsumed row between.
      LOOP
        SELECT * INTO l FROM pgtrickle.outbox_consumer_leases AS x
        WHERE x.group_name = p_group ORDER BY x.first_seq, x.first_id LIMIT 1;
        EXIT WHEN NOT FOUND OR NOT l.done;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM (%s) AS r WHERE (r.seq, r.id) > ($1, $2) AND (r.seq, r.id) < ($3, $4))', v_rows)
          INTO v_gap USING g.committed_seq, g.committed_id, l.first_seq, l.first_id;
        EXIT WHEN v_gap;
        g.committed_seq := l.last_seq;
        g.committed_id := l.last_id;
        DELETE FROM pgtrickle.outbox_consumer_leases
        WHERE group_name = p_group AND first_seq = l.first_seq AND first_id = l.first_id;
      END LOOP;
      UPDATE pgtrickle.outbox_consumer_groups
      SET committed_seq = g.committed_seq, committed_id = g.committed_id, updated_at = now()
      WHERE group_name = p_group;
    END IF;
    -- At or below the group position: already consumed, nothing moves back.

    UPDATE pgtrickle.outbox_consumers
    SET last_committed_at = now(), last_committed_offset = p_last_offset, last_heartbeat_at = now()
    WHERE group_name = p_group AND consumer_id = p_consumer;
  END
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('extend_lease', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.extend_lease(p_group text, p_consumer text, p_extension_seconds int DEFAULT 30)
  RETURNS timestamptz
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_expires timestamptz;
  BEGIN
    IF p_extension_seconds IS NULL OR p_extension_seconds < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('extend_lease: extension seconds must be at least 1, got %s', coalesce(p_extension_seconds::text, 'NULL'));
    END IF;
    PERFORM pgtrickle._consumer_group(p_group, true);
    PERFORM pgtrickle._consumer_require(p_group, p_consumer);
    UPDATE pgtrickle.outbox_consumer_leases
    SET expires_at = now() + make_interval(secs => p_extension_seconds)
    WHERE group_name = p_group AND consumer_id = p_consumer AND NOT done
    RETURNING expires_at INTO v_expires;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('extend_lease: consumer "%s" of group "%s" holds no lease', p_consumer, p_group),
        HINT = 'The lease may have expired and been handed to another consumer; poll again.';
    END IF;
    UPDATE pgtrickle.outbox_consumers SET last_heartbeat_at = now() WHERE group_name = p_group AND consumer_id = p_consumer;
    RETURN v_expires;
  END
  $fn$;
$ddl$);

-- The explicit way to move a group: to just after outbox id p_new_offset (0 = the beginning),
-- forwards or backwards. Every lease of the group is dropped.
CALL pgtrickle._relay_define('seek_offset', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.seek_offset(p_group text, p_consumer text, p_new_offset bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    g     pgtrickle.outbox_consumer_groups := pgtrickle._consumer_group(p_group, true);
    v_seq bigint := 0;
  BEGIN
    IF p_consumer IS NULL OR btrim(p_consumer) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'seek_offset: the consumer id must not be empty';
    END IF;
    IF p_new_offset IS NULL OR p_new_offset < 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('seek_offset: the offset must be an outbox id or 0, got %s', coalesce(p_new_offset::text, 'NULL'));
    END IF;
    IF p_new_offset <> 0 THEN
      v_seq := pgtrickle._outbox_seq_of(g.outbox_name, p_new_offset);
      IF v_seq IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
          MESSAGE = format('seek_offset: outbox pgtrickle.%I has no committed row with id %s', g.outbox_name, p_new_offset);
      END IF;
    END IF;
    INSERT INTO pgtrickle.outbox_consumers (group_name, consumer_id) VALUES (p_group, p_consumer)
    ON CONFLICT (group_name, consumer_id) DO UPDATE SET last_heartbeat_at = now();
    DELETE FROM pgtrickle.outbox_consumer_leases WHERE group_name = p_group;
    UPDATE pgtrickle.outbox_consumer_groups
    SET committed_seq = v_seq, committed_id = p_new_offset, updated_at = now()
    WHERE group_name = p_group;
  END
  $fn$;
$ddl$);

-- Also how a consumer announces itself before its first poll.
CALL pgtrickle._relay_define('consumer_heartbeat', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.consumer_heartbeat(p_group text, p_consumer text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    PERFORM pgtrickle._consumer_group(p_group, false);
    IF p_consumer IS NULL OR btrim(p_consumer) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'consumer_heartbeat: the consumer id must not be empty';
    END IF;
    INSERT INTO pgtrickle.outbox_consumers (group_name, consumer_id) VALUES (p_group, p_consumer)
    ON CONFLICT (group_name, consumer_id) DO UPDATE SET last_heartbeat_at = now();
  END
  $fn$;
$ddl$);

-- Per consumer of the group: the group's committed offset (outbox id), the outbox's highest
-- id, the group's lag (rows not consumed yet), and whether the consumer was heard from in the
-- last minute. A group without consumers yields one row with consumer_id NULL.
CALL pgtrickle._relay_define('consumer_lag', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.consumer_lag(p_group text)
  RETURNS TABLE (consumer_id text, committed_offset bigint, max_outbox_id bigint, lag bigint,
                 last_heartbeat_at timestamptz, is_alive boolean)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  #variable_conflict use_column
  DECLARE
    g      pgtrickle.outbox_consumer_groups := pgtrickle._consumer_group(p_group, false);
    v_max  bigint;
    v_lag  bigint;
  BEGIN
    EXECUTE format('SELECT coalesce(max(id), 0) FROM pgtrickle.%I', g.outbox_name) INTO v_max;
    EXECUTE format('SELECT count(*) FROM (%s) AS r WHERE (r.seq, r.id) > ($1, $2) AND NOT EXISTS (
                      SELECT 1 FROM pgtrickle.outbox_consumer_leases AS x
                      WHERE x.group_name = $3 AND x.done
                        AND (r.seq, r.id) >= (x.first_seq, x.first_id) AND (r.seq, r.id) <= (x.last_seq, x.last_id))',
                   pgtrickle._outbox_rows_sql(g.outbox_name))
      INTO v_lag USING g.committed_seq, g.committed_id, p_group;
    RETURN QUERY
      SELECT c.consumer_id, g.committed_id, v_max, v_lag, c.last_heartbeat_at,
             c.last_heartbeat_at > now() - interval '60 seconds'
      FROM pgtrickle.outbox_consumers AS c WHERE c.group_name = p_group
      ORDER BY c.consumer_id;
    IF NOT FOUND THEN
      RETURN QUERY SELECT NULL::text, g.committed_id, v_max, v_lag, NULL::timestamptz, false;
    END IF;
  END
  $fn$;
$ddl$);
