-- ============================================================================================
-- Privileges
--
-- Applied in full on every install, so a fresh install and a re-install end with the same
-- grants. pgtrickle_relay may read pipeline configs and outboxes, keep its offsets, status and
-- dead letters, and write inboxes; it cannot change pipelines. pgtrickle_relay_admin may manage
-- pipelines (reading their configs redacted), outboxes, consumer groups and inboxes. Functions of the pg_trickle
-- extension only receive grants; their other privileges stay as the extension set them.
-- ============================================================================================

-- pgtrickle_owner makes no DDL: its functions do none, and should its code ever be subverted, it
-- must not turn one of them SECURITY INVOKER or give it a search path of its choosing (a superuser
-- calling it would run what it chose), nor leave a temporary object in a caller's session. An event
-- trigger refuses every DDL command made as pgtrickle_owner (or a login inheriting its rights), but
-- the installer's. Event triggers are a superuser's to make: an install by another role goes
-- without (that role owns the functions itself: nothing less to guard).
CREATE OR REPLACE FUNCTION pgtrickle._relay_owner_makes_no_ddl()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- Run as whoever makes the DDL: the installer's oid is read only for a role holding
  -- pgtrickle_owner's rights (which include USAGE on schema pgtrickle).
  IF NOT pg_has_role(current_user, 'pgtrickle_owner', 'USAGE')
     OR (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user) THEN
    RETURN;
  END IF;
  -- pgtrickle_maker (which holds pgtrickle_owner's rights) makes tables, views and publications,
  -- and grants on them: nothing that holds code another role runs (a function, trigger, rule,
  -- policy, type, operator, cast or event trigger).
  -- Its functions: only the emit functions of subscriptions (held to their names by
  -- _relay_schemas_kept), which write the events it owns.
  IF current_user = 'pgtrickle_maker' THEN
    IF tg_tag IN ('CREATE TABLE', 'CREATE INDEX', 'CREATE VIEW', 'ALTER TABLE', 'DROP TABLE', 'DROP VIEW',
                  'CREATE PUBLICATION', 'ALTER PUBLICATION', 'DROP PUBLICATION', 'GRANT', 'REVOKE',
                  'CREATE FUNCTION', 'DROP FUNCTION') THEN
      RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s refused: role pgtrickle_maker, which the helpers making pgtrickle-relay''s tables run as, '
                       'makes tables, views, publications and the emit functions of subscriptions only', tg_tag);
  END IF;
  IF (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user) <> pgtrickle._relay_installer() THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s refused: role %s holds the rights of pgtrickle_owner, which the functions of pgtrickle-relay run as, '
                       'and makes no DDL', tg_tag, current_user),
      HINT = 'Make schema changes as another role; pgtrickle_owner is no role to log in as or to grant.';
  END IF;
END
$$;
CALL pgtrickle._relay_event_trigger('pgtrickle_owner_makes_no_ddl', 'ddl_command_start', NULL,
                                    'pgtrickle._relay_owner_makes_no_ddl()');

-- The functions of schemas pgtrickle and pgstream are used as the install made them. Some belong
-- to a table's owner (those that run as that owner: capture, rendering, a backfill's reads, a
-- subscription's trigger), who could ALTER one SECURITY INVOKER or give it a search path of her
-- own, and have her code in it run as whoever calls it: the relay, the installer. An event trigger
-- refuses an ALTER of any of them by anyone but the installer or a superuser. Run as whoever makes
-- the DDL, for every ALTER FUNCTION of the database: it reads only catalogs every role may read.
-- An install by a role that may make no event trigger goes without; there, each such function
-- is checked before it is called (pgtrickle._relay_owner_function_intact).
CREATE OR REPLACE FUNCTION pgtrickle._relay_functions_kept()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_altered text;
BEGIN
  IF (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user) THEN
    RETURN;
  END IF;
  SELECT string_agg(d.object_identity, ', ') INTO v_altered
  FROM pg_event_trigger_ddl_commands() AS d JOIN pg_proc AS p ON p.oid = d.objid
  WHERE d.classid = 'pg_proc'::regclass AND d.schema_name IN ('pgtrickle', 'pgstream');
  IF v_altered IS NULL THEN
    RETURN;
  END IF;
  IF (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user)
     IS DISTINCT FROM (SELECT p.proowner FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
                       WHERE n.nspname = 'pgtrickle' AND p.proname = '_relay_installer' AND p.pronargs = 0) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s refused: %s belongs to pgtrickle-relay''s install, which runs it as made; role %s may not alter it',
                       tg_tag, v_altered, current_user),
      HINT = 'A function made to run as a table''s owner is made again by its install function (enable_outbox, backfill_relay, '
             'set_relay_outbox); run `pgtrickle-relay install` again to restore the others.';
  END IF;
END
$$;
CALL pgtrickle._relay_event_trigger('pgtrickle_functions_kept', 'ddl_command_end', ARRAY['ALTER FUNCTION', 'ALTER PROCEDURE', 'ALTER ROUTINE'],
                                    'pgtrickle._relay_functions_kept()');

-- Schemas pgtrickle and pgstream hold the install's objects, and what it makes there as other roles:
-- tables, views and their indexes (pgtrickle_maker's), and the functions a table's owner runs (made
-- by _relay_as_owner as that owner, under the names below). Whoever else may create there (a CREATE
-- granted for the length of one statement, or by a DBA) makes nothing else: a function, operator
-- or type under any other name could be what the install's functions, whose search path holds
-- schema pgtrickle, resolve a name to, with their rights; a table, one the install takes for its
-- own. Run as whoever
-- makes the DDL: it reads only catalogs every role may read.
CREATE OR REPLACE FUNCTION pgtrickle._relay_schemas_kept()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_made text;
BEGIN
  IF (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user) THEN
    RETURN;
  END IF;
  -- pgtrickle_maker makes no function but a subscription's emit function, in any schema.
  SELECT string_agg(format('%s %s', d.object_type, d.object_identity), ', ') INTO v_made
  FROM pg_event_trigger_ddl_commands() AS d
  WHERE current_user = 'pgtrickle_maker' AND d.object_type = 'function'
    AND NOT (d.schema_name = 'pgstream' AND (SELECT p.proname ~ '^_emit_after_' AND p.prosecdef FROM pg_proc AS p WHERE p.oid = d.objid));
  IF v_made IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s refused: role pgtrickle_maker makes no %s', tg_tag, v_made);
  END IF;
  SELECT string_agg(format('%s %s', d.object_type, d.object_identity), ', ') INTO v_made
  FROM pg_event_trigger_ddl_commands() AS d
  WHERE d.schema_name IN ('pgtrickle', 'pgstream') AND d.command_tag NOT IN ('GRANT', 'REVOKE')
    AND NOT (d.object_type IN ('table', 'index', 'view', 'sequence', 'table column', 'table constraint', 'trigger')
             AND current_user = 'pgtrickle_maker')
    AND NOT (d.object_type = 'function'
             AND (SELECT p.proname ~ '^(_outbox_capture_[0-9a-f]{16}|_wal_rows_([0-9a-f]{16}|r[0-9]+)|_backfill_rows_t?[0-9]+|_publish_after_.*)$'
                         OR (p.proname ~ '^_emit_after_' AND current_user = 'pgtrickle_maker')
                  FROM pg_proc AS p WHERE p.oid = d.objid));
  IF v_made IS NULL OR (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user)
                       = (SELECT p.proowner FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'pgtrickle' AND p.proname = '_relay_installer' AND p.pronargs = 0) THEN
    RETURN;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
    MESSAGE = format('%s refused: schemas pgtrickle and pgstream hold pgtrickle-relay''s install, and role %s may make no %s there',
                     tg_tag, current_user, v_made),
    HINT = 'Make it in a schema of your own.';
END
$$;
CALL pgtrickle._relay_event_trigger('pgtrickle_schemas_kept', 'ddl_command_end', NULL, 'pgtrickle._relay_schemas_kept()');

CREATE OR REPLACE FUNCTION pgtrickle._outbox_grant_existing()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_tables text[];
BEGIN
  SELECT array_agg(n) INTO v_tables FROM pgtrickle.outbox_tables, unnest(ARRAY[outbox_name, delta_table]) AS n;
  PERFORM pgtrickle._outbox_grant(coalesce(v_tables, '{}'));
  -- pg_trickle's own outboxes, which the relay reads too.
  IF to_regclass('pgtrickle.pgt_outbox_config') IS NOT NULL THEN
    EXECUTE 'SELECT array_agg(n) FROM pgtrickle.pgt_outbox_config,
               unnest(ARRAY[outbox_table_name, ''outbox_delta_rows_'' || left(stream_table_name, 48)]) AS n'
      INTO v_tables;
    PERFORM pgtrickle._outbox_grant(coalesce(v_tables, '{}'));
  END IF;
END
$$;

-- The relay calls this when it may not read an outbox pg_trickle created after the install: it
-- grants its role SELECT on the registered outboxes (and nothing else).
CREATE OR REPLACE FUNCTION pgtrickle._relay_grant_outboxes()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM pgtrickle._outbox_grant_existing();
EXCEPTION WHEN insufficient_privilege THEN
  NULL;  -- another role's tables (pg_trickle's): the relay's error names the GRANT to run
END
$$;

-- An outbox pg_trickle makes after the install (or any table named outbox_... made in schema
-- pgtrickle, where only the install's roles, superusers and pg_trickle's functions may create) is
-- readable by the relay from the start: granted by the role that made it, which owns it, when it
-- is made. Run as that role, for every CREATE TABLE of the database: it reads only catalogs.
CREATE OR REPLACE FUNCTION pgtrickle._relay_outbox_made()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rel regclass;
BEGIN
  FOR v_rel IN
    SELECT d.objid::regclass FROM pg_event_trigger_ddl_commands() AS d
    JOIN pg_class AS c ON c.oid = d.objid
    WHERE d.object_type = 'table' AND d.schema_name = 'pgtrickle' AND c.relname ~ '^outbox_'
      AND c.relname NOT IN ('outbox_tables', 'outbox_commits', 'outbox_consumer_groups', 'outbox_consumers',
                            'outbox_consumer_leases', 'outbox_waiters', 'outbox_numbering', 'outbox_numbered')
      AND EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname IN ('payload', 'row_data') AND NOT a.attisdropped)
      AND pg_has_role(current_user, c.relowner, 'USAGE')
  LOOP
    EXECUTE format('GRANT SELECT ON %s TO pgtrickle_relay, pgtrickle_relay_admin', v_rel);
    EXECUTE format('GRANT SELECT, DELETE ON %s TO pgtrickle_owner', v_rel);
  END LOOP;
END
$$;
CALL pgtrickle._relay_event_trigger('pgtrickle_outbox_made', 'ddl_command_end', ARRAY['CREATE TABLE'], 'pgtrickle._relay_outbox_made()');

CREATE OR REPLACE FUNCTION pgtrickle._inbox_grant_existing()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name   text;
  v_schema text;
  v_table  text;
  v_view   text;
BEGIN
  FOR v_name IN SELECT inbox_name FROM pgtrickle.pgt_inbox_config LOOP
    SELECT i.inbox_schema, i.inbox_table INTO v_schema, v_table FROM pgtrickle._inbox(v_name) AS i;
    CONTINUE WHEN pgtrickle._relay_rel(v_schema, v_table) IS NULL;
    EXECUTE format('GRANT SELECT, INSERT ON %I.%I TO pgtrickle_relay', v_schema, v_table);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO pgtrickle_relay_admin', v_schema, v_table);
    PERFORM pgtrickle._inbox_grant_owner(v_schema, v_table);
    FOREACH v_view IN ARRAY ARRAY['_pending', '_dlq', '_stats'] LOOP
      IF pgtrickle._relay_rel(v_schema, v_table || v_view) IS NOT NULL THEN
        EXECUTE format('GRANT SELECT ON %I.%I TO pgtrickle_relay, pgtrickle_relay_admin', v_schema, v_table || v_view);
      END IF;
    END LOOP;
  END LOOP;
END
$$;

DO $$
DECLARE
  -- What the relay process calls.
  v_relay_functions text[] := ARRAY[
    'relay_schema_version', 'relay_normalize_config', 'get_relay_config', 'list_relay_configs',
    'resolve_outbox', '_outbox_resolve', 'outbox_watermark', 'outbox_watermarks', '_outbox_numbered_seq', '_outbox_numbering_unit', 'outbox_status', '_outbox_status',
    'run_outbox_retention', 'create_inbox', 'create_inbox_table', 'inbox_health', '_inbox_lock', '_inbox_trusted', '_relay_installer', '_relay_maker', '_relay_regclass', '_relay_regclass_qualified', '_relay_rel', '_relay_is_relation_name', '_relay_grant_outboxes',
    'relay_template_warnings', '_relay_config_outbox_ref', '_outbox_wal_source', '_outbox_is_stream', '_outbox_waiting',
    '_relay_backfill_initial', '_relay_backfill_end', '_relay_slot_rebuilt', '_relay_backfill_function', '_relay_backfill_watermark', '_relay_backfill_intact', '_relay_owner_function_intact', '_wal_render',
    '_wal_render_table', '_wal_render_tables', '_wal_rows_template', '_wal_plain', '_wal_render_plain', '_wal_file_pipeline_prepare', '_wal_pipeline_publication', '_wal_pipeline_tables', '_wal_table_info',
    '_wal_publications', '_wal_matched_tables', '_wal_stream_table', '_wal_list', '_wal_matches', '_wal_pattern', '_wal_own_schema',
    '_wal_identity_problem', '_relay_config_error',
    -- rendering WAL rows through each table owner's function, as the relay's role
    '_wal_render_as_owner', '_relay_session_clear', '_outbox_source', '_wal_rows_function', '_wal_rows_table_function', '_wal_rows_function_src',
    '_wal_published', '_wal_publishing', '_wal_publications', '_wal_render_reach',
    -- a WAL pipeline's publications, made by the session that sets it, with its login's rights
    '_wal_file_pipeline_start', '_wal_pipeline_publish', '_wal_publication_set', '_wal_identity_columns',
    '_relay_as_owner', '_relay_require_owner', '_wal_published_tables',
    -- a dead letter an admin asked to send again: sent, or refused again
    '_relay_dead_letter_replayed'];
  -- Everything meant to be called by people and applications (rendering rows as a table's owner,
  -- which reads the table, the publications of a relay's TOML pipelines and a backfill's start and
  -- end, which the relay records with its position, are the relay's alone).
  v_admin_functions text[] := ARRAY(SELECT f FROM unnest(v_relay_functions) AS f
                                    WHERE f NOT IN ('_wal_render', '_wal_render_table', '_wal_render_tables', '_wal_rows_template',
                                                    '_wal_render_as_owner', '_wal_render_reach',
                                                    '_wal_published', '_wal_publishing', '_wal_rows_table_function',
                                                    '_wal_plain', '_wal_render_plain', '_wal_file_pipeline_prepare', '_wal_file_pipeline_start',
                                                    '_relay_backfill_initial', '_relay_backfill_end', '_relay_slot_rebuilt',
                                                    '_relay_dead_letter_replayed')) || ARRAY[
    'set_relay_outbox', 'set_relay_inbox', 'enable_relay', 'disable_relay', 'delete_relay', 'replay_dead_letters', '_relay_store', '_relay_delete', '_wal_publications_drop',
    'enable_outbox', '_outbox_enable', 'disable_outbox', '_outbox_disable', 'create_outbox',
    'outbox_publish', '_outbox_publish', 'create_consumer_group', '_consumer_group_create', 'drop_consumer_group', 'poll_outbox', 'commit_offset', 'extend_lease',
    'seek_offset', 'consumer_heartbeat', 'consumer_lag',
    'drop_inbox', 'inbox_mark_processed', 'inbox_mark_failed', 'replay_inbox_messages',
    'backfill_relay', '_relay_backfill_request', '_relay_backfill_condition_set', '_relay_backfill_estimated', '_relay_backfill_estimate', '_relay_backfill_body',
    '_relay_backfill_drop_functions', 'cancel_backfill', 'rebuild_relay_slot', 'create_publication', 'drop_publication', '_relay_publication_create', '_relay_publication_drop', '_relay_publication_of',
    -- what enable_outbox and disable_outbox do as the session, acting for the table's owner
    '_outbox_capture_set', '_outbox_attach', '_outbox_detach', '_outbox_disable_capture', '_outbox_find', '_outbox_find_source',
    '_outbox_source', '_outbox_capture_function', '_outbox_capture_body', '_outbox_grant_capture',
    '_relay_as_owner', '_relay_as_role', '_relay_code_open', '_relay_require_owner',
    '_outbox_publication_set', '_wal_rows_function_set', '_wal_rows_function_ddl'];
  f record;
BEGIN
  GRANT USAGE ON SCHEMA pgtrickle TO pgtrickle_relay, pgtrickle_relay_admin;
  -- The inbox sink skips duplicates through a temporary staging table (PUBLIC has TEMPORARY by
  -- default; this keeps it working where that was revoked). An installer that does not own the
  -- database may not grant it: then it is only checked.
  IF has_database_privilege(current_database(), 'TEMPORARY WITH GRANT OPTION') THEN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO pgtrickle_relay', current_database());
  ELSIF NOT has_database_privilege('pgtrickle_relay', current_database(), 'TEMPORARY') THEN
    RAISE WARNING 'role pgtrickle_relay may not create temporary tables in database %, which an inbox pipeline needs', current_database()
      USING HINT = format('The database''s owner or a superuser grants it: GRANT TEMPORARY ON DATABASE %I TO pgtrickle_relay;', current_database());
  END IF;

  -- Catalog tables: reset, then grant, so an older install converges.
  REVOKE ALL ON pgtrickle.relay_outbox_config, pgtrickle.relay_inbox_config,
                pgtrickle.relay_backends, pgtrickle.relay_config_keys,
                pgtrickle.relay_offsets, pgtrickle.relay_owners, pgtrickle.relay_pipeline_status, pgtrickle.relay_dead_letters,
                pgtrickle.relay_instances,
                pgtrickle.outbox_commits, pgtrickle.outbox_tables, pgtrickle.pgt_inbox_config,
                pgtrickle.outbox_consumer_groups, pgtrickle.outbox_consumers, pgtrickle.outbox_consumer_leases,
                pgtrickle.relay_slots, pgtrickle.relay_backfills, pgtrickle.relay_wal_publications
    FROM pgtrickle_relay, pgtrickle_relay_admin;
  -- Raw pipeline configs, which may hold literal secrets, only for the relay; pipeline admins read
  -- them redacted through get_relay_config() and list_relay_configs().
  GRANT SELECT ON pgtrickle.relay_outbox_config, pgtrickle.relay_inbox_config TO pgtrickle_relay;
  GRANT SELECT ON pgtrickle.relay_backends, pgtrickle.relay_config_keys,
                  pgtrickle.outbox_commits, pgtrickle.outbox_tables, pgtrickle.pgt_inbox_config
    TO pgtrickle_relay, pgtrickle_relay_admin;
  GRANT SELECT, INSERT, UPDATE, DELETE ON pgtrickle.relay_offsets, pgtrickle.relay_owners, pgtrickle.relay_pipeline_status,
                                          pgtrickle.relay_instances TO pgtrickle_relay;
  GRANT SELECT, INSERT ON pgtrickle.relay_dead_letters TO pgtrickle_relay;
  -- The relay records the slots it creates for WAL capture; delete_relay and disable_outbox drop them.
  GRANT SELECT, INSERT, DELETE ON pgtrickle.relay_slots TO pgtrickle_relay;
  -- The relay marks a rebuild under way, and its gap announced.
  GRANT UPDATE (gap_state, gap_from, gap_to, gap_at, rebuild_requested) ON pgtrickle.relay_slots TO pgtrickle_relay;
  GRANT SELECT ON pgtrickle.relay_slots TO pgtrickle_relay_admin;
  -- The publications of WAL pipelines: set_relay_outbox and delete_relay (the installer's) write them.
  GRANT SELECT ON pgtrickle.relay_wal_publications TO pgtrickle_relay, pgtrickle_relay_admin;
  -- The relay stores a backfill's progress with the pipeline's position; admins watch it.
  GRANT SELECT, UPDATE (state, last_key, rows_done, rows_sent, started_at, updated_at, finished_at)
    ON pgtrickle.relay_backfills TO pgtrickle_relay;
  GRANT SELECT ON pgtrickle.relay_backfills TO pgtrickle_relay_admin;
  -- A backfill reads the commit order's watermark before each chunk.
  GRANT SELECT ON pgtrickle.outbox_numbering, pgtrickle.outbox_numbered TO pgtrickle_relay;
  EXECUTE format('GRANT USAGE ON SEQUENCE %s TO pgtrickle_relay',
                 pg_get_serial_sequence('pgtrickle.relay_dead_letters', 'id'));
  -- The admin inspects runtime state and clears dead letters; changes go through functions.
  GRANT SELECT ON pgtrickle.relay_offsets, pgtrickle.relay_owners, pgtrickle.relay_pipeline_status, pgtrickle.relay_instances,
                  pgtrickle.outbox_consumer_groups, pgtrickle.outbox_consumers, pgtrickle.outbox_consumer_leases
    TO pgtrickle_relay_admin;
  GRANT SELECT, DELETE ON pgtrickle.relay_dead_letters TO pgtrickle_relay_admin;

  -- Capture functions, which run as each captured table's owner, look up whether a relay waits.
  GRANT SELECT ON pgtrickle.outbox_waiters TO PUBLIC;

  PERFORM pgtrickle._outbox_grant_existing();
  PERFORM pgtrickle._inbox_grant_existing();

  FOR f IN
    SELECT p.oid::regprocedure AS signature, p.proname::text AS name,
           CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
           EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                   WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') AS extension_owned
    FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'pgtrickle'::regnamespace
      AND (p.proname = ANY (v_admin_functions) OR p.proname = 'relay_config_notify'
           OR p.proname ~ '^_(relay|outbox|consumer|inbox|wal)')
  LOOP
    IF NOT f.extension_owned THEN
      EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC, pgtrickle_relay, pgtrickle_relay_admin', f.kind, f.signature);
    END IF;
    IF f.name = ANY (v_relay_functions) THEN
      EXECUTE format('GRANT EXECUTE ON %s %s TO pgtrickle_relay', f.kind, f.signature);
    END IF;
    IF f.name = ANY (v_admin_functions) THEN
      EXECUTE format('GRANT EXECUTE ON %s %s TO pgtrickle_relay_admin', f.kind, f.signature);
    END IF;
  END LOOP;
  -- Each table owner's render function runs the template as that owner; run as anyone else, it
  -- reads with their rights only.
  GRANT EXECUTE ON FUNCTION pgtrickle._wal_rows_template(regclass, jsonb, jsonb) TO PUBLIC;
  -- A subscription's writer (any role acting for a table's owner, which pgstream._admit_owner lets
  -- use schema pgtrickle) makes the subscriptions' code (16_pgstream_generation.sql) with these, as
  -- the role making a table a WAL pipeline captures makes its render function: they run nothing
  -- with more than its rights, and _relay_code_open checks whom it opens for.
  FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc AS p
           WHERE p.pronamespace = 'pgtrickle'::regnamespace
             AND p.proname IN ('_relay_code_open', '_relay_expression_checked', '_relay_type_runs_no_user_code', '_relay_truncate_bytes',
                               -- and a table's render function, made as it is made in a schema a WAL pipeline captures
                               '_wal_rows_table_ensure', '_wal_rows_table_function', '_relay_owner_function_intact', '_wal_rows_function_src',
                               '_wal_rows_function_set', '_wal_rows_function_ddl', '_relay_as_owner', '_relay_as_role', '_relay_require_owner',
                               -- and the function a backfill reads a captured table with, made with it
                               '_relay_backfill_table_ensure', '_relay_backfill_table_function', '_relay_backfill_table_body', '_outbox_key_columns') LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f.signature);
  END LOOP;
END
$$;

-- Schema pgstream (15_pgstream_subscriptions.sql, 16_pgstream_generation.sql, 17_pgstream_events.sql). Anyone may write subscriptions: its triggers admit only a role
-- acting for the subscribed table's owner (as CREATE TRIGGER would). The validation they run as
-- that role compiles its expressions, and generation makes the table's trigger, with the helpers
-- left to PUBLIC (they run with the caller's rights, but pgtrickle_maker's _admit_owner and
-- _generated_sync, which take only a table); every other function is the installer's, the
-- relay's and the admins'. The generated functions are left as generated: each _publish_* owned by its table's
-- owner, run only as a trigger, and its _emit_* pgtrickle_maker's, callable by that owner alone. Only
-- the emit functions write pgstream.events; only the installer and the relay read it (the relay
-- through each stream's view pgtrickle.pgstream_<N>, granted with the outboxes, or from the WAL,
-- whose rows it renders with the table).
DO $$
DECLARE
  -- Called as the role that writes a subscription.
  v_public_functions text[] := ARRAY['_subscription_check', '_refuse', '_require_owner', '_target', '_bound_table', '_row_images', '_compile_error',
                                     '_when_check', '_reserved_keys',
                                     -- generation (16), as that role, and the helpers it asks
                                     '_subscription_sync', '_generate', '_drop_generated', '_function_name', '_emit_name', '_extensions_sql',
                                     '_image_sql', '_lock', '_table_name', '_admit_owner', '_generated_sync'];
  v_relay_functions  text[] := ARRAY['stream_outbox', 'stream_publication', 'maintain_partitions', 'partition_status'];
  f record;
BEGIN
  GRANT USAGE ON SCHEMA pgstream TO PUBLIC;
  REVOKE ALL ON pgstream.subscriptions, pgstream.partition_settings, pgstream.events, pgstream.events_default, pgstream.generated,
               pgstream._lock_maintenance
    FROM PUBLIC, pgtrickle_relay, pgtrickle_relay_admin;
  GRANT SELECT, INSERT, UPDATE, DELETE ON pgstream.subscriptions TO PUBLIC;
  -- What generation made, by oid (generation reads it as the subscription's writer).
  GRANT SELECT ON pgstream.generated TO PUBLIC;
  GRANT SELECT ON pgstream.partition_settings TO pgtrickle_relay, pgtrickle_relay_admin;
  -- A stream read from the WAL: its rows are rendered (and an unchanged value read) from the table.
  GRANT SELECT ON pgstream.events TO pgtrickle_relay;
  -- Earlier installs let subscribed tables' owners insert events.
  FOR f IN SELECT DISTINCT a.grantee::regrole AS role FROM pg_class AS c, aclexplode(c.relacl) AS a
           WHERE c.oid = 'pgstream.events'::regclass AND a.privilege_type = 'INSERT' AND a.grantee <> 0
             AND a.grantee NOT IN (c.relowner, 'pgtrickle_owner'::regrole) LOOP
    EXECUTE format('REVOKE INSERT ON pgstream.events FROM %s', f.role);
  END LOOP;
  GRANT UPDATE (days_ahead, retention_days) ON pgstream.partition_settings TO pgtrickle_relay_admin;
  FOR f IN
    SELECT p.oid::regprocedure AS signature, p.proname::text AS name
    FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'pgstream'::regnamespace AND p.proname !~ '^_(publish|emit)_after_'
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, pgtrickle_relay, pgtrickle_relay_admin', f.signature);
    IF f.name = ANY (v_public_functions) THEN
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f.signature);
    END IF;
    IF f.name = ANY (v_relay_functions) THEN
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pgtrickle_relay, pgtrickle_relay_admin', f.signature);
    END IF;
  END LOOP;
END
$$;

-- ============================================================================================
-- pgtrickle_owner: the functions serving other roles run as it
--
-- Every SECURITY DEFINER function of the install belongs to pgtrickle_owner, a role with no login,
-- no attribute and only these grants: it reads and writes the catalog and the outboxes, and calls
-- the install's functions. Should a user's text ever slip into code it runs, that code gets no
-- more than this: not the installer's rights (a superuser's, on most installs), not another table
-- owner's. The installer keeps its schemas and tables (so pgtrickle_owner can neither make objects
-- beside its functions nor put code on the tables others write), the functions a table owner's
-- capture runs, and the helpers listed below, which do what needs more than pgtrickle_owner has
-- (DDL on users' tables and in schema pgtrickle, publications, slots, event-trigger work) and take
-- no text they parse: names are quoted, oids resolved, conditions read again by the grammar
-- (_relay_expression_checked). tests/sql/security_definer.sql holds both lists to account.
-- ============================================================================================
DO $$
DECLARE
  -- SECURITY DEFINER helpers that stay the installer's.
  v_installer_functions text[] := pgtrickle._relay_installer_helpers();
  -- Those run as pgtrickle_maker (01), on an install that has it.
  v_maker_functions text[] := pgtrickle._relay_maker_helpers();
  v_maker   oid := (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = 'pgtrickle_maker'
                    AND (SELECT s.rolsuper FROM pg_roles AS s WHERE s.rolname = current_user));
  v_generated CONSTANT text := '^(_outbox_capture_[0-9a-f]{16}|_wal_rows_([0-9a-f]{16}|r[0-9]+)|_backfill_rows_t?[0-9]+|_publish_after_.*|_emit_after_.*)$';
  v_me      oid := (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user);
  -- An installer that is neither a superuser nor a member of pgtrickle_owner that may SET ROLE to it
  -- (01; PostgreSQL 16's ADMIN OPTION alone may not) keeps them.
  v_separate boolean := (SELECT r.rolsuper FROM pg_roles AS r WHERE r.oid = v_me)
    OR pg_has_role(v_me, 'pgtrickle_owner', CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END);
  o record;
BEGIN
  GRANT USAGE ON SCHEMA pgtrickle, pgstream TO pgtrickle_owner;
  -- A role given a function must have CREATE on its schema: for this block alone.
  GRANT CREATE ON SCHEMA pgtrickle, pgstream TO pgtrickle_owner;
  -- Tables, views and sequences of both schemas, the install's and those made later by the
  -- installer's helpers (outboxes, streams' views, partitions), as default privileges.
  FOR o IN
    SELECT c.oid::regclass AS rel, c.relkind
    FROM pg_class AS c
    WHERE c.relnamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'S')
      AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    BEGIN
      -- Revoked first: the grant lands after the others', as on a first install.
      EXECUTE format('REVOKE ALL ON %s FROM pgtrickle_owner', o.rel);
      EXECUTE format(CASE o.relkind WHEN 'S' THEN 'GRANT USAGE, SELECT, UPDATE ON SEQUENCE %s TO pgtrickle_owner'
                                    WHEN 'v' THEN 'GRANT SELECT ON %s TO pgtrickle_owner'
                                    ELSE 'GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO pgtrickle_owner' END, o.rel);
    EXCEPTION WHEN insufficient_privilege THEN
      NULL;   -- another role's table (pg_trickle's outboxes): its owner grants what is needed
    END;
  END LOOP;
  ALTER DEFAULT PRIVILEGES IN SCHEMA pgtrickle, pgstream GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pgtrickle_owner;
  ALTER DEFAULT PRIVILEGES IN SCHEMA pgtrickle, pgstream GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO pgtrickle_owner;
  -- pg_trickle's own catalog, which the relay's functions read and write as pg_trickle's functions do.
  FOR o IN
    SELECT c.oid::regclass AS rel
    FROM pg_class AS c
    WHERE c.relnamespace = 'pgtrickle'::regnamespace AND c.relkind IN ('r', 'p')
      AND EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    BEGIN
      EXECUTE format('REVOKE ALL ON %s FROM pgtrickle_owner', o.rel);
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO pgtrickle_owner', o.rel);
    EXCEPTION WHEN insufficient_privilege THEN
      NULL;
    END;
  END LOOP;

  FOR o IN
    SELECT p.oid::regprocedure AS signature, p.proname::text AS name, p.prosecdef AS definer, p.proowner AS owner,
           CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind
    FROM pg_proc AS p
    WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace) AND p.proname !~ v_generated
      AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    IF o.definer AND o.name = ANY (v_maker_functions) AND v_maker IS NOT NULL THEN
      IF o.owner <> v_maker THEN
        EXECUTE format('ALTER %s %s OWNER TO pgtrickle_maker', o.kind, o.signature);
      END IF;
    ELSIF o.definer AND NOT o.name = ANY (v_installer_functions || v_maker_functions) AND v_separate THEN
      EXECUTE format('ALTER %s %s OWNER TO pgtrickle_owner', o.kind, o.signature);
      CONTINUE;
    ELSIF o.owner <> v_me THEN
      -- A helper an earlier install gave away comes back.
      EXECUTE format('ALTER %s %s OWNER TO %I', o.kind, o.signature, current_user);
    END IF;
    EXECUTE format('REVOKE ALL ON %s %s FROM pgtrickle_owner', o.kind, o.signature);
    EXECUTE format('GRANT EXECUTE ON %s %s TO pgtrickle_owner', o.kind, o.signature);
  END LOOP;
  REVOKE CREATE ON SCHEMA pgtrickle, pgstream FROM pgtrickle_owner;
END
$$;

-- ============================================================================================
-- pgtrickle_maker: the relay's own objects are made as it
--
-- On an install by a superuser, the helpers of _relay_maker_helpers() run as pgtrickle_maker (01),
-- which owns what they make and drop: the outbox tables of schema pgtrickle, streams' views,
-- pgstream.events with its partitions, and streams' publications. It may make tables, views and
-- publications, and grant on them; an event trigger refuses it every other DDL command
-- (_relay_owner_makes_no_ddl), so it can put no code where another role would run it.
-- ============================================================================================
DO $$
DECLARE
  o record;
BEGIN
  IF pgtrickle._relay_maker() IS NULL THEN
    RETURN;
  END IF;
  -- With GRANT OPTION: a table's owner is granted USAGE to run its capture, and CREATE to make its
  -- code for the length of that DDL (_relay_code_open).
  GRANT USAGE, CREATE ON SCHEMA pgtrickle, pgstream TO pgtrickle_maker WITH GRANT OPTION;
  -- And CREATE on the database, to make the publication of a table captured from the WAL.
  EXECUTE format('GRANT CREATE ON DATABASE %I TO pgtrickle_maker WITH GRANT OPTION', current_database());
  -- What it makes, pgtrickle_owner reads and writes as it does the install's own tables.
  ALTER DEFAULT PRIVILEGES FOR ROLE pgtrickle_maker IN SCHEMA pgtrickle, pgstream
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pgtrickle_owner;
  ALTER DEFAULT PRIVILEGES FOR ROLE pgtrickle_maker IN SCHEMA pgtrickle, pgstream
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO pgtrickle_owner;
  -- Made by earlier installs as the installer: given to it.
  FOR o IN
    SELECT c.oid::regclass AS rel, c.relkind
    FROM pg_class AS c
    WHERE c.relowner <> pgtrickle._relay_maker() AND c.relkind IN ('r', 'p', 'v')
      AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      AND ((c.relnamespace = 'pgtrickle'::regnamespace
            AND c.relname IN (SELECT n FROM pgtrickle.outbox_tables AS t, unnest(ARRAY[t.outbox_name, t.delta_table]) AS n))
           OR c.oid = 'pgstream.events'::regclass
           OR c.oid IN (SELECT i.inhrelid FROM pg_inherits AS i WHERE i.inhparent = 'pgstream.events'::regclass))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO pgtrickle_maker', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel);
  END LOOP;
  -- The emit functions of subscriptions an earlier install (or this one, before this block) made.
  FOR o IN
    SELECT p.oid::regprocedure AS fn FROM pg_proc AS p
    WHERE p.pronamespace = 'pgstream'::regnamespace AND p.proname ~ '^_emit_after_' AND p.proowner <> pgtrickle._relay_maker()
  LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO pgtrickle_maker', o.fn);
  END LOOP;
  -- Inbox tables and their views an earlier install made as the installer.
  FOR o IN
    SELECT c.oid::regclass AS rel, c.relkind
    FROM pgtrickle.pgt_inbox_config AS i CROSS JOIN LATERAL pgtrickle._inbox(i.inbox_name) AS x
    CROSS JOIN LATERAL unnest(ARRAY[x.inbox_table, x.inbox_table || '_pending', x.inbox_table || '_dlq', x.inbox_table || '_stats']) AS n
    JOIN pg_class AS c ON c.oid = pgtrickle._relay_rel(x.inbox_schema, n)
    WHERE c.relowner = pgtrickle._relay_installer() AND c.relkind IN ('r', 'v')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO pgtrickle_maker', CASE o.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, o.rel);
  END LOOP;
  FOR o IN
    SELECT p.pubname FROM pg_publication AS p
    WHERE p.pubname ~ '^pgtrickle_pgstream_[0-9]+$' AND p.pubowner <> pgtrickle._relay_maker()
  LOOP
    EXECUTE format('ALTER PUBLICATION %I OWNER TO pgtrickle_maker', o.pubname);
  END LOOP;
END
$$;

COMMIT;
