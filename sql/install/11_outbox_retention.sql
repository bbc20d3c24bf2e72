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
    t          pgtrickle.outbox_tables;
    v_bounded  boolean;
    v_seq      bigint;
    v_id       bigint;
    v_complete int;
    v_ids      bigint[];
    v_xids     xid8[];
    v_total    bigint := 0;
  BEGIN
    -- Rows are deleted by their commit's number: number what committed since the last read.
    PERFORM pgtrickle.outbox_watermark();
    -- A pgstream stream's events go only with their daily partition (pgstream.maintain_partitions()).
    FOR t IN SELECT * FROM pgtrickle.outbox_tables WHERE NOT pgtrickle._outbox_is_stream(outbox_name) ORDER BY outbox_name LOOP
      SELECT s.seq, s.id, s.complete INTO v_seq, v_id, v_complete
      FROM (SELECT p.last_seq AS seq, p.last_id AS id, p.complete FROM pgtrickle._outbox_pipeline_positions(t) AS p
            UNION ALL
            SELECT g.committed_seq, g.committed_id, 1 FROM pgtrickle.outbox_consumer_groups AS g
            WHERE g.outbox_name = t.outbox_name) AS s
      ORDER BY s.seq, s.id, s.complete
      LIMIT 1;
      v_bounded := FOUND;

      LOOP   -- in batches, so one run never holds a huge list of ids
        EXECUTE format($q$
          WITH gone AS (
            DELETE FROM pgtrickle.%1$I AS o
            WHERE o.id IN (
              SELECT r.id FROM pgtrickle.%1$I AS r
              JOIN pgtrickle.outbox_commits AS c ON c.outbox = $1 AND c.xid = r.xid
              WHERE r.created_at < now() - make_interval(hours => $2)
                AND (NOT $3 OR (c.seq, r.id, 1) <= ($4, $5, $6))
              LIMIT 10000)
            RETURNING o.id, o.xid)
          SELECT array_agg(id), array_agg(DISTINCT xid) FROM gone
        $q$, t.outbox_name)
        INTO v_ids, v_xids
        USING t.outbox_name, t.retention_hours, v_bounded, v_seq, v_id, v_complete;
        EXIT WHEN v_ids IS NULL;

        v_total := v_total + cardinality(v_ids);
        IF t.delta_table IS NOT NULL THEN
          EXECUTE format('DELETE FROM pgtrickle.%I WHERE outbox_id = ANY ($1)', t.delta_table) USING v_ids;
        END IF;
        EXECUTE format('DELETE FROM pgtrickle.outbox_commits AS c WHERE c.outbox = $1 AND c.xid = ANY ($2)
                          AND NOT EXISTS (SELECT 1 FROM pgtrickle.%I AS o WHERE o.xid = c.xid)', t.outbox_name)
          USING t.outbox_name, v_xids;
        EXIT WHEN cardinality(v_ids) < 10000;
      END LOOP;
    END LOOP;
    RETURN v_total;
  END
  $fn$;
$ddl$);
