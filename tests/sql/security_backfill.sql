-- A backfill runs a table owner's code (its row security policies, folded while the row estimate
-- is planned; a condition it gives): that code must gain nothing past the owner's rights, neither
-- inside the installer's functions nor in the session of whoever asked for the backfill. The
-- owner and the pipeline admin act on real connections (dblink).

SELECT current_database() || '_owner' AS owner, current_database() || '_padmin' AS padmin \gset
CREATE ROLE :"owner" LOGIN;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
GRANT CREATE ON SCHEMA public TO :"owner";
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'owner') \gexec
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('owner', login_conninfo(:'owner')), dblink_connect('padmin', login_conninfo(:'padmin'));
CREATE FUNCTION pg_temp.superusers() RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(rolname ORDER BY rolname), '{}') FROM pg_roles
  WHERE rolsuper AND rolname LIKE current_database() || '\_%'
$$;

-- The owner's table, with a forced policy whose IMMUTABLE function (folded while planning) puts its
-- own schema first in the session's search_path, and in that schema a round(numeric) that makes
-- its caller's login a superuser when it runs with a superuser's rights.
SELECT dblink_exec('owner', $q$
  DO $d$ BEGIN
    CREATE SCHEMA a;
    CREATE TABLE public.accounts (id int PRIMARY KEY, balance int);
    INSERT INTO public.accounts SELECT g, g FROM generate_series(1, 100) AS g;
    CREATE FUNCTION a.leak() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
    BEGIN
      PERFORM pg_catalog.set_config('search_path', 'a, pg_catalog', false);
      RETURN true;
    END $f$;
    CREATE FUNCTION a.round(numeric) RETURNS numeric LANGUAGE plpgsql AS $f$
    BEGIN
      EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', session_user);
      RETURN 0;
    EXCEPTION WHEN insufficient_privilege THEN
      RETURN 0;
    END $f$;
    GRANT USAGE ON SCHEMA a TO PUBLIC;
    ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE public.accounts FORCE ROW LEVEL SECURITY;
    CREATE POLICY everything ON public.accounts USING (a.leak());
  END $d$$q$);
SELECT pgtrickle.enable_outbox('public.accounts');
SELECT dblink_exec('padmin', $q$DO $d$ BEGIN
  PERFORM pgtrickle.set_relay_outbox('accounts-out', config => '{"stream_table": "accounts", "sink_type": "stdout"}'::jsonb);
END $d$$q$);

-- The pipeline admin asks for a backfill, without a condition.
SELECT * FROM dblink('padmin', 'SELECT current_setting(''search_path'')') AS t(path text) \gset before_
SELECT * FROM dblink('padmin', $q$SELECT pgtrickle.backfill_relay('accounts-out')$q$) AS t(id bigint) \gset
SELECT assert_eq(pg_temp.superusers(), '{}'::text[], 'the owner''s code ran as no superuser');
SELECT assert_eq((SELECT path FROM dblink('padmin', 'SELECT current_setting(''search_path'')') AS t(path text)), :'before_path',
                 'the pipeline admin''s session keeps its search_path');
SELECT assert_eq((SELECT rows_estimated > 0 FROM pgtrickle.relay_backfills WHERE id = :id), true, 'the estimate was made');

-- The owner's condition does the same.
SELECT pgtrickle.cancel_backfill('accounts-out');
SELECT format('GRANT pgtrickle_relay_admin TO %I', :'owner') \gexec
SELECT * FROM dblink('owner', $q$SELECT pgtrickle.backfill_relay('accounts-out', "where" => 'a.leak() AND id > 50')$q$) AS t(id bigint) \gset
SELECT assert_eq(pg_temp.superusers(), '{}'::text[], 'the owner''s condition ran as no superuser');
SELECT assert_eq((SELECT path FROM dblink('owner', 'SELECT current_setting(''search_path'')') AS t(path text)), :'before_path',
                 'the owner''s own session keeps its search_path');

SELECT dblink_disconnect('owner'), dblink_disconnect('padmin');
SELECT pgtrickle.delete_relay('accounts-out');
SELECT pgtrickle.disable_outbox('public.accounts');
DROP TABLE public.accounts;
DROP SCHEMA a CASCADE;
