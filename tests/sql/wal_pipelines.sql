-- Pipelines of source type "wal": tables named by list and pattern, one publication per pipeline,
-- who may capture what (a table owner its own tables, a superuser patterns; a pipeline admin
-- nothing it does not own), clear errors for what is not a table name, and delete_relay dropping
-- the publication. The owner and the pipeline admin act on real connections (dblink).

SELECT current_database() || '_owner' AS owner, current_database() || '_padmin' AS padmin \gset
CREATE ROLE :"owner" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
GRANT CREATE ON SCHEMA public TO :"owner";
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('owner', login_conninfo(:'owner')), dblink_connect('padmin', login_conninfo(:'padmin'));

CREATE SCHEMA sales;
CREATE TABLE public.customers (id int PRIMARY KEY, name text);
CREATE TABLE public.audit_log (id int PRIMARY KEY, what text);
CREATE TABLE public.notes (body text);                 -- no key: its UPDATEs fail once published
CREATE TABLE sales.orders (id int PRIMARY KEY, region text);
CREATE TABLE sales.order_lines (id int PRIMARY KEY);
CREATE TABLE sales."Mixed Case" (id int PRIMARY KEY);
SELECT dblink_exec('owner', 'CREATE TABLE public.owned (id int PRIMARY KEY)');

-- The tables a pipeline's publications publish: its own (the patterns' schemas) and the one of
-- the tables it names.
CREATE FUNCTION pg_temp.pub_tables(p_pub text) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename) FROM pg_publication_tables
  WHERE pubname IN (p_pub, p_pub || 't')
$$;
CREATE FUNCTION pg_temp.pub_of(p_pipeline text) RETURNS text LANGUAGE sql AS $$
  SELECT publication FROM pgtrickle.relay_wal_publications WHERE pipeline = p_pipeline AND origin = 'sql'
$$;
CREATE FUNCTION pg_temp.wanted(p_pipeline text, p_schema text, p_table text) RETURNS boolean LANGUAGE sql AS $$
  SELECT wanted FROM pgtrickle._wal_table_info(pg_temp.pub_of(p_pipeline), 0, p_schema, p_table)
$$;

-- A superuser captures a schema by pattern and a table by name, less what "exclude" names.
SELECT pgtrickle.set_relay_outbox('shop', config => '{
  "source": {"type": "wal", "tables": ["public.*", "sales.orders"], "exclude": ["public.audit_*"]},
  "sink":   {"type": "stdout"}}'::jsonb);
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_wal_publications WHERE pipeline = 'shop'), 1::bigint, 'one publication');
SELECT assert_eq((SELECT pubviaroot FROM pg_publication WHERE pubname = pg_temp.pub_of('shop')), true, 'partitions as their root');
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('shop')),
                 'public.audit_log,public.customers,public.notes,public.owned,sales.orders',
                 'the publication holds the schema (the relay leaves out what exclude names) and the table named');
SELECT assert_eq(pg_temp.wanted('shop', 'public', 'customers'), true, 'public.* matches public.customers');
SELECT assert_eq(pg_temp.wanted('shop', 'public', 'created_later'), true, 'a table created later matches by name');
SELECT assert_eq(pg_temp.wanted('shop', 'public', 'audit_log'), false, 'exclude wins');
SELECT assert_eq(pg_temp.wanted('shop', 'sales', 'orders'), true, 'the table named');
SELECT assert_eq(pg_temp.wanted('shop', 'sales', 'order_lines'), false, 'another table of the schema');
SELECT assert_eq(pg_temp.wanted('shop', 'pgtrickle', 'relay_offsets'), false, 'the install''s own schemas never');
SELECT assert_eq((SELECT stream_table FROM pgtrickle._wal_table_info(pg_temp.pub_of('shop'), 'sales.orders'::regclass, 'sales', 'orders')),
                 'sales.orders', 'messages name a table outside public with its schema');
SELECT assert_eq((SELECT key_columns FROM pgtrickle._wal_table_info(pg_temp.pub_of('shop'), 'public.customers'::regclass, 'public', 'customers')),
                 '{id}'::text[], 'the key is the primary key');
SELECT assert_eq((SELECT problem LIKE 'table public.notes has no primary key or replica identity%ALTER TABLE public.notes REPLICA IDENTITY FULL'
                  FROM pgtrickle._wal_pipeline_tables((SELECT config -> 'source' FROM pgtrickle.relay_outbox_config WHERE name = 'shop'))
                  WHERE stream_table = 'notes'), true,
                 'a table without a key is named, with the fix');

-- Patterns within a part, quoted names, the flat form (which "tables" makes a WAL source).
SELECT pgtrickle.set_relay_outbox('lines', config => '{"tables": ["sales.order_*", "sales.\"Mixed Case\""], "sink_type": "stdout"}'::jsonb);
SELECT assert_eq((SELECT config #>> '{source,type}' FROM pgtrickle.relay_outbox_config WHERE name = 'lines'), 'wal', 'the flat form');
SELECT assert_eq(pg_temp.wanted('lines', 'sales', 'order_lines'), true, 'sales.order_* matches order_lines');
SELECT assert_eq(pg_temp.wanted('lines', 'sales', 'orders'), false, 'the underscore is a character, not a wildcard');
SELECT assert_eq(pg_temp.wanted('lines', 'sales', 'Mixed Case'), true, 'a quoted part keeps its case');
SELECT assert_eq(pg_temp.wanted('lines', 'sales', 'mixed case'), false, 'and only that case');

-- Changing the tables changes the publication (never dropped and made again: a slot reads it).
SELECT oid AS lines_pub FROM pg_publication WHERE pubname = pg_temp.pub_of('lines') \gset
SELECT pgtrickle.set_relay_outbox('lines', config => '{"tables": ["sales.orders"], "sink_type": "stdout"}'::jsonb);
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('lines')), 'sales.orders', 'the publication follows the tables');
SELECT assert_eq((SELECT oid FROM pg_publication WHERE pubname = pg_temp.pub_of('lines')), :'lines_pub'::oid, 'the same publication');

-- What is not a table name, or not a table this can capture: an error saying what to write.
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [], "sink_type": "stdout"}') $$,
  'source key "tables" is required for a source of type "wal"');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": ["a.b.c"], "sink_type": "stdout"}') $$,
  '"a.b.c" is not a table name: write "table" or "schema.table"');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": ["*.orders"], "sink_type": "stdout"}') $$,
  'a pattern matches tables within one schema; name the schema');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": ["pgtrickle.*"], "sink_type": "stdout"}') $$,
  'schema pgtrickle is the install''s own');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": ["public.nope"], "sink_type": "stdout"}') $$,
  'table public.nope does not exist');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": ["pgtrickle.relay_offsets"], "sink_type": "stdout"}') $$,
  'is not a table this pipeline can capture');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [{"name": "public.customers", "filter": "id > 1"}], "sink_type": "stdout"}') $$,
  'an entry''s keys are "name", "where" (a row filter) and "columns" (a column list)');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [7], "sink_type": "stdout"}') $$,
  'each entry is a table name such as "public.orders"');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_outbox_config WHERE name = 'bad'), 0::bigint, 'nothing stored');

-- Row filters and column lists, applied by the server: a filter may read only the replica
-- identity's columns, a column list must hold them. payments' identity is (id, status).
CREATE TABLE sales.payments (id int PRIMARY KEY, status text NOT NULL, amount numeric, card text);
CREATE UNIQUE INDEX payments_id_status ON sales.payments (id, status);
ALTER TABLE sales.payments REPLICA IDENTITY USING INDEX payments_id_status;
SELECT pgtrickle.set_relay_outbox('paid', config => $j${"tables": [{"name": "sales.payments", "where": "status <> 'draft'",
  "columns": ["id", "status", "amount"]}, "sales.orders"], "sink_type": "stdout"}$j$::jsonb);
SELECT assert_eq((SELECT rowfilter FROM pg_publication_tables WHERE pubname = pg_temp.pub_of('paid') || 't' AND tablename = 'payments'),
                 '(status <> ''draft''::text)', 'the filter is the publication''s');
SELECT assert_eq((SELECT attnames FROM pg_publication_tables WHERE pubname = pg_temp.pub_of('paid') || 't' AND tablename = 'payments'),
                 '{id,status,amount}'::name[], 'and the column list');
SELECT assert_eq((SELECT attnames FROM pg_publication_tables WHERE pubname = pg_temp.pub_of('paid') || 't' AND tablename = 'orders'),
                 '{id,region}'::name[], 'a table named without one is published whole');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [{"name": "sales.orders", "where": "region = ''eu''"}], "sink_type": "stdout"}') $$,
  'the row filter of sales.orders reads "region", not of its replica identity');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [{"name": "sales.payments", "columns": ["id", "amount"]}], "sink_type": "stdout"}') $$,
  'the column list of sales.payments leaves out "status" of its replica identity');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [{"name": "sales.payments", "columns": ["id", "status", "nope"]}], "sink_type": "stdout"}') $$,
  'the column list of sales.payments names "nope", which it does not have');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [{"name": "customers", "where": "id > 0"}, "public.*"], "sink_type": "stdout"}') $$,
  'public.customers has a row filter or column list, but a pattern captures its whole schema');
SELECT expect_error($$ SELECT pgtrickle.set_relay_outbox('bad', config => '{"tables": [{"name": "public.*", "where": "id > 0"}], "sink_type": "stdout"}') $$,
  'a row filter or column list is given to one table by name, not to a pattern');
-- A filter goes into the installer's ALTER PUBLICATION only as written again from a grammar that
-- runs no code when parsed (tests/sql/security_expressions.sql attacks it): it cannot close the
-- WHERE's parentheses, end the statement, cast, or call code of anyone's.
CREATE FUNCTION public.escalate(int) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
SELECT expect_error(format($$ SELECT pgtrickle.set_relay_outbox('bad', config => %L) $$, jsonb_build_object('sink_type', 'stdout',
  'tables', jsonb_build_array(jsonb_build_object('name', 'sales.orders', 'where', f)))), m)
FROM (VALUES ('id > 0) , TABLE public.audit_log WHERE (true', 'a parenthesis closes that was not opened'),
             ('id > 0); ALTER ROLE nobody SUPERUSER; SELECT (true', 'a parenthesis closes that was not opened'),
             ('id > 0 OR (true); DROP TABLE public.customers', ''';'' is not taken'),
             ('id > 0 --', 'it holds a comment'),
             ('id > 0 /* x */', 'it holds a comment'),
             ('id = $1', '''$'' is not taken'),
             ('id::text = E''\x''', ''':'' is not taken'),
             ('id = E''\x''', 'a string follows a name or a value'),
             ('id = ''a', 'a string is not closed'),
             ('(id > 0', 'a parenthesis is not closed'),
             ('escalate(id)', 'it calls escalate: a condition calls only lower, upper'),
             ('public.escalate(id)', 'public.… is not taken: a column is named alone')) AS x(f, m);
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_outbox_config WHERE name = 'bad'), 0::bigint, 'nothing stored');
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('paid')), 'sales.orders,sales.payments', 'the pipeline''s publications unchanged');

-- A pipeline admin captures only what it owns: a table of another owner, or a pattern (tables of
-- any owner, created later too), is refused, naming each table and why; nothing is published.
SELECT expect_error(format($$ SELECT * FROM dblink('padmin', %L) AS t(x text) $$,
  $q$ SELECT pgtrickle.set_relay_outbox('steal', config => '{"tables": ["public.customers", "public.owned"], "sink_type": "stdout"}')::text $q$),
  format('may not capture public.customers (owned by %s), public.owned (owned by %s): capturing a table takes its owner''s rights', current_user, :'owner'));
SELECT expect_error(format($$ SELECT * FROM dblink('owner', %L) AS t(x text) $$,
  $q$ SELECT pgtrickle.set_relay_outbox('steal', config => '{"tables": ["public.*"], "sink_type": "stdout"}')::text $q$),
  'public.* (a pattern: it captures tables that do not exist yet, of any owner, which takes a superuser');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_wal_publications WHERE pipeline = 'steal'), 0::bigint, 'no publication for a refused pipeline');
-- Its owner may.
SELECT * FROM dblink('owner', $q$ SELECT pgtrickle.set_relay_outbox('mine', config => '{"tables": ["public.owned"], "sink_type": "stdout"}')::text $q$) AS t(x text);
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('mine')), 'public.owned', 'the owner captures its table');
-- The publications are made by the session, with its login's rights, never the installer's: a
-- login without CREATE on the database has a new one made empty as the first table's owner, then
-- sets its tables itself; tables of two owners take a login acting for both.
SELECT assert_eq(has_database_privilege(:'owner', current_database(), 'CREATE'), false, 'the owner has no CREATE on the database');
SELECT assert_eq((SELECT string_agg(DISTINCT pubowner::regrole::text, ',') FROM pg_publication WHERE pubname LIKE pg_temp.pub_of('mine') || '%'),
                 quote_ident(:'owner'), 'its publications are the owner''s');
CREATE TABLE public.owned_too (id int PRIMARY KEY);
SELECT format('ALTER TABLE public.owned_too OWNER TO %I', :'padmin') \gexec
SELECT format('GRANT %I TO %I', :'owner', :'padmin') \gexec
SELECT * FROM dblink('padmin', $q$ SELECT pgtrickle.set_relay_outbox('both', config => '{"tables": ["public.owned_too", "public.owned"], "sink_type": "stdout"}')::text $q$) AS t(x text);
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('both')), 'public.owned,public.owned_too', 'one publication over two owners'' tables');
-- Another admin acting for neither may neither change nor delete it; nothing is changed.
SELECT format('REVOKE %I FROM %I', :'owner', :'padmin') \gexec
SELECT expect_error(format($$ SELECT * FROM dblink('owner', %L) AS t(x text) $$,
  $q$ SELECT pgtrickle.set_relay_outbox('both', config => '{"tables": ["public.owned"], "sink_type": "stdout"}')::text $q$),
  'may not make or change its publication');
SELECT expect_error($$ SELECT dblink_exec('owner', 'SELECT pgtrickle.delete_relay(''both'')') $$, 'may not drop it');
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('both')), 'public.owned,public.owned_too', 'unchanged');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_outbox_config WHERE name = 'both'), 1::bigint, 'not deleted');
SELECT * FROM dblink('padmin', $q$ SELECT pgtrickle.delete_relay('both')::text $q$) AS t(x text);
SELECT assert_eq((SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgtrickle_w%' AND pubowner = (SELECT oid FROM pg_roles WHERE rolname = :'padmin')), 0::bigint,
                 'deleted by its owner, the publications with it');
DROP TABLE public.owned_too;

-- A table the pipeline named, dropped and made again under its name (here by the same owner): the
-- new table is another table, which the pipeline does not capture until it is set again.
SELECT dblink_exec('owner', 'DROP TABLE public.owned; CREATE TABLE public.owned (id int PRIMARY KEY)');
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('mine')), NULL, 'the table made again is not captured by the old setting');
SELECT * FROM dblink('owner', $q$ SELECT pgtrickle.set_relay_outbox('mine', config => '{"tables": ["public.owned"], "sink_type": "stdout"}')::text $q$) AS t(x text);
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('mine')), 'public.owned', 'set again, it is');

-- Hostile names through every path that uses them: a schema and a table whose names hold ;, a
-- newline, --, */ and $$, named exactly and matched by a pattern; published, their rows rendered
-- (by the owner's function, a value read from the table), and nothing else run.
CREATE SCHEMA "we;ird";
CREATE TABLE "we;ird"."x
--*/$$y" (id int PRIMARY KEY, v text);
INSERT INTO "we;ird"."x
--*/$$y" VALUES (1, 'hello');
SELECT pgtrickle.set_relay_outbox('hostile', config => jsonb_build_object('sink_type', 'stdout',
  'tables', jsonb_build_array('"we;ird"."x' || E'\n' || '--*/$$y"')));
SELECT pgtrickle.set_relay_outbox('hostile-pattern', config => '{"tables": ["\"we;ird\".*"], "sink_type": "stdout"}'::jsonb);
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('hostile')), 'we;ird.x' || E'\n' || '--*/$$y', 'the table named is published');
SELECT assert_eq(pg_temp.pub_tables(pg_temp.pub_of('hostile-pattern')), 'we;ird.x' || E'\n' || '--*/$$y', 'and by the pattern');
SELECT assert_eq(pg_temp.wanted('hostile-pattern', 'we;ird', 'x' || E'\n' || '--*/$$y'), true, 'the pattern matches it');
SELECT assert_eq((SELECT string_agg(r, ',') FROM pgtrickle._wal_render_tables(jsonb_build_array(jsonb_build_object(
                    'rel', '"we;ird"."x
--*/$$y"'::regclass::oid,
                    'columns', '[{"name": "id", "type": 23, "mod": -1, "key": true}, {"name": "v", "type": 25, "mod": -1, "key": false}]'::jsonb,
                    'rows', '[{"row": {"id": "1"}, "fill": true, "key_only": false}]'::jsonb))) AS r),
                 '{"v": "hello", "id": 1}', 'its rows rendered, a value read from the table');

-- A table made later in a schema a pattern captures gets its render function as it is made, from
-- the login making it (a plain login, no pgtrickle role), as its owner; the relay renders through
-- it and never makes one: one missing is an error naming how to make it.
CREATE SCHEMA later;
SELECT current_database() || '_plain' AS plain \gset
CREATE ROLE :"plain" LOGIN;
SELECT format('GRANT USAGE, CREATE ON SCHEMA later TO %I', :'plain') \gexec
SELECT dblink_connect('plain', login_conninfo(:'plain'));
SELECT pgtrickle.set_relay_outbox('later', config => '{"tables": ["later.*"], "sink_type": "stdout"}'::jsonb);
SELECT dblink_exec('plain', 'CREATE TABLE later.t (id int PRIMARY KEY, v text); INSERT INTO later.t VALUES (1, ''late'')');
SELECT assert_eq((SELECT p.proowner::regrole::text FROM pg_proc AS p
                  WHERE p.oid = to_regprocedure(format('pgtrickle.%I(regclass, jsonb, jsonb)', pgtrickle._wal_rows_table_function('later.t'::regclass)))),
                 quote_ident(:'plain'), 'its render function, made as the table was made, is its owner''s');
SELECT assert_eq(has_schema_privilege(:'plain', 'pgtrickle', 'CREATE'), false, 'no CREATE on schema pgtrickle stays with it');
CREATE FUNCTION pg_temp.render_later() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(r, ',') FROM pgtrickle._wal_render_tables(jsonb_build_array(jsonb_build_object(
    'rel', 'later.t'::regclass::oid,
    'columns', '[{"name": "id", "type": 23, "mod": -1, "key": true}, {"name": "v", "type": 25, "mod": -1, "key": false}]'::jsonb,
    'rows', '[{"row": {"id": "1"}, "fill": true, "key_only": false}]'::jsonb))) AS r
$$;
SELECT assert_eq(pg_temp.render_later(), '{"v": "late", "id": 1}', 'its rows rendered through it, a value read from the table');
SELECT format('DROP FUNCTION pgtrickle.%I(regclass, jsonb, jsonb)', pgtrickle._wal_rows_table_function('later.t'::regclass)) \gexec
SELECT expect_error('SELECT pg_temp.render_later()', 'has no render function of its owner');
SELECT * FROM dblink('plain', $q$ SELECT pgtrickle._wal_rows_table_ensure('later.t')::text $q$) AS t(x text);
SELECT assert_eq(pg_temp.render_later(), '{"v": "late", "id": 1}', 'made again by a login acting for its owner');
SELECT pgtrickle.delete_relay('later');
SELECT dblink_disconnect('plain');
DROP SCHEMA later CASCADE;
DROP FUNCTION pg_temp.render_later();

-- delete_relay drops the publication.
SELECT pg_temp.pub_of('shop') AS shop_pub \gset
SELECT pgtrickle.delete_relay('shop');
SELECT assert_eq((SELECT count(*) FROM pg_publication WHERE pubname IN (:'shop_pub', :'shop_pub' || 't')), 0::bigint, 'the publications are dropped');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_wal_publications WHERE pipeline = 'shop'), 0::bigint, 'and forgotten');

SELECT dblink_disconnect('owner'), dblink_disconnect('padmin');
