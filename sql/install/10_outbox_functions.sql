-- ============================================================================================
-- Outbox functions: finding an outbox, enabling, publishing, disabling, resolving for the relay
-- ============================================================================================

-- Our outbox for a reference: a table (p_rel: p_ref resolved in the caller's search path), an
-- outbox table name, an event outbox name, or the unqualified name of a table that is not in
-- the search path (or was dropped). NULL if none.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_find(p_ref text, p_rel regclass)
RETURNS pgtrickle.outbox_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t   pgtrickle.outbox_tables;
  v_n int;
BEGIN
  IF p_rel IS NOT NULL THEN
    SELECT o.* INTO t
    FROM pgtrickle.outbox_tables AS o
    JOIN pg_class AS c ON c.oid = p_rel
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE (o.source_schema = n.nspname AND o.source_table = c.relname)
       OR (n.nspname = 'pgtrickle' AND o.outbox_name = c.relname);
    IF FOUND THEN RETURN t; END IF;
  END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE outbox_name = p_ref;
  IF FOUND THEN RETURN t; END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_schema IS NULL AND source_table = p_ref;
  IF FOUND OR p_rel IS NOT NULL THEN
    RETURN t;   -- a visible table without an outbox must not match a namesake elsewhere
  END IF;
  SELECT count(*) INTO v_n FROM pgtrickle.outbox_tables WHERE source_table = p_ref;
  IF v_n > 1 THEN
    RAISE EXCEPTION USING ERRCODE = 'ambiguous_parameter',
      MESSAGE = format('outbox reference "%s" is ambiguous: tables of that name in several schemas have outboxes', p_ref),
      HINT = 'Qualify it with the schema, e.g. ''public.orders''.';
  END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_table = p_ref;
  RETURN t;   -- all NULL when not found
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_not_found(p_ref text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'undefined_object',
    MESSAGE = format('outbox for "%s" not found: enable it with SELECT pgtrickle.enable_outbox(%L)', p_ref, p_ref),
    HINT = format('For application events without a table, create one with SELECT pgtrickle.create_outbox(%L).', p_ref);
END
$$;

-- Does a pipeline's source reference denote this outbox? Deliberately generous (an
-- unqualified name matches in any schema): retention must rather keep rows than lose them.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_ref_matches(p_ref text, t pgtrickle.outbox_tables)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p_ref IS NOT NULL AND (
       p_ref IN (t.outbox_name, t.source_table)
    OR (t.source_schema IS NOT NULL
        AND pgtrickle._relay_regclass(p_ref) = pgtrickle._relay_rel(t.source_schema, t.source_table))
    OR pgtrickle._relay_regclass(p_ref) = to_regclass(format('pgtrickle.%I', t.outbox_name)))
$$;

-- The outbox a stored pipeline config reads, in any stored layout; a pgstream source reads its
-- stream's outbox, pgstream_<stream_id>.
CREATE OR REPLACE FUNCTION pgtrickle._relay_config_outbox_ref(p_config jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE
    WHEN p_config #>> '{source,type}' = 'pgstream' THEN
      CASE WHEN p_config #>> '{source,stream_id}' ~ '^[0-9]{1,18}$'
           THEN 'pgstream_' || (p_config #>> '{source,stream_id}')::bigint END
    ELSE coalesce(p_config #>> '{source,stream_table}', p_config #>> '{source,table}',
                  p_config #>> '{source,outbox}', p_config ->> 'stream_table', p_config ->> 'outbox')
  END
$$;

-- Enabled forward pipelines reading an outbox, each with the position it has consumed in the
-- relay group it runs in (positions other relay groups left behind do not count); (0, 0) when it
-- has no offset yet. A row at (seq, id) is
-- consumed when (seq, id, 1) <= (last_seq, last_id, complete): complete is 0 while the row at
-- the position itself is only partly delivered (relay_offsets.next_row). Pipelines that are not
-- in the catalog (a relay's TOML file) count from their first stored position on, until
-- delete_relay(name) forgets them.
-- Computed for every outbox at once, (outbox, pipeline, last_seq, last_id, complete): each
-- pipeline's outbox is resolved once, not once per outbox (a thousand pipelines by a thousand
-- outboxes would be a million name lookups).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_all_pipeline_positions()
RETURNS TABLE (outbox text, pipeline text, last_seq bigint, last_id bigint, complete int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH refs AS MATERIALIZED (
    SELECT p.name, r.ref, coalesce(pgtrickle._relay_config_group(p.config), 'default') AS grp,
           pgtrickle._relay_regclass(r.ref) AS rel
    FROM pgtrickle.relay_outbox_config AS p
    CROSS JOIN LATERAL (SELECT pgtrickle._relay_config_outbox_ref(p.config) AS ref) AS r
    WHERE p.enabled AND r.ref IS NOT NULL),
  outboxes AS MATERIALIZED (
    SELECT t.outbox_name, t.source_table,
           CASE WHEN t.source_schema IS NOT NULL THEN pgtrickle._relay_rel(t.source_schema, t.source_table) END AS source_rel,
           to_regclass(format('pgtrickle.%I', t.outbox_name)) AS outbox_rel
    FROM pgtrickle.outbox_tables AS t),
  matched AS (   -- as _outbox_ref_matches decides, by equalities the planner can hash
    SELECT o.outbox_name, r.name, r.grp FROM refs AS r JOIN outboxes AS o ON r.ref = o.outbox_name
    UNION SELECT o.outbox_name, r.name, r.grp FROM refs AS r JOIN outboxes AS o ON r.ref = o.source_table
    UNION SELECT o.outbox_name, r.name, r.grp FROM refs AS r JOIN outboxes AS o ON r.rel = o.source_rel
    UNION SELECT o.outbox_name, r.name, r.grp FROM refs AS r JOIN outboxes AS o ON r.rel = o.outbox_rel)
  SELECT m.outbox_name, m.name, coalesce(o.last_seq, 0), coalesce(o.last_id, 0), coalesce(o.complete, 1)
  FROM matched AS m
  LEFT JOIN LATERAL (
    SELECT r.last_seq, r.last_id, CASE WHEN r.next_row IS NULL THEN 1 ELSE 0 END AS complete
    FROM pgtrickle.relay_offsets AS r
    WHERE r.pipeline = m.name AND r.relay_group_id = m.grp
    ORDER BY r.last_seq, r.last_id, r.next_row IS NULL
    LIMIT 1
  ) AS o ON true
  UNION ALL
  (SELECT DISTINCT ON (r.outbox, r.pipeline) r.outbox, r.pipeline, r.last_seq, r.last_id,
          CASE WHEN r.next_row IS NULL THEN 1 ELSE 0 END
   FROM pgtrickle.relay_offsets AS r
   WHERE r.outbox IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_outbox_config AS c WHERE c.name = r.pipeline)
   ORDER BY r.outbox, r.pipeline, r.last_seq, r.last_id, r.next_row IS NULL)
$$;

-- Those of one outbox.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_pipeline_positions(t pgtrickle.outbox_tables)
RETURNS TABLE (pipeline text, last_seq bigint, last_id bigint, complete int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p.pipeline, p.last_seq, p.last_id, p.complete
  FROM pgtrickle._outbox_all_pipeline_positions() AS p WHERE p.outbox = t.outbox_name
$$;

-- Rows of an outbox with their commit position, as SQL text for EXECUTE: (seq, id, o).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_rows_sql(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('SELECT c.seq, o.id, o FROM pgtrickle.%I AS o '
                'JOIN pgtrickle.outbox_commits AS c ON c.outbox = %L AND c.xid = o.xid', p_outbox, p_outbox)
$$;

-- Functions that take a table name are pairs: a public wrapper with the caller's rights that
-- resolves the name in the caller's search path, and a SECURITY DEFINER implementation, whose
-- own search path is fixed, that receives the resolved table.

-- Drops an outbox's tables (pgtrickle_maker's, made by _outbox_create_tables); the functions made
-- for its table's owner go with its capture (_outbox_disable_capture).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_drop_objects(t pgtrickle.outbox_tables)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_table text;
BEGIN
  -- Only tables made by _outbox_create_tables (the catalog's rows are pgtrickle_owner's to write).
  FOREACH v_table IN ARRAY ARRAY[t.outbox_name, t.delta_table] LOOP
    IF pgtrickle._relay_rel('pgtrickle', v_table) IS NOT NULL
       AND (SELECT count(*) FROM pg_attribute AS a
            WHERE a.attrelid = pgtrickle._relay_rel('pgtrickle', v_table) AND NOT a.attisdropped
              AND a.attname IN ('payload', 'kind', 'xid', 'is_claim_check', 'outbox_id', 'row_num', 'row_op', 'row_data')) <> 4 THEN
      RAISE EXCEPTION 'pgtrickle-relay: pgtrickle.% is not an outbox''s table; it is left alone', quote_ident(v_table);
    END IF;
  END LOOP;
  EXECUTE format('DROP TABLE IF EXISTS pgtrickle.%I', t.outbox_name);
  IF t.delta_table IS NOT NULL THEN
    EXECUTE format('DROP TABLE IF EXISTS pgtrickle.%I', t.delta_table);
  END IF;
END
$$;

DROP FUNCTION IF EXISTS pgtrickle._outbox_revoke_relay_read(regclass);   -- done by the install (09)

-- The capture triggers of a table, removed as its owner (disable_outbox; enable_outbox switching to
-- WAL capture), for a session acting for it.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_detach(p_rel regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
BEGIN
  IF p_rel IS NULL OR NOT EXISTS (SELECT FROM pg_trigger AS g WHERE g.tgrelid = p_rel AND g.tgname LIKE 'pgtrickle\_outbox\_%') THEN
    RETURN;
  END IF;
  PERFORM pgtrickle._relay_as_owner(p_rel, 'disable_outbox', format(
    'DROP TRIGGER IF EXISTS pgtrickle_outbox_insert ON %1$s;
     DROP TRIGGER IF EXISTS pgtrickle_outbox_update ON %1$s;
     DROP TRIGGER IF EXISTS pgtrickle_outbox_delete ON %1$s;
     DROP TRIGGER IF EXISTS pgtrickle_outbox_truncate ON %1$s;', p_rel));
END
$$;

-- The capture a table's outbox has (the triggers of capture 'trigger', none for 'wal'), set as the
-- table's owner: what enable_outbox does after _outbox_enable has the outbox ready, in the
-- session, which acts for the owner (SECURITY DEFINER code may not take the owner's role).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_capture_set(t pgtrickle.outbox_tables)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF t.capture = 'wal' THEN
    PERFORM pgtrickle._outbox_detach(pgtrickle._outbox_source(t));
    -- No trigger: the table's publication carries its changes (refused for a table whose UPDATEs
    -- and DELETEs a publication would break), made by the session, which may create it.
    PERFORM pgtrickle._outbox_publication_set(t.source_table, pgtrickle._outbox_source(t), true);
    -- The relay renders the rows it reads from the WAL as the table's owner (_wal_render).
    PERFORM pgtrickle._wal_rows_function_set(pgtrickle._wal_rows_function(t.outbox_name), pgtrickle._outbox_source(t));
  ELSE
    PERFORM pgtrickle._outbox_attach(t);
  END IF;
  -- A backfill reads the table through a function of its owner's (14_backfill.sql).
  PERFORM pgtrickle._relay_backfill_table_ensure(pgtrickle._outbox_source(t));
END
$$;

-- Before capture modes: one signature fewer.
DROP FUNCTION IF EXISTS pgtrickle._outbox_enable(text, regclass, int);

-- Returns the outbox, whose capture the caller sets (_outbox_capture_set).
DROP FUNCTION IF EXISTS pgtrickle._outbox_enable(text, regclass, int, text);
CREATE OR REPLACE FUNCTION pgtrickle._outbox_enable(p_name text, p_rel regclass, p_retention_hours int,
                                                    p_capture text DEFAULT 'trigger')
RETURNS pgtrickle.outbox_tables
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_rel    regclass := p_rel;
  v_schema text;
  v_table  text;
  v_kind   "char";
  t        pgtrickle.outbox_tables;
BEGIN
  IF p_retention_hours IS NULL OR p_retention_hours < 1 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('enable_outbox: retention_hours must be at least 1, got %s', coalesce(p_retention_hours::text, 'NULL'));
  END IF;
  IF p_capture IS NULL OR p_capture NOT IN ('trigger', 'wal') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('enable_outbox: capture must be ''trigger'' or ''wal'', got %s', coalesce(quote_literal(p_capture), 'NULL')),
      HINT = 'capture => ''trigger'' (any wal_level: triggers write the outbox) or capture => ''wal'' (wal_level = logical: no trigger, changes are read from the WAL).';
  END IF;
  IF v_rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('enable_outbox: table %s does not exist', coalesce(quote_literal(p_name), 'NULL')),
      HINT = 'Write the name as in SQL: ''orders'', ''public.orders'', or ''"Mixed Case"'' with double quotes.';
  END IF;
  SELECT n.nspname, c.relname, c.relkind INTO v_schema, v_table, v_kind
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel;
  IF v_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('enable_outbox: %s is not a table', v_rel);
  END IF;
  IF v_schema = 'pgtrickle' AND EXISTS (SELECT 1 FROM pgtrickle.outbox_tables WHERE v_table IN (outbox_name, delta_table)) THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('enable_outbox: %s is itself an outbox', v_rel);
  END IF;

  PERFORM pgtrickle._relay_require_owner('enable_outbox', v_rel);
  IF p_capture = 'wal' AND current_setting('wal_level') <> 'logical' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('enable_outbox: capture => ''wal'' needs wal_level = logical; this server runs with wal_level = %s',
                       current_setting('wal_level')),
      HINT = 'Set wal_level = logical in postgresql.conf and restart PostgreSQL, or use capture => ''trigger'', which works with any wal_level.';
  END IF;

  PERFORM pgtrickle._relay_lock_catalog();
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_schema = v_schema AND source_table = v_table;
  IF FOUND THEN
    -- The two modes' positions do not translate (outbox rows against WAL positions): a switch
    -- would make running pipelines skip or lose changes, so it is an explicit start over.
    IF t.capture <> p_capture THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('enable_outbox: %s is captured with capture => %L, not %L', v_rel, t.capture, p_capture),
        HINT = format('To switch, deliver what its pipelines have not sent yet, then run SELECT pgtrickle.disable_outbox(%L); '
                      'and SELECT pgtrickle.enable_outbox(%L, capture => %L); its pipelines then carry on with the changes '
                      'committed after they next start.', p_name, p_name, p_capture);
    END IF;
    RAISE NOTICE 'outbox already enabled for %: pgtrickle.%', v_rel, quote_ident(t.outbox_name);
    IF t.retention_hours <> p_retention_hours THEN
      UPDATE pgtrickle.outbox_tables SET retention_hours = p_retention_hours
      WHERE outbox_name = t.outbox_name
      RETURNING * INTO t;
    END IF;
  ELSE
    INSERT INTO pgtrickle.outbox_tables (outbox_name, source_schema, source_table, delta_table, key_columns, retention_hours, capture)
    VALUES (pgtrickle._outbox_free_name('outbox_', v_schema, v_table), v_schema, v_table,
            pgtrickle._outbox_free_name('outbox_delta_rows_', v_schema, v_table),
            pgtrickle._outbox_key_columns(v_rel), p_retention_hours, p_capture)
    RETURNING * INTO t;
  END IF;
  -- Also repairs a partly dropped outbox.
  PERFORM pgtrickle._outbox_create_tables(t);
  RETURN t;
END
$$;

CALL pgtrickle._relay_define('enable_outbox', $ddl$
  DROP FUNCTION IF EXISTS pgtrickle.enable_outbox(text, int);  -- before capture modes
  CREATE OR REPLACE FUNCTION pgtrickle.enable_outbox(p_name text, p_retention_hours int DEFAULT 24, capture text DEFAULT 'trigger')
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._outbox_capture_set(pgtrickle._outbox_enable(p_name, pgtrickle._relay_regclass(p_name), p_retention_hours, capture)) $fn$;
$ddl$);

CALL pgtrickle._relay_define('create_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_outbox(p_name text, p_retention_hours int DEFAULT 24)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    t pgtrickle.outbox_tables;
  BEGIN
    IF p_name IS NULL OR btrim(p_name) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'create_outbox: the name must not be empty';
    END IF;
    IF p_retention_hours IS NULL OR p_retention_hours < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('create_outbox: retention_hours must be at least 1, got %s', coalesce(p_retention_hours::text, 'NULL'));
    END IF;
    PERFORM pgtrickle._relay_lock_catalog();
    SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_schema IS NULL AND source_table = p_name;
    IF FOUND AND pgtrickle._outbox_is_stream(t.outbox_name) THEN
      RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
        MESSAGE = format('create_outbox: "%s" is the outbox of a pgstream stream, written only by its subscriptions', p_name),
        HINT = 'Choose another name for the event outbox.';
    ELSIF FOUND THEN
      RAISE NOTICE 'outbox "%" already exists: pgtrickle.%', p_name, quote_ident(t.outbox_name);
      IF t.retention_hours <> p_retention_hours THEN
        UPDATE pgtrickle.outbox_tables SET retention_hours = p_retention_hours WHERE outbox_name = t.outbox_name
        RETURNING * INTO t;
      END IF;
    ELSE
      IF octet_length('outbox_' || p_name) <= 63 AND pgtrickle._outbox_name_taken('outbox_' || p_name) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
          MESSAGE = format('create_outbox: pgtrickle.%I already exists', 'outbox_' || p_name),
          HINT = 'Choose another name.';
      END IF;
      INSERT INTO pgtrickle.outbox_tables (outbox_name, source_schema, source_table, delta_table, retention_hours)
      VALUES (pgtrickle._outbox_free_name('outbox_', NULL, p_name), NULL, p_name, NULL, p_retention_hours)
      RETURNING * INTO t;
    END IF;
    PERFORM pgtrickle._outbox_create_tables(t);
  END
  $fn$;
$ddl$);

-- An application event, written in the caller's transaction; returns its outbox id.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_publish(p_outbox text, p_rel regclass, p_payload jsonb, p_headers jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t    pgtrickle.outbox_tables := pgtrickle._outbox_find(p_outbox, p_rel);
  v_id bigint;
BEGIN
  IF pgtrickle._outbox_is_stream(t.outbox_name) THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('outbox_publish: "%s" is the outbox of a pgstream stream, written only by its subscriptions', p_outbox),
      HINT = 'Publish to an event outbox (SELECT pgtrickle.create_outbox(''name'')), or subscribe a table in pgstream.subscriptions.';
  END IF;
  IF t.outbox_name IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('outbox_publish: outbox "%s" not found', p_outbox),
      HINT = format('Create an event outbox with SELECT pgtrickle.create_outbox(%L), '
                    'or capture a table with SELECT pgtrickle.enable_outbox(''schema.table'').', p_outbox);
  END IF;
  IF p_payload IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'outbox_publish: the payload must not be NULL';
  END IF;
  IF p_headers IS NOT NULL AND jsonb_typeof(p_headers) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('outbox_publish: headers must be a JSON object, got %s', left(p_headers::text, 200));
  END IF;
  EXECUTE format('INSERT INTO pgtrickle.%I (payload, headers, kind) VALUES ($1, $2, ''event'') RETURNING id', t.outbox_name)
    INTO v_id USING p_payload, coalesce(p_headers, '{}');
  IF EXISTS (SELECT FROM pgtrickle.outbox_waiters AS w WHERE w.outbox = t.outbox_name) THEN
    PERFORM pg_notify('pgtrickle_outbox_new', t.outbox_name);   -- a relay waits for rows
  END IF;
  RETURN v_id;
END
$$;

CALL pgtrickle._relay_define('outbox_publish', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.outbox_publish(p_outbox text, p_payload jsonb, p_headers jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._outbox_publish(p_outbox, pgtrickle._relay_regclass(p_outbox), p_payload, p_headers) $fn$;
$ddl$);

-- The capture of the table an outbox captures (p_name, p_rel as _outbox_find takes them) removed by
-- the session, as the table's owner: triggers, publication, the functions made for the owner.
-- What disable_outbox does before _outbox_disable (whose p_detached it is: an argument, so it runs
-- first). No outbox found: nothing, and true.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_disable_capture(p_name text, p_rel regclass)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t       pgtrickle.outbox_tables;
  v_fn    regprocedure;
  v_owner oid;
BEGIN
  FOR t IN SELECT * FROM pgtrickle._outbox_find_source(p_name, p_rel) LOOP
    PERFORM pgtrickle._outbox_detach(pgtrickle._outbox_source(t));
    IF t.capture = 'wal' AND pgtrickle._outbox_source(t) IS NOT NULL THEN
      PERFORM pgtrickle._outbox_publication_set(t.source_table, pgtrickle._outbox_source(t), false);
    END IF;
    -- Its capture and render functions, as their owner (the table's, or a former owner's).
    FOR v_fn, v_owner IN
      SELECT p.oid::regprocedure, p.proowner FROM pg_proc AS p
      WHERE p.oid IN (to_regprocedure(format('pgtrickle.%I()', pgtrickle._outbox_capture_function(t.outbox_name))),
                      to_regprocedure(format('pgtrickle.%I(regclass, jsonb, jsonb)', pgtrickle._wal_rows_function(t.outbox_name))))
    LOOP
      IF pg_has_role(session_user, v_owner, 'USAGE') THEN
        PERFORM pgtrickle._relay_as_role(v_owner, format('DROP FUNCTION %s', v_fn));
      ELSE
        RAISE NOTICE 'function % of the outbox of % is left to its owner %, for whom role % does not act',
          v_fn, p_name, v_owner::regrole, session_user
          USING HINT = format('Its owner drops it: DROP FUNCTION %s;', v_fn);
      END IF;
    END LOOP;
  END LOOP;
  RETURN true;
END
$$;

-- The outbox _outbox_find finds, for _outbox_disable_capture: only what names the captured table.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_find_source(p_name text, p_rel regclass)
RETURNS SETOF pgtrickle.outbox_tables
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT t.* FROM pgtrickle._outbox_find(p_name, p_rel) AS t WHERE t.outbox_name IS NOT NULL AND t.source_schema IS NOT NULL $$;

DROP FUNCTION IF EXISTS pgtrickle._outbox_disable(text, regclass, boolean);
CREATE OR REPLACE FUNCTION pgtrickle._outbox_disable(p_name text, p_rel regclass, p_if_exists boolean, p_detached boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t     pgtrickle.outbox_tables;
  v_rel regclass;
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  t := pgtrickle._outbox_find(p_name, p_rel);
  IF t.outbox_name IS NULL THEN
    IF coalesce(p_if_exists, false) THEN
      RAISE NOTICE 'outbox for "%" not found, skipping', p_name;
      RETURN;
    END IF;
    PERFORM pgtrickle._outbox_not_found(p_name);
  END IF;
  IF pgtrickle._outbox_is_stream(t.outbox_name) THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('disable_outbox: "%s" is the outbox of a pgstream stream: it lives as long as pgstream.events', p_name),
      HINT = 'Its events go when their daily partition is dropped (pgstream.maintain_partitions()); delete the stream''s rows of pgstream.subscriptions to stop new ones.';
  END IF;
  IF t.source_schema IS NOT NULL THEN
    v_rel := pgtrickle._outbox_source(t);
    IF v_rel IS NOT NULL THEN
      PERFORM pgtrickle._relay_require_owner('disable_outbox', v_rel);
      -- Its triggers are gone (_outbox_disable_capture, in the session that acts for its owner).
      IF EXISTS (SELECT FROM pg_trigger AS g WHERE g.tgrelid = v_rel AND g.tgname LIKE 'pgtrickle\_outbox\_%') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_in_use',
          MESSAGE = format('disable_outbox: table %s still has its capture triggers', v_rel),
          HINT = 'Call pgtrickle.disable_outbox(), which removes them first.';
      END IF;

    END IF;
  END IF;
  PERFORM pgtrickle._relay_drop_slots(NULL, t.outbox_name);
  PERFORM pgtrickle._relay_backfill_forget(NULL, t.outbox_name);
  IF t.capture = 'wal' THEN
    -- Positions in the WAL mean nothing to the outbox a later enable_outbox makes.
    DELETE FROM pgtrickle.relay_offsets WHERE outbox = t.outbox_name;
  END IF;
  PERFORM pgtrickle._outbox_drop_objects(t);
  DELETE FROM pgtrickle.outbox_commits WHERE outbox = t.outbox_name;
  DELETE FROM pgtrickle.outbox_tables WHERE outbox_name = t.outbox_name;   -- its consumer groups go too
END
$$;

CALL pgtrickle._relay_define('disable_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.disable_outbox(p_name text, p_if_exists boolean DEFAULT false)
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._outbox_disable(p_name, pgtrickle._relay_regclass(p_name), p_if_exists,
                                           pgtrickle._outbox_disable_capture(p_name, pgtrickle._relay_regclass(p_name))) $fn$;
$ddl$);

-- Finds an outbox for the relay: ours (kind 'relay', read in commit order) or pg_trickle's
-- (kind 'pg_trickle', read by id). stream_table is the unqualified source table name.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_resolve(p_ref text, p_rel regclass)
RETURNS TABLE (outbox_table text, delta_table text, key_columns text[], kind text, stream_table text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t        pgtrickle.outbox_tables := pgtrickle._outbox_find(p_ref, p_rel);
  v_st     text;
  v_outbox text;
  v_found  text;
  v_delta  text;
BEGIN
  IF t.outbox_name IS NOT NULL THEN
    RETURN QUERY SELECT t.outbox_name, t.delta_table,
      coalesce(CASE WHEN t.source_schema IS NOT NULL
                    THEN pgtrickle._outbox_key_columns(pgtrickle._relay_rel(t.source_schema, t.source_table)) END,
               t.key_columns),
      'relay'::text, t.source_table;
    RETURN;
  END IF;

  -- pg_trickle's outboxes: its catalog, else a table pgtrickle.outbox_<ref> of its shape.
  v_st := CASE WHEN pgtrickle._relay_is_relation_name(p_ref)
               THEN (parse_ident(p_ref))[cardinality(parse_ident(p_ref))] ELSE p_ref END;
  IF to_regclass('pgtrickle.pgt_outbox_config') IS NOT NULL THEN
    EXECUTE 'SELECT outbox_table_name, stream_table_name FROM pgtrickle.pgt_outbox_config
             WHERE stream_table_name = $1 OR outbox_table_name = $2 ORDER BY stream_table_name = $1 DESC LIMIT 1'
      INTO v_outbox, v_found USING v_st, p_ref;
    v_st := coalesce(v_found, v_st);
  END IF;
  IF v_outbox IS NULL AND (SELECT count(*) = 3 FROM pg_attribute
                           WHERE attrelid = to_regclass(format('pgtrickle.%I', 'outbox_' || v_st))
                             AND attname IN ('pgt_id', 'is_claim_check', 'payload') AND NOT attisdropped) THEN
    v_outbox := 'outbox_' || v_st;
  END IF;
  IF v_outbox IS NULL THEN
    PERFORM pgtrickle._outbox_not_found(p_ref);
  END IF;
  -- pg_trickle names the claim-check table after the first 48 characters of the stream table.
  v_delta := 'outbox_delta_rows_' || left(v_st, 48);
  RETURN QUERY SELECT v_outbox, CASE WHEN to_regclass(format('pgtrickle.%I', v_delta)) IS NOT NULL THEN v_delta END,
                      NULL::text[], 'pg_trickle'::text, v_st;
END
$$;

CALL pgtrickle._relay_define('resolve_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.resolve_outbox(p_ref text)
  RETURNS TABLE (outbox_table text, delta_table text, key_columns text[], kind text, stream_table text)
  LANGUAGE sql STABLE
  AS $fn$ SELECT * FROM pgtrickle._outbox_resolve(p_ref, pgtrickle._relay_regclass(p_ref)) $fn$;
$ddl$);

-- Template variables that are always empty for a forward pipeline's outbox, so that every message
-- would get an empty subject token, topic or key part (and a broker refusing it would have every
-- message dead-lettered): {refresh_id} on an outbox of this install (only pg_trickle's own outboxes
-- of stream tables carry a refresh id), and a row field {{ column }} naming no column of the
-- captured table. One sentence per finding; none while the outbox does not exist yet. Run by
-- set_relay_outbox (as warnings), by `pgtrickle-relay validate` and by the relay when a pipeline
-- starts.
CREATE OR REPLACE FUNCTION pgtrickle.relay_template_warnings(p_config jsonb)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_ref   text := pgtrickle._relay_config_outbox_ref(p_config);
  v_kind  text;
  v_name  text;
  v_rel   regclass;
  v_cols  text[];
  v_key   text;
  v_text  text;
  v_field text;
BEGIN
  IF v_ref IS NULL OR coalesce(p_config #>> '{source,type}', p_config ->> 'source_type', 'outbox') <> 'outbox' THEN
    RETURN;
  END IF;
  BEGIN
    SELECT r.kind, r.outbox_table INTO v_kind, v_name FROM pgtrickle.resolve_outbox(v_ref) AS r;
  EXCEPTION WHEN OTHERS THEN
    RETURN;  -- no such outbox (yet): nothing to tell
  END;
  IF v_kind IS DISTINCT FROM 'relay' THEN
    RETURN;
  END IF;
  SELECT pgtrickle._relay_rel(t.source_schema, t.source_table) INTO v_rel
  FROM pgtrickle.outbox_tables AS t WHERE t.outbox_name = v_name AND t.source_schema IS NOT NULL;
  IF v_rel IS NOT NULL THEN
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
    FROM pg_attribute AS a WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped;
  END IF;
  FOR v_key, v_text IN
    SELECT 'sink key "' || e.key || '"', e.value #>> '{}'
    FROM jsonb_each(CASE WHEN jsonb_typeof(p_config -> 'sink') = 'object' THEN p_config -> 'sink' ELSE '{}' END) AS e
    WHERE jsonb_typeof(e.value) = 'string'
    UNION ALL
    SELECT 'key "key"', p_config ->> 'key' WHERE jsonb_typeof(p_config -> 'key') = 'string'
  LOOP
    IF v_text ~ '(^|[^{])\{refresh_id\}' THEN
      RETURN NEXT format('%s uses {refresh_id}, which is always empty on outbox %s (only pg_trickle''s own outboxes of '
                         'stream tables carry a refresh id); use {outbox_id} or a row field instead', v_key, v_name);
    END IF;
    CONTINUE WHEN v_cols IS NULL;
    FOR v_field IN SELECT (regexp_matches(v_text, '\{\{\s*([^{}\s.]+)[^{}]*\}\}', 'g'))[1] LOOP
      IF NOT v_field = ANY (v_cols) THEN
        RETURN NEXT format('%s uses the row field {{ %s }}, but %s has no such column, so it is always empty; its columns are: %s',
                           v_key, v_field, v_rel, array_to_string(v_cols, ', '));
      END IF;
    END LOOP;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_status(p_name text, p_rel regclass)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t         pgtrickle.outbox_tables := pgtrickle._outbox_find(p_name, p_rel);
  v_stats   jsonb;
  v_pending jsonb;
  v_groups  jsonb;
  v_rows    text;
BEGIN
  IF t.outbox_name IS NULL THEN
    RETURN jsonb_build_object('enabled', false, 'stream_table', p_name);
  END IF;
  v_rows := pgtrickle._outbox_rows_sql(t.outbox_name);
  EXECUTE format('SELECT jsonb_build_object(''row_count'', count(*), ''oldest_row'', min(created_at), '
                 '''newest_row'', max(created_at), ''max_id'', max(id)) FROM pgtrickle.%I', t.outbox_name)
    INTO v_stats;
  -- Rows each enabled pipeline reading this outbox has not consumed yet.
  EXECUTE format('SELECT coalesce(jsonb_object_agg(p.pipeline, (SELECT count(*) FROM (%s) AS r
                                                               WHERE (r.seq, r.id, 1) > (p.last_seq, p.last_id, p.complete))), ''{}'')
                  FROM pgtrickle._outbox_pipeline_positions($1) AS p', v_rows)
    INTO v_pending USING t;
  EXECUTE format('SELECT coalesce(jsonb_object_agg(g.group_name, (SELECT count(*) FROM (%s) AS r
                                                                 WHERE (r.seq, r.id) > (g.committed_seq, g.committed_id))), ''{}'')
                  FROM pgtrickle.outbox_consumer_groups AS g WHERE g.outbox_name = $1', v_rows)
    INTO v_groups USING t.outbox_name;
  RETURN jsonb_build_object(
    'enabled', true,
    'kind', CASE WHEN pgtrickle._outbox_is_stream(t.outbox_name) THEN 'pgstream'
                 WHEN t.source_schema IS NULL THEN 'event' ELSE 'table' END,
    'stream_table', CASE WHEN t.source_schema IS NULL THEN t.source_table ELSE format('%I.%I', t.source_schema, t.source_table) END,
    'outbox_table', format('pgtrickle.%I', t.outbox_name),
    'delta_table', CASE WHEN t.delta_table IS NOT NULL THEN format('pgtrickle.%I', t.delta_table) END,
    'key_columns', to_jsonb(t.key_columns),
    'retention_hours', t.retention_hours,
    'inline_threshold_rows', t.inline_threshold_rows,
    'created_at', t.created_at,
    'pending_by_pipeline', v_pending,
    'pending_by_consumer_group', v_groups) || v_stats;
END
$$;

CALL pgtrickle._relay_define('outbox_status', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.outbox_status(p_name text)
  RETURNS jsonb
  LANGUAGE sql STABLE
  AS $fn$ SELECT pgtrickle._outbox_status(p_name, pgtrickle._relay_regclass(p_name)) $fn$;
$ddl$);
