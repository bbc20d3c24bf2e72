-- ============================================================================================
-- Outbox retention
-- ============================================================================================

-- Deletes outbox rows older than their outbox's retention_hours, but never a row that an
-- enabled forward pipeline (in the relay group it runs in) or a consumer group has not consumed yet; an
-- enabled pipeline without an offset has consumed nothing. With no readers, age alone decides.
-- The outboxes of pgstream streams are left to their partition maintenance.
-- Returns the number of outbox rows deleted (their claim-check rows go with them).
CALL pgtrickle._relay_define('run_outbox_retention', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.run_outbox_retention()
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_outbox   text;
    v_hours    int;
    v_delta    text;
    v_bounded  boolean;
    v_seq      bigint;
    v_id       bigint;
    v_complete int;
    v_ids      bigint[];
    v_xids     xid8[];
    v_total    bigint := 0;
    v_maybe    text[];
  BEGIN
    -- Rows a reader waits for go by their commit's number: below every reader's position. Rows not
    -- numbered yet are above them all, and stay. Nothing is numbered here: a round of every outbox
    -- would hold every reader's rounds back while this runs.
    -- A pgstream stream's events go only with their daily partition (pgstream.maintain_partitions()).
    -- The outboxes that may hold rows to delete: those whose first commit (by number: one probe of
    -- the index) is old enough, and those with no numbered commit (their rows, if any, go by age
    -- only when nobody reads them). Most outboxes cost that probe alone, and when none may, the
    -- readers' positions are not even looked up.
    v_maybe := ARRAY(
      SELECT t.outbox_name FROM pgtrickle.outbox_tables AS t
      WHERE NOT pgtrickle._outbox_is_stream(t.outbox_name)
        AND NOT EXISTS (SELECT FROM (SELECT c.committed_at FROM pgtrickle.outbox_commits AS c
                                     WHERE c.outbox = t.outbox_name ORDER BY c.seq LIMIT 1) AS first
                        WHERE first.committed_at >= now() - make_interval(hours => t.retention_hours)));
    IF cardinality(v_maybe) = 0 THEN
      RETURN 0;
    END IF;
    -- Each of them with the oldest position of its readers (pipelines and consumer groups), all
    -- computed in one statement.
    FOR v_outbox, v_hours, v_delta, v_bounded, v_seq, v_id, v_complete IN
      WITH oldest AS (   -- each outbox's oldest reader, by a sort (not a scan of every reader per outbox)
        SELECT DISTINCT ON (r.outbox) r.outbox, r.last_seq, r.last_id, r.complete
        FROM (SELECT p.outbox, p.last_seq, p.last_id, p.complete FROM pgtrickle._outbox_all_pipeline_positions() AS p
              WHERE p.outbox = ANY (v_maybe)
              UNION ALL
              SELECT g.outbox_name, g.committed_seq, g.committed_id, 1 FROM pgtrickle.outbox_consumer_groups AS g) AS r
        ORDER BY r.outbox, r.last_seq, r.last_id, r.complete)
      SELECT t.outbox_name, t.retention_hours, t.delta_table, s.last_seq IS NOT NULL, s.last_seq, s.last_id, s.complete
      FROM pgtrickle.outbox_tables AS t
      LEFT JOIN oldest AS s ON s.outbox = t.outbox_name
      WHERE t.outbox_name = ANY (v_maybe)
        -- An outbox read by someone has rows to delete only when its first commit is consumed too.
        AND (s.last_seq IS NULL OR EXISTS (
              SELECT FROM (SELECT c.seq, c.committed_at FROM pgtrickle.outbox_commits AS c
                           WHERE c.outbox = t.outbox_name ORDER BY c.seq LIMIT 1) AS first
              WHERE first.seq <= s.last_seq
                AND (first.committed_at IS NULL OR first.committed_at < now() - make_interval(hours => t.retention_hours))))
      ORDER BY t.outbox_name
    LOOP
      LOOP   -- in batches, so one run never holds a huge list of ids
        EXECUTE format($q$
          WITH gone AS (
            DELETE FROM pgtrickle.%1$I AS o
            WHERE o.id IN (
              SELECT r.id FROM pgtrickle.%1$I AS r
              LEFT JOIN pgtrickle.outbox_commits AS c ON c.outbox = $1 AND c.xid = r.xid
              WHERE r.created_at < now() - make_interval(hours => $2)
                AND (NOT $3 OR (c.seq IS NOT NULL AND (c.seq, r.id, 1) <= ($4, $5, $6)))
              LIMIT 10000)
            RETURNING o.id, o.xid)
          SELECT array_agg(id), array_agg(DISTINCT xid) FROM gone
        $q$, v_outbox)
        INTO v_ids, v_xids
        USING v_outbox, v_hours, v_bounded, v_seq, v_id, v_complete;
        EXIT WHEN v_ids IS NULL;

        v_total := v_total + cardinality(v_ids);
        IF v_delta IS NOT NULL THEN
          EXECUTE format('DELETE FROM pgtrickle.%I WHERE outbox_id = ANY ($1)', v_delta) USING v_ids;
        END IF;
        EXECUTE format('DELETE FROM pgtrickle.outbox_commits AS c WHERE c.outbox = $1 AND c.xid = ANY ($2)
                          AND NOT EXISTS (SELECT 1 FROM pgtrickle.%I AS o WHERE o.xid = c.xid)', v_outbox)
          USING v_outbox, v_xids;
        EXIT WHEN cardinality(v_ids) < 10000;
      END LOOP;
    END LOOP;
    RETURN v_total;
  END
  $fn$;
$ddl$);
