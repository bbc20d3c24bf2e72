-- ============================================================================================
-- Outbox: commit order
--
-- Outbox ids are handed out when rows are inserted, not when their transaction commits, so a
-- reader that remembers "last id" skips rows of a transaction that commits late. Instead each
-- writing transaction gets a number from outbox_commit_seq *while it commits*, and readers
-- walk positions (seq, id).
--
-- Numbering runs in a deferred trigger under a shared advisory lock that is held until the
-- transaction ends. outbox_watermark() takes the same lock exclusively, so it returns only
-- when every transaction that has taken a number has committed or aborted: a new statement
-- then sees every committed row with seq <= watermark, and no row can later appear below it.
-- ============================================================================================

-- One fixed key: the lock guards the one sequence. Advisory locks are per database.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_commit_lock_key()
RETURNS bigint
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 7072753140512305410::bigint $$;

CREATE SEQUENCE IF NOT EXISTS pgtrickle.outbox_commit_seq;

-- One row per (outbox, writing transaction); seq and committed_at are NULL until that transaction
-- commits. committed_at is the commit time the relay measures delivery latency from.
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_commits (
  outbox       text NOT NULL,
  xid          xid8 NOT NULL,
  seq          bigint,
  committed_at timestamptz,
  PRIMARY KEY (outbox, xid)
);
ALTER TABLE pgtrickle.outbox_commits ADD COLUMN IF NOT EXISTS committed_at timestamptz;
CREATE INDEX IF NOT EXISTS outbox_commits_seq_idx ON pgtrickle.outbox_commits (outbox, seq);

CREATE OR REPLACE FUNCTION pgtrickle._outbox_number_commit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(pgtrickle._outbox_commit_lock_key());
  UPDATE pgtrickle.outbox_commits SET seq = nextval('pgtrickle.outbox_commit_seq'), committed_at = clock_timestamp()
  WHERE outbox = NEW.outbox AND xid = NEW.xid;
  RETURN NULL;
END
$$;

DO $$
BEGIN
  -- Constraint triggers have no CREATE OR REPLACE.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                 WHERE tgrelid = 'pgtrickle.outbox_commits'::regclass AND tgname = 'outbox_commits_number') THEN
    CREATE CONSTRAINT TRIGGER outbox_commits_number
      AFTER INSERT ON pgtrickle.outbox_commits
      DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION pgtrickle._outbox_number_commit();
  END IF;
END
$$;

-- Highest commit number whose transaction, and every one numbered before it, has finished.
-- Read rows with seq <= this value in a later statement (READ COMMITTED).
CREATE OR REPLACE FUNCTION pgtrickle.outbox_watermark()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_last   bigint;
  v_called boolean;
BEGIN
  -- Session-level, so it is released right here rather than held to the end of the caller's
  -- transaction, which would stall every committing writer meanwhile.
  PERFORM pg_advisory_lock(pgtrickle._outbox_commit_lock_key());
  BEGIN
    SELECT last_value, is_called INTO v_last, v_called FROM pgtrickle.outbox_commit_seq;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- Never leave the session holding the lock: every committing writer would wait on it.
    PERFORM pg_advisory_unlock(pgtrickle._outbox_commit_lock_key());
    RAISE;
  END;
  PERFORM pg_advisory_unlock(pgtrickle._outbox_commit_lock_key());
  RETURN CASE WHEN v_called THEN v_last ELSE 0 END;
END
$$;

-- Replaced by the relay reading up to outbox_watermark() with prepared statements.
DROP FUNCTION IF EXISTS pgtrickle.outbox_pending_commits(text, bigint, integer);

-- Statement trigger on every outbox table: registers the writing transaction and wakes relays.
-- On the outbox table itself, so rows inserted by any path get a commit number.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_register_commit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pgt_new) THEN
    INSERT INTO pgtrickle.outbox_commits (outbox, xid) VALUES (TG_TABLE_NAME, pg_current_xact_id())
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify('pgtrickle_outbox_new', TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END
$$;
