-- An install made by a role that is not a superuser (the database's owner): capture functions are
-- still each table's owner's, made as that owner by the session that acts for it (the installer
-- need not act for it); a re-install attaches them again where the installer acts for the owner.

SELECT current_database() || '_inst' AS inst, current_database() || '_victim' AS victim,
       current_database() AS db \gset
CREATE ROLE :"inst" LOGIN;
CREATE ROLE :"victim" LOGIN IN ROLE pgtrickle_relay_admin;
DROP SCHEMA pgtrickle CASCADE;
DROP SCHEMA pgstream CASCADE;   -- the superuser's install made it too
ALTER DATABASE :"db" OWNER TO :"inst";
CREATE SCHEMA vschema AUTHORIZATION :"victim";

SET SESSION AUTHORIZATION :"inst";
\i :install_sql
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.salaries (id int PRIMARY KEY, ssn text);
SELECT pgtrickle.enable_outbox('vschema.salaries');
RESET SESSION AUTHORIZATION;

GRANT :"victim" TO :"inst";
SET SESSION AUTHORIZATION :"victim";
CREATE TYPE vschema.evil AS ENUM ('x');
CREATE FUNCTION vschema.evil_json(vschema.evil) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE format('ALTER ROLE %I CREATEROLE', session_user);
  EXCEPTION WHEN insufficient_privilege THEN
    NULL;
  END;
  RETURN '"x"';
END
$$;
CREATE CAST (vschema.evil AS json) WITH FUNCTION vschema.evil_json(vschema.evil);
ALTER TABLE vschema.salaries ADD COLUMN e vschema.evil;
INSERT INTO vschema.salaries VALUES (1, '078-05-1120', 'x');
RESET SESSION AUTHORIZATION;

DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 1::bigint, 'captured');
  PERFORM assert_eq((SELECT p.proowner::regrole::text FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE t.tgrelid = 'vschema.salaries'::regclass AND t.tgname = 'pgtrickle_outbox_insert'),
                    quote_ident(current_database() || '_victim'), 'the capture function belongs to the table''s owner');
  ASSERT NOT has_schema_privilege(current_database() || '_victim', 'pgtrickle', 'CREATE'), 'the transient CREATE is gone';
  ASSERT NOT (SELECT bool_or(rolcreaterole) FROM pg_roles WHERE rolname LIKE current_database() || '\_%'), 'no role gained anything';
END
$$;

-- A re-install by the same role keeps it so.
SET SESSION AUTHORIZATION :"inst";
\i :install_sql
RESET SESSION AUTHORIZATION;
INSERT INTO vschema.salaries VALUES (2, '219-09-9999', 'x');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 2::bigint, 'still captured after a re-install');
END
$$;

-- Less to lose: installed so, what serves other roles runs as the installing role, which is no
-- superuser and may not create roles; nothing of the install belongs to a role that is.
DO $$
BEGIN
  PERFORM assert_eq((SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
                     WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)
                       AND (r.rolsuper OR r.rolcreaterole OR r.rolbypassrls)), NULL, 'functions run as a superuser or a role maker');
  PERFORM assert_eq((SELECT string_agg(c.oid::regclass::text, ', ') FROM pg_class AS c JOIN pg_roles AS r ON r.oid = c.relowner
                     WHERE c.relnamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)
                       AND (r.rolsuper OR r.rolcreaterole OR r.rolbypassrls)), NULL, 'relations owned by a superuser or a role maker');
  ASSERT (SELECT bool_and(p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_database() || '_inst'))
          FROM pg_proc AS p WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace) AND p.prosecdef
            AND p.proname !~ '^_(outbox_capture|wal_rows|backfill_rows|publish_after)_'),
    'every SECURITY DEFINER function but those made for a table''s owner is the installing role''s';
END
$$;

-- Everything a table's owner and a pipeline admin do works so: a WAL pipeline over the table, its
-- backfill, a subscription, and deleting the pipeline again.
SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.orders (id int PRIMARY KEY, total numeric);
INSERT INTO vschema.orders VALUES (1, 10), (2, 20);
SELECT pgtrickle.set_relay_outbox('orders-wal', config => '{
  "source": {"type": "wal", "tables": ["vschema.orders"]}, "sink": {"type": "stdout"}}'::jsonb);
SELECT pgtrickle.backfill_relay('orders-wal');
INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
VALUES ('big-orders', 7, 'INSERT', 'vschema', 'orders', 'new.total > 100');
INSERT INTO vschema.orders VALUES (3, 300), (4, 40);
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(tablename::text) FROM pg_publication_tables
                     WHERE pubname LIKE pgtrickle._wal_pipeline_publication('orders-wal', 'sql') || '%'),
                    ARRAY['orders'], 'the pipeline''s publication holds the table');
  PERFORM assert_eq((SELECT string_agg(DISTINCT p.pubowner::regrole::text, ', ') FROM pg_publication AS p
                     WHERE p.pubname LIKE pgtrickle._wal_pipeline_publication('orders-wal', 'sql') || '%'),
                    quote_ident(current_database() || '_victim'), 'made by the session that set the pipeline, with its rights');
  PERFORM assert_eq((SELECT state FROM pgtrickle.relay_backfills WHERE pipeline = 'orders-wal'), 'pending', 'backfill recorded');
  PERFORM assert_eq((SELECT array_agg(payload #>> '{new,id}') FROM pgstream.events WHERE stream_id = 7), ARRAY['3'],
                    'the subscription''s event, as the owner''s trigger wrote it');
END
$$;
SET SESSION AUTHORIZATION :"victim";
SELECT pgtrickle.delete_relay('orders-wal');
DELETE FROM pgstream.subscriptions WHERE key = 'big-orders';
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  ASSERT NOT EXISTS (SELECT FROM pg_publication WHERE pubname LIKE 'pgtrickle\_w%'), 'the publication went with the pipeline';
END
$$;

-- A superuser's table is captured only for a session that acts for a superuser: its capture is
-- made as that owner, never through the install's roles, which hold no superuser's rights.
CREATE TABLE public.su_table (id int PRIMARY KEY);
GRANT USAGE ON SCHEMA public TO :"victim";
SET SESSION AUTHORIZATION :"victim";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('public.su_table') $q$, 'enable_outbox: must be owner of table public.su_table', '42501');
END
$$;
RESET SESSION AUTHORIZATION;
SELECT pgtrickle.enable_outbox('public.su_table');
DO $$
BEGIN
  PERFORM assert_eq((SELECT r.rolsuper FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid JOIN pg_roles AS r ON r.oid = p.proowner
                     WHERE t.tgrelid = 'public.su_table'::regclass AND t.tgname = 'pgtrickle_outbox_insert'),
                    true, 'its capture function is its owner''s, made as it');
END
$$;
SELECT pgtrickle.disable_outbox('public.su_table');
DROP TABLE public.su_table;

DROP SCHEMA vschema CASCADE;
DROP SCHEMA pgtrickle CASCADE;
