-- Pipeline admins and the relay act on application tables only as their owners could: capturing
-- a table, dropping its triggers or taking it over as an inbox takes the rights of the table's
-- owner, as CREATE TRIGGER and GRANT do. Logins are taken with SET SESSION AUTHORIZATION.

SELECT current_database() || '_victim' AS victim, current_database() || '_padmin' AS padmin,
       current_database() || '_relay' AS relay, current_database() || '_nobody' AS nobody \gset
CREATE ROLE :"victim" LOGIN;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
CREATE ROLE :"nobody" LOGIN;
CREATE SCHEMA vschema AUTHORIZATION :"victim";
CREATE SCHEMA padmin_own AUTHORIZATION :"padmin";
GRANT CREATE ON SCHEMA public TO :"victim", :"relay";   -- as on PostgreSQL 14 and older

SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.salaries (id int PRIMARY KEY, ssn text, salary int);
INSERT INTO vschema.salaries VALUES (1, '078-05-1120', 50000);
CREATE TABLE public.jobs (event_id text PRIMARY KEY, payload jsonb, secret text);
INSERT INTO public.jobs VALUES ('j1', '{}', 'the victim''s');
RESET SESSION AUTHORIZATION;

-- The pipeline admin, with no right on vschema, cannot capture the victim's table to read it.
SET SESSION AUTHORIZATION :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('vschema.salaries') $q$,
                       format('enable_outbox: must be owner of table vschema.salaries (owned by role %s); role %s is not',
                              quote_ident(current_database() || '_victim'), session_user), '42501');
  -- Nor through the implementation function, with the table resolved by hand.
  PERFORM expect_error($q$ SELECT pgtrickle._outbox_enable('x', (SELECT c.oid FROM pg_class AS c WHERE c.relname = 'salaries')::regclass, 24) $q$,
                       'must be owner of table vschema.salaries', '42501');
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  ASSERT to_regclass('pgtrickle.outbox_salaries') IS NULL, 'no outbox was made';
  ASSERT NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'vschema.salaries'::regclass), 'no trigger was attached';
END
$$;

-- Captured by its owner's will (the installer does it here): the admin cannot take it away.
SELECT pgtrickle.enable_outbox('vschema.salaries');
SET SESSION AUTHORIZATION :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.disable_outbox('vschema.salaries') $q$,
                       'disable_outbox: must be owner of table vschema.salaries', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle._outbox_disable('outbox_salaries', NULL, false, true) $q$,
                       'disable_outbox: must be owner of table vschema.salaries', '42501');
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'vschema.salaries'::regclass AND NOT tgisinternal),
                    4::bigint, 'the triggers are still there');
END
$$;

-- The relay cannot grant itself the victim's table by naming it as an inbox ...
SET SESSION AUTHORIZATION :"relay";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox_table('jobs', 'public') $q$,
                       format('create_inbox_table: must be owner of table public.jobs (owned by role %s)',
                              quote_ident(current_database() || '_victim')), '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox('jobs', 'public') $q$,
                       'create_inbox: must be owner of table public.jobs', '42501');
  -- ... nor the relay catalog, whose owner is the installer.
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox_table('relay_outbox_config') $q$,
                       'create_inbox_table: must be owner of table pgtrickle.relay_outbox_config', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox_table('outbox_tables') $q$,
                       'create_inbox_table: must be owner of table pgtrickle.outbox_tables', '42501');
  PERFORM expect_error($q$ SELECT * FROM public.jobs $q$, 'permission denied', '42501');
  -- A new inbox in the relay's own schema still works, again and again.
  PERFORM pgtrickle.create_inbox_table('fresh');
  PERFORM pgtrickle.create_inbox_table('fresh');
  PERFORM pgtrickle.create_inbox('fresh_too');
  PERFORM pgtrickle.create_inbox('fresh_too');
  INSERT INTO pgtrickle.fresh (event_id) VALUES ('e1');
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  ASSERT NOT has_table_privilege(current_database() || '_relay', 'public.jobs', 'SELECT'), 'no SELECT granted';
  ASSERT NOT has_table_privilege('pgtrickle_relay_admin', 'public.jobs', 'UPDATE'), 'no UPDATE granted';
  ASSERT NOT has_table_privilege('pgtrickle_relay_admin', 'pgtrickle.relay_outbox_config', 'UPDATE'), 'no catalog grant';
  ASSERT NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_inbox_config WHERE inbox_name IN ('jobs', 'relay_outbox_config')), 'not registered';
END
$$;

-- The admin's own table is not taken over as an inbox: the inbox functions, SECURITY DEFINER, would
-- run whatever she attached to it with their rights; inbox tables are pgtrickle_maker's.
SET SESSION AUTHORIZATION :"padmin";
CREATE TABLE padmin_own.tasks (event_id text PRIMARY KEY, payload jsonb, headers jsonb NOT NULL DEFAULT '{}',
                               event_type text, source text, aggregate_id text,
                               received_at timestamptz NOT NULL DEFAULT now(), processed_at timestamptz,
                               error text, retry_count int NOT NULL DEFAULT 0, trace_id text);
INSERT INTO padmin_own.tasks (event_id) VALUES ('t1');
CREATE FUNCTION padmin_own.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
  RETURN NEW;
END
$$;
CREATE TRIGGER escalate BEFORE UPDATE ON padmin_own.tasks FOR EACH ROW EXECUTE FUNCTION padmin_own.escalate();
GRANT USAGE, CREATE ON SCHEMA padmin_own TO pgtrickle_maker WITH GRANT OPTION;
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.create_inbox_table('tasks', 'padmin_own') $q$,
                       'create_inbox: table padmin_own.tasks exists and belongs to role', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_processed('tasks', 't1') $q$, 'inbox "tasks" not found', '42704');
  -- Its own inboxes (created by the install's functions) work as before.
  PERFORM pgtrickle.create_inbox('mine');
  INSERT INTO pgtrickle.inbox_mine (event_id) VALUES ('m1');
  PERFORM assert_eq(pgtrickle.inbox_mark_processed('mine', 'm1'), true, 'marks its own inbox');
  PERFORM pgtrickle.drop_inbox('mine', p_cascade => true);
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT rolsuper FROM pg_roles WHERE rolname = current_database() || '_padmin'), false, 'padmin is no superuser');
END
$$;

-- The victim's table cannot be dropped through drop_inbox either: not even a superuser makes
-- another role's table an inbox (its triggers would run as the inbox functions' role), so there is
-- no inbox to drop it with.
GRANT USAGE ON SCHEMA pgtrickle TO :"victim";
GRANT SELECT ON pgtrickle.inbox_fresh_too TO :"victim";
SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.inbox_victims (LIKE pgtrickle.inbox_fresh_too INCLUDING ALL);
RESET SESSION AUTHORIZATION;
GRANT USAGE, CREATE ON SCHEMA vschema TO pgtrickle_maker WITH GRANT OPTION;
SELECT expect_error($q$ SELECT pgtrickle.create_inbox('victims', 'vschema') $q$,
                    'create_inbox: table vschema.inbox_victims exists and belongs to role', '42501');
SET SESSION AUTHORIZATION :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.drop_inbox('victims', p_cascade => true) $q$, 'inbox "victims" not found', '42704');
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  ASSERT to_regclass('vschema.inbox_victims') IS NOT NULL, 'the victim''s table is still there';
END
$$;

-- Anyone else: nothing at all.
SET SESSION AUTHORIZATION :"nobody";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('vschema.salaries') $q$, 'permission denied', '42501');
END
$$;
RESET SESSION AUTHORIZATION;

-- The owner itself, once a pipeline admin, captures and releases its own table.
GRANT pgtrickle_relay_admin TO :"victim";
SET SESSION AUTHORIZATION :"victim";
SELECT pgtrickle.disable_outbox('vschema.salaries');
SELECT pgtrickle.enable_outbox('vschema.salaries');
INSERT INTO vschema.salaries VALUES (2, '219-09-9999', 1);
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 1::bigint, 'the owner captures its table');
END
$$;

SELECT pgtrickle.disable_outbox('vschema.salaries');
DROP SCHEMA vschema CASCADE;
DROP SCHEMA padmin_own CASCADE;
DROP TABLE public.jobs;
