-- requires: pg_trickle
-- With pg_trickle installed first, the install keeps every object pg_trickle provides (its
-- functions, including all overloads by name, its tables and triggers) and adds the rest; the
-- relay finds pg_trickle's own outboxes.

-- Functions and tables: PostgreSQL 17 also records a member table's row type (and its array type)
-- as members of the extension, and the table stands for them.
CREATE FUNCTION ext_members(p_ext text) RETURNS text[] LANGUAGE sql AS $$
  SELECT array_agg(pg_describe_object(classid, objid, objsubid) ORDER BY pg_describe_object(classid, objid, objsubid))
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' AND classid <> 'pg_type'::regclass
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = p_ext)
$$;
CREATE FUNCTION kept_functions() RETURNS text[] LANGUAGE sql AS $$
  -- Every function of these names, with whether it is pg_trickle's own.
  SELECT array_agg(p.oid::regprocedure::text || ' ' || (p.prosrc LIKE '%pg_trickle 0.29 test double%')
                   ORDER BY p.oid::regprocedure::text)
  FROM pg_proc AS p
  WHERE p.pronamespace = 'pgtrickle'::regnamespace
    AND p.proname IN ('set_relay_outbox', 'set_relay_inbox', 'enable_relay', 'disable_relay', 'delete_relay',
                      'get_relay_config', 'list_relay_configs', 'relay_config_notify')
$$;

DO $$
BEGIN
  PERFORM assert_eq(kept_functions(), ARRAY[
    'pgtrickle.delete_relay(text) true',
    'pgtrickle.disable_relay(text) true',
    'pgtrickle.enable_relay(text) true',
    'pgtrickle.get_relay_config(text) true',
    'pgtrickle.list_relay_configs() true',
    'pgtrickle.relay_config_notify() true',
    'pgtrickle.set_relay_inbox(text,text,jsonb,integer,text,boolean,integer,boolean) true',
    'pgtrickle.set_relay_outbox(text,text,text,jsonb,integer,boolean) true'],
    'only pg_trickle''s relay functions, no extra overloads');
  PERFORM assert_eq(ext_members('pg_trickle'), ARRAY[
    'function pgtrickle.delete_relay(text)', 'function pgtrickle.disable_relay(text)', 'function pgtrickle.enable_relay(text)',
    'function pgtrickle.get_relay_config(text)', 'function pgtrickle.list_relay_configs()',
    'function pgtrickle.pgt_test_create_outbox(text,integer)', 'function pgtrickle.relay_config_notify()',
    'function pgtrickle.set_relay_inbox(text,text,jsonb,integer,text,boolean,integer,boolean)',
    'function pgtrickle.set_relay_outbox(text,text,text,jsonb,integer,boolean)',
    'table pgtrickle.pgt_consumer_groups', 'table pgtrickle.pgt_consumer_leases', 'table pgtrickle.pgt_consumer_offsets',
    'table pgtrickle.pgt_outbox_config', 'table pgtrickle.relay_consumer_offsets', 'table pgtrickle.relay_inbox_config',
    'table pgtrickle.relay_outbox_config'], 'pg_trickle still owns exactly its objects');
  -- Its config tables are as it made them: no added columns, only its own triggers.
  PERFORM assert_eq((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
                     WHERE attrelid = 'pgtrickle.relay_outbox_config'::regclass AND attnum > 0 AND NOT attisdropped),
                    ARRAY['name', 'enabled', 'config'], 'relay_outbox_config columns');
  PERFORM assert_eq((SELECT array_agg(tgname::text || ' ' || tgfoid::regproc::text ORDER BY tgname) FROM pg_trigger
                     WHERE tgrelid IN ('pgtrickle.relay_outbox_config'::regclass, 'pgtrickle.relay_inbox_config'::regclass)),
                    ARRAY['relay_inbox_config_notify pgtrickle.relay_config_notify',
                          'relay_outbox_config_notify pgtrickle.relay_config_notify'], 'only pg_trickle''s triggers');
  -- The relay's own objects are there.
  ASSERT to_regclass('pgtrickle.relay_offsets') IS NOT NULL AND to_regclass('pgtrickle.relay_dead_letters') IS NOT NULL
     AND to_regclass('pgtrickle.relay_config_keys') IS NOT NULL, 'relay tables';
  ASSERT to_regprocedure('pgtrickle.resolve_outbox(text)') IS NOT NULL
     AND to_regprocedure('pgtrickle.relay_normalize_config(text, jsonb, text)') IS NOT NULL
     AND to_regprocedure('pgtrickle.enable_outbox(text, integer, text)') IS NOT NULL, 'relay functions';
  PERFORM assert_eq(pgtrickle.relay_schema_version(), '1', 'version');
END
$$;

-- pg_trickle's setter stores its layout; the relay reads it as the canonical config.
SELECT pgtrickle.set_relay_outbox('st-to-nats', 'orders_st', NULL, '{"type": "nats", "url": "nats://n:4222", "subject": "o.{op}"}');
DO $$
BEGIN
  PERFORM assert_eq((SELECT config FROM pgtrickle.relay_outbox_config WHERE name = 'st-to-nats'),
    '{"source_type": "outbox", "source": {"outbox": "orders_st", "group": null, "retention_hours": 24},
      "sink_type": "nats", "sink": {"type": "nats", "url": "nats://n:4222", "subject": "o.{op}"}}'::jsonb, 'pg_trickle layout');
  PERFORM assert_eq(pgtrickle.relay_normalize_config('forward', (SELECT config FROM pgtrickle.relay_outbox_config
                                                                 WHERE name = 'st-to-nats'), 'st-to-nats'),
    '{"source": {"type": "outbox", "outbox": "orders_st", "retention_hours": 24},
      "sink": {"type": "nats", "url": "nats://n:4222", "subject": "o.{op}"}}'::jsonb, 'normalised');
  PERFORM assert_eq((SELECT array_agg(name) FROM pgtrickle.list_relay_configs()), ARRAY['st-to-nats'], 'pg_trickle''s list');
END
$$;

-- pg_trickle's outboxes, by its catalog or by the shape of the table.
SELECT pgtrickle.pgt_test_create_outbox('orders_st');
CREATE TABLE pgtrickle.outbox_legacy_st (id bigserial PRIMARY KEY, pgt_id uuid, created_at timestamptz, inserted_count bigint,
                                         deleted_count bigint, is_claim_check boolean, payload jsonb);
DO $$
BEGIN
  PERFORM assert_eq((SELECT row(r.*)::text FROM pgtrickle.resolve_outbox('orders_st') AS r),
                    row('outbox_orders_st', 'outbox_delta_rows_orders_st', NULL::text[], 'pg_trickle', 'orders_st')::text,
                    'pg_trickle outbox from its catalog');
  PERFORM assert_eq((SELECT kind || ' ' || stream_table FROM pgtrickle.resolve_outbox('public.orders_st')),
                    'pg_trickle orders_st', 'schema-qualified stream table');
  PERFORM assert_eq((SELECT stream_table FROM pgtrickle.resolve_outbox('outbox_orders_st')), 'orders_st', 'by outbox table name');
  PERFORM assert_eq((SELECT row(r.*)::text FROM pgtrickle.resolve_outbox('legacy_st') AS r),
                    row('outbox_legacy_st', NULL, NULL::text[], 'pg_trickle', 'legacy_st')::text,
                    'pg_trickle-shaped table without a catalog row');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.resolve_outbox('nothing_here') $q$,
                       'outbox for "nothing_here" not found: enable it with SELECT pgtrickle.enable_outbox(''nothing_here'')');
END
$$;

-- The relay's own outboxes work beside pg_trickle's.
CREATE TABLE plain (id int PRIMARY KEY);
SELECT pgtrickle.enable_outbox('plain');
INSERT INTO plain VALUES (1);
DO $$
BEGIN
  PERFORM assert_eq((SELECT kind FROM pgtrickle.resolve_outbox('plain')), 'relay', 'relay outbox');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_plain), 1::bigint, 'captured');
END
$$;
-- Retention reads pipelines stored in pg_trickle's layout: this enabled one has no offset yet.
SELECT pgtrickle.set_relay_outbox('plain-out', 'plain', NULL, '{"type": "stdout"}');
UPDATE pgtrickle.outbox_plain SET created_at = now() - interval '3 days';
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.run_outbox_retention(), 0::bigint, 'held by the pg_trickle-layout pipeline');
END
$$;

-- An outbox pg_trickle makes after the install is readable by the relay at once: granted by the
-- role that made it, as it made it (no superuser's helper at run time).
SELECT pgtrickle.pgt_test_create_outbox('late_st');
DO $$
BEGIN
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_late_st', 'SELECT'), 'a later pg_trickle outbox is readable';
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_delta_rows_late_st', 'SELECT'), 'its delta table too';
  ASSERT NOT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_late_st', 'INSERT'), 'read only';
END
$$;

-- Re-installing grants the relay read access to pg_trickle's outboxes and changes nothing of pg_trickle.
\i :install_sql
DO $$
BEGIN
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_orders_st', 'SELECT'), 'pg_trickle outbox readable';
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.outbox_delta_rows_orders_st', 'SELECT'), 'its delta table too';
  ASSERT has_table_privilege('pgtrickle_relay', 'pgtrickle.relay_outbox_config', 'SELECT'), 'pg_trickle config readable';
  ASSERT NOT has_table_privilege('pgtrickle_relay', 'pgtrickle.relay_outbox_config', 'UPDATE'), 'but not writable';
  ASSERT has_function_privilege('pgtrickle_relay', 'pgtrickle.get_relay_config(text)', 'EXECUTE'), 'get_relay_config callable';
  PERFORM assert_eq((SELECT count(*) FROM unnest(kept_functions()) AS f WHERE f LIKE '% true'), 8::bigint,
                    'pg_trickle functions unchanged');
  PERFORM assert_eq(array_length(ext_members('pg_trickle'), 1), 16, 'pg_trickle members unchanged');
END
$$;
