-- Subscriptions (seed 003, postgres-stream): the README's examples as written, the events they
-- produce, trigger generation, validation, and who may subscribe what.
-- expect-stdout: Asynchronous notification "pgtrickle_outbox_new" with payload "pgstream_1"

CREATE TABLE public.users (id serial PRIMARY KEY, email text, email_verified boolean, created_at timestamptz DEFAULT now());
CREATE TABLE public.orders (id serial PRIMARY KEY, user_id int, total numeric, status text DEFAULT 'new');

-- ---- The README, as written ----------------------------------------------------------------

-- Subscribe to verified user signups
insert into pgstream.subscriptions (
  key,
  stream_id,
  operation,
  schema_name,
  table_name,
  when_clause,
  column_names,
  payload_extensions
) values (
  'user-signup',                          -- Unique identifier
  1,                                      -- Stream ID from config
  'INSERT',                               -- Operation: INSERT, UPDATE, or DELETE
  'public',                               -- Schema name
  'users',                                -- Table name
  'new.email_verified = true',            -- Optional filter (SQL expression)
  array['id', 'email', 'created_at'],     -- Columns to include in payload
  '[]'::jsonb                             -- Payload extensions (see below)
);

insert into users (email, email_verified) values ('user@example.com', true);
insert into users (email, email_verified) values ('unverified@example.com', false);

insert into pgstream.subscriptions (
  key, stream_id, operation, schema_name, table_name,
  when_clause, column_names, payload_extensions
) values (
  'order-notification',
  1,
  'INSERT',
  'public',
  'orders',
  null,
  array['id', 'user_id', 'total'],
  '[
    {"json_path": "group_id", "expression": "new.user_id::text"},
    {"json_path": "queue_name", "expression": "''orders-high-priority''"}
  ]'::jsonb
);

INSERT INTO orders (id, user_id, total) VALUES (456, 123, 99.99);

DO $$
DECLARE
  v_user  jsonb := (SELECT payload FROM pgstream.events WHERE payload ->> 'tg_name' = 'user-signup');
  v_order jsonb := (SELECT payload FROM pgstream.events WHERE payload ->> 'tg_name' = 'order-notification');
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgstream.events), 2::bigint, 'one event per matching row (the unverified user: none)');
  PERFORM assert_eq(v_user - 'timestamp' - 'new',
                    '{"tg_name": "user-signup", "tg_op": "INSERT", "tg_table_name": "users", "tg_table_schema": "public", "old": null}'::jsonb,
                    'the signup event');
  PERFORM assert_eq((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(v_user -> 'new') AS k), ARRAY['created_at', 'email', 'id'],
                    'new holds the listed columns');
  PERFORM assert_eq(v_user #>> '{new,email}', 'user@example.com', 'new.email');
  PERFORM assert_eq(jsonb_typeof(v_user -> 'timestamp'), 'number', 'timestamp in epoch ms');
  PERFORM assert_eq(abs((v_user ->> 'timestamp')::bigint - (extract(epoch FROM now()) * 1000)::bigint) < 600000, true, 'timestamp is now');
  PERFORM assert_eq(v_order - 'timestamp',
                    '{"tg_name": "order-notification", "tg_op": "INSERT", "tg_table_name": "orders", "tg_table_schema": "public",
                      "new": {"id": 456, "user_id": 123, "total": 99.99}, "old": null,
                      "group_id": "123", "queue_name": "orders-high-priority"}'::jsonb,
                    'the order event, with its payload extensions');
  PERFORM assert_eq((SELECT DISTINCT stream_id FROM pgstream.events), 1::bigint, 'stream 1');
END
$$;

-- The generated code: one function and one deferred constraint trigger per (table, operation).
DO $$
BEGIN
  PERFORM assert_eq((SELECT regexp_replace(pg_get_triggerdef(t.oid), '''[0-9a-f]{32}''', '<md5>')
                      FROM pg_trigger AS t WHERE t.tgrelid = 'users'::regclass AND t.tgname = 'pgstream_insert'),
                    'CREATE CONSTRAINT TRIGGER pgstream_insert AFTER INSERT ON public.users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW '
                    'WHEN ((new.email_verified = true)) EXECUTE FUNCTION pgstream._publish_after_insert_on_users(<md5>)',
                    'the users trigger (its argument: the md5 of its WHEN)');
  PERFORM assert_eq((SELECT p.prosecdef AND p.proconfig = ARRAY['search_path=""'] AND p.proowner = c.relowner
                     FROM pg_proc AS p, pg_class AS c
                     WHERE p.oid = 'pgstream._publish_after_insert_on_orders()'::regprocedure AND c.oid = 'orders'::regclass),
                    true, 'SECURITY DEFINER, search_path '''', owned by the table''s owner');
  PERFORM assert_eq((SELECT prosrc !~* '\mEXECUTE\M' FROM pg_proc WHERE oid = 'pgstream._publish_after_insert_on_orders()'::regprocedure),
                    true, 'static SQL only');
END
$$;

-- Subscribing makes no stream: a pipeline reading it (or an admin) does, and the events written
-- before are numbered then.
DO $$
BEGIN
  PERFORM assert_eq(to_regclass('pgtrickle.pgstream_1'), NULL::regclass, 'no stream before a pipeline reads it');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables WHERE outbox_name = 'pgstream_1'), 0::bigint, 'not registered');
END
$$;
SELECT pgtrickle.outbox_watermark();
SELECT pgstream.stream_outbox(1);

-- The stream reads as an outbox, in commit order, once numbered.
SELECT pgtrickle.outbox_watermark();
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(o.payload ->> 'tg_name' ORDER BY c.seq, o.id)
                     FROM pgtrickle.pgstream_1 AS o JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'pgstream_1' AND c.xid = o.xid),
                    ARRAY['user-signup', 'order-notification'], 'the stream through pgtrickle.pgstream_1 in commit order');
  PERFORM assert_eq((SELECT to_jsonb(o) - 'payload' - 'created_at' - 'xid' - 'id' FROM pgtrickle.pgstream_1 AS o LIMIT 1),
                    '{"inserted_count": 0, "deleted_count": 0, "is_claim_check": false, "refresh_id": null, "headers": {}, "kind": "event"}'::jsonb,
                    'the outbox layout');
  PERFORM assert_eq((SELECT r.kind || ' ' || r.outbox_table || ' ' || r.stream_table FROM pgtrickle.resolve_outbox('pgstream_1') AS r),
                    'relay pgstream_1 pgstream_1', 'the relay resolves it as one of ours');
  PERFORM assert_eq(has_table_privilege('pgtrickle_relay', 'pgtrickle.pgstream_1', 'SELECT'), true, 'the relay reads it');
  PERFORM assert_eq(has_table_privilege('pgtrickle_relay', 'pgstream.events', 'INSERT'), false, 'the relay never writes the events table');
  PERFORM assert_eq(pgstream.stream_outbox(1), 'pgstream_1', 'stream_outbox: idempotent');
  PERFORM assert_eq(pgtrickle._relay_config_outbox_ref('{"source": {"type": "pgstream", "stream_id": 1}, "sink": {"type": "stdout"}}'),
                    'pgstream_1', 'a pgstream source reads its stream''s outbox');
  PERFORM expect_error($q$SELECT pgtrickle.outbox_publish('pgstream_1', '{}')$q$, 'outbox of a pgstream stream');
  PERFORM expect_error($q$SELECT pgtrickle.disable_outbox('pgstream_1')$q$, 'outbox of a pgstream stream');
  PERFORM expect_error($q$SELECT pgtrickle.create_outbox('pgstream_1')$q$, 'outbox of a pgstream stream');
  PERFORM assert_eq(pgtrickle.outbox_status('pgstream_1') ->> 'kind', 'pgstream', 'outbox_status');
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 0::bigint, 'retention leaves streams to partition maintenance');
END
$$;

-- A relay waiting for the stream is woken (psql prints the notification: expect-stdout above).
LISTEN pgtrickle_outbox_new;
INSERT INTO pgtrickle.outbox_waiters (outbox, pid) VALUES ('pgstream_1', pg_backend_pid());
INSERT INTO orders (user_id, total) VALUES (7, 1);
DELETE FROM pgtrickle.outbox_waiters;
UNLISTEN pgtrickle_outbox_new;

-- ---- set_subscriptions, as the README writes it ----------------------------------------------

-- Helper function that only recreates triggers when subscription actually changes
create or replace function set_subscriptions(
  p_stream_id bigint,
  p_subscriptions pgstream.subscriptions[]
)
returns void
language plpgsql
security definer
set search_path to ''
as $$
begin
  create temporary table temp_subscriptions as
  select * from unnest(p_subscriptions);

  -- Only update if values actually changed (avoids trigger recreation)
  merge into pgstream.subscriptions as target
  using temp_subscriptions as source
  on (target.key = source.key and target.stream_id = p_stream_id)
  when matched and (
    target.operation is distinct from source.operation or
    target.schema_name is distinct from source.schema_name or
    target.table_name is distinct from source.table_name or
    target.when_clause is distinct from source.when_clause or
    target.column_names is distinct from source.column_names or
    target.metadata is distinct from source.metadata or
    target.payload_extensions is distinct from source.payload_extensions
  ) then update set
    operation = source.operation,
    schema_name = source.schema_name,
    table_name = source.table_name,
    when_clause = source.when_clause,
    column_names = source.column_names,
    metadata = source.metadata,
    payload_extensions = source.payload_extensions
  when not matched then insert (
    key, stream_id, operation, schema_name, table_name,
    when_clause, column_names, metadata, payload_extensions
  ) values (
    source.key, p_stream_id, source.operation, source.schema_name,
    source.table_name, source.when_clause, source.column_names,
    source.metadata, source.payload_extensions
  );

  -- Remove subscriptions not in input
  delete from pgstream.subscriptions
  where stream_id = p_stream_id
    and not exists (
      select 1 from temp_subscriptions
      where pgstream.subscriptions.key = temp_subscriptions.key
    );

  drop table temp_subscriptions;
end;
$$;

CREATE FUNCTION stream2_set() RETURNS pgstream.subscriptions[] LANGUAGE sql AS $$
  SELECT ARRAY[
    jsonb_populate_record(NULL::pgstream.subscriptions,
      '{"key": "paid", "operation": "UPDATE", "schema_name": "public", "table_name": "orders",
        "when_clause": "old.status IS DISTINCT FROM new.status AND new.status = ''paid''", "column_names": ["id", "status"],
        "metadata": {"team": "billing"}, "payload_extensions": []}'),
    jsonb_populate_record(NULL::pgstream.subscriptions,
      '{"key": "gone", "operation": "DELETE", "schema_name": "public", "table_name": "orders",
        "payload_extensions": [{"json_path": "meta.tenant", "expression": "current_setting(''app.tenant_id'', true)"},
                               {"json_path": "meta.deleted.id", "expression": "old.id"},
                               {"json_path": "meta.deleted.total", "expression": "old.total"}]}')]
$$;
-- What the generated objects of orders are now: oid and xmin of triggers and functions.
CREATE FUNCTION generated_state() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(format('%s:%s:%s:%s:%s', t.tgname, t.oid, t.xmin, p.oid, p.xmin), ' ' ORDER BY t.tgname)
  FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid WHERE t.tgrelid = 'orders'::regclass AND NOT t.tgisinternal
$$;

SELECT set_subscriptions(2, stream2_set());
SELECT generated_state() AS before \gset
SELECT set_subscriptions(2, stream2_set());
SELECT set_config('app.tenant_id', 'tenant-9', false);
UPDATE orders SET status = 'paid' WHERE id = 456;
UPDATE orders SET total = 100 WHERE id = 456;       -- status unchanged: no event
DELETE FROM orders WHERE id = 456;

SELECT assert_eq(generated_state(), :'before', 'the same set again regenerates nothing (same oids and xmins)');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname LIKE 'pgstream_%'), 3::bigint,
                    'INSERT, UPDATE and DELETE triggers on orders');
  PERFORM assert_eq((SELECT jsonb_agg(payload - 'timestamp' ORDER BY id) FROM pgstream.events WHERE stream_id = 2),
                    '[{"tg_name": "paid", "tg_op": "UPDATE", "tg_table_name": "orders", "tg_table_schema": "public",
                       "new": {"id": 456, "status": "paid"}, "old": {"id": 456, "status": "new"}},
                      {"tg_name": "gone", "tg_op": "DELETE", "tg_table_name": "orders", "tg_table_schema": "public",
                       "new": null, "old": {"id": 456, "total": 100, "status": "paid", "user_id": 123},
                       "meta": {"tenant": "tenant-9", "deleted": {"id": 456, "total": 100}}}]'::jsonb,
                    'UPDATE and DELETE events: a whole row when column_names is NULL, nested extensions merged, the writer''s settings');
  PERFORM assert_eq((SELECT metadata FROM pgstream.events WHERE payload ->> 'tg_name' = 'paid'), '{"team": "billing"}'::jsonb,
                    'the subscription''s metadata is stored with its events');
END
$$;

-- An UPDATE that changes nothing the code depends on regenerates nothing either.
SELECT generated_state() AS before \gset
UPDATE pgstream.subscriptions SET key = key WHERE stream_id = 2;
SELECT assert_eq(generated_state(), :'before', 'a no-op UPDATE regenerates nothing');

-- Removing one subscription of the set drops its trigger and function.
SELECT set_subscriptions(2, (stream2_set())[1:1]);
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname = 'pgstream_delete'), 0::bigint,
                    'the DELETE trigger is gone');
  PERFORM assert_eq(to_regprocedure('pgstream._publish_after_delete_on_orders()'), NULL, 'its function too');
END
$$;

-- ---- Several subscriptions on one table and operation -----------------------------------------

INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, when_clause, column_names)
VALUES ('big', 3, 'INSERT', 'public', 'orders', 'new.total >= 1000', ARRAY['id']),
       ('small', 4, 'INSERT', 'public', 'orders', 'new.total < 10', ARRAY['id']);
DELETE FROM pgstream.subscriptions WHERE key = 'order-notification';
DELETE FROM pgstream.events;
INSERT INTO orders (id, total) VALUES (1001, 5000), (1002, 5), (1003, 100);
DO $$
BEGIN
  PERFORM assert_eq((SELECT jsonb_agg(jsonb_build_array(stream_id, payload ->> 'tg_name', payload #> '{new,id}') ORDER BY id) FROM pgstream.events),
                    '[[3, "big", 1001], [4, "small", 1002]]'::jsonb, 'each matching subscription writes to its own stream; row 1003 matches none');
  PERFORM assert_eq((SELECT pg_get_triggerdef(oid) LIKE '%WHEN (((new.total >= (1000)::numeric) OR (new.total < (10)::numeric)))%'
                     FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname = 'pgstream_insert'),
                    true, 'the trigger''s WHEN is the OR of the conditions');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables WHERE outbox_name IN ('pgstream_3', 'pgstream_4')), 0::bigint,
                    'a stream gets its outbox when it is read, not when subscribed to');
END
$$;

-- A subscription moved to another table leaves no trigger behind.
UPDATE pgstream.subscriptions SET table_name = 'users', column_names = ARRAY['id'], when_clause = 'new.id > 1000'
WHERE key IN ('big', 'small');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname = 'pgstream_insert'), 0::bigint,
                    'orders lost its INSERT trigger');
  PERFORM assert_eq((SELECT pg_get_triggerdef(oid) LIKE '%WHEN (((new.id > 1000) OR (new.id > 1000) OR (new.email_verified = true)))%'
                     FROM pg_trigger WHERE tgrelid = 'users'::regclass AND tgname = 'pgstream_insert'), true, 'users has them, in key order');
END
$$;
DELETE FROM pgstream.subscriptions WHERE key IN ('big', 'small');

-- Tables of the same name in two schemas, and a long name, get functions of their own.
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id int PRIMARY KEY);
CREATE TABLE public."a table whose name is long enough to overflow the function name" (id int);
INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
VALUES ('shop-orders', 5, 'INSERT', 'shop', 'orders'), ('public-orders', 5, 'INSERT', 'public', 'orders'),
       ('long', 5, 'INSERT', 'public', 'a table whose name is long enough to overflow the function name');
INSERT INTO shop.orders VALUES (1);
INSERT INTO public.orders (id, total) VALUES (10, 1);
INSERT INTO public."a table whose name is long enough to overflow the function name" VALUES (1);
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(DISTINCT tgfoid) FROM pg_trigger WHERE tgname = 'pgstream_insert'
                     AND tgrelid IN ('shop.orders'::regclass, 'public.orders'::regclass,
                                     'public."a table whose name is long enough to overflow the function name"'::regclass)),
                    3::bigint, 'three functions');
  PERFORM assert_eq((SELECT array_agg(payload ->> 'tg_name' ORDER BY payload ->> 'tg_name') FROM pgstream.events WHERE stream_id = 5),
                    ARRAY['long', 'public-orders', 'shop-orders'], 'each table its own events');
END
$$;

-- ---- Bad subscriptions are refused, naming the subscription and the field -----------------------

CREATE FUNCTION try_sub(p_row jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO pgstream.subscriptions SELECT * FROM jsonb_populate_record(NULL::pgstream.subscriptions,
    '{"stream_id": 1, "operation": "INSERT", "schema_name": "public", "table_name": "orders", "payload_extensions": []}' || p_row)
$$;
DO $$
BEGIN
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "table_name": "nope"}')$q$,
                       'subscription "k": schema_name/table_name name no table: public.nope does not exist', '42P01');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "column_names": ["id", "totl"]}')$q$,
                       'subscription "k": column_names names no column of public.orders: ''totl''', '42703');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "operation": "UPSERT"}')$q$,
                       'subscription "k": operation must be INSERT, UPDATE or DELETE, got ''UPSERT''');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "new.totl > 1"}')$q$,
                       'subscription "k": when_clause does not compile: column new.totl does not exist');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "new.total"}')$q$,
                       'subscription "k": when_clause does not compile: argument of WHERE must be type boolean');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "old.total > 1"}')$q$,
                       'subscription "k": when_clause does not compile: missing FROM-clause entry for table "old"');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "new.id IN (SELECT 1)"}')$q$,
                       'subscription "k": when_clause does not compile: cannot use subquery in trigger WHEN condition');
  -- Text that would end the expression and add statements of its own never reaches the DDL.
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "true)) EXECUTE FUNCTION pgstream._when_check(); DROP TABLE public.users; SELECT ((true"}')$q$,
                       'subscription "k": when_clause does not compile');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "true); DROP TABLE public.users; SELECT (true"}')$q$,
                       'subscription "k": when_clause does not compile: cannot open multi-query plan as cursor');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "when_clause": "true /* "}')$q$, 'subscription "k": when_clause does not compile');
END
$$;
DO $$
BEGIN
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": {"json_path": "a"}}')$q$,
                       'subscription "k": payload_extensions must be a JSON array');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "a"}]}')$q$,
                       'subscription "k": payload_extensions[1] must be an object {"json_path": text, "expression": text}');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "a", "expression": "1", "x": 1}]}')$q$,
                       'subscription "k": payload_extensions[1] must be an object');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "", "expression": "1"}]}')$q$,
                       'subscription "k": payload_extensions[1].json_path is not a dotted path');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "a..b", "expression": "1"}]}')$q$,
                       'subscription "k": payload_extensions[1].json_path is not a dotted path');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "new.x", "expression": "1"}]}')$q$,
                       'subscription "k": payload_extensions[1].json_path would replace the event''s own key "new"');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "a", "expression": "1"}, {"json_path": "a.b", "expression": "2"}]}')$q$,
                       'subscription "k": payload_extensions[2].json_path "a.b" collides with "a"');
  PERFORM expect_error($q$SELECT try_sub('{"key": "order-notification", "payload_extensions": [{"json_path": "g", "expression": "new.totl"}]}')$q$,
                       'pgstream.subscriptions: subscription "order-notification": payload_extensions[1].expression does not compile: column new.totl does not exist');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "g", "expression": "1; DROP TABLE public.users"}]}')$q$,
                       'subscription "k": payload_extensions[1].expression does not compile');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "payload_extensions": [{"json_path": "g", "expression": "old.id"}]}')$q$,
                       'payload_extensions[1].expression does not compile: missing FROM-clause entry for table "old"');
  PERFORM expect_error($q$SELECT try_sub('{"key": "", "stream_id": 1}')$q$, 'key is empty');
  PERFORM expect_error($q$SELECT try_sub('{"key": "k", "stream_id": -1}')$q$, 'subscription "k": stream_id must be a number from 0 up');
  PERFORM assert_eq(to_regclass('public.users') IS NOT NULL, true, 'users survived');
END
$$;

-- ---- Who may subscribe, and what the generated code may do ----------------------------------

SELECT current_database() || '_owner' AS owner_role, current_database() || '_stranger' AS stranger_role,
       current_database() || '_writer' AS writer_role \gset
CREATE ROLE :"owner_role";
CREATE ROLE :"stranger_role";
CREATE ROLE :"writer_role";
CREATE TABLE public.accounts (id int PRIMARY KEY, balance int);
ALTER TABLE public.accounts OWNER TO :"owner_role";
GRANT INSERT, UPDATE ON public.accounts TO :"writer_role";

SET ROLE :"owner_role";
INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
VALUES ('account-opened', 7, 'INSERT', 'public', 'accounts');
RESET ROLE;

SET ROLE :"stranger_role";
DO $$
BEGIN
  PERFORM expect_error($q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name)
                          VALUES ('spy', 7, 'UPDATE', 'public', 'accounts')$q$,
                       'may not subscribe to it: table public.accounts belongs to role', '42501');
  PERFORM expect_error($q$UPDATE pgstream.subscriptions SET when_clause = 'false' WHERE key = 'account-opened'$q$,
                       'subscription "account-opened": role', '42501');
  PERFORM expect_error($q$UPDATE pgstream.subscriptions SET table_name = 'accounts' WHERE key = 'user-signup'$q$,
                       'may not change it: table public.users belongs to role', '42501');
  PERFORM expect_error($q$DELETE FROM pgstream.subscriptions WHERE key = 'account-opened'$q$, 'may not change it', '42501');
  PERFORM expect_error($q$INSERT INTO pgstream.events (stream_id, payload) VALUES (7, '{}')$q$, 'permission denied', '42501');
END
$$;
RESET ROLE;

-- A writer of the table needs nothing in pgstream: the owner's function writes the event.
SET ROLE :"writer_role";
INSERT INTO public.accounts VALUES (1, 10);
RESET ROLE;
SELECT assert_eq((SELECT payload #>> '{new,balance}' FROM pgstream.events WHERE stream_id = 7), '10', 'the writer''s row became an event');
SELECT assert_eq((SELECT p.proowner::regrole::text FROM pg_proc AS p WHERE p.oid = 'pgstream._publish_after_insert_on_accounts()'::regprocedure),
                 :'owner_role', 'run as the table''s owner');

-- The owner writes events only through its table's emit function, which sets the stream, key,
-- operation and table itself: parts that claim others change nothing of them.
SELECT partition AS a_partition FROM pgstream.partition_status() WHERE range_from IS NOT NULL LIMIT 1 \gset
CREATE SCHEMA :"owner_role" AUTHORIZATION :"owner_role";
SET ROLE :"owner_role";
SELECT expect_error(format('INSERT INTO %s (id, stream_id, payload) VALUES (1, 1, ''{}'')', :'a_partition'), 'permission denied', '42501');
-- A search path of the owner's own, with an operator that would run as the installer if the emit
-- function used the path: it names everything with its schema, so the trap never fires.
SET search_path = :"owner_role", pg_catalog;
CREATE FUNCTION trap(a jsonb, b jsonb) RETURNS jsonb LANGUAGE plpgsql AS $f$
BEGIN RAISE EXCEPTION 'trap sprung as %', current_user; END $f$;
CREATE OPERATOR || (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = trap);
SELECT pgstream._emit_after_insert_on_accounts(ARRAY['{"tg_name": "user-signup", "tg_op": "DELETE", "tg_table_name": "users",
  "tg_table_schema": "other", "timestamp": 0, "new": {"balance": 1000000}}']::jsonb[]);
RESET search_path;
DO $$
BEGIN
  PERFORM expect_error($q$INSERT INTO pgstream.events (stream_id, payload) VALUES (1,
    '{"tg_name": "user-signup", "tg_op": "INSERT", "tg_table_name": "users", "tg_table_schema": "public"}')$q$,
    'permission denied', '42501');
  PERFORM expect_error($q$SELECT pgstream._emit_after_insert_on_users(ARRAY['{}']::jsonb[])$q$, 'permission denied', '42501');
  PERFORM expect_error($q$SELECT * FROM pgstream.events$q$, 'permission denied', '42501');
  PERFORM expect_error($q$SELECT pgstream._generate('users'::regclass, 'INSERT', 'x')$q$, 'permission denied', '42501');
  PERFORM expect_error($q$SELECT pgstream.maintain_partitions()$q$, 'permission denied', '42501');
  -- A subscription whose expression reaches what the owner may not read is refused as the owner.
  PERFORM expect_error($q$INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name, payload_extensions)
                          VALUES ('peek', 7, 'UPDATE', 'public', 'accounts',
                                  '[{"json_path": "x", "expression": "(SELECT count(*) FROM pgtrickle.relay_outbox_config)"}]')$q$,
                       'payload_extensions[1].expression does not compile: permission denied');
END
$$;
RESET ROLE;
SELECT assert_eq((SELECT payload - 'timestamp' FROM pgstream.events WHERE stream_id = 7 AND payload #>> '{new,balance}' = '1000000'),
                 '{"new": {"balance": 1000000}, "tg_op": "INSERT", "tg_name": "account-opened", "tg_table_name": "accounts",
                   "tg_table_schema": "public"}'::jsonb,
                 'an emitted event names the subscription and table it was generated for, whatever the parts said');
SELECT assert_eq((SELECT count(*) FROM pgstream.events WHERE stream_id <> 7 AND payload #>> '{new,balance}' = '1000000'), 0::bigint,
                 'no event on another stream');
DROP SCHEMA :"owner_role" CASCADE;

-- A subscription on a dropped table: its creator may still delete it.
CREATE TABLE public.scratch (id int);
ALTER TABLE public.scratch OWNER TO :"owner_role";
SET ROLE :"owner_role";
INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name) VALUES ('scratch', 7, 'DELETE', 'public', 'scratch');
DROP TABLE public.scratch;
RESET ROLE;
SET ROLE :"stranger_role";
SELECT expect_error($q$DELETE FROM pgstream.subscriptions WHERE key = 'scratch'$q$, 'its table public.scratch is gone', '42501');
RESET ROLE;
SET ROLE :"owner_role";
DELETE FROM pgstream.subscriptions WHERE key = 'scratch';
DELETE FROM pgstream.subscriptions WHERE key = 'account-opened';
RESET ROLE;
SELECT assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'accounts'::regclass AND tgname LIKE 'pgstream%'), 0::bigint,
                 'the last subscription of accounts gone, its trigger went');

-- Installing again keeps every generated object as it was.
SELECT generated_state() AS before \gset
\i :install_sql
SELECT assert_eq(generated_state(), :'before', 're-install regenerates nothing that did not change');

-- A stream is made by the pipelines that read it and goes with the last of them.
SELECT pgtrickle.set_relay_outbox('stream-5', config => '{"source": {"type": "pgstream", "stream_id": 5}, "sink": {"type": "stdout"}}');
SELECT pgtrickle.set_relay_outbox('stream-5-too', config => '{"source": {"type": "pgstream", "stream_id": 5}, "sink": {"type": "stdout"}}');
SELECT pgstream.stream_outbox(5);   -- what the relay runs when a pipeline starts
SELECT pgtrickle.delete_relay('stream-5');
SELECT assert_eq(to_regclass('pgtrickle.pgstream_5') IS NOT NULL, true, 'kept while a pipeline reads it');
SELECT pgtrickle.delete_relay('stream-5-too');
SELECT assert_eq(to_regclass('pgtrickle.pgstream_5'), NULL::regclass, 'gone with the last pipeline');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables WHERE outbox_name = 'pgstream_5'), 0::bigint, 'unregistered');
