-- Every SECURITY DEFINER function of the install is on the audited list below, pins its search
-- path, is closed to PUBLIC, and is called by the roles that may call it with hostile names and a
-- booby-trapped search path: none of it makes the caller a superuser or a member of anything.
-- A new SECURITY DEFINER function, or event trigger, fails this test until it is audited and added
-- here. Every attack is also run with the canary's corpus (support/canary.sql: expressions that run
-- code while PostgreSQL parses or plans them, names with CR/LF, quotes, dots, comments) in each text
-- argument, as its least caller, as a pipeline admin owning a table with columns of the canary's
-- domain, and as a login with no rights but TEMP: the canary must never run with more rights than
-- its attacker's, whether the statement succeeded or failed.
-- The captured tables' capture functions are SECURITY DEFINER too, owned by each table's owner
-- (security_capture.sql attacks them); here: they are never owned by anyone else. So are the
-- functions a backfill reads its table with, which only the relay's role may call. In schema
-- pgstream, the functions generated for subscriptions are checked for owner and callers
-- (security_subscriptions.sql runs hostile names through them).

\i tests/sql/support/canary.sql
SELECT current_database() || '_padmin' AS padmin, current_database() || '_relay' AS relay,
       current_database() || '_victim' AS victim, current_database() || '_stranger' AS stranger \gset
CREATE ROLE :"stranger" LOGIN;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
CREATE ROLE :"victim" LOGIN;
-- A login of pgtrickle_owner: what the code running as it could do, were a user's text ever to slip
-- into it (the installer's helpers must give it nothing more).
SELECT current_database() || '_owner' AS owner \gset
CREATE ROLE :"owner" LOGIN IN ROLE pgtrickle_owner;
CREATE SCHEMA trap AUTHORIZATION :"padmin";
GRANT USAGE, CREATE ON SCHEMA trap TO :"relay";
CREATE SCHEMA vschema AUTHORIZATION :"victim";
SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.salaries (id int PRIMARY KEY, ssn text);
RESET SESSION AUTHORIZATION;
SELECT pgtrickle.enable_outbox('vschema.salaries');
SELECT pgtrickle.create_outbox('events');
SELECT pgtrickle.set_relay_outbox('salaries-out', config => '{"stream_table": "vschema.salaries", "sink_type": "stdout"}');
SELECT pgtrickle.create_inbox('incoming');
INSERT INTO pgtrickle.inbox_incoming (event_id) VALUES ('e1');

-- What a SECURITY DEFINER function would run if its search path or a name let it: functions
-- and operators under names used in the install, each making its caller a superuser.
SET SESSION AUTHORIZATION :"padmin";
CREATE FUNCTION trap.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
  RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
  RETURN false;
END
$$;
CREATE FUNCTION trap.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT trap.escalate()::text $$;
CREATE FUNCTION trap.to_regclass(text) RETURNS regclass LANGUAGE sql AS $$ SELECT NULL::regclass FROM (SELECT trap.escalate()) AS x $$;
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT NULL::timestamptz FROM (SELECT trap.escalate()) AS x $$;
CREATE FUNCTION trap.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE sql AS $$ SELECT to_jsonb(trap.escalate()) $$;
CREATE FUNCTION trap.text_eq(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT trap.escalate() $$;
CREATE OPERATOR trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.text_eq);
CREATE TABLE trap.relay_outbox_config (name text, enabled boolean, config jsonb);
-- The pipeline admin's own table, whose columns read literals through the canary's domain.
CREATE TABLE trap.wt (id int PRIMARY KEY, dcol canary.d, darr canary.d[], note text);
-- Its code, which must only ever run as her: a forced policy whose IMMUTABLE function the planner
-- folds, and a trigger; each run as another role counts as an escalation.
CREATE SEQUENCE trap.owners_code_runs;
GRANT USAGE ON SEQUENCE trap.owners_code_runs TO PUBLIC;
CREATE FUNCTION trap.owners_code() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM pg_catalog.nextval('trap.owners_code_runs');
  IF current_user::text <> (SELECT c.relowner::regrole::text FROM pg_catalog.pg_class AS c WHERE c.oid = 'trap.wt'::regclass) THEN
    PERFORM pg_catalog.nextval('canary.escalated');
    RAISE WARNING 'canary: the table owner''s code ran as % for login %', current_user, session_user;
  END IF;
  RETURN true;
END
$$;
CREATE FUNCTION trap.owners_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM trap.owners_code(); RETURN NULL; END $$;
ALTER TABLE trap.wt ENABLE ROW LEVEL SECURITY;
ALTER TABLE trap.wt FORCE ROW LEVEL SECURITY;
CREATE POLICY owners_code ON trap.wt USING (trap.owners_code()) WITH CHECK (trap.owners_code());
CREATE TRIGGER owners_code AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trap.wt FOR EACH STATEMENT EXECUTE FUNCTION trap.owners_trigger();
RESET SESSION AUTHORIZATION;
GRANT USAGE ON SCHEMA trap TO :"stranger";
SELECT pgtrickle.enable_outbox('trap.wt');
SELECT pgtrickle.set_relay_outbox('wt-out', config => '{"stream_table": "trap.wt", "sink_type": "stdout"}');

-- The catalog check: the SECURITY DEFINER functions of pgtrickle and pgstream that another role may
-- execute (or an event trigger fires for anyone) and that run as a superuser, by name.
CREATE FUNCTION pg_temp.run_as_superuser() RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT array_agg(DISTINCT p.proname::text ORDER BY p.proname::text) FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
  WHERE p.prosecdef AND r.rolsuper AND p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)
    AND (EXISTS (SELECT FROM pg_roles AS c WHERE c.oid <> p.proowner AND NOT c.rolsuper AND has_function_privilege(c.oid, p.oid, 'EXECUTE'))
         OR EXISTS (SELECT FROM pg_event_trigger AS e WHERE e.evtfoid = p.oid))
$$;

CREATE TEMP TABLE audited (fn text NOT NULL, caller text NOT NULL, attack text NOT NULL, PRIMARY KEY (fn, attack));
-- fn: the function's signature; caller: 'relay', 'padmin' or 'owner' (the least role that may call
-- it: 'owner' for the installer's helpers, which only pgtrickle_owner's functions call; a trigger
-- function: the role whose writes fire it); attack: statements with %1$L for a hostile name.
INSERT INTO audited VALUES
  ('pgtrickle._relay_regclass_qualified(text)', 'relay', 'SELECT pgtrickle._relay_regclass_qualified(%1$L)'),
  ('pgtrickle.relay_normalize_config(text,jsonb,text)', 'relay',
   'SELECT pgtrickle.relay_normalize_config(''forward'', jsonb_build_object(''stream_table'', %1$L, ''sink_type'', ''stdout''), %1$L)'),
  ('pgtrickle.set_relay_outbox(text,jsonb)', 'padmin',
   'SELECT pgtrickle.set_relay_outbox(%1$L, jsonb_build_object(''stream_table'', %1$L, ''sink_type'', ''stdout''))'),
  ('pgtrickle.set_relay_outbox(text,text,text,jsonb,integer,boolean)', 'padmin',
   'SELECT pgtrickle.set_relay_outbox(%1$L || ''2'', %1$L, %1$L, ''{"type": "stdout"}'')'),
  ('pgtrickle.set_relay_inbox(text,jsonb)', 'padmin',
   'SELECT pgtrickle.set_relay_inbox(%1$L || ''3'', jsonb_build_object(''source_type'', ''stdin'', ''inbox_table'', %1$L))'),
  ('pgtrickle.set_relay_inbox(text,text,jsonb,integer,text,boolean,integer,boolean)', 'padmin',
   'SELECT pgtrickle.set_relay_inbox(%1$L || ''4'', %1$L, ''{"type": "stdin"}'')'),
  ('pgtrickle.enable_relay(text)', 'padmin', 'SELECT pgtrickle.enable_relay(%1$L)'),
  ('pgtrickle.disable_relay(text)', 'padmin', 'SELECT pgtrickle.disable_relay(%1$L)'),
  ('pgtrickle.get_relay_config(text)', 'relay', 'SELECT * FROM pgtrickle.get_relay_config(%1$L)'),
  ('pgtrickle.list_relay_configs()', 'relay', 'SELECT * FROM pgtrickle.list_relay_configs()'),
  ('pgtrickle.delete_relay(text)', 'padmin', 'SELECT pgtrickle.delete_relay(%1$L)'),
  ('pgtrickle.outbox_watermark()', 'relay', 'SELECT pgtrickle.outbox_watermark()'),
  ('pgtrickle.outbox_watermarks(text[],integer)', 'relay', 'SELECT * FROM pgtrickle.outbox_watermarks(ARRAY[%1$L, ''outbox_'' || %1$L])'),
  ('pgtrickle._outbox_enable(text,regclass,integer,text)', 'padmin',
   'SELECT pgtrickle._outbox_enable(%1$L, (SELECT c.oid FROM pg_class AS c WHERE c.relname = ''salaries'')::regclass, 24, ''trigger'')'),
  ('pgtrickle.create_outbox(text,integer)', 'padmin', 'SELECT pgtrickle.create_outbox(%1$L)'),
  ('pgtrickle._outbox_publish(text,regclass,jsonb,jsonb)', 'padmin', 'SELECT pgtrickle._outbox_publish(%1$L, NULL, ''{}'', ''{}'')'),
  ('pgtrickle._outbox_disable(text,regclass,boolean,boolean)', 'padmin', 'SELECT pgtrickle._outbox_disable(''outbox_salaries'', NULL, true, true)'),
  -- What enable_outbox runs as the session, acting for the table's owner: USAGE and CREATE on
  -- schema pgtrickle for that owner, and what its capture writes.
  ('pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])', 'padmin',
   'SELECT pgtrickle._relay_code_open((SELECT c.oid FROM pg_class AS c WHERE c.relname = ''salaries'')::regclass, ''pgtrickle'', true, ARRAY[%1$L])'),
  ('pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])', 'padmin',
   'SELECT pgtrickle._relay_code_open(''trap.wt''::regclass, ''pgtrickle'', false, ARRAY[%1$L, ''USAGE''])'),
  ('pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])', 'padmin',
   'SELECT pgtrickle._relay_code_open(''trap.wt''::regclass, ''pg_catalog'', true, ARRAY[%1$L])'),
  ('pgtrickle._outbox_grant_capture(pgtrickle.outbox_tables,oid)', 'padmin',
   'SELECT pgtrickle._outbox_grant_capture(jsonb_populate_record(NULL::pgtrickle.outbox_tables, jsonb_build_object(''outbox_name'', %1$L)), NULL)'),
  ('pgtrickle._outbox_grant_capture(pgtrickle.outbox_tables,oid)', 'padmin',
   'SELECT pgtrickle._outbox_grant_capture(t, ''pgtrickle_relay''::regrole) FROM pgtrickle.outbox_tables AS t WHERE t.source_table IN (''salaries'', %1$L)'),
  ('pgtrickle._outbox_resolve(text,regclass)', 'relay', 'SELECT * FROM pgtrickle._outbox_resolve(%1$L, NULL)'),
  ('pgtrickle._outbox_status(text,regclass)', 'relay', 'SELECT pgtrickle._outbox_status(%1$L, NULL)'),
  ('pgtrickle._outbox_wal_source(text)', 'relay', 'SELECT * FROM pgtrickle._outbox_wal_source(%1$L)'),
  ('pgtrickle.run_outbox_retention()', 'relay', 'SELECT pgtrickle.run_outbox_retention()'),
  ('pgtrickle._consumer_group_create(text,text,regclass,text)', 'padmin',
   'SELECT pgtrickle._consumer_group_create(%1$L, ''events'', NULL, ''earliest'')'),
  ('pgtrickle.drop_consumer_group(text,boolean)', 'padmin', 'SELECT pgtrickle.drop_consumer_group(%1$L || ''x'', true)'),
  ('pgtrickle.poll_outbox(text,text,integer,integer)', 'padmin', 'SELECT * FROM pgtrickle.poll_outbox(%1$L, %1$L)'),
  ('pgtrickle.commit_offset(text,text,bigint)', 'padmin', 'SELECT pgtrickle.commit_offset(%1$L, %1$L, 1)'),
  ('pgtrickle.extend_lease(text,text,integer)', 'padmin', 'SELECT pgtrickle.extend_lease(%1$L, %1$L, 10)'),
  ('pgtrickle.seek_offset(text,text,bigint)', 'padmin', 'SELECT pgtrickle.seek_offset(%1$L, %1$L, 0)'),
  ('pgtrickle.consumer_heartbeat(text,text)', 'padmin', 'SELECT pgtrickle.consumer_heartbeat(%1$L, %1$L)'),
  ('pgtrickle.consumer_lag(text)', 'padmin', 'SELECT * FROM pgtrickle.consumer_lag(%1$L)'),
  ('pgtrickle.create_inbox(text,text,integer,text,boolean,boolean,integer)', 'relay', 'SELECT pgtrickle.create_inbox(left(%1$L, 40), ''trap'')'),
  ('pgtrickle.create_inbox_table(text,text,integer,boolean,integer)', 'relay', 'SELECT pgtrickle.create_inbox_table(''relay_outbox_config'', ''trap'')'),
  ('pgtrickle.drop_inbox(text,boolean,boolean)', 'padmin', 'SELECT pgtrickle.drop_inbox(%1$L, true, true)'),
  ('pgtrickle.inbox_mark_processed(text,text)', 'padmin', 'SELECT pgtrickle.inbox_mark_processed(''incoming'', %1$L)'),
  ('pgtrickle.inbox_mark_failed(text,text,text)', 'padmin', 'SELECT pgtrickle.inbox_mark_failed(''incoming'', ''e1'', %1$L)'),
  ('pgtrickle.replay_inbox_messages(text,text[])', 'padmin', 'SELECT pgtrickle.replay_inbox_messages(''incoming'', ARRAY[%1$L])'),
  ('pgtrickle.inbox_health(text)', 'relay', 'SELECT pgtrickle.inbox_health(%1$L)'),
  ('pgtrickle._relay_grant_outboxes()', 'relay', 'SELECT pgtrickle._relay_grant_outboxes()'),
  ('pgtrickle._outbox_waiting(text,boolean)', 'relay', 'SELECT pgtrickle._outbox_waiting(%1$L, true)'),
  -- A condition runs as the table's owner: a pipeline admin who is not the owner is refused.
  ('pgtrickle.backfill_relay(text,text)', 'padmin', 'SELECT pgtrickle.backfill_relay(''salaries-out'', %1$L || '' OR trap.escalate()'')'),
  ('pgtrickle.cancel_backfill(text)', 'padmin', 'SELECT pgtrickle.cancel_backfill(%1$L)'),
  ('pgtrickle.replay_dead_letters(text,bigint[])', 'padmin', 'SELECT pgtrickle.replay_dead_letters(%1$L)'),
  -- Only a dead letter an admin asked to send again: the relay deletes or changes no other.
  ('pgtrickle._relay_dead_letter_replayed(text,bigint,text)', 'relay', 'SELECT pgtrickle._relay_dead_letter_replayed(%1$L, 1, %1$L)'),
  ('pgtrickle._relay_backfill_initial(text,text)', 'relay', 'SELECT pgtrickle._relay_backfill_initial(%1$L, ''outbox_salaries'')'),
  ('pgtrickle._relay_backfill_end(bigint,text)', 'relay', 'SELECT pgtrickle._relay_backfill_end(1, %1$L)'),
  ('pgtrickle._relay_backfill_watermark(bigint)', 'relay', 'SELECT pgtrickle._relay_backfill_watermark(1)'),
  -- A rebuilt slot: only one the relay marked as being rebuilt, of the pipeline named.
  ('pgtrickle._relay_slot_rebuilt(text,text,text,text,pg_lsn)', 'relay',
   'SELECT * FROM pgtrickle._relay_slot_rebuilt(%1$L, %1$L, ''outbox_salaries'', %1$L, ''0/0'')'),
  ('pgtrickle.rebuild_relay_slot(text)', 'padmin', 'SELECT pgtrickle.rebuild_relay_slot(%1$L)'),
  ('pgtrickle._wal_render(text,text,jsonb,jsonb)', 'relay',
   'SELECT * FROM pgtrickle._wal_render(''vschema'', %1$L, jsonb_build_array(jsonb_build_object(''name'', %1$L, ''type'', 25, ''mod'', -1, ''key'', true)), jsonb_build_array(jsonb_build_object(''row'', jsonb_build_object(%1$L, %1$L), ''fill'', true)))'),
  -- WAL pipelines: a hostile name in every part a pipeline admin or the relay gives.
  ('pgtrickle._wal_file_pipeline_prepare(text,text,jsonb)', 'relay',
   'SELECT pgtrickle._wal_file_pipeline_prepare(%1$L, %1$L, jsonb_build_object(''tables'', jsonb_build_array(%1$L, ''vschema.'' || %1$L, ''vschema.*'', jsonb_build_object(''name'', ''trap.wt'', ''where'', %1$L)), ''exclude'', jsonb_build_array(%1$L)))'),
  -- A row filter on the admin's own table goes into the installer's ALTER PUBLICATION.
  ('pgtrickle.set_relay_outbox(text,jsonb)', 'padmin',
   'SELECT pgtrickle.set_relay_outbox(''w'' || md5(%1$L), jsonb_build_object(''sink_type'', ''stdout'', ''tables'', jsonb_build_array(jsonb_build_object(''name'', ''trap.wt'', ''where'', %1$L), jsonb_build_object(''name'', ''trap.'' || %1$L, ''where'', ''id > 0''))))'),
  -- A condition on the admin's own table runs as the admin.
  ('pgtrickle.backfill_relay(text,text)', 'padmin',
   'SELECT pgtrickle.cancel_backfill(''wt-out''); SELECT pgtrickle.backfill_relay(''wt-out'', %1$L)'),
  ('pgtrickle._wal_pipeline_publication(text,text)', 'relay', 'SELECT pgtrickle._wal_pipeline_publication(%1$L, %1$L)'),
  ('pgtrickle._wal_table_info(text,oid,text,text)', 'relay',
   'SELECT * FROM pgtrickle._wal_table_info(%1$L, ''vschema.salaries''::regclass, ''vschema'', %1$L)'),
  ('pgtrickle._wal_render_table(oid,jsonb,jsonb)', 'relay',
   'SELECT * FROM pgtrickle._wal_render_table(''vschema.salaries''::regclass, jsonb_build_array(jsonb_build_object(''name'', %1$L, ''type'', 25, ''mod'', -1, ''key'', true)), jsonb_build_array(jsonb_build_object(''row'', jsonb_build_object(%1$L, %1$L), ''fill'', true)))'),
  ('pgstream.stream_outbox(bigint)', 'relay', 'SELECT pgstream.stream_outbox(length(%1$L))'),
  ('pgstream.stream_publication(bigint)', 'relay', 'SELECT pgstream.stream_publication(length(%1$L))'),
  ('pgstream.maintain_partitions()', 'relay', 'SELECT * FROM pgstream.maintain_partitions()'),
  ('pgstream.partition_status()', 'relay', 'SELECT * FROM pgstream.partition_status()'),
  -- Fired by any ALTER TABLE; a renamed table's subscriptions are updated as the role renaming it
  -- (it runs as that role), through their checks.
  ('pgstream._table_renamed()', 'victim', 'ALTER TABLE vschema.salaries ALTER COLUMN ssn SET DEFAULT %1$L'),
  ('pgstream._table_renamed()', 'padmin',
   'INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause, payload_extensions) '
   'VALUES (md5(%1$L || clock_timestamp()), 9, ''UPDATE'', ''trap'', ''wt'', %1$L, jsonb_build_array(jsonb_build_object(''json_path'', ''x'', ''expression'', %1$L))); '
   'ALTER TABLE trap.wt RENAME TO wt_renamed; ALTER TABLE trap.wt_renamed RENAME TO wt'),
  -- A login with no right but TEMP subscribes its temporary table, then renames it.
  ('pgstream._table_renamed()', 'stranger',
   'CREATE TEMP TABLE IF NOT EXISTS st (id int PRIMARY KEY, darr canary.d[]); '
   'INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause) '
   'VALUES (md5(%1$L || clock_timestamp()), 9, ''INSERT'', (SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()), ''st'', %1$L); '
   'ALTER TABLE st RENAME TO st_renamed; ALTER TABLE st_renamed RENAME TO st'),
  -- Fired by any login's write to pgstream.subscriptions (it runs as that login); generation puts the
  -- conditions into a trigger's WHEN, written again from their tokens.
  ('pgstream._subscription_sync()', 'victim',
   'INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause) VALUES (%1$L, 9, ''INSERT'', ''vschema'', ''salaries'', ''new.id > 0'')'),
  -- The installer's helpers (pgtrickle._relay_installer_helpers()), called as pgtrickle_owner's
  -- subverted code would call them: names stay names, conditions are read again by the grammar,
  -- and what acts on a table asks the session for its owner's rights.
  ('pgtrickle._outbox_create_tables(pgtrickle.outbox_tables)', 'owner',
   'SELECT pgtrickle._outbox_create_tables(jsonb_populate_record(NULL::pgtrickle.outbox_tables, jsonb_build_object(''outbox_name'', %1$L, ''delta_table'', %1$L || ''d'')))'),
  ('pgtrickle._outbox_drop_objects(pgtrickle.outbox_tables)', 'owner',
   'SELECT pgtrickle._outbox_drop_objects(jsonb_populate_record(NULL::pgtrickle.outbox_tables, jsonb_build_object(''outbox_name'', %1$L, ''delta_table'', %1$L)))'),
  ('pgtrickle._relay_backfill_create_for(text,text,text,regclass,text,oid[])', 'owner',
   'SELECT pgtrickle._relay_backfill_create_for(%1$L, %1$L, ''outbox_wt'', (SELECT c.oid FROM pg_class AS c WHERE c.relname = ''wt'')::regclass, %1$L, NULL)'),
  ('pgtrickle._relay_backfill_drop_functions(text)', 'owner', 'SELECT pgtrickle._relay_backfill_drop_functions(%1$L)'),
  -- backfill_relay's parts: the request (as pgtrickle_owner), its estimate.
  ('pgtrickle._relay_backfill_request(text,text)', 'padmin', 'SELECT pgtrickle._relay_backfill_request(''salaries-out'', %1$L || '' OR trap.escalate()'')'),
  ('pgtrickle._relay_backfill_estimated(bigint,bigint)', 'padmin', 'SELECT pgtrickle._relay_backfill_estimated(length(%1$L), 1)'),
  -- A WAL pipeline's publications are made by the session (with its rights) from what
  -- _relay_store recorded; a pipeline admin stores and deletes through these.
  ('pgtrickle._relay_store(text,text,jsonb,boolean)', 'padmin',
   'SELECT pgtrickle._relay_store(''forward'', ''w'' || md5(%1$L), jsonb_build_object(''sink_type'', ''stdout'', ''tables'', jsonb_build_array(jsonb_build_object(''name'', ''trap.wt'', ''where'', %1$L)))), NULL)'),
  ('pgtrickle._relay_delete(text)', 'padmin', 'SELECT pgtrickle._relay_delete(%1$L)'),
  ('pgtrickle._relay_drop_slots(text,text)', 'owner', 'SELECT pgtrickle._relay_drop_slots(%1$L, %1$L)'),
  -- Subscriptions' generation runs as their writer; pgtrickle_maker's two helpers it calls take only a
  -- table, called by anyone: the victim's subscribed table, the admin's own under its lock.
  -- Fired when _relay_code_open granted CREATE, at commit: a row of anyone's is refused (only
  -- pgtrickle_maker writes the table).
  ('pgtrickle._relay_code_closed()', 'stranger',
   'INSERT INTO pgtrickle.relay_code_opened VALUES ((SELECT oid FROM pg_roles WHERE rolname = current_user), ''SCHEMA pgstream'') -- %1$s'),
  ('pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])', 'stranger',
   'SELECT pgtrickle._relay_code_open(''vschema.salaries''::regclass, ''pgstream'', true, NULL); '
   'SELECT pgtrickle._relay_code_open(''vschema.salaries''::regclass, %1$L::regnamespace, true, NULL)'),
  ('pgstream._admit_owner(regclass)', 'stranger', 'SELECT pgstream._admit_owner(''vschema.salaries''::regclass) -- %1$s'),
  ('pgstream._generated_sync(oid,text)', 'stranger',
   'SELECT pgstream._generated_sync(''vschema.salaries''::regclass, ''INSERT''); SELECT pgstream._generated_sync(''vschema.salaries''::regclass, %1$L)'),
  ('pgstream._generated_sync(oid,text)', 'padmin',
   'LOCK TABLE trap.wt IN SHARE UPDATE EXCLUSIVE MODE; SELECT pgstream._generated_sync(''trap.wt''::regclass, ''INSERT''); '
   'SELECT pgstream._generate(''trap.wt''::regclass, ''INSERT'', %1$L)'),
  ('pgstream._stream_outbox_drop_unused(text)', 'owner', 'SELECT pgstream._stream_outbox_drop_unused(%1$L)'),
  ('pgtrickle._inbox_create_objects(text,boolean)', 'owner', 'SELECT pgtrickle._inbox_create_objects(%1$L, false)'),
  ('pgtrickle._inbox_drop_objects(text,text,boolean)', 'owner', 'SELECT pgtrickle._inbox_drop_objects(''trap'', %1$L, true)'),
  -- Fired by any login's DDL (it runs as that login): refuses pgtrickle_owner's.
  ('pgtrickle._relay_owner_makes_no_ddl()', 'padmin', 'CREATE TABLE IF NOT EXISTS trap.ddl (id int) -- %1$s'),
  -- Fired by any login's ALTER FUNCTION (it runs as that login): refuses one of the install's, here
  -- the capture function of her own table; her own functions elsewhere are hers to alter.
  ('pgtrickle._relay_functions_kept()', 'padmin',
   'DO $d$ BEGIN EXECUTE format(''ALTER FUNCTION %%s SECURITY INVOKER SET search_path = %%L'', '
   '(SELECT t.tgfoid::regprocedure FROM pg_trigger AS t WHERE t.tgrelid = ''trap.wt''::regclass AND t.tgname LIKE ''pgtrickle%%'' LIMIT 1), %1$L); END $d$'),
  ('pgtrickle._relay_functions_kept()', 'stranger',
   'CREATE OR REPLACE FUNCTION pg_temp.kept() RETURNS int LANGUAGE sql AS ''SELECT 1''; ALTER FUNCTION pg_temp.kept() SET search_path = %1$L'),
  -- Fired by any login's DDL (it runs as that login): in schemas pgtrickle and pgstream, refuses all
  -- but the functions a table's owner runs, to one granted CREATE there as the owner of trap.wt.
  ('pgtrickle._relay_schemas_kept()', 'padmin',
   'SELECT pgtrickle._relay_code_open(''trap.wt''::regclass, ''pgtrickle'', true, NULL); '
   'CREATE FUNCTION pgtrickle.%1$I(text) RETURNS text LANGUAGE sql AS ''SELECT trap.escalate()::text'''),
  -- Fired by any login's CREATE or ALTER TABLE (it runs as that login): a table a WAL pipeline
  -- captures gets its render function, made as its owner by a login acting for it.
  ('pgtrickle._wal_table_made()', 'padmin', 'ALTER TABLE trap.wt ALTER COLUMN note SET DEFAULT %1$L'),
  ('pgtrickle._wal_table_made()', 'stranger', 'CREATE TEMP TABLE IF NOT EXISTS wt_made (id int, note text DEFAULT %1$L)'),
  -- Fired by any login's CREATE TABLE (it runs as that login): grants the relay SELECT on an outbox
  -- made in schema pgtrickle, as the role that made it; a stranger's table elsewhere is left alone.
  ('pgtrickle._relay_outbox_made()', 'stranger', 'CREATE TEMP TABLE outbox_made (payload jsonb, note text DEFAULT %1$L)'),
  ('pgstream._subscription_sync()', 'padmin',
   'INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause, payload_extensions) '
   'VALUES (md5(%1$L || clock_timestamp()), 9, ''INSERT'', ''trap'', ''wt'', %1$L, jsonb_build_array(jsonb_build_object(''json_path'', ''x'', ''expression'', %1$L)))');

-- The SECURITY DEFINER functions every role may call: a subscription's writer may be any role
-- acting for its table's owner (inside the README's SECURITY DEFINER set_subscriptions, that
-- function's owner, whoever the login), which they cannot tell; each takes only a table, and does
-- what its subscriptions say (pgtrickle_maker's, attacked above as a stranger).
CREATE FUNCTION pg_temp.open_to_public() RETURNS oid[] LANGUAGE sql AS $$
  SELECT ARRAY['pgstream._admit_owner(regclass)'::regprocedure, 'pgstream._generated_sync(oid,text)'::regprocedure,
               'pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])'::regprocedure]::oid[]
$$;
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text COLLATE "C") FROM pg_proc AS p
                     WHERE p.prosecdef AND ((p.pronamespace = 'pgtrickle'::regnamespace
                                             AND p.proname !~ '^_outbox_capture_' AND p.proname !~ '^_backfill_rows_'
                                             AND p.proname !~ '^_wal_rows_([0-9a-f]{16}|r[0-9]+)$')
                                            OR (p.pronamespace = 'pgstream'::regnamespace AND p.proname !~ '^_(publish|emit)_after_'))),
                    (SELECT array_agg(f ORDER BY f COLLATE "C")
                     FROM (SELECT DISTINCT a.fn AS f FROM audited AS a JOIN pg_proc AS p ON p.oid = a.fn::regprocedure
                           WHERE p.prosecdef) AS d),
                    'the SECURITY DEFINER functions are exactly the audited ones');
  -- The functions serving other roles are pgtrickle_owner's; only the installer's listed helpers,
  -- which take no text they parse, run with the installer's rights; pgtrickle_owner holds nothing
  -- but its grants.
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text || ' owned by ' || p.proowner::regrole::text
                                      ORDER BY p.oid::regprocedure::text COLLATE "C") FROM pg_proc AS p
                     WHERE p.prosecdef AND p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)
                       AND p.proname !~ '^(_outbox_capture_[0-9a-f]{16}|_backfill_rows_t?[0-9]+|_wal_rows_([0-9a-f]{16}|r[0-9]+)|_publish_after_.*|_emit_after_.*)$'
                       AND p.proowner <> CASE WHEN p.proname = ANY (pgtrickle._relay_installer_helpers()) THEN pgtrickle._relay_installer()
                                              WHEN p.proname = ANY (pgtrickle._relay_maker_helpers()) THEN pgtrickle._relay_maker()
                                              ELSE 'pgtrickle_owner'::regrole END),
                    NULL::text[], 'SECURITY DEFINER functions run as other than pgtrickle_owner, but the installer''s and pgtrickle_maker''s helpers');
  -- From the catalog: which SECURITY DEFINER functions another role may execute (or fire, for an
  -- event trigger) run as a superuser. Only the helpers still listed as the installer's, which act
  -- on users' tables and publications with its rights; pgtrickle_maker's never.
  PERFORM assert_eq(pg_temp.run_as_superuser(),
                    (SELECT array_agg(DISTINCT h ORDER BY h) FROM unnest(pgtrickle._relay_installer_helpers()) AS h),
                    'SECURITY DEFINER functions others reach that run as a superuser');
  PERFORM assert_eq((SELECT array_agg(DISTINCT p.proname::text ORDER BY p.proname::text) FROM pg_proc AS p
                     WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace) AND p.prosecdef
                       AND p.proowner = 'pgtrickle_maker'::regrole),
                    (SELECT array_agg(DISTINCT h ORDER BY h) FROM unnest(pgtrickle._relay_maker_helpers()) AS h),
                    'pgtrickle_maker runs its listed helpers, each SECURITY DEFINER');
  ASSERT (SELECT NOT (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolcanlogin)
          FROM pg_roles WHERE rolname = 'pgtrickle_maker'), 'pgtrickle_maker: no superuser, CREATEROLE, CREATEDB, BYPASSRLS or login';
  PERFORM assert_eq((SELECT array_agg(m.roleid::regrole::text ORDER BY m.roleid::regrole::text) FROM pg_auth_members AS m
                     WHERE m.member = 'pgtrickle_maker'::regrole),
                    ARRAY['pg_signal_backend', 'pgtrickle_owner'], 'pgtrickle_maker is a member of pgtrickle_owner and pg_signal_backend alone');
  PERFORM assert_eq((SELECT array_agg(DISTINCT p.proname::text) FROM pg_proc AS p
                     WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace) AND p.prosecdef
                       AND p.proname = ANY (pgtrickle._relay_installer_helpers())),
                    (SELECT array_agg(DISTINCT h) FROM unnest(pgtrickle._relay_installer_helpers()) AS h),
                    'every listed helper exists and is SECURITY DEFINER');
  ASSERT (SELECT NOT (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls OR rolcanlogin)
          FROM pg_roles WHERE rolname = 'pgtrickle_owner'), 'pgtrickle_owner has no attribute';
  PERFORM assert_eq((SELECT count(*) FROM pg_auth_members WHERE member = 'pgtrickle_owner'::regrole), 0::bigint,
                    'pgtrickle_owner is a member of no role');
  -- Event triggers run with their function's owner's rights on any role's DDL.
  PERFORM assert_eq((SELECT array_agg(e.evtfoid::regprocedure::text ORDER BY e.evtfoid::regprocedure::text COLLATE "C")
                     FROM pg_event_trigger AS e JOIN pg_proc AS p ON p.oid = e.evtfoid
                     WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)
                       AND NOT EXISTS (SELECT FROM audited AS a WHERE a.fn = e.evtfoid::regprocedure::text)),
                    NULL::text[], 'event triggers the audit does not cover');
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text COLLATE "C") FROM pg_proc AS p
                     WHERE p.pronamespace = 'pgtrickle'::regnamespace AND p.prosecdef
                       AND ((NOT coalesce(p.proconfig && ARRAY['search_path=pg_catalog, pgtrickle, pg_temp', 'search_path=pg_catalog, pg_temp'], false)
                             AND p.proname !~ '^_outbox_capture_'    -- they name everything (security_capture.sql)
                             AND p.proname !~ '^_backfill_rows_'     -- search path pg_catalog, pg_temp: the table's owner's condition
                             AND p.proname !~ '^_wal_rows_([0-9a-f]{16}|r[0-9]+)$')         -- the same: rendering as the table's owner
                            OR (has_function_privilege('public', p.oid, 'EXECUTE') AND p.oid <> ALL (pg_temp.open_to_public())))),
                    NULL::text[], 'SECURITY DEFINER functions without a pinned search path or open to PUBLIC');
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text) FROM pg_proc AS p
                     WHERE p.pronamespace = 'pgstream'::regnamespace AND p.prosecdef AND p.proname !~ '^_(publish|emit)_after_'
                       AND (NOT coalesce(p.proconfig && ARRAY['search_path=pg_catalog, pg_temp'], false)
                            OR (has_function_privilege('public', p.oid, 'EXECUTE') AND p.oid <> ALL (pg_temp.open_to_public())))),
                    NULL::text[], 'pgstream SECURITY DEFINER functions without a pinned search path or open to PUBLIC');
  PERFORM assert_eq((SELECT array_agg(DISTINCT p.oid::regprocedure::text) FROM pg_trigger AS t
                     JOIN pg_class AS c ON c.oid = t.tgrelid JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE p.proname ~ '^_outbox_capture_' AND p.proowner <> c.relowner),
                    NULL::text[], 'capture functions owned by anyone but their table''s owner');
END
$$;

-- Session state the attacker plants before each call, under every name the install or the relay
-- uses in a session (tests/sql/security_session_state.sql keeps the list of the install's, and
-- attacks the temporary table the subscriptions' check makes): a statement the canary runs in,
-- prepared under each of the relay's names and those the install once used, and a forged setting.
-- Whatever finds them by name runs them with the planter's rights at most.
CREATE FUNCTION pg_temp.plant() RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n text;
BEGIN
  FOREACH n IN ARRAY ARRAY['relay_cached_1', 'relay_cached_2', 'relay_cached_3', 'ob_lag', 'bf_wanted', 'bf_low', 'bf_chunk', 'bf_high']
                     || ARRAY(SELECT 'pgtrickle_wal_rows_' || md5(c) FROM unnest(ARRAY['[]', '{}']) AS c) LOOP
    EXECUTE format('PREPARE %I AS SELECT canary.fly()', n);
  END LOOP;
  PERFORM set_config('pgtrickle.numbered_idle_to', pg_current_snapshot()::text, false);
END
$$;

-- Each function, called by its least caller with hostile names, the trap schema first in the
-- search path and hostile session state planted; failures are expected and ignored, escalation
-- is not.
CREATE FUNCTION pg_temp.attack(p_role text, p_sql text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SET SESSION AUTHORIZATION %I', p_role);
  SET search_path = trap, public;
  BEGIN
    PERFORM pg_temp.plant();
    EXECUTE p_sql;
  EXCEPTION WHEN OTHERS THEN
    NULL;
  END;
  DEALLOCATE ALL;
  RESET pgtrickle.numbered_idle_to;
  RESET search_path;
  RESET SESSION AUTHORIZATION;
END
$$;
DO $$
DECLARE
  a       record;
  v_name  text;
  v_role  text;
  v_seen  bigint := canary.escalations();
  v_names text[] := ARRAY[
    'x"; ALTER ROLE ' || quote_ident(current_database() || '_padmin') || ' SUPERUSER; --',
    'x''); SELECT trap.escalate(); --',
    'trap.relay_outbox_config', 'vschema.salaries', 'relay_outbox_config', 'outbox_tables'] || canary.corpus();
BEGIN
  FOR a IN SELECT * FROM audited ORDER BY fn, attack LOOP
    FOREACH v_role IN ARRAY ARRAY(SELECT DISTINCT r FROM unnest(ARRAY[a.caller, 'padmin', 'stranger']) AS r) LOOP
      FOREACH v_name IN ARRAY v_names LOOP
        PERFORM pg_temp.attack(current_database() || '_' || v_role, format(a.attack, v_name));
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname LIKE current_database() || '\_%' AND rolsuper) THEN
          RAISE EXCEPTION 'escalation through % with %', a.fn, v_name;
        END IF;
        IF canary.escalations() <> v_seen THEN
          RAISE EXCEPTION 'the canary ran with more rights than %''s through % with %', v_role, a.fn, v_name;
        END IF;
      END LOOP;
    END LOOP;
  END LOOP;
  ASSERT canary.runs() > 0, 'the canary ran (as its attacker): the corpus reached code that parses it';
  ASSERT canary.count('trap.owners_code_runs') > 0, 'the pipeline admin''s table''s own code ran (as her): the attacks reached it';
  ASSERT (SELECT count(*) FROM pgtrickle.relay_outbox_config WHERE name LIKE 'x%') > 0, 'the attacks ran, as the pipeline admin';
  ASSERT (SELECT count(*) FROM pgtrickle.outbox_consumers) > 0, 'the attacks ran, down to the consumer groups';
  PERFORM assert_eq((SELECT count(*) FROM pg_auth_members AS m JOIN pg_roles AS r ON r.oid = m.member
                     WHERE r.rolname LIKE current_database() || '\_%'), 3::bigint,
                    'each test role is still a member of its one group only');
  ASSERT NOT has_table_privilege('pgtrickle_relay_admin', 'pgtrickle.relay_outbox_config', 'SELECT'), 'no raw config for admins';
  ASSERT NOT has_table_privilege('pgtrickle_relay_admin', 'pgtrickle.outbox_tables', 'UPDATE'), 'no catalog writes for admins';
  ASSERT NOT has_table_privilege('pgtrickle_relay', 'trap.relay_outbox_config', 'INSERT'), 'no grant on the trap table';
  -- The backfills the attacks started read the victim's table as the victim, for the relay only.
  ASSERT (SELECT count(*) FROM pgtrickle.relay_backfills WHERE outbox = 'outbox_salaries') > 0, 'the backfill attacks ran';
  PERFORM assert_eq((SELECT array_agg(p.proname::text) FROM pg_proc AS p
                     WHERE p.pronamespace = 'pgtrickle'::regnamespace AND p.proname ~ '^_backfill_rows_'
                       AND (p.proowner IS DISTINCT FROM (SELECT c.relowner FROM pg_class AS c
                                                         WHERE p.proname IN (pgtrickle._relay_backfill_table_function(c.oid),
                                                                             (SELECT '_backfill_rows_' || b.id FROM pgtrickle.relay_backfills AS b
                                                                              WHERE b.source_oid = c.oid AND p.proname = '_backfill_rows_' || b.id)))
                            OR has_function_privilege('pgtrickle_relay_admin', p.oid, 'EXECUTE')
                            OR has_function_privilege('public', p.oid, 'EXECUTE'))),
                    NULL::text[], 'backfill functions owned by anyone but the table''s owner, or callable by others than the relay');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_backfills WHERE where_clause IS NOT NULL AND outbox = 'outbox_salaries'), 0::bigint,
                    'no condition from a pipeline admin who does not own the table');
  PERFORM assert_eq((SELECT array_agg(DISTINCT p.oid::regprocedure::text) FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE t.tgrelid = 'trap.wt'::regclass AND p.proname ~ '^_outbox_capture_'
                       AND NOT (p.prosecdef AND p.proconfig IS NULL)),
                    NULL::text[], 'the pipeline admin''s capture function stays as made (her ALTER refused)');
  PERFORM assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'vschema.salaries'::regclass AND NOT tgisinternal
                                                       AND tgname LIKE 'pgtrickle\_%'),
                    4::bigint, 'the victim''s capture triggers are intact');
  -- The functions generated for the victim's subscriptions: each recorded, its trigger function the
  -- table owner's, its emit function pgtrickle_maker's and callable by that owner alone.
  ASSERT (SELECT count(*) FROM pgstream.generated) > 0, 'the subscription attacks ran';
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text) FROM pg_proc AS p
                     WHERE p.pronamespace = 'pgstream'::regnamespace AND p.proname ~ '^_(publish|emit)_after_'
                       AND NOT EXISTS (SELECT FROM pgstream.generated AS g WHERE p.oid IN (g.trigger_fn, g.emit_fn))),
                    NULL::text[], 'generated functions that generation did not record');
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text) FROM pgstream.generated AS g
                     JOIN pg_class AS c ON c.oid = g.table_oid JOIN pg_proc AS p ON p.oid = g.trigger_fn
                     WHERE p.proowner <> c.relowner OR NOT p.prosecdef OR has_function_privilege('public', p.oid, 'EXECUTE')),
                    NULL::text[], 'trigger functions not owned by their table''s owner, or callable by anyone');
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text) FROM pgstream.generated AS g
                     JOIN pg_class AS c ON c.oid = g.table_oid JOIN pg_proc AS p ON p.oid = g.emit_fn
                     WHERE p.proowner <> pgtrickle._relay_maker()
                        OR has_function_privilege('public', p.oid, 'EXECUTE')
                        OR (has_function_privilege(current_database() || '_padmin', p.oid, 'EXECUTE')
                            AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_database() || '_padmin'))
                        OR has_function_privilege(current_database() || '_relay', p.oid, 'EXECUTE')
                        OR NOT has_function_privilege(c.relowner, p.oid, 'EXECUTE')),
                    NULL::text[], 'emit functions not pgtrickle_maker''s, or callable by others than the table''s owner');
  -- The catalog check again, now that the attacks made functions for tables (capture, render,
  -- subscriptions): none that another role reaches runs as a superuser, but the installer's helpers.
  PERFORM assert_eq(pg_temp.run_as_superuser(),
                    (SELECT array_agg(DISTINCT h ORDER BY h) FROM unnest(pgtrickle._relay_installer_helpers()) AS h),
                    'SECURITY DEFINER functions others reach that run as a superuser, after the attacks');
END
$$;

-- pgtrickle_owner makes no DDL: subverted, its code could neither turn a function of its own
-- SECURITY INVOKER or give it a search path (a superuser calling it would run its choice), nor plant
-- a temporary object in a caller's session.
SET SESSION AUTHORIZATION :"owner";
DO $$
BEGIN
  PERFORM expect_error($q$ ALTER FUNCTION pgtrickle.relay_normalize_config(text, jsonb, text) SECURITY INVOKER $q$,
                       'ALTER FUNCTION refused: role ' || current_user || ' holds the rights of pgtrickle_owner', '42501');
  PERFORM expect_error($q$ ALTER FUNCTION pgtrickle.set_relay_outbox(text, jsonb) SET search_path = public $q$,
                       'ALTER FUNCTION refused', '42501');
  PERFORM expect_error($q$ CREATE TEMP TABLE planted (id int) $q$, 'CREATE TABLE refused', '42501');
  PERFORM expect_error($q$ CREATE FUNCTION pg_temp.planted() RETURNS int LANGUAGE sql AS 'SELECT 1' $q$, 'CREATE FUNCTION refused', '42501');
  PERFORM expect_error($q$ GRANT EXECUTE ON FUNCTION pgtrickle.set_relay_outbox(text, jsonb) TO PUBLIC $q$, 'GRANT refused', '42501');
  PERFORM expect_error($q$ DROP FUNCTION pgtrickle.set_relay_outbox(text, jsonb) $q$, 'DROP FUNCTION refused', '42501');
END
$$;
RESET SESSION AUTHORIZATION;

-- A table's owner granted CREATE in schema pgtrickle, for the length of making its capture or left
-- so, makes only the functions its tables' code runs under the install's names there: nothing the
-- install's functions could resolve a name to, no table it would take for an outbox.
SET SESSION AUTHORIZATION :"padmin";
DO $$
BEGIN
  PERFORM pgtrickle._relay_code_open('trap.wt'::regclass, 'pgtrickle', true, NULL);
  ASSERT has_schema_privilege('pgtrickle', 'CREATE'), 'granted CREATE as the owner of trap.wt';
  PERFORM expect_error($q$ CREATE FUNCTION pgtrickle.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS 'SELECT trap.escalate()::text' $q$,
                       'CREATE FUNCTION refused: schemas pgtrickle and pgstream hold pgtrickle-relay''s install', '42501');
  PERFORM expect_error($q$ CREATE OPERATOR pgtrickle.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.text_eq) $q$,
                       'CREATE OPERATOR refused', '42501');
  PERFORM expect_error($q$ CREATE TABLE pgtrickle.outbox_planted (id int) $q$, 'CREATE TABLE refused', '42501');
  PERFORM expect_error($q$ CREATE VIEW pgtrickle.outbox_planted AS SELECT 1 AS id $q$, 'CREATE VIEW refused', '42501');
  PERFORM expect_error($q$ CREATE TYPE pgtrickle.planted AS (a int) $q$, 'CREATE TYPE refused', '42501');
  -- Under the name of an owner's function it is hers, and runs as her.
  CREATE FUNCTION pgtrickle._outbox_capture_0123456789abcdef() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
  DROP FUNCTION pgtrickle._outbox_capture_0123456789abcdef();
END
$$;
RESET SESSION AUTHORIZATION;

-- pgtrickle_maker makes tables, views and publications: subverted, its code (run as it) could put
-- no code where another role runs it, and no login holding it makes any DDL.
SELECT current_database() || '_maker' AS maker \gset
CREATE ROLE :"maker" LOGIN IN ROLE pgtrickle_maker;
SET SESSION AUTHORIZATION :"maker";
DO $$
BEGIN
  PERFORM expect_error($q$ CREATE TABLE pgtrickle.planted (id int) $q$, 'CREATE TABLE refused: role ' || current_user, '42501');
END
$$;
SET ROLE pgtrickle_maker;
DO $$
BEGIN
  PERFORM expect_error($q$ CREATE FUNCTION pgtrickle.relay_planted() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END' $q$,
                       'CREATE FUNCTION refused: role pgtrickle_maker', '42501');
  PERFORM expect_error($q$ CREATE FUNCTION pg_temp.planted() RETURNS int LANGUAGE sql AS 'SELECT 1' $q$, 'CREATE FUNCTION refused', '42501');
  PERFORM expect_error($q$ CREATE TRIGGER planted BEFORE INSERT ON pgtrickle.outbox_events
                           FOR EACH ROW EXECUTE FUNCTION pgtrickle._outbox_capture_body() $q$, 'CREATE TRIGGER refused', '42501');
  PERFORM expect_error($q$ CREATE POLICY planted ON pgtrickle.outbox_events USING (true) $q$, 'CREATE POLICY refused', '42501');
  PERFORM expect_error($q$ CREATE RULE planted AS ON INSERT TO pgtrickle.outbox_events DO ALSO NOTIFY x $q$, 'CREATE RULE refused', '42501');
  PERFORM expect_error($q$ CREATE OPERATOR pgtrickle.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = texteq) $q$,
                       'CREATE OPERATOR refused', '42501');
  PERFORM expect_error($q$ ALTER FUNCTION pgtrickle.relay_normalize_config(text, jsonb, text) SECURITY INVOKER $q$,
                       'ALTER FUNCTION refused', '42501');
  PERFORM expect_error($q$ ALTER ROLE pgtrickle_maker SUPERUSER $q$, '', '42501');   -- the wording differs by version
  PERFORM expect_error($q$ GRANT pg_read_server_files TO pgtrickle_maker $q$, '', '42501');
END
$$;
RESET ROLE;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  ASSERT NOT (SELECT p.prosecdef IS FALSE OR p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pgtrickle, pg_temp']
              FROM pg_proc AS p WHERE p.oid = 'pgtrickle.relay_normalize_config(text, jsonb, text)'::regprocedure),
    'the function is as the install made it';
END
$$;

DELETE FROM pgstream.subscriptions;
SELECT pgtrickle.disable_outbox('vschema.salaries');
SELECT pgtrickle.delete_relay('wt-out');
SELECT pgtrickle.disable_outbox('trap.wt');
DROP SCHEMA vschema, trap CASCADE;
