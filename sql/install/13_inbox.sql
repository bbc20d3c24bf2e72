-- ============================================================================================
-- Inbox
--
-- create_inbox(name) makes <schema>.inbox_<name>, where reverse pipelines land messages
-- idempotently (INSERT ... ON CONFLICT (event_id) DO NOTHING), plus views _pending, _dlq and
-- _stats. pgt_inbox_config is compatible with pg_trickle's inbox catalog.
-- ============================================================================================

CALL pgtrickle._relay_define('pgt_inbox_config', $ddl$
  CREATE TABLE IF NOT EXISTS pgtrickle.pgt_inbox_config (
    inbox_name          text PRIMARY KEY,
    inbox_schema        text NOT NULL DEFAULT 'pgtrickle',
    max_retries         int NOT NULL DEFAULT 3,
    schedule            text NOT NULL DEFAULT '1s',
    with_dead_letter    boolean NOT NULL DEFAULT true,
    with_stats          boolean NOT NULL DEFAULT true,
    retention_hours     int NOT NULL DEFAULT 72,
    id_column           text NOT NULL DEFAULT 'event_id',
    processed_at_column text NOT NULL DEFAULT 'processed_at',
    retry_count_column  text NOT NULL DEFAULT 'retry_count',
    error_column        text NOT NULL DEFAULT 'error',
    received_at_column  text NOT NULL DEFAULT 'received_at',
    event_type_column   text NOT NULL DEFAULT 'event_type',
    is_managed          boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
  );
$ddl$);

-- The table of a registered inbox: <schema>.inbox_<name>, or <schema>.<name> as pg_trickle's
-- own create_inbox names it.
CREATE OR REPLACE FUNCTION pgtrickle._inbox(p_name text, OUT inbox_schema text, OUT inbox_table text, OUT max_retries int,
                                            OUT retention_hours int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT c.inbox_schema, c.max_retries, c.retention_hours INTO inbox_schema, max_retries, retention_hours
  FROM pgtrickle.pgt_inbox_config AS c WHERE c.inbox_name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('inbox "%s" not found', p_name),
      HINT = format('Create it with SELECT pgtrickle.create_inbox(%L).', p_name);
  END IF;
  inbox_table := CASE WHEN pgtrickle._relay_rel(inbox_schema, 'inbox_' || p_name) IS NOT NULL
                      THEN 'inbox_' || p_name ELSE p_name END;
END
$$;

-- Whether code role p_role attaches to a table (triggers, rules, policies, defaults) may run as
-- whoever writes or reads the table: the installer's, pgtrickle_maker's (which makes inbox tables
-- and may attach no code) and a superuser's. pg_database_owner (the owner
-- of schema public since PostgreSQL 15) acts for the database's owner alone.
CREATE OR REPLACE FUNCTION pgtrickle._inbox_trusted(p_role oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(bool_or(r.oid = pgtrickle._relay_installer() OR r.oid = pgtrickle._relay_maker() OR r.rolsuper), false)
  FROM pg_roles AS r
  WHERE r.oid = CASE WHEN p_role = to_regrole('pg_database_owner')
                     THEN (SELECT d.datdba FROM pg_database AS d WHERE d.datname = current_database()) ELSE p_role END
$$;

-- Locks the inbox table p_schema.p_table in p_mode ('ROW EXCLUSIVE' to write it, 'ACCESS SHARE' to
-- read it), then checks the table it holds and returns it, for the caller to act on in the same
-- transaction. Whatever a table's owner attached to it runs as the role writing or reading it (the
-- relay's, which reads every raw config, or pgtrickle_owner), so only a table of the installer or a
-- superuser is touched, and only in a schema of theirs: a schema's owner may drop any table in it
-- and put one of its own under the name. Checked after the lock, by oid: a table swapped while the
-- caller waited is the one checked, and none can be swapped in again before the transaction ends.
-- p_what names the caller in errors.
CREATE OR REPLACE FUNCTION pgtrickle._inbox_lock(p_what text, p_schema text, p_table text, p_mode text)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_denied       text;
  v_rel          regclass;
  v_owner        oid;
  v_schema_owner oid;
BEGIN
  IF p_mode NOT IN ('ROW EXCLUSIVE', 'ACCESS SHARE') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = format('_inbox_lock: no lock mode %s', p_mode);
  END IF;
  BEGIN
    EXECUTE format('LOCK TABLE %I.%I IN %s MODE', p_schema, p_table, p_mode);
  EXCEPTION WHEN insufficient_privilege THEN
    v_denied := SQLERRM;   -- another role's table or schema may well deny it: refused below for what it is
  END;
  SELECT c.oid, c.relowner, n.nspowner INTO v_rel, v_owner, v_schema_owner
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname = p_schema AND c.relname = p_table;
  IF v_rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = CASE WHEN v_denied IS NULL THEN 'undefined_table' ELSE 'insufficient_privilege' END,
      MESSAGE = coalesce(v_denied, format('%s: inbox table %I.%I does not exist', p_what, p_schema, p_table));
  END IF;
  IF NOT pgtrickle._inbox_trusted(v_owner) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s: inbox table %I.%I belongs to role "%s", neither the role that installed pgtrickle-relay ("%s"), '
                       'the role that makes its tables nor a superuser, so it is not written or read here: its triggers, '
                       'policies and defaults would run as the role doing it; give the table to the install (ALTER TABLE %I.%I OWNER TO %I)',
                       p_what, p_schema, p_table, pg_get_userbyid(v_owner), pg_get_userbyid(pgtrickle._relay_installer()),
                       p_schema, p_table, pg_get_userbyid(coalesce(pgtrickle._relay_maker(), pgtrickle._relay_installer()))),
      HINT = 'Or its owner reads and updates it directly, e.g. UPDATE ... SET processed_at = now() WHERE event_id = ...';
  END IF;
  IF NOT pgtrickle._inbox_trusted(v_schema_owner) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s: inbox table %I.%I is in schema %I, which belongs to role "%s"%s, neither the role that installed '
                       'pgtrickle-relay ("%s") nor a superuser, so it is not written or read here: the schema''s owner may '
                       'drop the table and put one of its own in its place; give the schema to the installer '
                       '(ALTER SCHEMA %I OWNER TO %I) or keep the inbox in schema pgtrickle',
                       p_what, p_schema, p_table, p_schema, pg_get_userbyid(v_schema_owner),
                       CASE WHEN v_schema_owner = to_regrole('pg_database_owner')
                            THEN format(' (the owner of database %I)', current_database()) ELSE '' END,
                       pg_get_userbyid(pgtrickle._relay_installer()), p_schema, pg_get_userbyid(pgtrickle._relay_installer()));
  END IF;
  IF v_denied IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = v_denied;
  END IF;
  RETURN v_rel;
END
$$;

-- _inbox() for the SECURITY DEFINER functions that read (p_mode 'ACCESS SHARE') or change ('ROW
-- EXCLUSIVE') an inbox's rows: its table locked and checked by _inbox_lock. They act on inbox_rel,
-- the name of the table locked, taken from its oid.
DROP FUNCTION IF EXISTS pgtrickle._inbox_owned(text);
CREATE OR REPLACE FUNCTION pgtrickle._inbox_locked(p_name text, p_mode text, OUT inbox_rel text, OUT max_retries int,
                                                   OUT retention_hours int, OUT inbox_schema text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_table text;
  v_rel   regclass;
BEGIN
  SELECT i.inbox_schema, i.inbox_table, i.max_retries, i.retention_hours
    INTO inbox_schema, v_table, max_retries, retention_hours FROM pgtrickle._inbox(p_name) AS i;
  v_rel := pgtrickle._inbox_lock(format('inbox "%s"', p_name), inbox_schema, v_table, p_mode);
  SELECT format('%I.%I', n.nspname, c.relname) INTO inbox_rel
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel;
END
$$;

-- pgtrickle_owner, which the inbox functions run as, reads and marks the rows of an inbox table
-- (the installer's, in the schema the inbox names).
CREATE OR REPLACE FUNCTION pgtrickle._inbox_grant_owner(p_schema text, p_table text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT has_schema_privilege('pgtrickle_owner', p_schema, 'USAGE') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO pgtrickle_owner', p_schema);
  END IF;
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO pgtrickle_owner', p_schema, p_table);
END
$$;

-- p_bare: a new inbox's table is <schema>.<name> rather than <schema>.inbox_<name> (a reverse
-- pipeline's inbox_table given without the prefix); an existing inbox keeps the table it has.
DROP FUNCTION IF EXISTS pgtrickle._inbox_create_objects(text);
CREATE OR REPLACE FUNCTION pgtrickle._inbox_create_objects(p_name text, p_bare boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning   -- no "already exists, skipping" noise on repeated calls
AS $$
DECLARE
  c       pgtrickle.pgt_inbox_config;
  v_table text;
  v_owner oid;
  v_me    oid := (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user);
BEGIN
  SELECT * INTO STRICT c FROM pgtrickle.pgt_inbox_config WHERE inbox_name = p_name;
  IF pgtrickle._relay_rel(c.inbox_schema, 'inbox_' || p_name) IS NOT NULL
     OR pgtrickle._relay_rel(c.inbox_schema, p_name) IS NOT NULL THEN
    v_table := (SELECT i.inbox_table FROM pgtrickle._inbox(p_name) AS i);
  ELSE
    v_table := CASE WHEN p_bare THEN p_name ELSE 'inbox_' || p_name END;
  END IF;
  -- Its tables and views are this role's (pgtrickle_maker's, on an install by a superuser), made in
  -- a schema where it may create: a table someone else made is not taken over.
  v_owner := (SELECT cl.relowner FROM pg_class AS cl WHERE cl.oid = pgtrickle._relay_rel(c.inbox_schema, v_table));
  IF v_owner IS DISTINCT FROM v_me AND v_owner IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('create_inbox: table %I.%I exists and belongs to role %s; inbox tables are made and kept by role %s',
                       c.inbox_schema, v_table, v_owner::regrole, current_user),
      HINT = format('Give it to that role (ALTER TABLE %I.%I OWNER TO %I, as its owner or a superuser), or name another table.',
                    c.inbox_schema, v_table, current_user);
  END IF;
  IF NOT (has_schema_privilege(v_me, c.inbox_schema, 'USAGE') AND has_schema_privilege(v_me, c.inbox_schema, 'CREATE')) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('create_inbox: role %s, which makes inbox tables, may not create in schema %I', current_user, c.inbox_schema),
      HINT = format('The schema''s owner grants it: GRANT USAGE, CREATE ON SCHEMA %I TO %I WITH GRANT OPTION; or keep the inbox in schema pgtrickle.',
                    c.inbox_schema, current_user);
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE IF NOT EXISTS %1$I.%2$I (
      event_id     text PRIMARY KEY,
      event_type   text,
      source       text,
      aggregate_id text,
      payload      jsonb,
      headers      jsonb NOT NULL DEFAULT '{}',
      received_at  timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz,
      processed    boolean GENERATED ALWAYS AS (processed_at IS NOT NULL) STORED,
      error        text,
      retry_count  int NOT NULL DEFAULT 0,
      trace_id     text
    );
    CREATE INDEX IF NOT EXISTS %3$I ON %1$I.%2$I (received_at) WHERE processed_at IS NULL;
    GRANT SELECT, INSERT ON %1$I.%2$I TO pgtrickle_relay;
    GRANT SELECT, INSERT, UPDATE, DELETE ON %1$I.%2$I TO pgtrickle_relay_admin;
  $ddl$, c.inbox_schema, v_table, pgtrickle._relay_ident(v_table, '_pending_idx', v_table));
  PERFORM pgtrickle._inbox_grant_owner(c.inbox_schema, v_table);

  -- The views read max_retries from the catalog, so changing it there takes effect at once.
  EXECUTE format($ddl$
    CREATE OR REPLACE VIEW %1$I.%3$I AS
      SELECT * FROM %1$I.%2$I
      WHERE processed_at IS NULL
        AND retry_count < (SELECT max_retries FROM pgtrickle.pgt_inbox_config WHERE inbox_name = %4$L);
    GRANT SELECT ON %1$I.%3$I TO pgtrickle_relay, pgtrickle_relay_admin;
  $ddl$, c.inbox_schema, v_table, v_table || '_pending', p_name);
  IF c.with_dead_letter THEN
    EXECUTE format($ddl$
      CREATE OR REPLACE VIEW %1$I.%3$I AS
        SELECT * FROM %1$I.%2$I
        WHERE processed_at IS NULL
          AND retry_count >= (SELECT max_retries FROM pgtrickle.pgt_inbox_config WHERE inbox_name = %4$L);
      GRANT SELECT ON %1$I.%3$I TO pgtrickle_relay, pgtrickle_relay_admin;
    $ddl$, c.inbox_schema, v_table, v_table || '_dlq', p_name);
  END IF;
  IF c.with_stats THEN
    EXECUTE format($ddl$
      CREATE OR REPLACE VIEW %1$I.%3$I AS
        SELECT i.event_type,
               count(*) AS message_count,
               count(*) FILTER (WHERE i.processed_at IS NOT NULL) AS processed_count,
               count(*) FILTER (WHERE i.processed_at IS NULL AND i.retry_count < c.max_retries) AS pending_count,
               count(*) FILTER (WHERE i.processed_at IS NULL AND i.retry_count >= c.max_retries) AS dlq_count,
               max(i.received_at) AS last_received_at
        FROM %1$I.%2$I AS i
        CROSS JOIN (SELECT max_retries FROM pgtrickle.pgt_inbox_config WHERE inbox_name = %4$L) AS c
        GROUP BY i.event_type;
      GRANT SELECT ON %1$I.%3$I TO pgtrickle_relay, pgtrickle_relay_admin;
    $ddl$, c.inbox_schema, v_table, v_table || '_stats', p_name);
  END IF;
END
$$;

-- The body of create_inbox and create_inbox_table; p_bare names the table <schema>.<name> (see _inbox_create_objects).
CREATE OR REPLACE FUNCTION pgtrickle._inbox_create(
  p_name text, p_schema text, p_max_retries int, p_schedule text, p_with_dead_letter boolean,
  p_with_stats boolean, p_retention_hours int, p_bare boolean)
RETURNS void
LANGUAGE plpgsql   -- runs inside create_inbox / create_inbox_table, as their definer
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
  DECLARE
    v_schema   text := coalesce(p_schema, 'pgtrickle');
    v_old      pgtrickle.pgt_inbox_config;
    v_existing regclass;
  BEGIN
    IF p_name IS NULL OR btrim(p_name) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'create_inbox: the inbox name must not be empty';
    END IF;
    -- Longest derived name: inbox_<name>_pending. Cutting it silently would make two inboxes collide.
    IF octet_length(CASE WHEN p_bare THEN '' ELSE 'inbox_' END || p_name || '_pending') > 63 THEN
      RAISE EXCEPTION USING ERRCODE = 'name_too_long',
        MESSAGE = format('create_inbox: the inbox name "%s" is too long: at most %s bytes, it has %s', p_name,
                         CASE WHEN p_bare THEN 55 ELSE 49 END, octet_length(p_name));
    END IF;
    IF to_regnamespace(quote_ident(v_schema)) IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_schema_name', MESSAGE = format('create_inbox: schema "%s" does not exist', v_schema);
    END IF;
    IF v_schema <> 'pgtrickle' AND NOT has_schema_privilege(session_user, to_regnamespace(quote_ident(v_schema)), 'CREATE') THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('create_inbox: permission denied to create tables in schema "%s"', v_schema);
    END IF;
    IF p_max_retries IS NULL OR p_max_retries < 0 OR p_retention_hours IS NULL OR p_retention_hours < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('create_inbox: max_retries must be at least 0 and retention_hours at least 1, got %s and %s',
                         coalesce(p_max_retries::text, 'NULL'), coalesce(p_retention_hours::text, 'NULL'));
    END IF;

    PERFORM pgtrickle._relay_lock_catalog();
    SELECT * INTO v_old FROM pgtrickle.pgt_inbox_config AS c WHERE c.inbox_name = p_name;
    IF FOUND THEN
      IF v_old.inbox_schema <> v_schema THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
          MESSAGE = format('create_inbox: inbox "%s" already exists in schema "%s"', p_name, v_old.inbox_schema);
      END IF;
      RAISE NOTICE 'inbox "%" already exists', p_name;   -- its settings stay as they are
    ELSE
      -- A new inbox may take over an existing table (of either name it may have) only for its owner.
      FOREACH v_existing IN ARRAY ARRAY[pgtrickle._relay_rel(v_schema, 'inbox_' || p_name),
                                        pgtrickle._relay_rel(v_schema, p_name)] LOOP
        IF v_existing IS NOT NULL THEN
          PERFORM pgtrickle._relay_require_owner(CASE WHEN p_bare THEN 'create_inbox_table' ELSE 'create_inbox' END, v_existing);
        END IF;
      END LOOP;
      INSERT INTO pgtrickle.pgt_inbox_config
        (inbox_name, inbox_schema, max_retries, schedule, with_dead_letter, with_stats, retention_hours)
      VALUES (p_name, v_schema, p_max_retries, coalesce(p_schedule, '1s'),
              coalesce(p_with_dead_letter, true), coalesce(p_with_stats, true), p_retention_hours);
    END IF;
    PERFORM pgtrickle._inbox_create_objects(p_name, p_bare);
    -- Made, but not used until the schema is the installer's (_inbox_lock): said now, not at the first refusal.
    IF NOT pgtrickle._inbox_trusted((SELECT n.nspowner FROM pg_namespace AS n WHERE n.nspname = v_schema)) THEN
      RAISE WARNING 'inbox "%": schema % belongs to role %, neither the role that installed pgtrickle-relay nor a superuser: '
                    'the inbox functions and the pipelines defined in SQL refuse its table until it is theirs', p_name,
                    quote_ident(v_schema), (SELECT n.nspowner::regrole FROM pg_namespace AS n WHERE n.nspname = v_schema)
        USING HINT = format('ALTER SCHEMA %I OWNER TO %I; or keep the inbox in schema pgtrickle.', v_schema,
                            pg_get_userbyid(pgtrickle._relay_installer()));
    END IF;
  END
$fn$;

CALL pgtrickle._relay_define('create_inbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_inbox(
    p_name text, p_schema text DEFAULT 'pgtrickle', p_max_retries int DEFAULT 3, p_schedule text DEFAULT '1s',
    with_dead_letter boolean DEFAULT true, with_stats boolean DEFAULT true, p_retention_hours int DEFAULT 72)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT pgtrickle._inbox_create(p_name, p_schema, p_max_retries, p_schedule, with_dead_letter, with_stats,
                                   p_retention_hours, false);
  $fn$;
$ddl$);

-- An inbox whose table is exactly <schema>.<table>: what a reverse pipeline's inbox_table names
-- when it does not exist yet (the relay creates it with the standard columns and views).
CREATE OR REPLACE FUNCTION pgtrickle.create_inbox_table(
  p_table text, p_schema text DEFAULT 'pgtrickle', p_max_retries int DEFAULT 3, p_with_dead_letter boolean DEFAULT true,
  p_retention_hours int DEFAULT 72)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
  SELECT pgtrickle._inbox_create(p_table, p_schema, p_max_retries, '1s', p_with_dead_letter, true, p_retention_hours, true);
$fn$;

-- Drops an inbox's views and, with p_cascade, its table: only a table with an inbox's columns and
-- views reading it, made by this role (pgtrickle_maker's, on an install by a superuser); another's
-- table is left to its owner, who is told so.
CREATE OR REPLACE FUNCTION pgtrickle._inbox_drop_objects(p_schema text, p_table text, p_cascade boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rel  regclass := pgtrickle._relay_rel(p_schema, p_table);
  v_view regclass;
  v_part text;
BEGIN
  IF v_rel IS NULL THEN
    RETURN;
  END IF;
  IF (SELECT count(*) FROM pg_attribute AS a
      WHERE a.attrelid = v_rel AND a.attname IN ('event_id', 'payload', 'received_at', 'processed_at', 'retry_count')
        AND NOT a.attisdropped) <> 5 THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('drop_inbox: %s is not an inbox''s table (it lacks an inbox''s columns); it is left alone', v_rel);
  END IF;
  FOREACH v_part IN ARRAY ARRAY['_pending', '_dlq', '_stats'] LOOP
    v_view := pgtrickle._relay_rel(p_schema, p_table || v_part);
    IF v_view IS NOT NULL AND EXISTS (SELECT FROM pg_rewrite AS r JOIN pg_depend AS d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                                      WHERE r.ev_class = v_view AND d.refobjid = v_rel) THEN
      EXECUTE format('DROP VIEW %s', v_view);
    END IF;
  END LOOP;
  IF p_cascade THEN
    IF (SELECT c.relowner FROM pg_class AS c WHERE c.oid = v_rel) <> (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user) THEN
      PERFORM pgtrickle._relay_require_owner('drop_inbox', v_rel);
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('drop_inbox: table %s belongs to role %s, not to the role that makes inbox tables (%s)',
                         v_rel, (SELECT c.relowner::regrole FROM pg_class AS c WHERE c.oid = v_rel), current_user),
        HINT = format('Drop the inbox without p_cascade, then the table as its owner: DROP TABLE %s;', v_rel);
    END IF;
    EXECUTE format('DROP TABLE %s CASCADE', v_rel);
  END IF;
END
$$;

CALL pgtrickle._relay_define('drop_inbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.drop_inbox(p_name text, p_if_exists boolean DEFAULT false, p_cascade boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_schema text;
    v_table  text;
  BEGIN
    PERFORM pgtrickle._relay_lock_catalog();
    IF NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_inbox_config WHERE inbox_name = p_name) THEN
      IF coalesce(p_if_exists, false) THEN
        RAISE NOTICE 'inbox "%" not found, skipping', p_name;
        RETURN;
      END IF;
    END IF;
    SELECT i.inbox_schema, i.inbox_table INTO v_schema, v_table FROM pgtrickle._inbox(p_name) AS i;
    PERFORM pgtrickle._inbox_drop_objects(v_schema, v_table, coalesce(p_cascade, false));
    DELETE FROM pgtrickle.pgt_inbox_config WHERE inbox_name = p_name;
    IF NOT coalesce(p_cascade, false) THEN
      RAISE NOTICE 'table %.% is kept; drop_inbox(%, p_cascade => true) drops it too',
        quote_ident(v_schema), quote_ident(v_table), quote_literal(p_name);
    END IF;
  END
  $fn$;
$ddl$);

-- True when the event was unprocessed and is now marked processed.
CALL pgtrickle._relay_define('inbox_mark_processed', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.inbox_mark_processed(p_name text, p_event_id text)
  RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i     record := pgtrickle._inbox_locked(p_name, 'ROW EXCLUSIVE');
    v_hit boolean;
  BEGIN
    EXECUTE format('UPDATE %s SET processed_at = now(), error = NULL WHERE event_id = $1 AND processed_at IS NULL '
                   'RETURNING true', i.inbox_rel)
      INTO v_hit USING p_event_id;
    RETURN coalesce(v_hit, false);
  END
  $fn$;
$ddl$);

-- Records a failed attempt; returns the event's retry count.
CALL pgtrickle._relay_define('inbox_mark_failed', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.inbox_mark_failed(p_name text, p_event_id text, p_error text)
  RETURNS int
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i         record := pgtrickle._inbox_locked(p_name, 'ROW EXCLUSIVE');
    v_retries int;
  BEGIN
    EXECUTE format('UPDATE %s SET retry_count = retry_count + 1, error = $2 '
                   'WHERE event_id = $1 AND processed_at IS NULL RETURNING retry_count', i.inbox_rel)
      INTO v_retries USING p_event_id, p_error;
    IF v_retries IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'no_data_found',
        MESSAGE = format('inbox "%s" has no unprocessed event "%s"', p_name, p_event_id);
    END IF;
    RETURN v_retries;
  END
  $fn$;
$ddl$);

-- Makes events pending again (processed_at, retry_count and error cleared); returns how many.
CALL pgtrickle._relay_define('replay_inbox_messages', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.replay_inbox_messages(p_name text, p_event_ids text[])
  RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i   record := pgtrickle._inbox_locked(p_name, 'ROW EXCLUSIVE');
    v_n bigint;
  BEGIN
    EXECUTE format('WITH r AS (UPDATE %s SET processed_at = NULL, retry_count = 0, error = NULL '
                   'WHERE event_id = ANY ($1) RETURNING 1) SELECT count(*) FROM r', i.inbox_rel)
      INTO v_n USING p_event_ids;
    RETURN v_n;
  END
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('inbox_health', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.inbox_health(p_name text)
  RETURNS jsonb
  LANGUAGE plpgsql SECURITY DEFINER   -- not STABLE: it locks the table
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i   record := pgtrickle._inbox_locked(p_name, 'ACCESS SHARE');
    v   jsonb;
  BEGIN
    EXECUTE format($q$
      SELECT jsonb_build_object(
        'total_messages', count(*),
        'pending_messages', count(*) FILTER (WHERE processed_at IS NULL AND retry_count < $1),
        'dlq_messages', count(*) FILTER (WHERE processed_at IS NULL AND retry_count >= $1),
        'processed_messages', count(*) FILTER (WHERE processed_at IS NOT NULL),
        'oldest_pending_age_seconds',
          extract(epoch FROM now() - min(received_at) FILTER (WHERE processed_at IS NULL AND retry_count < $1)),
        'last_received_at', max(received_at))
      FROM %s $q$, i.inbox_rel)
      INTO v USING i.max_retries;
    RETURN v || jsonb_build_object(
      'inbox_name', p_name,
      'inbox_schema', i.inbox_schema,
      'inbox_table', i.inbox_rel,
      'status', CASE WHEN (v ->> 'dlq_messages')::bigint > 0 THEN 'WARNING' ELSE 'OK' END,
      'max_retries', i.max_retries,
      'retention_hours', i.retention_hours);
  END
  $fn$;
$ddl$);
