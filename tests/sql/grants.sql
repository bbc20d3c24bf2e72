-- Privileges. A login role that is only a member of pgtrickle_relay can do what the relay
-- needs and cannot change pipelines; a member of pgtrickle_relay_admin manages them; others
-- get nothing. The install grants the same on every run.

SELECT current_database() || '_relay' AS relay_login, current_database() || '_admin' AS admin_login,
       current_database() || '_nobody' AS nobody_login \gset
CREATE ROLE :"relay_login" LOGIN IN ROLE pgtrickle_relay;
CREATE ROLE :"admin_login" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"nobody_login" LOGIN;

-- Setup, as the installing superuser.
CREATE TABLE orders_src (id int PRIMARY KEY, v text);
SELECT pgtrickle.enable_outbox('orders_src');
UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 1 WHERE source_table = 'orders_src';
INSERT INTO orders_src VALUES (1, 'a'), (2, 'b');
SELECT pgtrickle.set_relay_outbox('orders-out', config => '{"stream_table": "orders_src", "sink_type": "stdout"}');
SELECT pgtrickle.create_inbox('incoming');

-- The relay.
SET ROLE :"relay_login";
DO $$
DECLARE
  v_outbox text;
  v_wm     bigint;
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.relay_outbox_config), 1::bigint, 'reads forward configs');
  PERFORM count(*) FROM pgtrickle.relay_inbox_config;
  PERFORM count(*) FROM pgtrickle.relay_backends;
  PERFORM count(*) FROM pgtrickle.relay_config_keys;
  PERFORM * FROM pgtrickle.get_relay_config('orders-out');
  PERFORM * FROM pgtrickle.list_relay_configs();
  PERFORM pgtrickle.relay_normalize_config('forward', '{"stream_table": "t", "sink_type": "stdout"}');
  PERFORM assert_eq(pgtrickle.relay_schema_version(), '1', 'version');

  SELECT outbox_table INTO v_outbox FROM pgtrickle.resolve_outbox('orders_src');
  v_wm := pgtrickle.outbox_watermark();
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_orders_src AS o
                     JOIN pgtrickle.outbox_commits AS c ON c.outbox = v_outbox AND c.xid = o.xid WHERE c.seq <= v_wm),
                    1::bigint, 'reads the outbox in commit order');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_delta_rows_orders_src), 2::bigint, 'reads claim-check rows');
  PERFORM pgtrickle.outbox_status('orders_src');
  PERFORM pgtrickle.run_outbox_retention();

  INSERT INTO pgtrickle.relay_offsets (relay_group_id, pipeline, last_seq, last_id, worker_id)
  VALUES ('default', 'orders-out', 1, 1, 'relay:1')
  ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_id = EXCLUDED.last_id;
  UPDATE pgtrickle.relay_offsets SET next_row = 2 WHERE pipeline = 'orders-out';
  -- Taking a pipeline bumps its ownership epoch; storing a position locks it.
  INSERT INTO pgtrickle.relay_owners AS o (relay_group_id, pipeline, epoch, worker_id) VALUES ('default', 'orders-out', 1, 'relay:1')
  ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET epoch = o.epoch + 1;
  PERFORM 1 FROM pgtrickle.relay_owners WHERE pipeline = 'orders-out' FOR SHARE;
  INSERT INTO pgtrickle.relay_pipeline_status (relay_group_id, pipeline, owner, heartbeat_at, state)
  VALUES ('default', 'orders-out', 'relay:1', now(), 'running')
  ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET heartbeat_at = now();
  DELETE FROM pgtrickle.relay_pipeline_status WHERE relay_group_id = 'old';
  INSERT INTO pgtrickle.relay_dead_letters (pipeline, direction, error, payload) VALUES ('orders-out', 'forward', 'unreadable', '{}');

  INSERT INTO pgtrickle.inbox_incoming (event_id, payload) VALUES ('e1', '{}') ON CONFLICT (event_id) DO NOTHING;
  INSERT INTO pgtrickle.inbox_incoming (event_id, payload) VALUES ('e1', '{}') ON CONFLICT (event_id) DO NOTHING;
  PERFORM pgtrickle.create_inbox('auto_created');
  INSERT INTO pgtrickle.inbox_auto_created (event_id) VALUES ('x') ON CONFLICT DO NOTHING;
  PERFORM pgtrickle.inbox_health('incoming');

  -- ... and nothing that changes pipelines, outboxes or what others wrote.
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('evil', config => '{"stream_table": "t", "sink_type": "stdout"}') $q$,
                       'permission denied for function set_relay_outbox', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_outbox('evil', 't', NULL, '{"type": "stdout"}') $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT pgtrickle.set_relay_inbox('evil', config => '{}') $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_relay('orders-out') $q$, 'permission denied for function enable_relay');
  PERFORM expect_error($q$ SELECT pgtrickle.disable_relay('orders-out') $q$, 'permission denied for function disable_relay');
  PERFORM expect_error($q$ SELECT pgtrickle.delete_relay('orders-out') $q$, 'permission denied for function delete_relay');
  PERFORM expect_error($q$ SELECT pgtrickle._relay_store('forward', 'evil', '{"stream_table": "t", "sink_type": "stdout"}', true) $q$,
                       'permission denied for function _relay_store');
  PERFORM expect_error($q$ UPDATE pgtrickle.relay_outbox_config SET enabled = false $q$, 'permission denied for table relay_outbox_config');
  PERFORM expect_error($q$ INSERT INTO pgtrickle.relay_inbox_config (name, config) VALUES ('evil', '{}') $q$, 'permission denied');
  PERFORM expect_error($q$ DELETE FROM pgtrickle.relay_config_keys $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('orders_src') $q$, 'permission denied for function enable_outbox');
  PERFORM expect_error($q$ SELECT pgtrickle._outbox_enable('orders_src', 'orders_src'::regclass, 1) $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT pgtrickle.disable_outbox('orders_src') $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT pgtrickle.outbox_publish('orders_src', '{}') $q$, 'permission denied');
  PERFORM expect_error($q$ DELETE FROM pgtrickle.outbox_orders_src $q$, 'permission denied for table outbox_orders_src');
  PERFORM expect_error($q$ INSERT INTO pgtrickle.outbox_orders_src (payload) VALUES ('{}') $q$, 'permission denied');
  PERFORM expect_error($q$ DELETE FROM pgtrickle.relay_dead_letters $q$, 'permission denied for table relay_dead_letters');
  PERFORM expect_error($q$ UPDATE pgtrickle.inbox_incoming SET processed_at = now() $q$, 'permission denied for table inbox_incoming');
  PERFORM expect_error($q$ SELECT pgtrickle.create_consumer_group('g', 'orders_src') $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT pgtrickle.drop_inbox('incoming') $q$, 'permission denied');
  PERFORM expect_error($q$ SELECT nextval('pgtrickle.outbox_commit_seq') $q$, 'permission denied');
END
$$;
RESET ROLE;

-- The admin manages pipelines, outboxes, groups and inboxes, through the functions.
SET ROLE :"admin_login";
SELECT pgtrickle.create_outbox('admin_events');
SELECT pgtrickle.outbox_publish('admin_events', '{"ok": true}');
DO $$
BEGIN
  PERFORM pgtrickle.set_relay_outbox('admin-made', config => '{"stream_table": "orders_src", "sink_type": "stdout"}');
  PERFORM pgtrickle.disable_relay('admin-made');
  PERFORM pgtrickle.enable_relay('admin-made');
  PERFORM pgtrickle.delete_relay('admin-made');
  PERFORM pgtrickle.create_consumer_group('admins', 'admin_events', 'earliest');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.poll_outbox('admins', 'me')), 1::bigint, 'the admin polls');
  PERFORM pgtrickle.inbox_mark_processed('incoming', 'e1');
  DELETE FROM pgtrickle.relay_dead_letters;
  PERFORM expect_error($q$ UPDATE pgtrickle.relay_outbox_config SET enabled = false $q$, 'permission denied');
END
$$;
RESET ROLE;
-- A table the admin does not own cannot get an outbox: that takes its owner's rights.
SET SESSION AUTHORIZATION :"admin_login";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('public.orders_src', 12) $q$,
                       'enable_outbox: must be owner of table public.orders_src', '42501');
END
$$;
RESET SESSION AUTHORIZATION;

-- Anyone else: nothing.
SET ROLE :"nobody_login";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.list_relay_configs() $q$, 'permission denied for schema pgtrickle', '42501');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.relay_outbox_config $q$, 'permission denied');
END
$$;
RESET ROLE;

-- What an auditor checks: every SECURITY DEFINER function pins its search path and is not
-- executable by PUBLIC, but _relay_code_open (every subscription writer's: security_definer.sql
-- says why, and attacks it).
DO $$
BEGIN
  PERFORM assert_eq((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) FROM pg_proc AS p
                     WHERE p.pronamespace = 'pgtrickle'::regnamespace AND p.prosecdef
                       AND ((NOT coalesce(p.proconfig && ARRAY['search_path=pg_catalog, pgtrickle, pg_temp', 'search_path=pg_catalog, pg_temp'], false)
                             AND p.proname !~ '^_outbox_capture_')   -- they name everything (security_capture.sql)
                            OR (has_function_privilege('public', p.oid, 'EXECUTE')
                                AND p.oid <> 'pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])'::regprocedure))),
                    NULL::text[], 'SECURITY DEFINER functions without a pinned search path or open to PUBLIC');
  ASSERT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgtrickle'::regnamespace AND prosecdef) > 20,
    'the definer functions are there';
  ASSERT NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'pgtrickle_relay'), 'pgtrickle_relay is NOLOGIN';
  ASSERT NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'pgtrickle_relay_admin'), 'pgtrickle_relay_admin is NOLOGIN';
END
$$;

-- Re-installing restores lost grants on existing outboxes and inboxes, and removes extra ones.
REVOKE SELECT ON pgtrickle.outbox_orders_src, pgtrickle.outbox_delta_rows_orders_src FROM pgtrickle_relay;
REVOKE INSERT ON pgtrickle.inbox_incoming FROM pgtrickle_relay;
GRANT EXECUTE ON FUNCTION pgtrickle.set_relay_outbox(text, jsonb) TO PUBLIC;
GRANT DELETE ON pgtrickle.relay_outbox_config TO pgtrickle_relay;
SELECT format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, pgtrickle_relay', current_database()) \gexec
\i :install_sql
DO $$
BEGIN
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_orders_src', 'SELECT'), 'outbox grant restored';
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_delta_rows_orders_src', 'SELECT'), 'delta grant restored';
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.inbox_incoming', 'INSERT'), 'inbox grant restored';
  ASSERT NOT has_function_privilege('public', 'pgtrickle.set_relay_outbox(text, jsonb)', 'EXECUTE'), 'PUBLIC execute removed';
  ASSERT NOT has_table_privilege('pgtrickle_relay', 'pgtrickle.relay_outbox_config', 'DELETE'), 'extra table grant removed';
  ASSERT has_database_privilege('pgtrickle_relay', current_database(), 'TEMPORARY'),
    'temporary tables (the inbox sink''s staging) allowed where PUBLIC may not';
END
$$;
