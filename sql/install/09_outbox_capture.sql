-- ============================================================================================
-- Outbox on ordinary tables and event outboxes
--
-- enable_outbox(table) captures every INSERT/UPDATE/DELETE/TRUNCATE of a table, in the same
-- transaction, as rows of pgtrickle.outbox_<table> carrying the delta (payload v1, compatible
-- with pg_trickle's). create_outbox(name) makes an outbox for application events, written with
-- outbox_publish().
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.outbox_tables (
  outbox_name           text PRIMARY KEY,   -- table pgtrickle.<outbox_name>
  source_schema         text,               -- NULL for an event outbox
  source_table          text,               -- the captured table, or the event outbox's name
  delta_table           text UNIQUE,        -- claim-check rows; NULL for an event outbox
  key_columns           text[],             -- at enable time; resolve_outbox() reads them live
  retention_hours       int NOT NULL DEFAULT 24 CHECK (retention_hours > 0),
  inline_threshold_rows int NOT NULL DEFAULT 1000 CHECK (inline_threshold_rows >= 0),
  created_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_schema, source_table)
);
-- How the table's changes are captured: 'trigger' (the capture triggers write the outbox table) or
-- 'wal' (no trigger: pipelines read the table's changes from the WAL through its publication).
-- Installs made before it: added here.
ALTER TABLE pgtrickle.outbox_tables
  ADD COLUMN IF NOT EXISTS capture text NOT NULL DEFAULT 'trigger' CHECK (capture IN ('trigger', 'wal'));

-- The row identity of a table: primary key columns, else replica identity index columns.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_key_columns(p_table regclass)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT NULLIF(ARRAY(
    SELECT a.attname::text
    FROM pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indexrelid = (SELECT indexrelid FROM pg_index
                          WHERE indrelid = p_table AND (indisprimary OR indisreplident)
                          ORDER BY indisprimary DESC LIMIT 1)
    ORDER BY k.ord), '{}')
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_name_taken(p_name text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT 1 FROM pgtrickle.outbox_tables WHERE p_name IN (outbox_name, delta_table))
      OR to_regclass(format('pgtrickle.%I', p_name)) IS NOT NULL
$$;

-- p_prefix || table when that fits in 63 bytes and is free; otherwise the name cut on a
-- character boundary plus 7 hex digits of md5("schema.table"), so a.orders and b.orders, or
-- two long names sharing a prefix, get different outboxes.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_free_name(p_prefix text, p_schema text, p_table text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name text;
BEGIN
  FOREACH v_name IN ARRAY ARRAY[
    p_prefix || p_table,
    pgtrickle._relay_truncate_bytes(p_prefix || p_table, 55) || '_'
      || left(md5(coalesce(p_schema || '.', '') || p_table), 7)]
  LOOP
    IF octet_length(v_name) <= 63 AND NOT pgtrickle._outbox_name_taken(v_name) THEN
      RETURN v_name;
    END IF;
  END LOOP;
  RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
    MESSAGE = format('no free name for the outbox of %s: pgtrickle.%I is taken', p_table, v_name);
END
$$;

-- The relay reads outboxes and their claim-check rows.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_grant(p_tables text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_table text;
BEGIN
  FOREACH v_table IN ARRAY p_tables LOOP
    -- Names come from pg_trickle's catalog too: never one of the relay's own catalog tables.
    IF v_table IS NOT NULL AND to_regclass(format('pgtrickle.%I', v_table)) IS NOT NULL
       AND v_table !~ '^(relay_|pgt_)'
       AND v_table NOT IN ('outbox_tables', 'outbox_commits', 'outbox_consumer_groups', 'outbox_consumers',
                           'outbox_consumer_leases') THEN
      BEGIN
        EXECUTE format('GRANT SELECT ON pgtrickle.%I TO pgtrickle_relay, pgtrickle_relay_admin', v_table);
        -- pgtrickle_owner numbers and trims outboxes (pg_trickle's too, made by its own functions).
        EXECUTE format('GRANT SELECT, DELETE ON pgtrickle.%I TO pgtrickle_owner', v_table);
      EXCEPTION WHEN insufficient_privilege THEN
        NULL;  -- another role's table (one pg_trickle made after the install): its owner grants
      END;
    END IF;
  END LOOP;
END
$$;

-- Creates (or completes) the outbox table and its delta table.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_create_tables(t pgtrickle.outbox_tables)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning   -- no "already exists, skipping" noise on repeated calls
AS $$
BEGIN
  EXECUTE format($ddl$
    CREATE TABLE IF NOT EXISTS pgtrickle.%1$I (
      id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      created_at     timestamptz NOT NULL DEFAULT now(),
      inserted_count bigint NOT NULL DEFAULT 0,
      deleted_count  bigint NOT NULL DEFAULT 0,
      is_claim_check boolean NOT NULL DEFAULT false,
      payload        jsonb,
      refresh_id     uuid,
      headers        jsonb NOT NULL DEFAULT '{}',
      kind           text NOT NULL DEFAULT 'delta' CHECK (kind IN ('delta', 'event')),
      xid            xid8 NOT NULL DEFAULT pg_current_xact_id()
    );
    -- (xid, id): a reader resuming inside a large transaction seeks straight to its next row.
    CREATE INDEX IF NOT EXISTS %2$I ON pgtrickle.%1$I (xid, id);
  $ddl$, t.outbox_name, pgtrickle._relay_ident(t.outbox_name, '_xid_idx', t.outbox_name));

  IF t.delta_table IS NOT NULL THEN
    EXECUTE format($ddl$
      CREATE TABLE IF NOT EXISTS pgtrickle.%1$I (
        outbox_id bigint NOT NULL,
        row_num   bigint NOT NULL,
        row_op    text NOT NULL CHECK (row_op IN ('INSERT', 'DELETE')),
        row_data  jsonb NOT NULL,
        PRIMARY KEY (outbox_id, row_num)
      )
    $ddl$, t.delta_table);
  END IF;
  -- A table someone else put under the name (while an outbox was partly dropped) is not taken.
  IF EXISTS (SELECT FROM pg_class AS c
             WHERE c.relnamespace = 'pgtrickle'::regnamespace AND c.relname IN (t.outbox_name, t.delta_table)
               AND c.relowner <> (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user)
               AND NOT (SELECT r.rolsuper FROM pg_roles AS r WHERE r.oid = c.relowner)) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('pgtrickle.%I or pgtrickle.%I belongs to a role other than %s, which makes outboxes; it is not taken as one',
                       t.outbox_name, t.delta_table, current_user),
      HINT = 'Drop or rename that table, then try again.';
  END IF;
  PERFORM pgtrickle._outbox_grant(ARRAY[t.outbox_name, t.delta_table]);
END
$$;

-- The captured table of an outbox, or NULL (an event outbox, or the table is gone). From the
-- catalog, not to_regclass: a role without USAGE on the table's schema still finds it.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_source(t pgtrickle.outbox_tables)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname = t.source_schema AND c.relname = t.source_table
$$;

-- The body of an outbox's capture trigger function, which writes one statement's changes to the
-- outbox. _outbox_attach writes in what the body needs, so it reads no catalog of ours at run time
-- and its outbox INSERTs are static SQL, planned once per session (a dynamic EXECUTE is parsed and
-- planned for every statement: that doubled the cost of a single-row write):
--   @outbox@ the outbox table (a quoted identifier), @name@ its name (a literal), @delta@ the delta
--   table's name (a literal), @threshold@ inline_threshold_rows, @owner@ the oid of the table's
--   owner when it was attached.
-- The function is SECURITY DEFINER and owned by the captured table's owner: whoever may write the
-- table may write its outbox without any privilege on schema pgtrickle, and what runs in it (the
-- casts and output functions of the table's types, reached by to_jsonb) runs with the rights of
-- the role that controls that code, never more. Should the table change owner, capture stops
-- until enable_outbox attaches it again for the new owner.
-- It has no SET search_path, which costs a single-row write as much as the rest of its capture:
-- the common case (one row inserted, updated or deleted) is one statement naming everything with
-- its schema, operators too, so the writer's search path reaches nothing; every other case runs
-- under a fixed search path set for its duration.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_capture_body()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $body$ SELECT replace(replace($src$
DECLARE
  v_wake     boolean;
  v_path     text;
  v_keys     text[];
  v_inserted bigint := 0;
  v_deleted  bigint := 0;
  v_project  text;
  v_sort     text;
  v_parts    text[] := '{}';
  v_ins_rows jsonb;
  v_del_rows jsonb;
  v_id       bigint;
  v_owner    oid;
BEGIN
  -- One row (NOT EXISTS ... OFFSET 1: no second row, cheaper than counting), while the table has
  -- the owner the capture was attached for; RETURNING says whether a relay waits for rows.
  IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND @threshold@ OPERATOR(pg_catalog.>=) 1 THEN
    INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count)
    SELECT pg_catalog.jsonb_build_object('v', 1, 'inserted', pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(pgt_row.*)),
                                         'deleted', '[]'::pg_catalog.jsonb, 'full_refresh', false), 1, 0
    FROM pgt_new AS pgt_row
    WHERE NOT EXISTS (SELECT FROM pgt_new OFFSET 1)
      AND @owner_unchanged@
    @wake_waiting_relay@;
  ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND @threshold@ OPERATOR(pg_catalog.>=) 2 THEN
    -- An UPDATE's old and new rows are as many: one of each.
    INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count)
    SELECT pg_catalog.jsonb_build_object('v', 1, 'inserted', pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(n.*)),
                                         'deleted', pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(o.*)), 'full_refresh', false), 1, 1
    FROM pgt_new AS n, pgt_old AS o
    WHERE NOT EXISTS (SELECT FROM pgt_new OFFSET 1)
      AND @owner_unchanged@
    @wake_waiting_relay@;
  ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND @threshold@ OPERATOR(pg_catalog.>=) 1 THEN
    INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count)
    SELECT pg_catalog.jsonb_build_object('v', 1, 'inserted', '[]'::pg_catalog.jsonb,
                                         'deleted', pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(pgt_row.*)), 'full_refresh', false), 0, 1
    FROM pgt_old AS pgt_row
    WHERE NOT EXISTS (SELECT FROM pgt_old OFFSET 1)
      AND @owner_unchanged@
    @wake_waiting_relay@;
  END IF;
  IF FOUND THEN
    IF v_wake THEN
      PERFORM pg_catalog.pg_notify('pgtrickle_outbox_new', @name@);
    END IF;
    RETURN NULL;
  END IF;

  -- Every other case, under a fixed search path; the writer's is restored after it (an error rolls
  -- it back with the statement).
  v_path := pg_catalog.current_setting('search_path');
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pgtrickle, pg_temp', true);
  <<other_cases>>
  BEGIN
    SELECT c.relowner INTO v_owner FROM pg_catalog.pg_class AS c WHERE c.oid = TG_RELID;
    IF v_owner IS DISTINCT FROM @owner@::oid THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('table %I.%I now belongs to role %s, but its outbox capture was set up for role %s: '
                         'capture stops rather than run with the former owner''s rights',
                         TG_TABLE_SCHEMA, TG_TABLE_NAME, v_owner::regrole, @owner@::oid::regrole),
        HINT = format('Run SELECT pgtrickle.enable_outbox(%L) again: it attaches the capture for the new owner.',
                      format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
    END IF;

    IF TG_OP = 'TRUNCATE' THEN
      INSERT INTO pgtrickle.@outbox@ (payload)
      VALUES ('{"v": 1, "inserted": [], "deleted": [], "full_refresh": true, "truncated": true}'::jsonb);
      EXIT other_cases;
    END IF;

    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      SELECT count(*) INTO v_inserted FROM pgt_new;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      SELECT count(*) INTO v_deleted FROM pgt_old;
    END IF;
    IF v_inserted + v_deleted = 0 THEN
      EXIT other_cases;
    END IF;

    -- The row identity, read live so it survives key changes: primary key columns, else replica
    -- identity index columns (as pgtrickle._outbox_key_columns).
    v_keys := NULLIF(ARRAY(
      SELECT a.attname::text
      FROM pg_catalog.pg_index AS i
      CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indexrelid = (SELECT x.indexrelid FROM pg_catalog.pg_index AS x
                            WHERE x.indrelid = TG_RELID AND (x.indisprimary OR x.indisreplident)
                            ORDER BY x.indisprimary DESC LIMIT 1)
      ORDER BY k.ord), '{}');

    IF v_inserted + v_deleted <= @threshold@ THEN
      -- Several rows: in key order, so the payload does not depend on the plan.
      v_sort := coalesce('ORDER BY ' || (SELECT string_agg(format('pgt_row.%I', k), ', ') FROM unnest(v_keys) AS k), '');
      IF v_inserted > 0 THEN
        EXECUTE format('SELECT jsonb_agg(to_jsonb(pgt_row.*) %s) FROM pgt_new AS pgt_row', v_sort) INTO v_ins_rows;
      END IF;
      IF v_deleted > 0 THEN
        EXECUTE format('SELECT jsonb_agg(to_jsonb(pgt_row.*) %s) FROM pgt_old AS pgt_row', v_sort) INTO v_del_rows;
      END IF;
      INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count)
      VALUES (jsonb_build_object('v', 1, 'inserted', coalesce(v_ins_rows, '[]'), 'deleted', coalesce(v_del_rows, '[]'),
                                 'full_refresh', false),
              v_inserted, v_deleted);
      EXIT other_cases;
    END IF;

    -- Claim check: rows go to the delta table, numbered in key order with a key's DELETE right
    -- before its INSERT, so a reader streaming them pairs an update's old and new row.
    INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count, is_claim_check)
    VALUES (jsonb_build_object('v', 1, 'claim_check', true, 'inserted_count', v_inserted, 'deleted_count', v_deleted,
                               'full_refresh', false),
            v_inserted, v_deleted, true)
    RETURNING id INTO v_id;
    v_project := coalesce((SELECT string_agg(format(', pgt_row.%I AS k%s', k, i), '' ORDER BY i)
                           FROM unnest(v_keys) WITH ORDINALITY AS u(k, i)), '');
    v_sort := coalesce((SELECT string_agg(format('k%s, ', i), '' ORDER BY i)
                        FROM generate_subscripts(v_keys, 1) AS i), '') || 'op_rank';
    IF v_deleted > 0 THEN
      v_parts := v_parts || format('SELECT ''DELETE''::text AS row_op, 0 AS op_rank, to_jsonb(pgt_row.*) AS row_data%s '
                                   'FROM pgt_old AS pgt_row', v_project);
    END IF;
    IF v_inserted > 0 THEN
      v_parts := v_parts || format('SELECT ''INSERT''::text AS row_op, 1 AS op_rank, to_jsonb(pgt_row.*) AS row_data%s '
                                   'FROM pgt_new AS pgt_row', v_project);
    END IF;
    EXECUTE format('INSERT INTO pgtrickle.%I (outbox_id, row_num, row_op, row_data) '
                   'SELECT $1, row_number() OVER (ORDER BY %s), row_op, row_data FROM (%s) AS s',
                   @delta@::text, v_sort, array_to_string(v_parts, ' UNION ALL '))
      USING v_id;
  END;
  IF v_inserted + v_deleted > 0 OR TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT FROM pgtrickle.outbox_waiters AS w WHERE w.outbox = @name@) THEN
      PERFORM pg_notify('pgtrickle_outbox_new', @name@);
    END IF;
  END IF;
  PERFORM pg_catalog.set_config('search_path', v_path, true);
  RETURN NULL;
END
$src$,
  -- The table still has the owner the capture was attached for.
  '@owner_unchanged@', $f$(SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid OPERATOR(pg_catalog.=) TG_RELID)
                          OPERATOR(pg_catalog.=) @owner@::pg_catalog.oid$f$),
  -- Whether a relay waits for rows, into v_wake.
  '@wake_waiting_relay@', $f$RETURNING EXISTS (SELECT FROM pgtrickle.outbox_waiters AS w WHERE w.outbox OPERATOR(pg_catalog.=) @name@)
                             INTO v_wake$f$) $body$;

-- The name of an outbox's capture function (outbox names may be any text).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_capture_function(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '_outbox_capture_' || left(md5(p_outbox), 16) $$;

-- What a table's capture function does, granted to the table's owner (p_owner, for which the
-- session acts): USAGE on schema pgtrickle, INSERT on the outbox and its delta table (and SELECT
-- of the outbox's id, which the claim check reads back). A former owner (p_former) loses them.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_grant_capture(t pgtrickle.outbox_tables, p_former oid)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rel   regclass := pgtrickle._outbox_source(t);
  v_owner oid := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = v_rel);
  v_me    oid := (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user);
BEGIN
  -- Only an outbox of the catalog, for its table's current owner.
  SELECT * INTO STRICT t FROM pgtrickle.outbox_tables AS o WHERE o.outbox_name = t.outbox_name;
  v_rel := pgtrickle._outbox_source(t);
  v_owner := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = v_rel);
  PERFORM pgtrickle._relay_require_owner('enable_outbox', v_rel);
  IF p_former IS NOT NULL AND p_former <> v_owner AND p_former <> v_me
     AND EXISTS (SELECT FROM pg_roles AS r WHERE r.oid = p_former) THEN
    EXECUTE format('REVOKE ALL ON pgtrickle.%I, pgtrickle.%I FROM %s', t.outbox_name, t.delta_table, p_former::regrole);
  END IF;
  IF v_owner <> v_me THEN
    EXECUTE format('GRANT USAGE ON SCHEMA pgtrickle TO %1$s;
                    GRANT INSERT, SELECT (id) ON pgtrickle.%2$I TO %1$s;
                    GRANT INSERT ON pgtrickle.%3$I TO %1$s', v_owner::regrole, t.outbox_name, t.delta_table);
  END IF;
END
$$;

-- (Re)creates a table outbox's capture function and triggers, owned by the table's owner and made
-- as that owner (_relay_as_owner), for a session that acts for it. A capture function a former
-- owner of the table left is dropped as that owner when the session acts for it too (a
-- superuser's does), else the change of owner is refused, naming what to do.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_attach(t pgtrickle.outbox_tables)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_fn        text := pgtrickle._outbox_capture_function(t.outbox_name);
  v_rel       regclass := pgtrickle._outbox_source(t);
  v_owner     oid := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = v_rel);
  v_old_owner oid := (SELECT p.proowner FROM pg_proc AS p WHERE p.oid = to_regprocedure(format('pgtrickle.%I()', v_fn)));
  v_triggers  text := format($ddl$
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_insert AFTER INSERT ON %1$s
      REFERENCING NEW TABLE AS pgt_new
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_update AFTER UPDATE ON %1$s
      REFERENCING OLD TABLE AS pgt_old NEW TABLE AS pgt_new
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_delete AFTER DELETE ON %1$s
      REFERENCING OLD TABLE AS pgt_old
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_truncate AFTER TRUNCATE ON %1$s
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
  $ddl$, v_rel, t.outbox_name, v_fn);
BEGIN
  PERFORM pgtrickle._relay_require_owner('enable_outbox', v_rel);
  IF v_old_owner IS NOT NULL AND v_old_owner <> v_owner THEN
    IF NOT pg_has_role(session_user, v_old_owner, 'USAGE') THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('enable_outbox: the capture function pgtrickle.%I() of table %s belongs to role %s, its former owner, '
                         'and role %s does not act for it', v_fn, v_rel, v_old_owner::regrole, session_user),
        HINT = format('Its former owner (or a superuser) runs SELECT pgtrickle.enable_outbox(%L) again, or drops the function: '
                      'DROP FUNCTION pgtrickle.%I() CASCADE;', v_rel::text, v_fn);
    END IF;
    -- Its triggers go first (the table's owner's), then the function, as its owner.
    PERFORM pgtrickle._outbox_detach(v_rel);
    PERFORM pgtrickle._relay_as_role(v_old_owner, format('DROP FUNCTION pgtrickle.%I()', v_fn));
  END IF;
  PERFORM pgtrickle._relay_as_owner(v_rel, 'enable_outbox', format(
    'CREATE OR REPLACE FUNCTION pgtrickle.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS %L;
     REVOKE ALL ON FUNCTION pgtrickle.%1$I() FROM PUBLIC;',   -- only ever run as a trigger
    v_fn, replace(replace(replace(replace(replace(pgtrickle._outbox_capture_body(),
      '@outbox@', quote_ident(t.outbox_name)),
      '@name@', quote_literal(t.outbox_name)),
      '@delta@', quote_literal(t.delta_table)),
      '@threshold@', t.inline_threshold_rows::text),
      '@owner@', v_owner::text)) || v_triggers);
  PERFORM pgtrickle._outbox_grant_capture(t, v_old_owner);
END
$$;

-- ---- WAL capture: rows rendered as the table's owner -----------------------------------------
--
-- The relay reads a WAL-captured table's changes as text and renders them through the column
-- types (casts, domains' checks, to_jsonb of the owner's types) and reads an unchanged TOASTed
-- value from the table (its row security policies): code the table's owner controls. It runs in
-- a function owned by, and run as, that owner, made from the template below for each such table;
-- the relay calls it through _wal_render, the installer's, which undoes whatever that code changed
-- in the session (a subtransaction always rolled back), so the owner's code never runs with the
-- relay's rights (which read every pipeline's raw config) nor leaves a setting behind.

-- The template (called as is for pgstream.events, the installer's table; copied into each owner's
-- render function): rows of p_rel from the WAL. p_columns: [{"name", "type" (oid), "mod", "key"}] as the WAL described the table when the
-- rows were written (a backlog read after a column was added or dropped keeps each row's shape of
-- its time); p_rows: [{"row": {column: text}, "fill": bool, "key_only": bool}]. Each row comes out as
-- to_jsonb renders it: every value rebuilt by its type's input function. p_rows NULL: the query
-- itself, its parameter $1 the rows, as the one row returned (which _wal_render_tables prepares).
-- p_columns may also be {"columns": [...], "filter": "<condition>"}: a value is read from the table
-- only from a row the condition (a publication's row filter) lets through.
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_template(p_rel regclass, p_columns jsonb, p_rows jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_pubs   text[] := CASE WHEN pg_catalog.jsonb_typeof(p_columns) = 'object' AND pg_catalog.jsonb_typeof(p_columns -> 'publications') = 'array'
                          THEN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(p_columns -> 'publications')) END;
  v_filter text;
  v_keyset text[];
  c        record;
  v_object text := '';
  v_match  text := '';
  v_keys   text := '';
  v_name   text;
  v_type   text;
  v_value  text;
  v_query  text;
BEGIN
  -- What the caller says of the table is held to the catalog, as this may run as the table's owner:
  -- a value is read from the table only by its key (primary key, else replica identity), only
  -- from a row the row filters of the publications named let through (NULL: one of them
  -- publishes the table whole), and read as its column's type, or a built-in one (another
  -- type, whose input function or CHECK could be anyone's code, is kept as text).
  IF p_rel IS NOT NULL THEN
    v_keyset := ARRAY(SELECT a.attname::text
                      FROM (SELECT i.indkey FROM pg_catalog.pg_index AS i WHERE i.indrelid OPERATOR(pg_catalog.=) p_rel
                              AND (i.indisprimary OR i.indisreplident) ORDER BY i.indisprimary DESC LIMIT 1) AS x
                      CROSS JOIN LATERAL pg_catalog.unnest(x.indkey) AS k(attnum)
                      JOIN pg_catalog.pg_attribute AS a ON a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attnum OPERATOR(pg_catalog.=) k.attnum);
    IF v_pubs IS NOT NULL THEN
      SELECT CASE WHEN bool_or(f.qual IS NULL) THEN NULL ELSE pg_catalog.string_agg(DISTINCT '(' || f.qual || ')', ' OR ') END INTO v_filter
      FROM (SELECT pg_catalog.pg_get_expr(r.prqual, r.prrelid) AS qual
            FROM pg_catalog.pg_publication AS p JOIN pg_catalog.pg_publication_rel AS r ON r.prpubid OPERATOR(pg_catalog.=) p.oid
            WHERE p.pubname::text = ANY (v_pubs) AND r.prrelid OPERATOR(pg_catalog.=) p_rel
            UNION ALL
            SELECT NULL
            FROM pg_catalog.pg_publication AS p JOIN pg_catalog.pg_publication_namespace AS n ON n.pnpubid OPERATOR(pg_catalog.=) p.oid
            WHERE p.pubname::text = ANY (v_pubs)
              AND n.pnnspid OPERATOR(pg_catalog.=) (SELECT t.relnamespace FROM pg_catalog.pg_class AS t WHERE t.oid OPERATOR(pg_catalog.=) p_rel)) AS f;
    END IF;
  END IF;
  FOR c IN SELECT x.c ->> 'name' AS name,
                  CASE WHEN p_rel IS NULL OR (x.c ->> 'type')::oid < 16384
                         OR (x.c ->> 'type')::oid = (SELECT a.atttypid FROM pg_catalog.pg_attribute AS a
                                                    WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attname = x.c ->> 'name'
                                                      AND NOT a.attisdropped)
                       THEN (x.c ->> 'type')::oid ELSE 25 END AS type,
                  CASE WHEN p_rel IS NULL OR (x.c ->> 'type')::oid < 16384
                         OR (x.c ->> 'type')::oid = (SELECT a.atttypid FROM pg_catalog.pg_attribute AS a
                                                    WHERE a.attrelid OPERATOR(pg_catalog.=) p_rel AND a.attname = x.c ->> 'name'
                                                      AND NOT a.attisdropped)
                       THEN (x.c ->> 'mod')::int ELSE -1 END AS mod,
                  coalesce((x.c ->> 'key')::boolean, false) AND (p_rel IS NULL OR x.c ->> 'name' = ANY (v_keyset)) AS key, x.n
           FROM pg_catalog.jsonb_array_elements(CASE WHEN pg_catalog.jsonb_typeof(p_columns) = 'object' THEN p_columns -> 'columns'
                                                     ELSE p_columns END) WITH ORDINALITY AS x(c, n) ORDER BY x.n LOOP
    v_name := pg_catalog.quote_literal(c.name);
    v_type := pg_catalog.format_type(c.type, c.mod);
    -- A JSON value stays JSON (cast from its text it would become a JSON string).
    v_value := CASE WHEN c.type IN (114, 3802) THEN pg_catalog.format('r.x->%s', v_name)
                    ELSE pg_catalog.format('to_jsonb((r.x->>%s)::%s)', v_name, v_type) END;
    -- jsonb_build_object takes at most 50 pairs: wider rows are built in parts.
    v_object := v_object || CASE WHEN c.n = 1 THEN 'jsonb_build_object(' WHEN (c.n - 1) % 50 = 0 THEN ') || jsonb_build_object(' ELSE ', ' END
                || pg_catalog.format('%1$s, CASE WHEN r.x ? %1$s THEN %2$s ELSE r.cur->%1$s END', v_name, v_value);
    IF c.key THEN
      v_keys := v_keys || CASE WHEN v_keys = '' THEN '' ELSE ', ' END || v_name;
      v_match := v_match || CASE WHEN v_match = '' THEN '' ELSE ' AND ' END
                 || pg_catalog.format('cur.%I = (r.x->>%s)::%s', c.name, v_name, v_type);
    END IF;
  END LOOP;
  -- A value the WAL left out (an unchanged TOASTed one) is the current row's, found by the key; a
  -- key-only row (an old row of which the WAL carries only the key) keeps the key's columns.
  v_query := pg_catalog.format(
    'SELECT CASE WHEN (e.x->>''key_only'')::boolean '
    'THEN (SELECT coalesce(jsonb_object_agg(j.key, j.value), ''{}'') FROM jsonb_each(o.row) AS j WHERE j.key = ANY (ARRAY[%s]::text[])) '
    'ELSE o.row END::text '
    'FROM jsonb_array_elements($1) WITH ORDINALITY AS e(x, n) '
    'CROSS JOIN LATERAL (SELECT e.x->''row'' AS x, CASE WHEN (e.x->>''fill'')::boolean THEN %s END AS cur '
    '                    FROM (SELECT e.x->''row'' AS x) AS r) AS r '
    'CROSS JOIN LATERAL (SELECT %s AS row) AS o ORDER BY e.n',
    v_keys,
    CASE WHEN v_match = '' OR p_rel IS NULL THEN 'NULL::jsonb'
         ELSE pg_catalog.format('(SELECT to_jsonb(cur) FROM %s AS cur WHERE %s%s)', p_rel, v_match,
                                coalesce(' AND (' || v_filter || E'\n)', '')) END,
    CASE WHEN v_object = '' THEN '''{}''::jsonb' ELSE v_object || ')' END);
  IF p_rows IS NULL THEN
    RETURN NEXT v_query;
  ELSE
    RETURN QUERY EXECUTE v_query USING p_rows;
  END IF;
END
$$;
DROP FUNCTION IF EXISTS pgtrickle._wal_rows_template(regclass, oid[], int[], text[], boolean[], jsonb);

-- The name of a WAL-captured outbox's render function.
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_function(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '_wal_rows_' || left(md5(p_outbox), 16) $$;

-- A function made to run as a table's owner (rendering its WAL rows, reading it for a backfill)
-- belongs to that owner, who may ALTER it: made SECURITY INVOKER, or given a search path of the
-- owner's, the owner's code in it would run with its caller's rights (the relay's, the installer's).
-- So it is used only as made: run as its owner, the table's owner, with the search path it was
-- made with. On an install by a superuser, an event trigger refuses the ALTER itself
-- (pgtrickle._relay_functions_kept, 20_privileges.sql); this check keeps the rest.
CREATE OR REPLACE FUNCTION pgtrickle._relay_owner_function_intact(p_fn regprocedure, p_rel regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce((SELECT p.prosecdef AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp']
                          AND p.proowner = (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel)
                   FROM pg_proc AS p WHERE p.oid = p_fn), false)
$$;

-- The body of table p_rel's render function: the template, for that table alone, whatever table
-- the caller names (the template holds the rest of what it is told to the catalog).
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_function_src(p_rel regclass)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT format('SELECT pgtrickle._wal_rows_template(%s::pg_catalog.regclass, p_columns, p_rows)', p_rel::oid) $$;

-- The DDL of render function p_name for table p_rel, to run as the table's owner: the template
-- run as that owner, for that table alone, callable by the relay's role (_wal_render and
-- _wal_render_table, which it runs), by nobody else.
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_function_ddl(p_name text, p_rel regclass)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF p_name !~ '^_wal_rows_([0-9a-f]{16}|r[0-9]+)$' THEN
    RAISE EXCEPTION 'pgtrickle-relay: % is not the name of a render function', p_name;
  END IF;
  RETURN format('CREATE OR REPLACE FUNCTION pgtrickle.%1$I(p_rel pg_catalog.regclass, p_columns pg_catalog.jsonb, p_rows pg_catalog.jsonb) '
                'RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp '
                'AS %2$L; '
                'REVOKE ALL ON FUNCTION pgtrickle.%1$I(pg_catalog.regclass, pg_catalog.jsonb, pg_catalog.jsonb) FROM PUBLIC; '
                'GRANT EXECUTE ON FUNCTION pgtrickle.%1$I(pg_catalog.regclass, pg_catalog.jsonb, pg_catalog.jsonb) TO pgtrickle_relay;',
                p_name, pgtrickle._wal_rows_function_src(p_rel));
END
$$;

-- (Re)creates render function p_name for table p_rel, as the table's owner, for a session acting
-- for it (enable_outbox). Returns it.
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_function_set(p_name text, p_rel regclass)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_fn  regprocedure := to_regprocedure(format('pgtrickle.%I(regclass, jsonb, jsonb)', p_name));
  v_old oid := (SELECT p.proowner FROM pg_proc AS p WHERE p.oid = v_fn);
BEGIN
  IF v_old IS NOT NULL AND v_old <> (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel) THEN
    -- A former owner's: dropped as it (its template run as that owner is no longer the table's).
    IF NOT pg_has_role(session_user, v_old, 'USAGE') THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('enable_outbox: the render function %s of table %s belongs to role %s, its former owner, '
                         'and role %s does not act for it', v_fn, p_rel, v_old::regrole, session_user),
        HINT = format('Its former owner (or a superuser) drops it: DROP FUNCTION %s;', v_fn);
    END IF;
    PERFORM pgtrickle._relay_as_role(v_old, format('DROP FUNCTION %s', v_fn));
  END IF;
  PERFORM pgtrickle._relay_as_owner(p_rel, 'enable_outbox', pgtrickle._wal_rows_function_ddl(p_name, p_rel));
  RETURN format('pgtrickle.%I(regclass, jsonb, jsonb)', p_name)::regprocedure;
END
$$;
DROP FUNCTION IF EXISTS pgtrickle._wal_rows_make(pgtrickle.outbox_tables);

-- Runs p_fn, a table owner's render function, on the rows, in a subtransaction always rolled
-- back once its rows are in hand, and clears what a rollback leaves (_relay_session_clear) however
-- it ends, a cancel or an assertion of the owner's code included: nothing the owner's code did
-- outlives the call. Called by the installer's _wal_render and _wal_render_table only.
CREATE OR REPLACE FUNCTION pgtrickle._wal_render_as_owner(p_fn regprocedure, p_rel regclass, p_columns jsonb, p_rows jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_out  text[];
  v_done boolean := false;   -- a variable outlives the rollback: tells our own P0004 from the owner's code's errors
BEGIN
  BEGIN
    EXECUTE format('SELECT array_agg(r.r ORDER BY r.n) FROM %s($1, $2, $3) WITH ORDINALITY AS r(r, n)', p_fn::regproc)
    INTO v_out USING p_rel, p_columns, p_rows;
    v_done := true;
    RAISE EXCEPTION USING ERRCODE = 'P0004';
  EXCEPTION WHEN query_canceled OR assert_failure OR OTHERS THEN
    PERFORM pgtrickle._relay_session_clear();
    IF NOT v_done THEN
      RAISE;
    END IF;
  END;
  RETURN QUERY SELECT u.r FROM unnest(v_out) WITH ORDINALITY AS u(r, n) ORDER BY u.n;
END
$$;

-- Rows of built-in types only, none needing a value from the table: no code of the owner's can
-- run for them (a built-in type's input function and to_jsonb are PostgreSQL's), so they need
-- neither the owner's function nor its subtransaction.
CREATE OR REPLACE FUNCTION pgtrickle._wal_plain(p_columns jsonb, p_rows jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT NOT EXISTS (SELECT FROM jsonb_array_elements(p_columns) AS c WHERE (c ->> 'type')::oid >= 16384)
     AND NOT EXISTS (SELECT FROM jsonb_array_elements(p_rows) AS r WHERE (r ->> 'fill')::boolean)
$$;

-- Such rows rendered by the template's query, planned for each call: a statement found in the
-- session by name could be anyone's (a caller prepares one under the name, and a SECURITY DEFINER
-- caller of this function would run it with its rights).
CREATE OR REPLACE FUNCTION pgtrickle._wal_render_plain(p_columns jsonb, p_rows jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN QUERY EXECUTE (SELECT q FROM pgtrickle._wal_rows_template(NULL, p_columns, NULL) AS q) USING p_rows;
END
$$;

-- What the relay calls to render rows of a table captured from the WAL (schema and table as the
-- WAL names them; p_columns and p_rows as the template takes them): the owner's render function,
-- in a subtransaction always rolled back once its rows are in hand, so nothing the owner's code did
-- outlives the call. pgstream.events, the installer's, is rendered directly.
CREATE OR REPLACE FUNCTION pgtrickle._wal_render(p_schema text, p_table text, p_columns jsonb, p_rows jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t      pgtrickle.outbox_tables;
  v_rel  regclass;
  v_fn   regprocedure;
BEGIN
  IF pgtrickle._wal_plain(p_columns, p_rows) THEN
    RETURN QUERY SELECT r FROM pgtrickle._wal_render_plain(p_columns, p_rows) AS r;
    RETURN;
  END IF;
  IF (p_schema, p_table) = ('pgstream', 'events') THEN
    RETURN QUERY SELECT pgtrickle._wal_rows_template('pgstream.events'::regclass, p_columns, p_rows);
    RETURN;
  END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables AS o WHERE o.source_schema = p_schema AND o.source_table = p_table AND o.capture = 'wal';
  v_rel := pgtrickle._outbox_source(t);
  v_fn := to_regprocedure(format('pgtrickle.%I(regclass, jsonb, jsonb)', pgtrickle._wal_rows_function(t.outbox_name)));
  IF v_rel IS NULL OR v_fn IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('table %I.%I is not captured from the WAL by this install, or its render function is missing', p_schema, p_table),
      HINT = format('Capture it again: SELECT pgtrickle.enable_outbox(%L, capture => ''wal'') (or run `pgtrickle-relay install` again).',
                    format('%I.%I', p_schema, p_table));
  END IF;
  IF NOT pgtrickle._relay_owner_function_intact(v_fn, v_rel) THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('table %s changed owner, or its owner altered the function its rows are rendered with (%s): they are '
                       'rendered as the table''s owner, and are not until its capture is attached again', v_rel, v_fn),
      HINT = format('Run SELECT pgtrickle.enable_outbox(%L, capture => ''wal'') as the table''s owner (or a superuser).', v_rel::text);
  END IF;
  RETURN QUERY SELECT r FROM pgtrickle._wal_render_as_owner(v_fn, v_rel, p_columns, p_rows) AS r;
END
$$;
DROP FUNCTION IF EXISTS pgtrickle._wal_render(text, text, oid[], int[], text[], boolean[], jsonb);

-- inline_threshold_rows is written into the capture function: a change attaches it again.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_threshold_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF pgtrickle._outbox_source(NEW) IS NOT NULL THEN
    PERFORM pgtrickle._outbox_attach(NEW);
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER outbox_tables_threshold
  AFTER UPDATE OF inline_threshold_rows ON pgtrickle.outbox_tables
  FOR EACH ROW WHEN (OLD.inline_threshold_rows IS DISTINCT FROM NEW.inline_threshold_rows)
  EXECUTE FUNCTION pgtrickle._outbox_threshold_changed();

-- Every table outbox is attached again on each install: capture functions of earlier installs
-- (one shared function, or functions owned by the installing role) are replaced.
DO $$
DECLARE
  t pgtrickle.outbox_tables;
BEGIN
  FOR t IN SELECT * FROM pgtrickle.outbox_tables AS o WHERE pgtrickle._outbox_source(o) IS NOT NULL LOOP
    BEGIN
      IF t.capture = 'wal' THEN
        -- No trigger (earlier installs attached one again here): its render function instead,
        -- and the relay's role no longer reads the table itself.
        PERFORM pgtrickle._outbox_detach(pgtrickle._outbox_source(t));
        PERFORM pgtrickle._wal_rows_function_set(pgtrickle._wal_rows_function(t.outbox_name), pgtrickle._outbox_source(t));
        -- Its publication is the table's owner's, who drops it with disable_outbox (earlier installs made it their own).
        PERFORM pgtrickle._relay_as_role(p.pubowner, format('ALTER PUBLICATION %I OWNER TO %I', p.pubname, r.rolname))
        FROM pg_publication AS p JOIN pg_class AS c ON c.oid = pgtrickle._outbox_source(t) JOIN pg_roles AS r ON r.oid = c.relowner
        WHERE p.pubname = pgtrickle._relay_publication_of(pgtrickle._outbox_source(t)) AND p.pubowner <> c.relowner;
        EXECUTE format('REVOKE SELECT ON %s FROM pgtrickle_relay', pgtrickle._outbox_source(t));
      ELSE
        PERFORM pgtrickle._outbox_attach(t);
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'table %.% keeps its earlier capture trigger: %', t.source_schema, t.source_table, SQLERRM
        USING HINT = 'Run SELECT pgtrickle.enable_outbox(...) for it as a superuser.';
    END;
  END LOOP;
  -- The shared function of older installs goes once no trigger uses it.
  IF to_regprocedure('pgtrickle._outbox_capture()') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgfoid = to_regprocedure('pgtrickle._outbox_capture()')) THEN
    DROP FUNCTION pgtrickle._outbox_capture();
  END IF;
END
$$;
