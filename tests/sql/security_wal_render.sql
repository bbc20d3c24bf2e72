-- Rows read from the WAL are rendered through their column types and, for an unchanged TOASTed
-- value, read from the table: a domain's check, a cast, a row security policy are the table
-- owner's code. It runs as the owner, never with the relay's rights (which read every pipeline's
-- raw config), and nothing it sets outlives the call. The relay and a pipeline admin act on real
-- connections (dblink).

SELECT current_database() || '_owner' AS owner, current_database() || '_relay' AS relay,
       current_database() || '_padmin' AS padmin \gset
CREATE ROLE :"owner" LOGIN;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
GRANT CREATE ON SCHEMA public TO :"owner";
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'owner') \gexec
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('owner', login_conninfo(:'owner')), dblink_connect('relay', login_conninfo(:'relay')), dblink_connect('padmin', login_conninfo(:'padmin'));
-- A literal secret in a pipeline config, which the relay's role reads.
SELECT pgtrickle.set_relay_outbox('secret-out', config => '{"stream_table": "orders", "sink_type": "webhook", "url": "https://hooks.example/x", "headers": {"Authorization": "Bearer s3cr3t-token"}}');

-- The owner's table: a domain whose check records who runs it and what it can read of the
-- relay's catalog, and moves the session's search_path; a policy that does the same.
SELECT dblink_exec('owner', $q$
  DO $d$ BEGIN
    CREATE SCHEMA a;
    CREATE TABLE a.seen (who text, config text);
    GRANT INSERT ON a.seen TO PUBLIC;
    GRANT USAGE ON SCHEMA a TO PUBLIC;
    CREATE FUNCTION a.spy(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
    DECLARE
      v_config text;
    BEGIN
      BEGIN
        SELECT string_agg(config::text, ',') INTO v_config FROM pgtrickle.relay_outbox_config;
      EXCEPTION WHEN insufficient_privilege THEN
        v_config := NULL;
      END;
      INSERT INTO a.seen VALUES (current_user, v_config);
      PERFORM pg_catalog.set_config('search_path', 'a, pg_catalog', false);
      RETURN true;
    END $f$;
    GRANT EXECUTE ON FUNCTION a.spy(text) TO PUBLIC;
    CREATE DOMAIN a.watched AS text CHECK (a.spy(VALUE));
    CREATE TABLE public.orders (id int PRIMARY KEY, note a.watched);
    ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
    ALTER TABLE public.orders FORCE ROW LEVEL SECURITY;
    CREATE POLICY everything ON public.orders USING (a.spy(note));
    INSERT INTO public.orders VALUES (1, 'stored');
  END $d$$q$);
SELECT pgtrickle.enable_outbox('public.orders', capture => 'wal');
TRUNCATE a.seen;

-- What the relay sends for a row read from the WAL: a value to cast through the domain, and one
-- the WAL left out, read from the table (through the policy).
SELECT jsonb_build_array(jsonb_build_object('name', 'id', 'type', 'int4'::regtype::oid, 'mod', -1, 'key', true),
                         jsonb_build_object('name', 'note', 'type', 'a.watched'::regtype::oid, 'mod', -1, 'key', false)) AS columns \gset
SELECT * FROM dblink('relay', 'SHOW search_path') AS t(path text) \gset before_
SELECT assert_eq((SELECT array_agg(r) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r',
                  'public', 'orders', :'columns',
                  '[{"row": {"id": "2", "note": "new"}, "fill": false, "key_only": false}, {"row": {"id": "1"}, "fill": true, "key_only": false}]'))
                  AS t(r text)),
                 ARRAY['{"id": 2, "note": "new"}', '{"id": 1, "note": "stored"}'], 'the rows are rendered, the left-out value read from the table');
SELECT assert_eq((SELECT count(*) FROM a.seen), 0::bigint,
                 'nothing the owner''s code wrote survives the call (it ran in a subtransaction rolled back)');
SELECT assert_eq((SELECT path FROM dblink('relay', 'SHOW search_path') AS t(path text)), :'before_path',
                 'the relay''s session keeps its search_path');

-- Who the owner's code ran as: seen through a sequence, which a rollback does not undo.
SELECT dblink_exec('owner', $q$
  DO $d$ BEGIN
    CREATE SEQUENCE a.owner_runs;
    CREATE SEQUENCE a.other_runs;
    GRANT USAGE ON SEQUENCE a.owner_runs, a.other_runs TO PUBLIC;
    CREATE OR REPLACE FUNCTION a.spy(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
    BEGIN
      IF pg_has_role(current_user, 'pgtrickle_relay', 'MEMBER') THEN
        PERFORM nextval('a.other_runs');
      ELSE
        PERFORM nextval('a.owner_runs');
      END IF;
      RETURN true;
    END $f$;
  END $d$$q$);
SELECT count(*) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'orders', :'columns',
                                            '[{"row": {"id": "3", "note": "x"}, "fill": false, "key_only": false}, {"row": {"id": "1"}, "fill": true, "key_only": false}]'))
  AS t(r text);
SELECT assert_eq((SELECT last_value FROM a.owner_runs) > 1 AND NOT (SELECT is_called FROM a.other_runs), true,
                 'the owner''s code ran as the owner, never as the relay');

-- What a rollback does not undo is cleared too: a prepared statement of the name the relay would
-- run next (run as the relay), an advisory lock (another pipeline's ownership key).
SELECT dblink_exec('owner', $q$
  CREATE OR REPLACE FUNCTION a.spy(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
  BEGIN
    BEGIN
      EXECUTE 'PREPARE relay_next AS SELECT a.spy(''run as whoever executes it'')';
    EXCEPTION WHEN duplicate_prepared_statement THEN
      NULL;
    END;
    PERFORM pg_catalog.pg_advisory_lock(7072753140512305999);
    RETURN true;
  END $f$$q$);
SELECT count(*) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'orders', :'columns',
                                            '[{"row": {"id": "4", "note": "x"}, "fill": false, "key_only": false}]'))
  AS t(r text);
SELECT assert_eq((SELECT n FROM dblink('relay', 'SELECT count(*) FROM pg_prepared_statements') AS t(n bigint)), 0::bigint,
                 'no prepared statement left in the relay''s session');
SELECT assert_eq((SELECT n FROM dblink('relay', 'SELECT count(*) FROM pg_locks WHERE locktype = ''advisory'' AND pid = pg_backend_pid()')
                  AS t(n bigint)), 0::bigint, 'no advisory lock left in the relay''s session');

-- Nobody else renders: not a pipeline admin (it would read the table by key), not the owner's
-- function for anyone but the relay.
SELECT expect_error(format($q$SELECT * FROM dblink('padmin', %L) AS t(r text)$q$,
                           format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'orders', :'columns', '[]')),
                    'permission denied for function _wal_render');
SELECT expect_error(format($q$SELECT * FROM dblink('padmin', %L) AS t(r text)$q$,
                           format('SELECT r FROM pgtrickle.%I(%L, %L, %L) AS r', pgtrickle._wal_rows_function(o.outbox_name), 'public.orders', :'columns', '[]')),
                    'permission denied for function')
FROM pgtrickle.outbox_tables AS o WHERE o.source_table = 'orders';

-- The relay calls the owner's render function itself (through _wal_render), which runs as the
-- owner: what the relay tells it is held to the catalog, so the relay's role gets no more of the
-- owner's rights than rendering that table's rows. A row filter of its own (the owner's sequence,
-- which the relay's role may not use), a value read through another role's domain (whose check
-- records who runs it), another table named: none of it runs; the row is rendered from the
-- owner's table by its key, as it would be.
SELECT dblink_exec('owner', 'CREATE SEQUENCE a.injected');
SELECT format('CREATE SCHEMA q AUTHORIZATION %I', :'padmin') \gexec
SELECT dblink_exec('padmin', $q$
  DO $d$ BEGIN
    CREATE TABLE q.seen (who text);
    GRANT USAGE ON SCHEMA q TO PUBLIC;
    GRANT INSERT ON q.seen TO PUBLIC;
    CREATE FUNCTION q.who(v text) RETURNS boolean LANGUAGE sql AS $f$ INSERT INTO q.seen VALUES (current_user) RETURNING true $f$;
    GRANT EXECUTE ON FUNCTION q.who(text) TO PUBLIC;
    CREATE DOMAIN q.d AS text CHECK (q.who(VALUE));
    GRANT USAGE ON DOMAIN q.d TO PUBLIC;
  END $d$$q$);
SELECT assert_eq((SELECT array_agg(r) FROM dblink('relay', format('SELECT r FROM pgtrickle.%I(%L, %L, %L) AS r',
                   pgtrickle._wal_rows_function(o.outbox_name), 'pg_catalog.pg_authid',
                   jsonb_build_object('columns', jsonb_build_array(jsonb_build_object('name', 'id', 'type', 'int4'::regtype::oid, 'mod', -1, 'key', true),
                                                                   jsonb_build_object('name', 'note', 'type', 'q.d'::regtype::oid, 'mod', -1, 'key', false),
                                                                   jsonb_build_object('name', 'extra', 'type', 'text'::regtype::oid, 'mod', -1, 'key', false)),
                                      'filter', 'nextval(''a.injected'') > 0', 'publications', jsonb_build_array('no_such_publication')),
                   '[{"row": {"id": "1", "note": "given"}, "fill": true, "key_only": false}]')) AS t(r text)),
                 ARRAY['{"id": 1, "note": "given", "extra": null}'], 'the row, its left-out value read from the owner''s table by its key')
FROM pgtrickle.outbox_tables AS o WHERE o.source_table = 'orders';
SELECT assert_eq((SELECT array_agg(r) FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'orders',
                   jsonb_build_array(jsonb_build_object('name', 'id', 'type', 'int4'::regtype::oid, 'mod', -1, 'key', true),
                                     jsonb_build_object('name', 'note', 'type', 'q.d'::regtype::oid, 'mod', -1, 'key', false)),
                   '[{"row": {"id": "1", "note": "given"}, "fill": false, "key_only": false}]')) AS t(r text)),
                 ARRAY['{"id": 1, "note": "given"}'], 'through _wal_render too');
SELECT assert_eq((SELECT is_called FROM dblink('owner', 'SELECT is_called FROM a.injected') AS t(is_called boolean)), false,
                 'the relay''s row filter never ran as the owner');
SELECT assert_eq((SELECT n FROM dblink('padmin', 'SELECT count(*) FROM q.seen') AS t(n bigint)), 0::bigint,
                 'another role''s domain never ran as the owner');
SELECT * FROM dblink('owner', 'SELECT nextval(''a.injected'')') AS t(n bigint);
SELECT assert_eq((SELECT is_called FROM dblink('owner', 'SELECT is_called FROM a.injected') AS t(is_called boolean)), true,
                 'the check above sees a nextval');
SELECT assert_eq(has_table_privilege('pgtrickle_relay', 'public.orders', 'SELECT'), false, 'the relay''s role needs no right on the table');

-- A table that changed owner is not rendered until its capture is attached again.
SELECT format('ALTER TABLE public.orders OWNER TO %I', :'padmin') \gexec
SELECT expect_error(format($q$SELECT * FROM dblink('relay', %L) AS t(r text)$q$,
                           format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'public', 'orders', :'columns', '[]')),
                    'changed owner');

-- A pipeline admin owns a table captured from the WAL, so its render function is hers: altered
-- SECURITY INVOKER, her domain's check would run with its caller's rights (the installer's, through
-- _wal_render). The ALTER is refused; on an install that has no event trigger (one made by a role
-- that is not a superuser), the function is not called as altered.
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'padmin') \gexec
SELECT dblink_exec('padmin', $q$
  DO $d$ BEGIN
    CREATE SCHEMA p;
    CREATE SEQUENCE p.runs_as_others;
    GRANT USAGE ON SCHEMA p TO PUBLIC;
    GRANT USAGE ON SEQUENCE p.runs_as_others TO PUBLIC;
    CREATE FUNCTION p.mine(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
    BEGIN
      IF current_user <> (SELECT c.relowner::regrole::text FROM pg_class AS c WHERE c.oid = 'p.notes'::regclass) THEN
        PERFORM nextval('p.runs_as_others');
      END IF;
      RETURN true;
    END $f$;
    GRANT EXECUTE ON FUNCTION p.mine(text) TO PUBLIC;
    CREATE DOMAIN p.checked AS text CHECK (p.mine(VALUE));
    CREATE TABLE p.notes (id int PRIMARY KEY, note p.checked);
  END $d$$q$);
SELECT pgtrickle.enable_outbox('p.notes', capture => 'wal');
SELECT format('ALTER FUNCTION pgtrickle.%I(regclass, jsonb, jsonb) SECURITY INVOKER', pgtrickle._wal_rows_function(o.outbox_name)) AS alter_render
FROM pgtrickle.outbox_tables AS o WHERE o.source_schema = 'p' AND o.source_table = 'notes' \gset
SELECT expect_error(format('SELECT dblink_exec(%L, %L)', 'padmin', :'alter_render'), 'ALTER FUNCTION refused');
SELECT jsonb_build_array(jsonb_build_object('name', 'id', 'type', 'int4'::regtype::oid, 'mod', -1, 'key', true),
                         jsonb_build_object('name', 'note', 'type', 'p.checked'::regtype::oid, 'mod', -1, 'key', false)) AS checked \gset
SELECT format('SELECT r FROM pgtrickle._wal_render(%L, %L, %L, %L) AS r', 'p', 'notes', :'checked',
              '[{"row": {"id": "1", "note": "x"}, "fill": false, "key_only": false}]') AS render_notes \gset
SELECT assert_eq((SELECT array_agg(r) FROM dblink('relay', :'render_notes') AS t(r text)), ARRAY['{"id": 1, "note": "x"}'],
                 'rendered as the owner');
ALTER EVENT TRIGGER pgtrickle_functions_kept DISABLE;
SELECT dblink_exec('padmin', :'alter_render');
ALTER EVENT TRIGGER pgtrickle_functions_kept ENABLE;
SELECT expect_error(format('SELECT * FROM dblink(%L, %L) AS t(r text)', 'relay', :'render_notes'), 'altered the function');
SELECT assert_eq((SELECT is_called FROM p.runs_as_others), false, 'the owner''s code never ran as anyone but her');
SELECT pgtrickle.enable_outbox('p.notes', capture => 'wal');
SELECT assert_eq((SELECT array_agg(r) FROM dblink('relay', :'render_notes') AS t(r text)), ARRAY['{"id": 1, "note": "x"}'],
                 'capturing the table again makes the function as it was');
SELECT assert_eq((SELECT is_called FROM p.runs_as_others), false, 'the owner''s code never ran as anyone but her');
SELECT pgtrickle.disable_outbox('p.notes');
SELECT dblink_exec('padmin', 'DROP SCHEMA p CASCADE');

SELECT dblink_disconnect('owner'), dblink_disconnect('relay'), dblink_disconnect('padmin');
SELECT pgtrickle.delete_relay('secret-out');
SELECT pgtrickle.disable_outbox('public.orders');
DROP TABLE public.orders;
DROP SCHEMA a CASCADE;
