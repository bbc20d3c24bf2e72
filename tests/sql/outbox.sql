-- Outbox on ordinary tables: what each write puts in the outbox, claim checks, event
-- outboxes, status, resolution, disabling.
-- expect-stdout: Asynchronous notification "pgtrickle_outbox_new" with payload "outbox_orders"
-- expect-stdout: Asynchronous notification "pgtrickle_outbox_new" with payload "outbox_app_events"

CREATE TABLE public.orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric);
SELECT pgtrickle.enable_outbox('public.orders');
SELECT pgtrickle.enable_outbox('orders', 48);   -- again: a notice, and the new retention

DO $$
BEGIN
  PERFORM assert_eq((SELECT row(outbox_name, source_schema, source_table, delta_table, key_columns, retention_hours)::text
                     FROM pgtrickle.outbox_tables),
                    row('outbox_orders', 'public', 'orders', 'outbox_delta_rows_orders', ARRAY['id'], 48)::text,
                    'catalog row of the outbox');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_orders), 0::bigint, 'empty outbox');
END
$$;

-- Writers notify while a reader says it waits (this session, as the relay does).
LISTEN pgtrickle_outbox_new;
SELECT pgtrickle._outbox_waiting('outbox_orders', true);
INSERT INTO orders VALUES (2, 'bob', 20), (1, 'alice', 10);
UPDATE orders SET amount = 11 WHERE id = 1;
SELECT pgtrickle._outbox_waiting('outbox_orders', false);
UNLISTEN *;
DELETE FROM orders WHERE id = 2;
UPDATE orders SET amount = 0 WHERE false;          -- changes nothing: no outbox row
DELETE FROM orders WHERE id = 99;                   -- neither
TRUNCATE orders;

DO $$
DECLARE
  v jsonb;
BEGIN
  SELECT jsonb_agg(jsonb_build_object('payload', payload, 'ins', inserted_count, 'del', deleted_count,
                                      'cc', is_claim_check, 'kind', kind) ORDER BY id) INTO v
  FROM pgtrickle.outbox_orders;
  PERFORM assert_eq(v, '[
    {"payload": {"v": 1, "inserted": [{"id": 1, "customer": "alice", "amount": 10}, {"id": 2, "customer": "bob", "amount": 20}],
                 "deleted": [], "full_refresh": false}, "ins": 2, "del": 0, "cc": false, "kind": "delta"},
    {"payload": {"v": 1, "inserted": [{"id": 1, "customer": "alice", "amount": 11}],
                 "deleted": [{"id": 1, "customer": "alice", "amount": 10}], "full_refresh": false}, "ins": 1, "del": 1, "cc": false, "kind": "delta"},
    {"payload": {"v": 1, "inserted": [], "deleted": [{"id": 2, "customer": "bob", "amount": 20}], "full_refresh": false},
     "ins": 0, "del": 1, "cc": false, "kind": "delta"},
    {"payload": {"v": 1, "inserted": [], "deleted": [], "full_refresh": true, "truncated": true},
     "ins": 0, "del": 0, "cc": false, "kind": "delta"}]'::jsonb,
    'outbox rows of insert, update, delete, no-op statements and truncate');
  -- Every writing transaction gets a commit number once it has committed and a reader looks.
  PERFORM pgtrickle.outbox_watermark();
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_orders AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_orders' AND c.xid = o.xid
                     WHERE c.seq IS NOT NULL), 4::bigint, 'every outbox row has a committed position');
END
$$;

-- Several statements in one transaction: one commit position, rows in id order within it.
BEGIN;
INSERT INTO orders VALUES (10, 'c', 1);
INSERT INTO orders VALUES (11, 'd', 1);
COMMIT;
DO $$
BEGIN
  PERFORM pgtrickle.outbox_watermark();
  PERFORM assert_eq((SELECT count(DISTINCT c.seq) FROM pgtrickle.outbox_orders AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = 'outbox_orders' AND c.xid = o.xid
                     WHERE o.payload -> 'inserted' -> 0 ->> 'id' IN ('10', '11')), 1::bigint, 'one position per transaction');
END
$$;

-- Claim check: big statements put their rows in the delta table, ordered by key with each
-- key's DELETE right before its INSERT.
UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 3 WHERE outbox_name = 'outbox_orders';
TRUNCATE orders;
INSERT INTO orders VALUES (3, 'c3', 3), (1, 'c1', 1), (2, 'c2', 2);   -- 3 rows: still inline
UPDATE orders SET amount = amount * 10;                               -- 6 rows: claim check
DO $$
DECLARE
  v_id bigint;
BEGIN
  SELECT id INTO v_id FROM pgtrickle.outbox_orders ORDER BY id DESC LIMIT 1;
  PERFORM assert_eq((SELECT row(is_claim_check, payload, inserted_count, deleted_count)::text FROM pgtrickle.outbox_orders WHERE id = v_id),
                    row(true, '{"v": 1, "claim_check": true, "inserted_count": 3, "deleted_count": 3, "full_refresh": false}'::jsonb,
                        3, 3)::text, 'claim-check outbox row');
  PERFORM assert_eq((SELECT array_agg(row_op || ':' || (row_data ->> 'id') || ':' || (row_data ->> 'amount') ORDER BY row_num)
                     FROM pgtrickle.outbox_delta_rows_orders WHERE outbox_id = v_id),
                    ARRAY['DELETE:1:1', 'INSERT:1:10', 'DELETE:2:2', 'INSERT:2:20', 'DELETE:3:3', 'INSERT:3:30'],
                    'delta rows paired by key');
  PERFORM assert_eq((SELECT array_agg(row_num ORDER BY row_num) FROM pgtrickle.outbox_delta_rows_orders WHERE outbox_id = v_id),
                    ARRAY[1, 2, 3, 4, 5, 6]::bigint[], 'row_num counts from 1');
  PERFORM assert_eq((SELECT is_claim_check FROM pgtrickle.outbox_orders ORDER BY id DESC OFFSET 1 LIMIT 1), false,
                    'three rows stay inline');
END
$$;

-- Without a key: claim-check rows are the deleted rows, then the inserted ones.
CREATE TABLE events_log (msg text, n int);
SELECT pgtrickle.enable_outbox('events_log');
UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 0 WHERE source_table = 'events_log';
INSERT INTO events_log VALUES ('a', 1), ('b', 2);
UPDATE events_log SET n = n + 100;
DO $$
BEGIN
  PERFORM assert_eq((SELECT key_columns FROM pgtrickle.outbox_tables WHERE source_table = 'events_log'), NULL::text[], 'no key');
  PERFORM assert_eq((SELECT array_agg(d.row_op ORDER BY d.row_num) FROM pgtrickle.outbox_delta_rows_events_log AS d
                     WHERE d.outbox_id = (SELECT max(id) FROM pgtrickle.outbox_events_log)),
                    ARRAY['DELETE', 'DELETE', 'INSERT', 'INSERT'], 'deleted before inserted without a key');
END
$$;

-- Replica identity index as the key; the key is read when rows are written, so a renamed
-- key column keeps working.
CREATE TABLE accounts (email text NOT NULL, region text NOT NULL, balance int);
CREATE UNIQUE INDEX accounts_ident ON accounts (region, email);
ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_ident;
SELECT pgtrickle.enable_outbox('accounts');
ALTER TABLE accounts RENAME COLUMN email TO mail;
INSERT INTO accounts VALUES ('z@x', 'eu', 1), ('a@x', 'us', 1), ('b@x', 'eu', 1);
DO $$
BEGIN
  PERFORM assert_eq((SELECT key_columns FROM pgtrickle.outbox_tables WHERE source_table = 'accounts'),
                    ARRAY['region', 'email'], 'replica identity columns');
  PERFORM assert_eq((SELECT key_columns FROM pgtrickle.resolve_outbox('accounts')), ARRAY['region', 'mail'],
                    'resolve_outbox reports the current key');
  PERFORM assert_eq((SELECT array_agg(r ->> 'mail') FROM pgtrickle.outbox_accounts, jsonb_array_elements(payload -> 'inserted') AS r),
                    ARRAY['b@x', 'z@x', 'a@x'], 'inline rows ordered by (region, mail)');
END
$$;

-- Any role that may write the table may write its outbox; it needs nothing in pgtrickle.
SELECT current_database() || '_writer' AS writer \gset
CREATE ROLE :"writer" LOGIN;
GRANT SELECT, INSERT, UPDATE ON orders TO :"writer";
SET ROLE :"writer";
INSERT INTO orders VALUES (50, 'from a writer', 5);
RESET ROLE;
DO $$
BEGIN
  PERFORM assert_eq((SELECT payload -> 'inserted' -> 0 ->> 'customer' FROM pgtrickle.outbox_orders ORDER BY id DESC LIMIT 1),
                    'from a writer', 'a writer without rights on pgtrickle fills the outbox');
  ASSERT NOT has_schema_privilege(current_database() || '_writer', 'pgtrickle', 'USAGE'), 'writer has no rights on pgtrickle';
END
$$;

-- Event outboxes: application events written in the application's transaction.
SELECT pgtrickle.create_outbox('app_events');
SELECT pgtrickle.create_outbox('app_events');   -- again: a notice
LISTEN pgtrickle_outbox_new;
SELECT pgtrickle._outbox_waiting('outbox_app_events', true);
BEGIN;
SELECT pgtrickle.outbox_publish('app_events', '{"type": "OrderPlaced", "order": 1}', '{"trace": "t-1"}') AS first_id \gset
SELECT pgtrickle.outbox_publish('app_events', '{"type": "OrderPaid", "order": 1}') AS second_id \gset
COMMIT;
SELECT pgtrickle._outbox_waiting('outbox_app_events', false);
UNLISTEN *;
SELECT pgtrickle.outbox_publish('public.orders', '{"type": "OrdersReindexed"}') AS table_event_id \gset
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(row(kind, payload ->> 'type', headers)::text ORDER BY id) FROM pgtrickle.outbox_app_events),
                    ARRAY[row('event', 'OrderPlaced', '{"trace": "t-1"}'::jsonb)::text, row('event', 'OrderPaid', '{}'::jsonb)::text],
                    'event rows');
  PERFORM assert_eq((SELECT kind FROM pgtrickle.outbox_orders WHERE payload ->> 'type' = 'OrdersReindexed'), 'event',
                    'an event published into a table outbox');
  PERFORM expect_error($q$ SELECT pgtrickle.outbox_publish('nowhere', '{}') $q$,
    'outbox_publish: outbox "nowhere" not found', '42704');
  PERFORM expect_error($q$ SELECT pgtrickle.outbox_publish('app_events', NULL) $q$, 'the payload must not be NULL');
  PERFORM expect_error($q$ SELECT pgtrickle.outbox_publish('app_events', '{}', '[1]') $q$, 'headers must be a JSON object');
END
$$;
DO $$
DECLARE
  v_hint text;
BEGIN
  PERFORM pgtrickle.outbox_publish('nowhere', '{}');
EXCEPTION WHEN undefined_object THEN
  GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
  PERFORM assert_eq(v_hint, 'Create an event outbox with SELECT pgtrickle.create_outbox(''nowhere''), '
                            'or capture a table with SELECT pgtrickle.enable_outbox(''schema.table'').',
                    'hint naming both ways to create an outbox');
END
$$;
SELECT :first_id < :second_id AS ids_increase \gset
\if :ids_increase
\else
  SELECT assert_eq(true, false, 'outbox_publish returns increasing ids');
\endif

-- Resolution, as the relay does it.
CREATE SCHEMA hidden;
CREATE TABLE hidden.shipments (id int PRIMARY KEY);
SELECT pgtrickle.enable_outbox('hidden.shipments');
DO $$
BEGIN
  PERFORM assert_eq((SELECT row(r.*)::text FROM pgtrickle.resolve_outbox('orders') AS r),
                    row('outbox_orders', 'outbox_delta_rows_orders', ARRAY['id'], 'relay', 'orders')::text, 'by table name');
  PERFORM assert_eq((SELECT outbox_table FROM pgtrickle.resolve_outbox('public.orders')), 'outbox_orders', 'qualified');
  PERFORM assert_eq((SELECT outbox_table FROM pgtrickle.resolve_outbox('outbox_orders')), 'outbox_orders', 'by outbox name');
  PERFORM assert_eq((SELECT outbox_table FROM pgtrickle.resolve_outbox('pgtrickle.outbox_orders')), 'outbox_orders',
                    'by qualified outbox name');
  PERFORM assert_eq((SELECT row(r.*)::text FROM pgtrickle.resolve_outbox('app_events') AS r),
                    row('outbox_app_events', NULL, NULL, 'relay', 'app_events')::text, 'event outbox');
  PERFORM assert_eq((SELECT stream_table FROM pgtrickle.resolve_outbox('shipments')), 'shipments',
                    'a table outside the search path, by its unqualified name');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.resolve_outbox('nope') $q$,
    'outbox for "nope" not found: enable it with SELECT pgtrickle.enable_outbox(''nope'')', '42704');
END
$$;

-- Status.
DO $$
DECLARE
  s jsonb := pgtrickle.outbox_status('orders');
BEGIN
  PERFORM assert_eq(s - 'oldest_row' - 'newest_row' - 'created_at' - 'row_count' - 'max_id',
    '{"enabled": true, "kind": "table", "stream_table": "public.orders", "outbox_table": "pgtrickle.outbox_orders",
      "delta_table": "pgtrickle.outbox_delta_rows_orders", "key_columns": ["id"], "retention_hours": 48,
      "inline_threshold_rows": 3, "pending_by_pipeline": {}, "pending_by_consumer_group": {}}'::jsonb, 'outbox_status');
  PERFORM assert_eq((s ->> 'row_count')::bigint, (SELECT count(*) FROM pgtrickle.outbox_orders), 'row_count');
  PERFORM assert_eq(pgtrickle.outbox_status('nope'), '{"enabled": false, "stream_table": "nope"}'::jsonb, 'not enabled');
END
$$;

-- Wrong input.
CREATE VIEW orders_view AS SELECT * FROM orders;
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('no_such_table') $q$,
    'enable_outbox: table ''no_such_table'' does not exist', '42P01');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('"unbalanced') $q$, 'does not exist');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('orders_view') $q$, 'enable_outbox: public.orders_view is not a table');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('orders', 0) $q$, 'retention_hours must be at least 1, got 0');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('pgtrickle.outbox_orders') $q$, 'is itself an outbox');
  PERFORM expect_error($q$ SELECT pgtrickle.create_outbox('') $q$, 'create_outbox: the name must not be empty');
END
$$;

-- Disabling removes triggers, tables, commit rows and the catalog row; writes go on.
SELECT pgtrickle.disable_outbox('public.orders');
INSERT INTO orders VALUES (60, 'after', 1);
DO $$
BEGIN
  PERFORM assert_eq(to_regclass('pgtrickle.outbox_orders'), NULL, 'outbox table dropped');
  PERFORM assert_eq(to_regclass('pgtrickle.outbox_delta_rows_orders'), NULL, 'delta table dropped');
  PERFORM assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal), 0::bigint, 'triggers dropped');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_commits WHERE outbox = 'outbox_orders'), 0::bigint, 'commit rows dropped');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_tables WHERE outbox_name = 'outbox_orders'), 0::bigint, 'catalog row dropped');
  PERFORM expect_error($q$ SELECT pgtrickle.disable_outbox('orders') $q$, 'outbox for "orders" not found', '42704');
END
$$;
SELECT pgtrickle.disable_outbox('orders', p_if_exists => true);
SELECT pgtrickle.disable_outbox('app_events');
-- A dropped source table: its outbox can still be disabled by name.
DROP TABLE hidden.shipments;
SELECT pgtrickle.disable_outbox('shipments');
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(source_table ORDER BY source_table) FROM pgtrickle.outbox_tables),
                    ARRAY['accounts', 'events_log'], 'remaining outboxes');
END
$$;

-- A table in the search path without an outbox does not borrow the outbox of a namesake in
-- another schema.
CREATE SCHEMA other;
CREATE TABLE other.invoices (id int PRIMARY KEY);
SELECT pgtrickle.enable_outbox('other.invoices');
CREATE TABLE public.invoices (id int PRIMARY KEY);
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.outbox_publish('invoices', '{}') $q$, 'outbox_publish: outbox "invoices" not found');
  PERFORM assert_eq((SELECT outbox_table FROM pgtrickle.resolve_outbox('other.invoices')), 'outbox_invoices', 'qualified still works');
END
$$;
