-- Subscriptions attacked as the roles that can write them: any login (a temporary table is all it
-- needs) and a table's owner. Each attack runs on a real connection of its role (dblink), and
-- checks what the attacker was after: superuser, another owner's events or functions, or every
-- reader's time.

SELECT current_database() || '_anyone' AS anyone, current_database() || '_owner' AS owner,
       current_database() || '_victim' AS victim \gset
CREATE ROLE :"anyone" LOGIN;
CREATE ROLE :"owner" LOGIN;
CREATE ROLE :"victim" LOGIN;
GRANT CREATE ON SCHEMA public TO :"owner", :"victim";
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'owner') \gexec
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'victim') \gexec
SELECT dblink_connect('anyone', login_conninfo(:'anyone')), dblink_connect('owner', login_conninfo(:'owner')), dblink_connect('victim', login_conninfo(:'victim'));

-- A function that makes its session's login a superuser when run with a superuser's rights, and
-- does nothing otherwise: what every attack below tries to get the installer to run.
CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
  RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
  RETURN false;
END
$$;
CREATE FUNCTION pg_temp.superusers() RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(rolname ORDER BY rolname), '{}') FROM pg_roles
  WHERE rolsuper AND rolname LIKE current_database() || '\_%'
$$;

-- ---- 1. A table name that ends a comment of generated code ------------------------------------

-- Any login: a temporary table whose name holds a newline, then PL/pgSQL. Generated code that
-- wrote the name into a comment ran the rest as the installer.
SELECT dblink_exec('anyone', E'CREATE TEMP TABLE "y\nDECLARE z boolean := public.escalate();--" (id int)');
SELECT dblink_exec('anyone', $q$
  INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
  SELECT 'k', 66, 'INSERT', n.nspname, E'y\nDECLARE z boolean := public.escalate();--'
  FROM pg_namespace AS n WHERE n.oid = pg_my_temp_schema()$q$);
SELECT dblink_exec('anyone', E'INSERT INTO "y\nDECLARE z boolean := public.escalate();--" VALUES (1)');
SELECT assert_eq(pg_temp.superusers(), '{}'::text[], 'no login became a superuser through a table name or key');
SELECT assert_eq((SELECT array_agg(jsonb_build_array(payload ->> 'tg_table_name', payload ->> 'tg_name')) FROM pgstream.events WHERE stream_id = 66),
                 ARRAY[jsonb_build_array(E'y\nDECLARE z boolean := public.escalate();--', 'k')],
                 'the event names the table and the subscription exactly');

-- Hostile names through every generated path: schema, table, key and column names holding a
-- newline, a comment, a comment's end, dollar quotes and quotes.
SELECT dblink_exec('owner', $q$
  DO $d$
  DECLARE
    v_name   text;
    v_schema text;
    i        int := 0;
  BEGIN
    FOREACH v_name IN ARRAY ARRAY[E'n\nBEGIN PERFORM public.escalate(); END; --', '-- x', '*/ x /*', '$$ x $$', 'it''s "q"'] LOOP
      i := i + 1;
      v_schema := 's' || i || v_name;
      EXECUTE format('CREATE SCHEMA %I', v_schema);
      EXECUTE format('CREATE TABLE %I.%I (%I int PRIMARY KEY, note text)', v_schema, v_name, v_name || 'c');
      INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, column_names, metadata, when_clause)
      SELECT v_name || ' ' || op, 67, op, v_schema, v_name, ARRAY[v_name || 'c'], jsonb_build_object(v_name, v_name),
             format('%s.%I > 0', CASE op WHEN 'DELETE' THEN 'old' ELSE 'new' END, v_name || 'c')
      FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) AS op;
      EXECUTE format('INSERT INTO %I.%I VALUES (1, %L)', v_schema, v_name, v_name);
      EXECUTE format('UPDATE %I.%I SET note = note', v_schema, v_name);
      EXECUTE format('DELETE FROM %I.%I', v_schema, v_name);
    END LOOP;
  END
  $d$ LANGUAGE plpgsql$q$);
SELECT assert_eq(pg_temp.superusers(), '{}'::text[], 'no hostile name ran as code');
SELECT assert_eq((SELECT array_agg(DISTINCT payload ->> 'tg_table_name') FROM pgstream.events WHERE stream_id = 67),
                 (SELECT array_agg(n ORDER BY n) FROM unnest(ARRAY[E'n\nBEGIN PERFORM public.escalate(); END; --', '-- x', '*/ x /*', '$$ x $$', 'it''s "q"']) AS n),
                 'events name their tables exactly');
SELECT assert_eq((SELECT count(*) FILTER (WHERE metadata = jsonb_build_object(payload ->> 'tg_table_name', payload ->> 'tg_table_name')
                                           AND payload ->> 'tg_name' = (payload ->> 'tg_table_name') || ' ' || (payload ->> 'tg_op')
                                           AND payload -> CASE payload ->> 'tg_op' WHEN 'DELETE' THEN 'old' ELSE 'new' END = jsonb_build_object((payload ->> 'tg_table_name') || 'c', 1))
                  FROM pgstream.events WHERE stream_id = 67), 15::bigint,
                 'an insert, an update and a delete of each table: keys, metadata and column names exactly');
-- The installer's generated functions hold no name, key or expression but as a quoted literal:
-- with every literal taken out, none is left.
SELECT assert_eq((SELECT count(*) FROM pg_proc AS p, unnest(ARRAY['escalate', '-- x', '*/', '$$ x']) AS n
                  WHERE p.pronamespace = 'pgstream'::regnamespace AND p.proname LIKE '\_emit\_%'
                    AND strpos(regexp_replace(p.prosrc, '''([^'']|'''')*''', '', 'g'), n) > 0), 0::bigint,
                 'the emit functions hold user text only in literals');

-- ---- 2. A trigger of generation's name on a function generation did not make -----------------

-- The owner points a trigger named pgstream_insert at the check every subscription write runs,
-- then subscribes: generation replaced that function with its own code (handing it to the
-- attacker), and every later subscription went unchecked.
SELECT dblink_exec('owner', 'CREATE TABLE public.hijack (id int PRIMARY KEY)');
SELECT dblink_exec('owner', 'CREATE TRIGGER pgstream_insert AFTER INSERT ON public.hijack FOR EACH ROW EXECUTE FUNCTION pgstream._subscription_check()');
SELECT md5(prosrc) AS check_src FROM pg_proc WHERE oid = 'pgstream._subscription_check()'::regprocedure \gset
SELECT expect_error(format($q$SELECT dblink_exec('owner', %L)$q$,
                           $s$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name) VALUES ('hijack', 68, 'INSERT', 'public', 'hijack')$s$),
                    'table public.hijack has a trigger pgstream_insert that pgstream did not make');
SELECT assert_eq((SELECT md5(prosrc) || ' ' || proowner::regrole::text FROM pg_proc WHERE oid = 'pgstream._subscription_check()'::regprocedure),
                 :'check_src' || ' ' || current_user, 'the check is untouched and still the installer''s');
SELECT assert_eq((SELECT count(*) FROM pgstream.subscriptions WHERE key = 'hijack'), 0::bigint, 'nothing was subscribed');

-- The same trigger on DELETE pointed at a trigger function everyone may run: once the last
-- subscription went, generation dropped it.
SELECT dblink_exec('owner', 'DROP TRIGGER pgstream_insert ON public.hijack');
SELECT dblink_exec('owner', $q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
                              VALUES ('hijack-del', 68, 'DELETE', 'public', 'hijack')$q$);
SELECT dblink_exec('owner', 'DROP TRIGGER pgstream_delete ON public.hijack');
SELECT dblink_exec('owner', 'CREATE TRIGGER pgstream_delete AFTER DELETE ON public.hijack FOR EACH ROW EXECUTE FUNCTION pgstream._when_check()');
SELECT expect_error(format($q$SELECT dblink_exec('owner', %L)$q$, $s$DELETE FROM pgstream.subscriptions WHERE key = 'hijack-del'$s$),
                    'has a trigger pgstream_delete that pgstream did not make');
SELECT dblink_exec('owner', 'DROP TRIGGER pgstream_delete ON public.hijack');
SELECT dblink_exec('owner', $q$DELETE FROM pgstream.subscriptions WHERE key = 'hijack-del'$q$);
SELECT assert_eq(to_regprocedure('pgstream._when_check()') IS NOT NULL, true, 'the function the owner''s trigger ran is not dropped');
SELECT assert_eq((SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgstream'::regnamespace AND proname LIKE '%\_on\_hijack'), 0::bigint,
                 'the functions generation made are gone with the last subscription');
-- Subscriptions on the install's own tables are refused, whoever asks.
SELECT expect_error($q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
                       VALUES ('own', 68, 'INSERT', 'pgstream', 'subscriptions', 'public.escalate()')$q$,
                    'names pgstream.subscriptions, a table of the install or of the system', '42501');

-- ---- 4. Subscriptions stay with their table ---------------------------------------------------

-- The victim subscribes its table, then drops it; the attacker makes a table of that name.
SELECT dblink_exec('victim', 'CREATE TABLE public.shared (id int PRIMARY KEY, secret text)');
SELECT dblink_exec('victim', $q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, payload_extensions)
                               VALUES ('victim-shared', 70, 'INSERT', 'public', 'shared', '[{"json_path": "who", "expression": "current_user"}]')$q$);
SELECT dblink_exec('victim', 'DROP TABLE public.shared');
SELECT dblink_exec('owner', 'CREATE TABLE public.shared (id int PRIMARY KEY, secret text)');
-- Its own subscription on it regenerates the table's trigger: with the dropped table's too, they ran
-- as the new owner and sent its rows on the victim's stream.
SELECT dblink_exec('owner', $q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
                              VALUES ('owner-shared', 72, 'INSERT', 'public', 'shared')$q$);
SELECT dblink_exec('owner', 'INSERT INTO public.shared VALUES (1, ''mine'')');
SELECT assert_eq((SELECT array_agg(payload ->> 'tg_name') FROM pgstream.events WHERE stream_id = 72), ARRAY['owner-shared'],
                 'the new table''s own subscription works');
SELECT assert_eq((SELECT count(*) FROM pgstream.events WHERE stream_id = 70), 0::bigint,
                 'a new table of the name does not inherit the dropped table''s subscriptions');
SELECT assert_eq((SELECT e.prosrc ~ 'victim-shared' FROM pgstream.generated AS g JOIN pg_proc AS e ON e.oid = g.emit_fn
                   WHERE g.table_oid = 'public.shared'::regclass AND g.operation = 'INSERT'), false,
                 'its trigger function holds nothing of the dropped table''s subscription');
-- The orphan keeps its key; its creator may delete it, nobody else may take it over.
SELECT expect_error(format($q$SELECT dblink_exec('owner', %L)$q$,
                           $s$UPDATE pgstream.subscriptions SET when_clause = 'true' WHERE key = 'victim-shared'$s$),
                    'may not change it: its table public.shared is gone');
SELECT dblink_exec('victim', $q$DELETE FROM pgstream.subscriptions WHERE key = 'victim-shared'$q$);

-- The victim renames its table; the attacker makes one of the old name.
SELECT dblink_exec('victim', 'CREATE TABLE public.ledger (id int PRIMARY KEY)');
SELECT dblink_exec('victim', $q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
                               VALUES ('victim-ledger', 71, 'INSERT', 'public', 'ledger')$q$);
SELECT dblink_exec('victim', 'ALTER TABLE public.ledger RENAME TO ledger_2026');
SELECT dblink_exec('owner', 'CREATE TABLE public.ledger (id int PRIMARY KEY)');
SELECT dblink_exec('owner', 'INSERT INTO public.ledger VALUES (666)');
SELECT dblink_exec('victim', 'INSERT INTO public.ledger_2026 VALUES (1)');
SELECT assert_eq((SELECT array_agg(payload #>> '{new,id}') FROM pgstream.events WHERE stream_id = 71), ARRAY['1'],
                 'the renamed table keeps its subscription; the new table of its old name sends nothing on the victim''s stream');
SELECT assert_eq((SELECT array_agg(payload ->> 'tg_table_name') FROM pgstream.events WHERE stream_id = 71), ARRAY['ledger_2026'],
                 'its events say its new name');
SELECT assert_eq((SELECT schema_name || '.' || table_name FROM pgstream.subscriptions WHERE key = 'victim-ledger'), 'public.ledger_2026',
                 'and so does its subscription');
-- A change to the renamed table's subscription keeps it bound; so does a move to another schema.
SELECT dblink_exec('victim', $q$UPDATE pgstream.subscriptions SET metadata = '{"v": 2}' WHERE key = 'victim-ledger'$q$);
SELECT dblink_exec('victim', 'CREATE SCHEMA IF NOT EXISTS books');
SELECT dblink_exec('victim', 'ALTER TABLE public.ledger_2026 SET SCHEMA books');
SELECT dblink_exec('victim', 'INSERT INTO books.ledger_2026 VALUES (2)');
SELECT assert_eq((SELECT (payload ->> 'tg_table_schema') || '.' || (payload ->> 'tg_table_name') || ' ' || (metadata ->> 'v')
                  FROM pgstream.events WHERE stream_id = 71 AND payload #>> '{new,id}' = '2'), 'books.ledger_2026 2',
                 'still bound after a change and a move, under the table''s name');

-- ---- 6. Streams cost every reader: only pipelines and admins make them ------------------------

SELECT count(*) AS streams_before FROM pgtrickle.outbox_tables \gset
SELECT dblink_exec('anyone', 'CREATE TEMP TABLE flood (id int)');
SELECT dblink_exec('anyone', $q$
  DO $d$ BEGIN
    FOR i IN 1000..1199 LOOP
      INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
      SELECT 'f', i, 'INSERT', n.nspname, 'flood' FROM pg_namespace AS n WHERE n.oid = pg_my_temp_schema();
      DELETE FROM pgstream.subscriptions WHERE key = 'f';
    END LOOP;
  END $d$$q$);
SELECT assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables), :'streams_before'::bigint, 'no stream registered by subscribing');
SELECT assert_eq((SELECT count(*) FROM pg_class WHERE relnamespace = 'pgtrickle'::regnamespace AND relname LIKE 'pgstream\_1%'), 0::bigint,
                 'no view made');
SELECT expect_error($q$SELECT dblink_exec('anyone', 'SELECT pgstream.stream_outbox(5000)')$q$, 'permission denied');

-- ---- 7. Generation runs as the writer, and leaves it no more than it had ----------------------

-- A table's owner with no pgtrickle role subscribes, through a SECURITY DEFINER function of her own
-- (the README's set_subscriptions pattern, where SET ROLE is refused): her trigger function is
-- hers, the emit function pgtrickle_maker's, and no CREATE on schema pgstream stays with her.
SELECT dblink_exec('victim', 'CREATE TABLE public.invoices (id int PRIMARY KEY, total numeric)');
SELECT dblink_exec('victim', $q$
  CREATE FUNCTION public.subscribe_invoices() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $f$
    INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
    VALUES ('invoice', 73, 'INSERT', 'public', 'invoices', 'new.total > 0')
  $f$$q$);
SELECT dblink_exec('victim', 'DO $d$ BEGIN PERFORM public.subscribe_invoices(); END $d$');
SELECT dblink_exec('victim', 'INSERT INTO public.invoices VALUES (1, 10), (2, 0)');
SELECT assert_eq((SELECT array_agg(payload #>> '{new,id}') FROM pgstream.events WHERE stream_id = 73), ARRAY['1'],
                 'the owner''s subscription made through her definer function publishes');
SELECT assert_eq((SELECT array_agg(p.proowner::regrole::text ORDER BY p.proname) FROM pgstream.generated AS g
                  JOIN pg_proc AS p ON p.oid IN (g.trigger_fn, g.emit_fn) WHERE g.table_oid = 'public.invoices'::regclass),
                 ARRAY[coalesce((SELECT rolname::text FROM pg_roles WHERE oid = pgtrickle._relay_maker()), current_user::text), :'victim'],
                 'emit function pgtrickle_maker''s, trigger function the owner''s');
SELECT assert_eq(has_schema_privilege(:'victim', 'pgstream', 'CREATE'), false, 'no CREATE on pgstream left to the owner');
-- Another login asks for CREATE on pgstream for her, and keeps the transaction's end to itself:
-- taken back at its commit all the same.
SELECT dblink_exec('anyone', $q$DO $d$ BEGIN PERFORM pgtrickle._relay_code_open('public.invoices'::regclass, 'pgstream', true, NULL); END $d$$q$);
SELECT assert_eq(has_schema_privilege(:'victim', 'pgstream', 'CREATE'), false, 'CREATE granted by anyone''s call is taken back at its commit');
SELECT expect_error($q$SELECT dblink_exec('anyone', 'DO $d$ BEGIN PERFORM pgtrickle._relay_code_open(''public.invoices''::regclass, ''pgtrickle'', true, NULL); END $d$')$q$,
                    'must be owner');
-- It re-syncs her emit function: only as her subscriptions and trigger say, and only under the
-- table's lock, which it may not take.
SELECT expect_error($q$SELECT dblink_exec('anyone', 'DO $d$ BEGIN PERFORM pgstream._generated_sync(''public.invoices''::regclass, ''INSERT''); END $d$')$q$,
                    'without the table''s lock');
SELECT dblink_exec('victim', 'INSERT INTO public.invoices VALUES (3, 5)');
SELECT assert_eq((SELECT count(*) FROM pgstream.events WHERE stream_id = 73), 2::bigint, 'her events still flow');

SELECT dblink_disconnect('anyone'), dblink_disconnect('owner'), dblink_disconnect('victim');
DELETE FROM pgstream.subscriptions;
DROP TABLE public.invoices;
DROP FUNCTION public.subscribe_invoices();
DROP FUNCTION public.escalate();
DO $$
DECLARE
  v_schema text;
BEGIN
  FOR v_schema IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^s[1-5]' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', v_schema);
  END LOOP;
END
$$;
DROP TABLE public.hijack, public.shared, public.ledger;
DROP SCHEMA books CASCADE;
