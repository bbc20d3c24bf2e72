-- ============================================================================================
-- Backfill: a forward pipeline sends its table's existing rows (op "read"), then carries on
--
-- backfill_relay(name) records a backfill. The relay that owns the pipeline reads the table in
-- primary-key chunks through a function made for that backfill, owned by the table's owner (the
-- relay's role needs no right on the table, and a condition runs with no more rights than the
-- owner's). Each chunk is read between two positions of the pipeline's change stream and its rows
-- go out where the stream passes the second one, less those changed in between, whose changes
-- carry them: the last message of every key is its current row. No lock beyond a plain SELECT, no
-- transaction open longer than one chunk. The progress is stored with the pipeline's position, in
-- the same statement, so a relay that dies or hands the pipeline over resumes at the next chunk.
-- ============================================================================================

-- The function that reads a backfill's chunks, (after jsonb, limit int, text_columns text[]): its
-- table's standing read function pgtrickle._backfill_rows_t<oid>, or for a backfill with a
-- condition, pgtrickle._backfill_rows_<id>, made for it by the session that asked for it.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_function(p_id bigint)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN b.where_clause IS NULL THEN '_backfill_rows_t' || b.source_oid::text ELSE '_backfill_rows_' || p_id END
  FROM pgtrickle.relay_backfills AS b WHERE b.id = p_id
$$;

-- The relay calls it before each chunk, in the chunk's transaction: the chunk function is as made
-- (pgtrickle._relay_owner_function_intact), else its owner's code would run as the relay.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_intact(p_id bigint)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_rel oid := (SELECT b.source_oid FROM pgtrickle.relay_backfills AS b WHERE b.id = p_id);
  v_fn  regprocedure := to_regprocedure(format('pgtrickle.%I(jsonb, int, text[])', pgtrickle._relay_backfill_function(p_id)));
BEGIN
  IF v_fn IS NULL OR NOT pgtrickle._relay_owner_function_intact(v_fn, v_rel) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('backfill %s: its chunk function %s is missing or no longer runs as the table''s owner as it was made (the '
                       'table changed owner, or its owner altered the function), so it is not called', p_id,
                       coalesce(v_fn::text, pgtrickle._relay_backfill_function(p_id))),
      HINT = 'A role acting for the table''s owner makes it again (SELECT pgtrickle._relay_backfill_table_ensure(<table>)), '
             'or starts the backfill again: SELECT pgtrickle.backfill_relay(<pipeline>).';
  END IF;
END
$$;

-- The body of a backfill's chunk function, for a table and its key: $2 rows in key order after the
-- key $1 (a JSON object of the key's columns; NULL: from the start), each as row_to_json renders it
-- (the values capture's to_jsonb gives, in column order; row_to_json costs the server a third less),
-- but the columns p_text_columns names as their text (a Debezium pipeline's PostGIS values and, with
-- include_unknown_datatypes, composites: as its WAL rows carry them); with $2 NULL, the planner's
-- estimate of the rows to send, as text. Parameters are used by number so that no column name can
-- shadow them.
DROP FUNCTION IF EXISTS pgtrickle._relay_backfill_body(regclass, text[], text);
DROP FUNCTION IF EXISTS pgtrickle._relay_backfill_body(regclass, text[], text, text[]);
CREATE FUNCTION pgtrickle._relay_backfill_body(p_rel regclass, p_keys text[], p_where text, p_text_columns text[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH k AS (
    SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY o.ord) AS cols,
           string_agg(format('(($1 ->> %L))::%s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o.ord) AS after
    FROM unnest(p_keys) WITH ORDINALITY AS o(name, ord)
    JOIN pg_attribute AS a ON a.attrelid = p_rel AND a.attname = o.name AND NOT a.attisdropped
  ), c AS (
    SELECT coalesce('(' || p_where || E'\n)', 'true') AS cond
  ), r AS (
    SELECT coalesce('(pg_catalog.row_to_json(t)::pg_catalog.jsonb || pg_catalog.jsonb_build_object('
                    || string_agg(format('%L, t.%I::pg_catalog.text', a.attname, a.attname), ', ' ORDER BY a.attnum)
                    || '))::text',
                    'pg_catalog.row_to_json(t)::text') AS row
    FROM pg_attribute AS a
    WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (p_text_columns)
  )
  SELECT format($b$
DECLARE
  v_plan json;
BEGIN
  IF $2 IS NULL THEN
    EXECUTE %1$L INTO v_plan;
    RETURN NEXT v_plan -> 0 -> 'Plan' ->> 'Plan Rows';
    RETURN;
  END IF;
  IF $1 IS NULL THEN
    RETURN QUERY SELECT %6$s FROM %2$s AS t WHERE %3$s ORDER BY %4$s LIMIT $2;
  ELSE
    RETURN QUERY SELECT %6$s FROM %2$s AS t WHERE (%4$s) > (%5$s) AND %3$s ORDER BY %4$s LIMIT $2;
  END IF;
END
$b$, format('EXPLAIN (FORMAT JSON) SELECT 1 FROM %s AS t WHERE %s', p_rel, c.cond), p_rel, c.cond, k.cols, k.after, r.row)
  FROM k, c, r
$$;

-- ---- A table's standing read function ---------------------------------------------------------
--
-- Made as the table's owner by the session that captures it (enable_outbox, a WAL pipeline's
-- setting, the role making a table in a captured schema), so that a backfill without a condition
-- needs no function made at run time: pgtrickle._backfill_rows_t<oid>(after jsonb, limit int,
-- text_columns text[]): as a chunk function, but the columns to send as their text are given at
-- the call (a Debezium pipeline's), and no condition.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_table_function(p_rel oid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '_backfill_rows_t' || p_rel::text $$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_table_body(p_rel regclass, p_keys text[])
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH k AS (
    SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY o.ord) AS cols,
           string_agg(format('(($1 ->> %L))::%s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o.ord) AS after
    FROM unnest(p_keys) WITH ORDINALITY AS o(name, ord)
    JOIN pg_attribute AS a ON a.attrelid = p_rel AND a.attname = o.name AND NOT a.attisdropped
  )
  SELECT format($b$
DECLARE
  v_plan json;
  v_row  text;
BEGIN
  IF $2 IS NULL THEN
    EXECUTE %1$L INTO v_plan;
    RETURN NEXT v_plan -> 0 -> 'Plan' ->> 'Plan Rows';
    RETURN;
  END IF;
  IF coalesce(cardinality($3), 0) = 0 THEN
    IF $1 IS NULL THEN
      RETURN QUERY SELECT pg_catalog.row_to_json(t)::text FROM %2$s AS t ORDER BY %3$s LIMIT $2;
    ELSE
      RETURN QUERY SELECT pg_catalog.row_to_json(t)::text FROM %2$s AS t WHERE (%3$s) > (%4$s) ORDER BY %3$s LIMIT $2;
    END IF;
    RETURN;
  END IF;
  SELECT '(pg_catalog.row_to_json(t)::pg_catalog.jsonb || pg_catalog.jsonb_build_object('
         || string_agg(format('%%L, t.%%I::pg_catalog.text', a.attname, a.attname), ', ' ORDER BY a.attnum) || '))::text'
  INTO v_row
  FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = %5$s AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY ($3);
  RETURN QUERY EXECUTE pg_catalog.format(CASE WHEN $1 IS NULL THEN %6$L ELSE %7$L END, coalesce(v_row, 'pg_catalog.row_to_json(t)::text'))
    USING $1, $2;
END
$b$, format('EXPLAIN (FORMAT JSON) SELECT 1 FROM %s AS t', p_rel), p_rel, k.cols, k.after, p_rel::oid,
     format('SELECT %%s FROM %s AS t ORDER BY %s LIMIT $2', p_rel, k.cols),
     format('SELECT %%s FROM %s AS t WHERE (%s) > (%s) ORDER BY %s LIMIT $2', p_rel, k.cols, k.after, k.cols))
  FROM k
$$;

-- Makes (or makes again) table p_rel's standing read function as its owner, for a session acting
-- for it; NULL for a table without a key (a backfill of it is refused).
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_table_ensure(p_rel regclass)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name text := pgtrickle._relay_backfill_table_function(p_rel);
  v_keys text[] := pgtrickle._outbox_key_columns(p_rel);
  v_sig  text := format('pgtrickle.%I(jsonb, int, text[])', v_name);
  v_fn   regprocedure := to_regprocedure(v_sig);
  v_body text;
  v_old  oid := (SELECT p.proowner FROM pg_proc AS p WHERE p.oid = v_fn);
BEGIN
  IF v_keys IS NULL THEN
    RETURN NULL;
  END IF;
  v_body := pgtrickle._relay_backfill_table_body(p_rel, v_keys);
  IF v_fn IS NOT NULL AND pgtrickle._relay_owner_function_intact(v_fn, p_rel) AND (SELECT p.prosrc FROM pg_proc AS p WHERE p.oid = v_fn) = v_body THEN
    RETURN v_fn;
  END IF;
  IF v_old IS NOT NULL AND v_old <> (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel) THEN
    PERFORM pgtrickle._relay_as_role(v_old, format('DROP FUNCTION %s', v_sig));   -- a former owner's
  END IF;
  PERFORM pgtrickle._relay_as_owner(p_rel, 'make the function a backfill reads', format(
    'CREATE OR REPLACE FUNCTION %1$s RETURNS SETOF text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %2$L; '
    'REVOKE ALL ON FUNCTION %1$s FROM PUBLIC; GRANT EXECUTE ON FUNCTION %1$s TO pgtrickle_relay, pgtrickle_owner;',
    format('pgtrickle.%I(pg_catalog.jsonb, pg_catalog.int4, pg_catalog.text[])', v_name), v_body));
  RETURN to_regprocedure(v_sig);
END
$$;

-- Records a backfill of a pipeline reading the outbox p_outbox (through its table's read function);
-- returns its id. Callers check who may ask for it.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_create(p_function text, p_pipeline text, p_outbox text, p_where text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t       pgtrickle.outbox_tables;
  v_rel   regclass;
BEGIN
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE outbox_name = p_outbox;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('%s: pipeline "%s" reads an outbox pg_trickle maintains, not a table captured with enable_outbox: '
                       'there is no table to backfill', p_function, p_pipeline),
      HINT = 'Backfill works on pipelines of tables captured with pgtrickle.enable_outbox(table).';
  END IF;
  IF t.source_schema IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('%s: pipeline "%s" reads the event outbox "%s", which has no table to backfill',
                       p_function, p_pipeline, t.source_table);
  END IF;
  v_rel := pgtrickle._outbox_source(t);
  IF v_rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('%s: the table %I.%I that pipeline "%s" captures no longer exists',
                       p_function, t.source_schema, t.source_table, p_pipeline);
  END IF;
  RETURN pgtrickle._relay_backfill_create_for(p_function, p_pipeline, t.outbox_name, v_rel, p_where, '{}');
END
$$;

-- Records a backfill of table p_rel for a pipeline reading p_outbox (an outbox, or a WAL
-- pipeline's publication); returns its id. p_next: the tables to backfill after it, one after the
-- other (a WAL pipeline's). It reads through the table's standing read function (made as its owner
-- when the table was captured); a condition, given only by a session acting for the owner, through
-- a function that session makes for it (_relay_backfill_condition_set, which backfill_relay runs
-- after). Nothing is made here: no role's rights but the caller's. Callers check who may ask for it.
DROP FUNCTION IF EXISTS pgtrickle._relay_backfill_create_for(text, text, text, regclass, text, oid[]);
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_create_for(p_function text, p_pipeline text, p_outbox text, p_rel regclass,
                                                                p_where text, p_next oid[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rel   regclass := p_rel;
  v_keys  text[];
  v_id    bigint;
  v_fn    regprocedure;
  v_config jsonb := (SELECT c.config FROM pgtrickle.relay_outbox_config AS c WHERE c.name = p_pipeline);
  v_text_columns text[] := '{}';
BEGIN
  -- Debezium writes PostGIS values from their text (EWKB), which row_to_json's GeoJSON does not
  -- keep, and with include_unknown_datatypes a composite's text, which row_to_json's object does
  -- not: a Debezium pipeline's rows carry it (as WalSource's text_types and composites_as_text).
  IF v_config ->> 'format' = 'debezium' THEN
    v_text_columns := ARRAY(
      SELECT a.attname FROM pg_attribute AS a JOIN pg_type AS ty ON ty.oid = a.atttypid
      LEFT JOIN pg_type AS e ON e.oid = ty.typelem AND ty.typcategory = 'A'
      WHERE a.attrelid = p_rel AND a.attnum > 0 AND NOT a.attisdropped
        AND (ty.typname IN ('geometry', 'geography', '_geometry', '_geography')
             OR (coalesce((v_config ->> 'include_unknown_datatypes')::boolean, false) AND 'c' IN (ty.typtype, e.typtype)))
      ORDER BY a.attnum);
  END IF;
  v_keys := pgtrickle._outbox_key_columns(v_rel);
  IF v_keys IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('%s: table %s has no primary key, and a backfill reads a table in key order, chunk by chunk',
                       p_function, v_rel),
      HINT = format('Add one (ALTER TABLE %s ADD PRIMARY KEY (...)), or make a unique index on NOT NULL columns its '
                    'replica identity (ALTER TABLE %s REPLICA IDENTITY USING INDEX ...).', v_rel, v_rel);
  END IF;
  IF EXISTS (SELECT 1 FROM pgtrickle.relay_backfills WHERE pipeline = p_pipeline AND state IN ('pending', 'running')) THEN
    RAISE EXCEPTION USING ERRCODE = 'object_in_use',
      MESSAGE = format('%s: a backfill of pipeline "%s" is already under way', p_function, p_pipeline),
      HINT = format('Its progress: SELECT * FROM pgtrickle.relay_backfills WHERE pipeline = %L ORDER BY id DESC LIMIT 1; '
                    'to start over, SELECT pgtrickle.cancel_backfill(%L) first.', p_pipeline, p_pipeline);
  END IF;
  -- A condition becomes code run as the table's owner: only the session of a role acting for that
  -- owner may give one (checked here too, whoever calls this).
  IF nullif(btrim(p_where), '') IS NOT NULL THEN
    PERFORM pgtrickle._relay_require_owner(p_function || ' with a "where" condition (it runs as the table''s owner)', v_rel);
  ELSE
    v_fn := to_regprocedure(format('pgtrickle.%I(jsonb, int, text[])', pgtrickle._relay_backfill_table_function(v_rel)));
    IF v_fn IS NULL OR NOT pgtrickle._relay_owner_function_intact(v_fn, v_rel)
       OR (SELECT p.prosrc FROM pg_proc AS p WHERE p.oid = v_fn) IS DISTINCT FROM pgtrickle._relay_backfill_table_body(v_rel, v_keys) THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('%s: table %s has no read function of its owner %s as this install makes it', p_function, v_rel,
                         (SELECT c.relowner::regrole FROM pg_class AS c WHERE c.oid = v_rel)),
        HINT = format('It is made when the table is captured; a role acting for its owner makes it again: '
                      'SELECT pgtrickle._relay_backfill_table_ensure(%L);', v_rel::text);
    END IF;
  END IF;

  INSERT INTO pgtrickle.relay_backfills (pipeline, outbox, source_schema, source_table, key_columns, where_clause, source_oid, next_tables,
                                         text_columns)
  SELECT p_pipeline, p_outbox, n.nspname, c.relname, v_keys, nullif(btrim(p_where), ''), c.oid, coalesce(p_next, '{}'), v_text_columns
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel
  RETURNING id INTO v_id;

  -- The planner's estimate (with a condition: when its function is made).
  IF v_fn IS NOT NULL THEN
    UPDATE pgtrickle.relay_backfills SET rows_estimated = pgtrickle._relay_backfill_estimate(v_fn, p_function, v_rel, NULL) WHERE id = v_id;
  END IF;
  -- The pipeline's reader wakes up and starts it.
  PERFORM pg_notify('pgtrickle_outbox_new', p_outbox);
  RETURN v_id;
END
$$;

-- Makes backfill p_id's condition function as the table's owner, for the session acting for it
-- that asked for the backfill (backfill_relay), with the estimate; nothing for a backfill without
-- a condition. The owner's code runs only as the owner, and in a subtransaction always rolled back
-- (the estimate); a condition that does not compile is refused, naming it.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_condition_set(p_function text, p_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  b       pgtrickle.relay_backfills;
  v_rel   regclass;
  v_fn    text := '_backfill_rows_' || p_id;
  v_sig   text;
  v_error text;
BEGIN
  SELECT * INTO b FROM pgtrickle.relay_backfills AS x WHERE x.id = p_id;
  IF b.where_clause IS NULL THEN
    RETURN;
  END IF;
  v_rel := b.source_oid::regclass;
  v_sig := format('pgtrickle.%I(pg_catalog.jsonb, pg_catalog.int4, pg_catalog.text[])', v_fn);
  BEGIN
    PERFORM pgtrickle._relay_as_owner(v_rel, p_function || ' with a "where" condition (it runs as the table''s owner)', format(
      'CREATE FUNCTION %1$s RETURNS SETOF text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %2$L; '
      'REVOKE ALL ON FUNCTION %1$s FROM PUBLIC; GRANT EXECUTE ON FUNCTION %1$s TO pgtrickle_relay;',
      v_sig, pgtrickle._relay_backfill_body(v_rel, b.key_columns, b.where_clause, b.text_columns)));
  EXCEPTION WHEN syntax_error OR undefined_column OR undefined_function OR datatype_mismatch OR undefined_table THEN
    GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('%s: the condition %L does not compile: %s', p_function, b.where_clause, v_error),
      HINT = 'Give a boolean SQL expression over the table''s columns, e.g. ''region = ''''eu''''''; names outside '
             'pg_catalog are written with their schema.';
  END;
  PERFORM pgtrickle._relay_backfill_estimated(p_id, pgtrickle._relay_backfill_estimate(v_sig::regprocedure, p_function, v_rel, b.where_clause));
END
$$;

-- The planner's estimate of the rows read function p_fn will read, run as the table's owner (its
-- condition p_where, its row security policies' functions folded while planning): in a
-- subtransaction that is always rolled back, so nothing it changed outlives it, a setting made for
-- the session (search_path) included, and what a rollback leaves (prepared statements, advisory
-- locks) cleared however it ends. An error planning a condition names the condition.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_estimate(p_fn regprocedure, p_function text, p_rel regclass, p_where text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rows  text;
  v_error text;
  v_estimated boolean := false;   -- a variable outlives the rollback: tells our own P0004 from the owner's code's errors
BEGIN
  BEGIN
    EXECUTE format('SELECT r FROM %s(NULL, NULL, NULL) AS r', p_fn::regproc) INTO v_rows;
    v_estimated := true;
    RAISE EXCEPTION USING ERRCODE = 'P0004';
  EXCEPTION WHEN query_canceled OR assert_failure OR OTHERS THEN
    PERFORM pgtrickle._relay_session_clear();
    IF NOT v_estimated THEN
      IF SQLSTATE IN ('57014', 'P0004') OR p_where IS NULL THEN
        RAISE;   -- a cancel, or an assertion of the owner's code, says nothing of the condition
      END IF;
      GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s: the condition %L cannot be used on %s: %s', p_function, p_where, p_rel, v_error),
        HINT = 'Give a boolean SQL expression over the table''s columns, e.g. ''region = ''''eu''''''; names outside '
               'pg_catalog are written with their schema.';
    END IF;
  END;
  RETURN pg_catalog.round(v_rows::pg_catalog.numeric)::pg_catalog.int8;
END
$$;

-- Records the estimate of a backfill still pending (_relay_backfill_condition_set's caller may not
-- write the catalog).
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_estimated(p_id bigint, p_rows bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ UPDATE pgtrickle.relay_backfills SET rows_estimated = p_rows WHERE id = p_id AND state = 'pending' $$;

-- Drops the condition functions of backfills no longer under way that the role acts for the owner
-- of: backfill_relay's session (invoker) cleans what earlier backfills left. Definer paths that end
-- a backfill leave them (they are the owner's, and the relay no longer reads them).
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_drop_functions(p_pipeline text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_fn regprocedure;
BEGIN
  FOR v_fn IN
    SELECT p.oid::regprocedure FROM pgtrickle.relay_backfills AS b
    JOIN pg_proc AS p ON p.pronamespace = 'pgtrickle'::regnamespace AND p.proname = '_backfill_rows_' || b.id
    WHERE (p_pipeline IS NULL OR b.pipeline = p_pipeline) AND b.state NOT IN ('pending', 'running')
      AND pg_has_role(current_user, p.proowner, 'USAGE')
  LOOP
    EXECUTE format('DROP FUNCTION IF EXISTS %s', v_fn);
  END LOOP;
END
$$;

-- The outbox a forward pipeline reads: from the catalog, else (a pipeline of a relay's TOML file)
-- from the position it stored.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_outbox(p_function text, p_name text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_config jsonb;
  v_ref    text;
  v_outbox text;
  t        pgtrickle.outbox_tables;
BEGIN
  SELECT c.config INTO v_config FROM pgtrickle.relay_outbox_config AS c WHERE c.name = p_name;
  IF FOUND THEN
    v_ref := pgtrickle._relay_config_outbox_ref(v_config);
    t := pgtrickle._outbox_find(v_ref, pgtrickle._relay_regclass(v_ref));
    IF t.outbox_name IS NULL THEN
      -- pg_trickle's own outbox, or none yet: _relay_backfill_create says which.
      RETURN coalesce((SELECT o.outbox_table FROM pgtrickle._outbox_resolve(v_ref, pgtrickle._relay_regclass(v_ref)) AS o), v_ref);
    END IF;
    RETURN t.outbox_name;
  END IF;
  IF EXISTS (SELECT 1 FROM pgtrickle.relay_inbox_config AS c WHERE c.name = p_name) THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('%s: pipeline "%s" writes an inbox; only forward pipelines, which read a table, are backfilled',
                       p_function, p_name);
  END IF;
  SELECT o.outbox INTO v_outbox FROM pgtrickle.relay_offsets AS o
  WHERE o.pipeline = p_name AND o.outbox IS NOT NULL ORDER BY o.updated_at DESC LIMIT 1;
  IF v_outbox IS NULL THEN
    IF EXISTS (SELECT 1 FROM pgtrickle.relay_pipeline_status WHERE pipeline = p_name AND origin = 'file') THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('%s: pipeline "%s" of a relay''s config file has not stored a position yet, so its table is not known here',
                         p_function, p_name),
        HINT = 'Give it "backfill = ""initial""" in the file, or ask again once it has delivered a batch.';
    END IF;
    PERFORM pgtrickle._relay_not_found(p_name);
  END IF;
  RETURN v_outbox;
END
$$;

-- Sends the existing rows of a forward pipeline's table through it (optionally only those
-- matching p_where, a condition on the table's columns), then its changes go on as before.
-- Returns the backfill's id. A condition runs as the table's owner: only its owner, or a member
-- of the owner's role, may give one.
-- backfill_relay records the backfill (_relay_backfill_request, as pgtrickle_owner), then makes
-- its condition's function as the table's owner, as the session (which must act for it to give one).
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_request(p_name text, p_where text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
DECLARE
  v_outbox text;
  t        pgtrickle.outbox_tables;
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  -- A pipeline capturing tables from the WAL: every table, one after the other, or the one named.
  IF EXISTS (SELECT FROM pgtrickle.relay_wal_publications AS w WHERE w.pipeline = p_name) THEN
    RETURN pgtrickle._wal_backfill_create('backfill_relay', p_name, p_where);
  END IF;
  v_outbox := pgtrickle._relay_backfill_outbox('backfill_relay', p_name);
  IF nullif(btrim(p_where), '') IS NOT NULL THEN
    SELECT * INTO t FROM pgtrickle.outbox_tables WHERE outbox_name = v_outbox;
    IF t.source_schema IS NOT NULL AND pgtrickle._outbox_source(t) IS NOT NULL THEN
      PERFORM pgtrickle._relay_require_owner('backfill_relay with a "where" condition (it runs as the table''s owner)',
                                             pgtrickle._outbox_source(t));
    END IF;
  END IF;
  RETURN pgtrickle._relay_backfill_create('backfill_relay', p_name, v_outbox, p_where);
END
$fn$;

CALL pgtrickle._relay_define('backfill_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.backfill_relay(p_name text, "where" text DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_id bigint := pgtrickle._relay_backfill_request(p_name, "where");
  BEGIN
    PERFORM pgtrickle._relay_backfill_drop_functions(p_name);
    PERFORM pgtrickle._relay_backfill_condition_set('backfill_relay', v_id);
    RETURN v_id;
  END
  $fn$;
$ddl$);

-- Stops a pipeline's backfill under way; the rows already sent stay sent. Returns its id, or NULL
-- (with a notice) when none was under way.
CALL pgtrickle._relay_define('cancel_backfill', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.cancel_backfill(p_name text)
  RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_id     bigint;
    v_outbox text;
  BEGIN
    PERFORM pgtrickle._relay_lock_catalog();
    UPDATE pgtrickle.relay_backfills SET state = 'cancelled', finished_at = now(), updated_at = now()
    WHERE pipeline = p_name AND state IN ('pending', 'running')
    RETURNING id, outbox INTO v_id, v_outbox;
    IF v_id IS NULL THEN
      IF NOT EXISTS (SELECT 1 FROM pgtrickle.relay_outbox_config WHERE name = p_name)
         AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_backfills WHERE pipeline = p_name) THEN
        PERFORM pgtrickle._relay_not_found(p_name);
      END IF;
      RAISE NOTICE 'no backfill of pipeline "%" is under way', p_name;
      RETURN NULL;
    END IF;
    PERFORM pg_notify('pgtrickle_outbox_new', v_outbox);
    RETURN v_id;
  END
  $fn$;
$ddl$);

-- The relay starts a pipeline's first backfill ("backfill": "initial") when the pipeline has no
-- stored position and was never backfilled. Returns the new backfill's id, or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_initial(p_pipeline text, p_outbox text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  IF EXISTS (SELECT 1 FROM pgtrickle.relay_backfills WHERE pipeline = p_pipeline) THEN
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT FROM pgtrickle.relay_wal_publications AS w WHERE w.publication = p_outbox AND w.pipeline = p_pipeline) THEN
    RETURN pgtrickle._wal_backfill_create('"backfill": "initial"', p_pipeline, NULL);
  END IF;
  RETURN pgtrickle._relay_backfill_create('"backfill": "initial"', p_pipeline, p_outbox, NULL);
END
$$;

-- The relay ends a backfill: p_error set, it failed (and says why).
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_end(p_id bigint, p_error text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_pipeline text;
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  -- A failure ends only a backfill still under way (a cancelled one stays cancelled).
  UPDATE pgtrickle.relay_backfills
  SET state = CASE WHEN p_error IS NOT NULL AND state IN ('pending', 'running') THEN 'failed' ELSE state END,
      error = CASE WHEN state IN ('pending', 'running') THEN coalesce(pgtrickle._relay_truncate_bytes(p_error, 2000), error) ELSE error END,
      finished_at = coalesce(finished_at, CASE WHEN p_error IS NOT NULL THEN now() END), updated_at = now()
  WHERE id = p_id
  RETURNING pipeline INTO v_pipeline;
  IF v_pipeline IS NOT NULL THEN
    PERFORM pgtrickle._wal_backfill_next(p_id);
  END IF;
END
$$;

-- A pipeline deleted (p_pipeline: its backfills are forgotten, so a new pipeline of that name
-- starts afresh) or an outbox disabled (p_outbox: its backfills under way stop).
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_forget(p_pipeline text, p_outbox text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  UPDATE pgtrickle.relay_backfills SET state = 'cancelled', finished_at = now(), updated_at = now()
  WHERE (pipeline = p_pipeline OR outbox = p_outbox) AND state IN ('pending', 'running');
  DELETE FROM pgtrickle.relay_backfills WHERE pipeline = p_pipeline;
END
$$;

-- The commit order's watermark of a backfill's outbox after a numbering round that began after
-- the caller's last statement (it waits for a round under way), so every commit that statement
-- saw is numbered up to the value returned. A backfill reads a chunk, then this.
DROP FUNCTION IF EXISTS pgtrickle._relay_backfill_watermark();
CREATE OR REPLACE FUNCTION pgtrickle._relay_backfill_watermark(p_backfill bigint)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  SELECT w.watermark FROM pgtrickle.relay_backfills AS b, pgtrickle.outbox_watermarks(ARRAY[b.outbox]) AS w
  WHERE b.id = p_backfill
$$;

-- The read functions of the tables captured by enable_outbox, as this install makes them (an
-- earlier one made a function per backfill, as the installer). Those of WAL pipelines' tables are
-- made with their render functions (18_wal_publications.sql).
DO $$
DECLARE
  v_rel regclass;
BEGIN
  FOR v_rel IN SELECT DISTINCT pgtrickle._outbox_source(t) FROM pgtrickle.outbox_tables AS t
               WHERE t.source_schema IS NOT NULL AND pgtrickle._outbox_source(t) IS NOT NULL LOOP
    BEGIN
      PERFORM pgtrickle._relay_backfill_table_ensure(v_rel);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgtrickle-relay: the function a backfill reads table % with was left as it was: %', v_rel, SQLERRM
        USING HINT = 'Install again as a role acting for its owner, or run SELECT pgtrickle._relay_backfill_table_ensure(<table>) as one.';
    END;
  END LOOP;
END
$$;
