-- The findings of the third review, each tried as its attacker would, on real connections of its
-- role (dblink): text a user wrote must never be parsed or planned with the installer's rights
-- (parsing runs code: a literal of the user's domain runs its CHECK, planning folds an IMMUTABLE
-- function). The canary (support/canary.sql) counts every time it ran with more rights than its
-- attacker's, whether the statement succeeded or failed.

\i tests/sql/support/canary.sql
SELECT current_database() || '_anyone' AS anyone, current_database() || '_padmin' AS padmin,
       current_database() || '_victim' AS victim, current_database() || '_relay' AS relay \gset
CREATE ROLE :"anyone" LOGIN;                                   -- no right but the default TEMP
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;     -- a pipeline admin owning tables
CREATE ROLE :"victim" LOGIN;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
CREATE SCHEMA adm AUTHORIZATION :"padmin";
CREATE SCHEMA vic AUTHORIZATION :"victim";
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('anyone', login_conninfo(:'anyone')), dblink_connect('padmin', login_conninfo(:'padmin')),
       dblink_connect('victim', login_conninfo(:'victim')), dblink_connect('relay', login_conninfo(:'relay'));
SELECT dblink_exec('padmin', 'CREATE TABLE adm.t (id int PRIMARY KEY, status text, dcol canary.d, darr canary.d[]); ALTER TABLE adm.t REPLICA IDENTITY FULL');

-- 1. Any login subscribes its temporary table with a condition holding a literal of a domain whose
--    CHECK runs its code. The condition is compiled as the login (the canary runs, as the login);
--    generation puts no text of it into the trigger's WHEN, which the installer's CREATE TRIGGER
--    parses: the trigger gets no WHEN, and the owner's function alone decides.
SELECT dblink_exec('anyone', 'CREATE TEMP TABLE st (id int PRIMARY KEY, note text)');
SELECT dblink_exec('anyone', $q$
  INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
  VALUES ('domain-literal', 41, 'INSERT', (SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()), 'st',
          'new.id > 0 OR ''{1}''::canary.d[] IS NOT NULL') $q$);
SELECT assert_eq(canary.escalations(), 0::bigint, 'finding 1: the condition never ran as the installer');
SELECT assert_eq(canary.runs() > 0, true, 'the condition was compiled, as the login');
SELECT assert_eq((SELECT t.tgqual IS NULL FROM pg_trigger AS t JOIN pgstream.generated AS g ON g.trigger_fn = t.tgfoid
                  WHERE t.tgname = 'pgstream_insert' AND g.table_oid = t.tgrelid
                    AND t.tgrelid = (SELECT table_oid FROM pgstream.subscriptions WHERE key = 'domain-literal')),
                 true, 'a condition outside the checked grammar gives the trigger no WHEN');
-- A condition inside it is written again from its tokens into the WHEN.
SELECT dblink_exec('anyone', $q$
  INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
  VALUES ('plain', 41, 'UPDATE', (SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()), 'st',
          'NEW.note IS DISTINCT FROM old.note AND new.id>5') $q$);
SELECT assert_eq((SELECT pg_get_triggerdef(t.oid) LIKE '%WHEN (((new.note IS DISTINCT FROM old.note) AND (new.id > 5)))%'
                  FROM pg_trigger AS t WHERE t.tgname = 'pgstream_update'
                    AND t.tgrelid = (SELECT table_oid FROM pgstream.subscriptions WHERE key = 'plain')),
                 true, 'a plain condition is the trigger''s WHEN');

-- 2. The login renames its subscribed table: the rename event trigger updates the subscription as
--    the installer, which must not compile (plan) its condition again; here one folding the login's
--    IMMUTABLE function, no domain needed.
SELECT dblink_exec('anyone', $q$
  INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause)
  VALUES ('immutable', 41, 'DELETE', (SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()), 'st',
          'old.id > 0 OR canary.imm(1)') $q$);
SELECT canary.runs() AS runs_before \gset
SELECT dblink_exec('anyone', 'ALTER TABLE st RENAME TO st_renamed');
SELECT assert_eq(canary.escalations(), 0::bigint, 'finding 2: a rename compiles nothing as the installer');
SELECT assert_eq((SELECT array_agg(DISTINCT table_name) FROM pgstream.subscriptions WHERE stream_id = 41), ARRAY['st_renamed'],
                 'the subscriptions follow the renamed table');
-- As an UPDATE by a role acting for the owner, a changed condition is compiled again, as that role.
SELECT dblink_exec('anyone', $q$ UPDATE pgstream.subscriptions SET when_clause = 'old.id > 1 OR canary.imm(2)' WHERE key = 'immutable' $q$);
SELECT assert_eq(canary.runs() > :runs_before, true, 'a changed condition is compiled, as the login');
SELECT assert_eq(canary.escalations(), 0::bigint, 'and never as anyone else');
SELECT dblink_exec('anyone', 'DELETE FROM pgstream.subscriptions WHERE stream_id = 41');

-- 3. A pipeline admin owning a table gives a WAL pipeline's table a row filter the installer's
--    ALTER PUBLICATION would parse: refused before PostgreSQL sees it, naming what is not taken.
SELECT expect_error(format($$ SELECT * FROM dblink('padmin', %L) AS t(x text) $$,
         format($q$ SELECT pgtrickle.set_relay_outbox('filtered', config => %L)::text $q$,
                jsonb_build_object('sink_type', 'stdout', 'tables', jsonb_build_array(jsonb_build_object('name', 'adm.t', 'where', f))))), m)
FROM (VALUES ('''{1}''::canary.d[] IS NOT NULL', ''':'' is not taken'),
             ('id > 0 AND canary.imm(1)', 'canary.… is not taken'),
             ('darr = ''{1}''', 'column darr is of type canary.d[], whose values are read by code of its own'),
             ('dcol = 1', 'column dcol is of type canary.d'),
             ('status = text ''x''', 'a string follows a name or a value'),
             ('id IN (SELECT id FROM adm.t)', '"select" is no column of adm.t')) AS x(f, m);
SELECT assert_eq(canary.escalations(), 0::bigint, 'finding 3: no filter ran code as the installer');
-- A filter of the grammar is published as written again from its tokens.
SELECT * FROM dblink('padmin', $q$ SELECT pgtrickle.set_relay_outbox('filtered', config =>
  '{"sink_type": "stdout", "tables": [{"name": "adm.t", "where": "id > 10 AND lower(status) <> ''x''"}]}')::text $q$) AS t(x text);
SELECT assert_eq((SELECT pg_get_expr(r.prqual, r.prrelid) FROM pg_publication_rel AS r JOIN pg_publication AS p ON p.oid = r.prpubid
                  JOIN pgtrickle.relay_wal_publications AS w ON p.pubname = w.publication || 't' WHERE w.pipeline = 'filtered'),
                 '((id > 10) AND (lower(status) <> ''x''::text))', 'the filter published');

-- 5. The pipeline admin cannot rewrite the publications of a pipeline of a relay's TOML file (nor
--    any pipeline's, but through set_relay_outbox); the relay's role writes only those of its file.
SELECT expect_error(format($$ SELECT * FROM dblink('padmin', %L) AS t(x text) $$,
         $q$ SELECT pgtrickle._wal_pipeline_prepare('p', 'file:g', '{"tables": ["adm.t"]}')::text $q$),
       'permission denied for function _wal_pipeline_prepare');
SELECT expect_error(format($$ SELECT * FROM dblink('padmin', %L) AS t(x text) $$,
         $q$ SELECT pgtrickle._wal_file_pipeline_prepare('p', 'g', '{"tables": ["adm.t"]}')::text $q$),
       'permission denied for function _wal_file_pipeline_prepare');
SELECT expect_error(format($$ SELECT * FROM dblink('relay', %L) AS t(x text) $$,
         $q$ SELECT pgtrickle._wal_pipeline_prepare('filtered', 'sql', '{"tables": ["adm.t"]}')::text $q$),
       'permission denied for function _wal_pipeline_prepare');

-- 6. The admin's pipeline names its own table, which it drops; a victim makes a table of that
--    name. The pipeline is bound to the table it was allowed (by oid): the victim's table is neither
--    published nor backfilled.
SELECT dblink_exec('padmin', 'CREATE TABLE adm.bait (id int PRIMARY KEY, secret text); GRANT USAGE, CREATE ON SCHEMA adm TO ' || quote_ident(:'victim'));
SELECT * FROM dblink('padmin', $q$ SELECT pgtrickle.set_relay_outbox('bait-out', config =>
  '{"sink_type": "stdout", "tables": ["adm.bait"]}')::text $q$) AS t(x text);
SELECT dblink_exec('padmin', 'DROP TABLE adm.bait');
SELECT dblink_exec('victim', $q$ CREATE TABLE adm.bait (id int PRIMARY KEY, secret text); INSERT INTO adm.bait VALUES (1, 'pin 1234') $q$);
SELECT expect_error(format($$ SELECT * FROM dblink('padmin', %L) AS t(x bigint) $$, $q$ SELECT pgtrickle.backfill_relay('bait-out') $q$),
       'pipeline "bait-out" captures no table with a key now');
SELECT expect_error(format($$ SELECT * FROM dblink('padmin', %L) AS t(x bigint) $$, $q$ SELECT pgtrickle.backfill_relay('bait-out', 'adm.bait') $q$),
       '"adm.bait" is not a table pipeline "bait-out" captures now');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_backfills WHERE pipeline = 'bait-out'), 0::bigint, 'nothing of the victim''s is backfilled');

-- 7. Names in messages are unambiguous: a table of schema public whose name holds a dot is not the
--    table of the schema before the dot, nor its route; a quote in a name is doubled.
SELECT assert_eq(pgtrickle._wal_stream_table('public', 'v.orders'), '"v.orders"', 'public."v.orders"');
SELECT assert_eq(pgtrickle._wal_stream_table('v', 'orders'), 'v.orders', 'v.orders');
SELECT assert_eq(pgtrickle._wal_stream_table('a"b', 'c.d'), '"a""b"."c.d"', 'quotes doubled');
SELECT assert_eq(pgtrickle._wal_stream_table('public', 'orders'), 'orders', 'a plain public table keeps its bare name');
SELECT assert_eq((SELECT count(DISTINCT pgtrickle._wal_stream_table(s, t)) FROM (VALUES ('public', 'v.orders'), ('v', 'orders'),
                   ('public', '"v".orders'), ('"v"', 'orders'), ('public', 'v"."orders')) AS x(s, t)), 5::bigint,
                 'no two of these tables share a name');

-- 8. The relay's role renders a WAL pipeline's rows as the table's owner, reading a value the WAL
--    left out from the table by key: whatever columns and keys it names, it reads only the columns
--    the pipeline's column list publishes, by the table's own key, from rows its filter lets through.
SELECT dblink_exec('padmin', $q$ CREATE TABLE adm.acct (id int PRIMARY KEY, status text, secret text);
                                INSERT INTO adm.acct VALUES (1, 'open', 'pin 1111'), (500, 'open', 'pin 5555') $q$);
SELECT * FROM dblink('padmin', $q$ SELECT pgtrickle.set_relay_outbox('acct-out', config =>
  '{"sink_type": "stdout", "tables": [{"name": "adm.acct", "columns": ["id", "status"], "where": "id < 100"}]}')::text $q$) AS t(x text);
CREATE FUNCTION pg_temp.render(p_columns jsonb, p_row jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(r, ',') FROM dblink('relay', format('SELECT r FROM pgtrickle._wal_render_tables(%L) AS r',
    jsonb_build_array(jsonb_build_object('rel', 'adm.acct'::regclass::oid, 'columns', p_columns,
                                         'rows', jsonb_build_array(jsonb_build_object('row', p_row, 'fill', true, 'key_only', false))))))
    AS t(r text)
$$;
SELECT assert_eq(pg_temp.render('[{"name": "id", "type": 23, "mod": -1, "key": true}, {"name": "status", "type": 25, "mod": -1, "key": false}]',
                                '{"id": "1"}'), '{"id": 1, "status": "open"}', 'a published column left out of the WAL is read from the table');
SELECT assert_eq(pg_temp.render('[{"name": "id", "type": 23, "mod": -1, "key": true}, {"name": "secret", "type": 25, "mod": -1, "key": false}]',
                                '{"id": "1"}'), '{"id": 1}', 'finding 8: a column the list leaves out is never read');
SELECT assert_eq(pg_temp.render('[{"name": "id", "type": 23, "mod": -1, "key": true}, {"name": "status", "type": 25, "mod": -1, "key": false}]',
                                '{"id": "500"}'), '{"id": 500, "status": null}', 'nor a row the filter leaves out');
SELECT assert_eq(pg_temp.render('[{"name": "id", "type": 23, "mod": -1, "key": false}, {"name": "status", "type": 25, "mod": -1, "key": true}]',
                                '{"status": "open"}'), '{"id": null, "status": "open"}', 'nor a row found by a column that is not its key');

SELECT assert_eq(canary.escalations(), 0::bigint, 'the canary never ran with more rights than its attacker''s');
SELECT pgtrickle.delete_relay('filtered'), pgtrickle.delete_relay('bait-out'), pgtrickle.delete_relay('acct-out');
SELECT dblink_disconnect('anyone'), dblink_disconnect('padmin'), dblink_disconnect('victim'), dblink_disconnect('relay');
DELETE FROM pgstream.subscriptions;
DROP SCHEMA adm, vic CASCADE;
