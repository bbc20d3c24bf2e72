-- Session state is never trusted across a trust boundary. What a session holds by name (prepared
-- statements, settings, advisory locks) is its caller's to plant: a function with more rights than
-- its caller never runs or relies on it, and what a table owner's code leaves in a session it ran
-- in (what a rolled-back subtransaction does not undo) is cleared on every exit, a cancel and an
-- assertion of that code included. Each attack is made as its attacker on a real connection
-- (dblink): the relay's login, a login holding pgtrickle_owner's rights, a pipeline admin, a table
-- owner with no role of the install.

\i tests/sql/support/canary.sql

-- Every use of session state in the install, read from its text, is one audited here: a new name
-- (a prepared statement, a custom setting, a temporary relation, an advisory lock, a cursor, a
-- LISTEN) fails this test until it is reviewed and listed, with why no caller can turn it against
-- a function running with more rights than its own (tests/sql/security_definer.sql plants each name
-- before every call of a SECURITY DEFINER function).
\set install_text `cat :'install_sql'`
CREATE TEMPORARY TABLE session_state_audited (use text PRIMARY KEY, why text NOT NULL);
INSERT INTO session_state_audited VALUES
  ('pg_try_advisory_xact_lock', 'the install''s own lock, taken by the installer while installing'),
  ('DEALLOCATE ALL', '_relay_session_clear: what a table owner''s code left in a session goes'),
  ('pg_advisory_unlock_all', '_relay_session_clear: the same, for advisory locks'),
  ('current_setting(''pgtrickle.numbered_idle_to''', 'outbox_watermark(): read only as signed with the install''s key (_outbox_idle_signed)'),
  ('set_config(''pgtrickle.numbered_idle_to''', 'outbox_watermark(): written signed'),
  ('CREATE TEMPORARY TABLE pgstream_when_check', 'the subscriptions'' check, run as the role writing the row, never with more rights'),
  ('pg_temp.pgstream_when_check', 'the same');
SELECT assert_eq(
  (SELECT array_agg(DISTINCT u ORDER BY u) FROM (
     SELECT m[1] AS u
     FROM regexp_matches(regexp_replace(:'install_text', '--[^\n]*', '', 'g'),
                         '(\mPREPARE\M[^;]{0,40}|\mDEALLOCATE\M[^;]{0,20}|current_setting\(''[a-z_]+\.[a-z_]+''|set_config\(''[a-z_]+\.[a-z_]+''|'
                         'CREATE TEMP(ORARY)? TABLE [a-z_]+|pg_[a-z_]*advisory[a-z_]*|pg_temp\.[a-z_]+|\mCURSOR\M|\mLISTEN [a-z_]+|\mdblink[a-z_]*)',
                         'g') AS m) AS found),
  (SELECT array_agg(use ORDER BY use) FROM session_state_audited),
  'the install''s uses of session state are exactly the audited ones');
SELECT current_database() || '_owner' AS owner, current_database() || '_relay' AS relay,
       current_database() || '_padmin' AS padmin, current_database() || '_powner' AS powner \gset
CREATE ROLE :"owner" LOGIN;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"powner" LOGIN IN ROLE pgtrickle_owner;
GRANT CREATE ON SCHEMA public TO :"owner";
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'owner') \gexec
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('owner', login_conninfo(:'owner')), dblink_connect('relay', login_conninfo(:'relay')),
       dblink_connect('padmin', login_conninfo(:'padmin')), dblink_connect('powner', login_conninfo(:'powner'));
-- The state a session holds that a rollback does not undo.
CREATE FUNCTION pg_temp.held(p_conn text) RETURNS text LANGUAGE sql AS $$
  SELECT s FROM dblink(p_conn, $q$SELECT (SELECT count(*) FROM pg_prepared_statements) || ' prepared, '
                                      || (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) || ' advisory locks'$q$)
    AS t(s text)
$$;

-- 1. A statement prepared under the name a plain render once reused runs, called through the
-- installer's _wal_render, as the installer: the relay's login and pgtrickle_owner's plant it.
SELECT jsonb_build_array(jsonb_build_object('name', 'id', 'type', 'int4'::regtype::oid, 'mod', -1, 'key', true),
                         jsonb_build_object('name', 'note', 'type', 'text'::regtype::oid, 'mod', -1, 'key', false)) AS plain \gset
SELECT 'pgtrickle_wal_rows_' || md5(:'plain') AS planted_name \gset
SELECT dblink_exec(c, format('PREPARE %I(jsonb) AS SELECT canary.fly()::text', :'planted_name'))
FROM unnest(ARRAY['relay', 'powner']) AS c;
SELECT assert_eq((SELECT array_agg(r) FROM dblink(c, format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'any',
                                                             :'plain', '[{"row": {"id": "1", "note": "a"}, "fill": false, "key_only": false}]'))
                  AS t(r text)),
                 ARRAY['{"id": 1, "note": "a"}'], c || ': the row is rendered by the install''s own statement')
FROM unnest(ARRAY['relay', 'powner']) AS c;
SELECT assert_eq((SELECT array_agg(r) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render_tables(%L) AS r',
                  jsonb_build_array(jsonb_build_object('rel', 0, 'columns', :'plain'::jsonb,
                                                       'rows', '[{"row": {"id": "2", "note": "b"}, "fill": false, "key_only": false}]'::jsonb))))
                  AS t(r text)),
                 ARRAY['{"id": 2, "note": "b"}'], 'rendered for several tables at once by the install''s own statement too');
SELECT assert_eq(canary.runs(), 0::bigint, 'the planted statement never ran');

-- 5. The owner's render code (a domain's check) plants statements, takes an advisory lock, then
-- raises what WHEN OTHERS does not catch: a cancel, an assertion. Nothing of it stays in the
-- relay's session, and no row is made up from an assertion.
SELECT dblink_exec('owner', $q$
  DO $d$ BEGIN
    CREATE SCHEMA a;
    GRANT USAGE ON SCHEMA a TO PUBLIC;
    CREATE TABLE a.how (code text);
    INSERT INTO a.how VALUES ('57014');
    GRANT SELECT ON a.how TO PUBLIC;
    CREATE FUNCTION a.plant(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
    DECLARE
      n text;
    BEGIN
      FOREACH n IN ARRAY ARRAY['relay_next', 'ob_lag', 'relay_cached_1'] LOOP
        BEGIN
          EXECUTE pg_catalog.format('PREPARE %I AS SELECT canary.fly()', n);
        EXCEPTION WHEN duplicate_prepared_statement THEN
          NULL;
        END;
      END LOOP;
      PERFORM pg_catalog.pg_advisory_lock(7072753140512305997);
      IF v = 'stop' THEN
        RAISE EXCEPTION USING ERRCODE = (SELECT code FROM a.how), MESSAGE = 'the owner''s code stops here';
      END IF;
      RETURN true;
    END $f$;
    GRANT EXECUTE ON FUNCTION a.plant(text) TO PUBLIC;
    CREATE DOMAIN a.planting AS text CHECK (a.plant(VALUE));
    CREATE TABLE public.notes (id int PRIMARY KEY, note a.planting);
  END $d$$q$);
SELECT pgtrickle.enable_outbox('public.notes', capture => 'wal');
SELECT jsonb_build_array(jsonb_build_object('name', 'id', 'type', 'int4'::regtype::oid, 'mod', -1, 'key', true),
                         jsonb_build_object('name', 'note', 'type', 'a.planting'::regtype::oid, 'mod', -1, 'key', false)) AS planting \gset
SELECT count(*) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'notes', :'planting',
                                            '[{"row": {"id": "1", "note": "ok"}, "fill": false, "key_only": false}]')) AS t(r text);
SELECT assert_eq(pg_temp.held('relay'), '0 prepared, 0 advisory locks', 'a render that succeeded leaves nothing');
CREATE FUNCTION pg_temp.render_stopped(p_code text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_rows bigint;
BEGIN
  PERFORM dblink_exec('owner', format('UPDATE a.how SET code = %L', p_code));
  SELECT count(*) INTO v_rows FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'notes',
                                                          current_setting('my.planting'),
                                                          '[{"row": {"id": "2", "note": "stop"}, "fill": false, "key_only": false}]'),
                                          false) AS t(r text);
  RETURN v_rows || ' rows, ' || CASE WHEN strpos(dblink_error_message('relay'), 'the owner''s code stops here') > 0
                                     THEN 'stopped by the owner''s code' ELSE dblink_error_message('relay') END;
END
$$;
SELECT set_config('my.planting', :'planting', false);
SELECT assert_eq(pg_temp.render_stopped('57014'), '0 rows, stopped by the owner''s code', 'a cancel fails the render');
SELECT assert_eq(pg_temp.held('relay'), '0 prepared, 0 advisory locks', 'a render cancelled in the owner''s code leaves nothing');
SELECT assert_eq(pg_temp.render_stopped('P0004'), '0 rows, stopped by the owner''s code',
                 'an assertion of the owner''s code fails the render: no row goes missing as if rendered');
SELECT assert_eq(pg_temp.held('relay'), '0 prepared, 0 advisory locks', 'a render stopped by an assertion leaves nothing');
SELECT count(*) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'any', :'plain',
                                            '[{"row": {"id": "3", "note": "c"}, "fill": false, "key_only": false}]')) AS t(r text);
SELECT assert_eq(canary.escalations(), 0::bigint, 'nothing the owner''s code planted ran with the relay''s or the installer''s rights');

-- 2. A backfill's estimate plans the table through its owner's forced policy, whose IMMUTABLE
-- function the planner folds: it plants statements under the names of the relay's pooled
-- sessions and takes a lock, once cancelling. The session that asked (a pipeline admin's, the
-- relay's for "backfill": "initial") keeps none of it.
SELECT dblink_exec('owner', $q$
  DO $d$ BEGIN
    CREATE TABLE public.accounts (id int PRIMARY KEY, balance int);
    INSERT INTO public.accounts SELECT g, g FROM generate_series(1, 100) AS g;
    CREATE FUNCTION a.folded() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
    BEGIN
      RETURN a.plant(CASE WHEN (SELECT code FROM a.how) = 'none' THEN 'go' ELSE 'stop' END);
    END $f$;
    ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE public.accounts FORCE ROW LEVEL SECURITY;
    CREATE POLICY everything ON public.accounts USING (a.folded());
    UPDATE a.how SET code = 'none';
  END $d$$q$);
SELECT pgtrickle.enable_outbox('public.accounts');
SELECT pgtrickle.set_relay_outbox('accounts-out', config => '{"stream_table": "public.accounts", "sink_type": "stdout", "backfill": "initial"}');
SELECT count(*) FROM dblink('padmin', $q$SELECT pgtrickle.backfill_relay('accounts-out')$q$) AS t(id bigint);
SELECT assert_eq(pg_temp.held('padmin'), '0 prepared, 0 advisory locks', 'a pipeline admin''s backfill leaves nothing in its session');
SELECT pgtrickle.cancel_backfill('accounts-out');
DELETE FROM pgtrickle.relay_backfills;
SELECT dblink_exec('owner', $q$UPDATE a.how SET code = '57014'$q$);
SELECT count(*) FROM dblink('relay', $q$SELECT pgtrickle._relay_backfill_initial('accounts-out', 'outbox_accounts')$q$, false) AS t(id bigint);
SELECT assert_eq(strpos(dblink_error_message('relay'), 'the owner''s code stops here') > 0, true,
                 'the owner''s cancel fails the relay''s initial backfill');
SELECT assert_eq(pg_temp.held('relay'), '0 prepared, 0 advisory locks', 'a cancelled estimate leaves nothing in the relay''s session');
SELECT assert_eq(canary.escalations(), 0::bigint, 'nothing planted ran with more rights than its planter''s');

-- The subscriptions' check compiles a trigger's WHEN on a temporary copy of the table, made in
-- the writer's session under a fixed name, as the writer: a table the writer planted there first,
-- with a trigger of its own, only refuses that writer's subscription.
SELECT dblink_exec('owner', $q$
  DO $d$ BEGIN
    UPDATE a.how SET code = 'none';
    CREATE TEMPORARY TABLE pgstream_when_check (id int, note text);
    CREATE FUNCTION pg_temp.fly_trigger() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN PERFORM canary.fly(); RETURN NEW; END';
    CREATE TRIGGER fly BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.pgstream_when_check FOR EACH ROW EXECUTE FUNCTION pg_temp.fly_trigger();
  END $d$$q$);
SELECT expect_error($q$SELECT dblink_exec('owner', 'INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
                                                   VALUES (''planted'', 5, ''INSERT'', ''public'', ''accounts'', ''new.id > 0'')')$q$,
                    'already exists');
SELECT assert_eq(canary.escalations(), 0::bigint, 'the planted table''s trigger never ran with more rights than its planter''s');

-- A setting is the caller's to write: a snapshot forged into outbox_watermark()'s own setting does
-- not make it skip a round (the rows committed meanwhile are numbered all the same).
SELECT pgtrickle.create_outbox('forged');
SELECT * FROM dblink('relay', 'SELECT pgtrickle.outbox_watermark()') AS t(w bigint) \gset before_
INSERT INTO pgtrickle.outbox_forged (payload) VALUES ('{"n": 1}');
SELECT assert_eq((SELECT w > :before_w FROM dblink('relay', $q$
                    SELECT pgtrickle.outbox_watermark()
                    FROM (SELECT set_config('pgtrickle.numbered_idle_to', pg_current_snapshot()::text, false)) AS forged$q$) AS t(w bigint)),
                 true, 'the row committed after the last round is numbered despite the forged setting');

SELECT dblink_disconnect(c) FROM unnest(ARRAY['owner', 'relay', 'padmin', 'powner']) AS c;
SELECT pgtrickle.delete_relay('accounts-out');
SELECT pgtrickle.disable_outbox('public.accounts');
SELECT pgtrickle.disable_outbox('public.notes');
DROP TABLE public.accounts, public.notes;
DROP SCHEMA a CASCADE;
