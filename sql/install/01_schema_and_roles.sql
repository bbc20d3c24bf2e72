-- pgtrickle-relay: SQL install (schema pgtrickle).
--
-- One transaction. Idempotent: running it again, or over an older install, converges to the
-- same objects, spec rows and grants. Objects that the pg_trickle extension already provides
-- are left untouched. Plain SQL only (no psql meta-commands), so it can also be sent as one
-- string through libpq.
--
-- Assembled at build time from the files of sql/install/, in the order sql/install/files.cmake
-- lists them, into build/pgtrickle_relay.sql (what `psql -f` takes) and into the binary (what
-- `pgtrickle-relay install` sends): the same bytes. This first file opens the transaction, the last
-- one commits it.

BEGIN;

-- Concurrent installs into one database queue here instead of racing on CREATE ... IF NOT EXISTS.
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7072753140512305409); END $$;

SET LOCAL client_min_messages = warning;
-- Every name below is schema-qualified; an empty creation schema makes a slip fail loudly.
SET LOCAL search_path = pg_catalog, pg_temp;


-- ============================================================================================
-- Schema and roles
-- ============================================================================================

CREATE SCHEMA IF NOT EXISTS pgtrickle;

-- pgtrickle_relay: what the relay process logs in as (through a LOGIN member role).
-- pgtrickle_relay_admin: may create, change and delete pipelines, outboxes and inboxes.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['pgtrickle_relay', 'pgtrickle_relay_admin'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- roles are cluster-wide: an install into another database created it meanwhile
      END;
    END IF;
  END LOOP;
END
$$;
