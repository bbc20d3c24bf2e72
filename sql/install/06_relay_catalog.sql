-- ============================================================================================
-- Relay catalog: pipeline config tables and functions
--
-- Names and positional signatures as in pg_trickle 0.29, so scripts written for it keep
-- working; when pg_trickle itself provides one of them, its version stays.
-- ============================================================================================

CREATE OR REPLACE FUNCTION pgtrickle._relay_touch()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Hot reload: relays LISTEN on pgtrickle_relay_config and re-read the named pipeline.
CALL pgtrickle._relay_define('relay_config_notify', $ddl$
CREATE OR REPLACE FUNCTION pgtrickle.relay_config_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
DECLARE
  v_direction text := CASE TG_TABLE_NAME WHEN 'relay_outbox_config' THEN 'forward' ELSE 'reverse' END;
BEGIN
  -- Listeners track pipelines by name: a rename also retires the old name.
  IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
    PERFORM pg_notify('pgtrickle_relay_config', json_build_object(
      'direction', v_direction, 'event', 'DELETE', 'name', OLD.name, 'enabled', OLD.enabled)::text);
  END IF;
  PERFORM pg_notify('pgtrickle_relay_config', json_build_object(
    'direction', v_direction,
    'event',     TG_OP,
    'name',      CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END,
    'enabled',   CASE WHEN TG_OP = 'DELETE' THEN OLD.enabled ELSE NEW.enabled END)::text);
  RETURN NULL;
END
$fn$
$ddl$);

CALL pgtrickle._relay_define('relay_outbox_config', $ddl$
  CREATE TABLE IF NOT EXISTS pgtrickle.relay_outbox_config (
    name       text PRIMARY KEY,
    enabled    boolean NOT NULL DEFAULT true,
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  ALTER TABLE pgtrickle.relay_outbox_config
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
  CREATE OR REPLACE TRIGGER relay_outbox_config_touch
    BEFORE UPDATE ON pgtrickle.relay_outbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._relay_touch();
  CREATE OR REPLACE TRIGGER relay_outbox_config_notify
    AFTER INSERT OR UPDATE OR DELETE ON pgtrickle.relay_outbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle.relay_config_notify();
$ddl$);

CALL pgtrickle._relay_define('relay_inbox_config', $ddl$
  CREATE TABLE IF NOT EXISTS pgtrickle.relay_inbox_config (
    name       text PRIMARY KEY,
    enabled    boolean NOT NULL DEFAULT true,
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  ALTER TABLE pgtrickle.relay_inbox_config
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
  CREATE OR REPLACE TRIGGER relay_inbox_config_touch
    BEFORE UPDATE ON pgtrickle.relay_inbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._relay_touch();
  CREATE OR REPLACE TRIGGER relay_inbox_config_notify
    AFTER INSERT OR UPDATE OR DELETE ON pgtrickle.relay_inbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle.relay_config_notify();
$ddl$);

-- Validates, normalises and stores one pipeline. p_enabled NULL: take "enabled" from the
-- config, else true for a new pipeline and unchanged for an existing one. (A WAL pipeline's
-- publications are then made by the session itself: _wal_pipeline_publish.)
CREATE OR REPLACE FUNCTION pgtrickle._relay_store(p_direction text, p_name text, p_config jsonb, p_enabled boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_table   text := CASE p_direction WHEN 'forward' THEN 'relay_outbox_config' ELSE 'relay_inbox_config' END;
  v_other   text := CASE p_direction WHEN 'forward' THEN 'relay_inbox_config' ELSE 'relay_outbox_config' END;
  v_config  jsonb;
  v_enabled boolean := p_enabled;
  v_taken   boolean;
  v_warning text;
  v_slots   bigint;
BEGIN
  IF p_name IS NULL OR btrim(p_name) = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'relay.invalid_config: the pipeline name must not be empty';
  END IF;
  PERFORM _relay_lock_catalog();

  v_config := relay_normalize_config(p_direction, p_config, p_name);
  IF v_config ? 'enabled' THEN
    IF jsonb_typeof(v_config -> 'enabled') <> 'boolean' THEN
      PERFORM _relay_config_error(p_name, 'option "enabled" must be true or false here');
    END IF;
    v_enabled := coalesce(v_enabled, (v_config ->> 'enabled')::boolean);
    v_config := v_config - 'enabled';   -- kept in the "enabled" column only
  END IF;

  IF cardinality(_relay_literal_secrets(v_config)) > 0 THEN
    RAISE WARNING 'pipeline "%": % stored as literal text, readable by members of pgtrickle_relay, superusers and the role that installed pgtrickle-relay (and by anyone holding a dump of this database)',
      p_name, array_to_string(_relay_literal_secrets(v_config), ', ')
      USING HINT = 'Write a reference instead, e.g. "${ENV:NAME}" or "${FILE:/path/to/secret}": the relay resolves it on its host, within what its operator allowed for pipelines defined in SQL.';
  END IF;

  EXECUTE format('SELECT EXISTS (SELECT 1 FROM pgtrickle.%I WHERE name = $1)', v_other) INTO v_taken USING p_name;
  IF v_taken THEN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
      MESSAGE = format('relay.invalid_config: pipeline "%s": the name is already used by a %s pipeline; '
                       'delete that one first (SELECT pgtrickle.delete_relay(%L)) or choose another name',
                       p_name, CASE p_direction WHEN 'forward' THEN 'reverse' ELSE 'forward' END, p_name);
  END IF;

  IF p_direction = 'forward' THEN
    FOR v_warning IN SELECT w FROM relay_template_warnings(v_config) AS w LOOP
      RAISE WARNING 'pipeline "%": %', p_name, v_warning
        USING HINT = 'Every message would get an empty part there (a broker may refuse it, and the message is dead-lettered).';
    END LOOP;
  END IF;

  -- Each pipeline reading a table captured from the WAL (enable_outbox(..., capture => 'wal')) holds
  -- a slot and a replication connection of its own: past a few, one pipeline of source type "wal"
  -- reads every table through one slot.
  IF p_direction = 'forward' AND coalesce(v_enabled, (v_config ->> 'enabled')::boolean, true) THEN
    SELECT count(*) INTO v_slots
    FROM (SELECT c.name, c.config FROM pgtrickle.relay_outbox_config AS c WHERE c.enabled AND c.name <> p_name
          UNION ALL SELECT p_name, v_config) AS c
    JOIN pgtrickle.outbox_tables AS t ON t.capture = 'wal' AND pgtrickle._outbox_ref_matches(pgtrickle._relay_config_outbox_ref(c.config), t)
    WHERE EXISTS (SELECT FROM pgtrickle.outbox_tables AS x
                  WHERE x.capture = 'wal' AND pgtrickle._outbox_ref_matches(pgtrickle._relay_config_outbox_ref(v_config), x));
    IF v_slots > 4 THEN
      RAISE WARNING 'pipeline "%": % pipelines each read a table captured from the WAL, each through a replication slot and connection of its own', p_name, v_slots
        USING HINT = 'One pipeline of source type "wal" reads many tables through one slot: set_relay_outbox(''all-tables'', ''{"source": {"type": "wal", "tables": ["public.orders", "public.customers"]}, ...}''); see docs/capture.md, "Many tables, one slot".';
    END IF;
  END IF;

  -- A pipeline capturing tables from the WAL: who may capture them is checked now, for the
  -- session's role, and what its publications are to publish recorded (set_relay_outbox then
  -- makes them so, as the session).
  IF p_direction = 'forward' AND v_config #>> '{source,type}' = 'wal' THEN
    PERFORM pgtrickle._wal_pipeline_prepare(p_name, 'sql', v_config -> 'source');
  END IF;

  -- An unchanged pipeline is not rewritten, so relays are not told to reload it.
  EXECUTE format($q$
    INSERT INTO pgtrickle.%1$I AS t (name, enabled, config) VALUES ($1, coalesce($2, true), $3)
    ON CONFLICT (name) DO UPDATE SET enabled = coalesce($2, t.enabled), config = EXCLUDED.config
    WHERE (t.enabled, t.config) IS DISTINCT FROM (coalesce($2, t.enabled), EXCLUDED.config)
  $q$, v_table) USING p_name, v_enabled, v_config;
END
$$;

CALL pgtrickle._relay_define('set_relay_outbox', $ddl$
  -- Flat or canonical config: set_relay_outbox('orders-to-nats', config => '{...}'). Stored by
  -- _relay_store; a WAL pipeline's publications are then made or changed by the session itself,
  -- with its login's rights (_wal_pipeline_publish).
  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_outbox(name text, config jsonb)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    PERFORM pgtrickle._relay_store('forward', name, config, NULL);
    PERFORM pgtrickle._wal_pipeline_publish(name, 'sql');
  END
  $fn$;

  -- pg_trickle 0.29's positional form.
  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_outbox(
    p_name text, p_outbox text, p_group text, p_sink jsonb,
    p_retention_hours int DEFAULT 24, p_enabled boolean DEFAULT true)
  RETURNS void
  LANGUAGE sql
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT pgtrickle._relay_store('forward', p_name,
      jsonb_build_object(
        'source', jsonb_strip_nulls(jsonb_build_object('type', 'outbox', 'outbox', p_outbox, 'group', p_group,
                                                       'retention_hours', p_retention_hours)),
        'sink', p_sink),
      coalesce(p_enabled, true))
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('set_relay_inbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_inbox(name text, config jsonb)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_store('reverse', name, config, NULL) $fn$;

  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_inbox(
    p_name text, p_inbox text, p_source jsonb,
    p_max_retries int DEFAULT 3, p_schedule text DEFAULT '1s', p_with_dead_letter boolean DEFAULT true,
    p_retention_hours int DEFAULT 72, p_enabled boolean DEFAULT true)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT pgtrickle._relay_store('reverse', p_name,
      jsonb_build_object(
        'source', p_source,
        'sink', jsonb_strip_nulls(jsonb_build_object('type', 'pg-inbox', 'inbox_name', p_inbox,
                  'max_retries', p_max_retries, 'schedule', p_schedule,
                  'with_dead_letter', p_with_dead_letter, 'retention_hours', p_retention_hours))),
      coalesce(p_enabled, true))
  $fn$;
$ddl$);

CREATE OR REPLACE FUNCTION pgtrickle._relay_not_found(p_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- A pipeline of a relay's TOML file is changed in that file, not here.
  IF to_regclass('pgtrickle.relay_pipeline_status') IS NOT NULL
     AND EXISTS (SELECT 1 FROM pgtrickle.relay_pipeline_status WHERE pipeline = p_name AND origin = 'file') THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('relay: pipeline "%s" is defined in a relay''s config file, not in the catalog', p_name),
      HINT = 'Change or remove it in that TOML file (the relay reloads it); delete_relay(name) forgets its stored position once it is gone from the file.';
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = format('relay: pipeline "%s" not found', p_name),
    HINT = 'SELECT name, direction, origin FROM pgtrickle.list_relay_configs() shows the pipelines (those of relays'' TOML files while a relay runs them).';
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_set_enabled(p_name text, p_enabled boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM _relay_lock_catalog();
  IF NOT EXISTS (SELECT 1 FROM relay_outbox_config WHERE name = p_name)
     AND NOT EXISTS (SELECT 1 FROM relay_inbox_config WHERE name = p_name) THEN
    PERFORM _relay_not_found(p_name);
  END IF;
  -- Only a real change is written, so relays are only told about real changes.
  UPDATE relay_outbox_config SET enabled = p_enabled WHERE name = p_name AND enabled IS DISTINCT FROM p_enabled;
  UPDATE relay_inbox_config SET enabled = p_enabled WHERE name = p_name AND enabled IS DISTINCT FROM p_enabled;
END
$$;

CALL pgtrickle._relay_define('enable_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.enable_relay(p_name text)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_set_enabled(p_name, true) $fn$;
$ddl$);

CALL pgtrickle._relay_define('disable_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.disable_relay(p_name text)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_set_enabled(p_name, false) $fn$;
$ddl$);

-- The relay group a stored pipeline config is assigned to, in any stored layout; NULL: any
-- relay group may run it (one relay at a time, under the name 'default').
CREATE OR REPLACE FUNCTION pgtrickle._relay_config_group(p_config jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT nullif(coalesce(p_config ->> 'relay_group', p_config #>> '{source,group}'), '')
$$;

-- Every pipeline of both directions, secrets redacted.
CREATE OR REPLACE FUNCTION pgtrickle._relay_all_configs()
RETURNS TABLE (name text, direction text, enabled boolean, config jsonb, updated_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  -- updated_at through to_jsonb(): pg_trickle's own config tables do not have the column.
  -- The secret keys' spellings looked up once for all the configs.
  WITH k AS (SELECT pgtrickle._relay_secret_spellings() AS secrets)
  SELECT c.name, 'forward', c.enabled, pgtrickle._relay_redact(c.config, k.secrets), (to_jsonb(c) ->> 'updated_at')::timestamptz
  FROM pgtrickle.relay_outbox_config AS c, k
  UNION ALL
  SELECT c.name, 'reverse', c.enabled, pgtrickle._relay_redact(c.config, k.secrets), (to_jsonb(c) ->> 'updated_at')::timestamptz
  FROM pgtrickle.relay_inbox_config AS c, k
$$;

CALL pgtrickle._relay_define('get_relay_config', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.get_relay_config(p_name text)
  RETURNS TABLE (name text, direction text, enabled boolean, config jsonb)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    -- Only this pipeline's config is redacted (redacting all of them costs about a millisecond each).
    RETURN QUERY SELECT c.name, 'forward'::text, c.enabled, pgtrickle._relay_redact(c.config)
                 FROM pgtrickle.relay_outbox_config AS c WHERE c.name = p_name
                 UNION ALL
                 SELECT c.name, 'reverse'::text, c.enabled, pgtrickle._relay_redact(c.config)
                 FROM pgtrickle.relay_inbox_config AS c WHERE c.name = p_name;
    IF NOT FOUND THEN
      PERFORM pgtrickle._relay_not_found(p_name);
    END IF;
  END
  $fn$;
$ddl$);
