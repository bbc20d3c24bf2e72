-- ============================================================================================
-- WAL pipelines: many tables through one publication and one slot
-- ============================================================================================
--
-- A forward pipeline of source type "wal" names tables by list and pattern
-- ({"type": "wal", "tables": ["public.*", "sales.orders"], "exclude": ["public.audit_*"]}). It
-- reads them through one publication of its own (made here, by whoever may capture those tables)
-- and one logical slot (made by the relay). Which tables a pattern matches is decided here alone:
-- the relay asks _wal_table_info when the WAL first describes a table, so a table created later,
-- or renamed into a pattern, is picked up from its first row.
--
-- Who may: capturing a table takes its owner's rights (as enable_outbox does); a pattern also
-- picks up tables that do not exist yet, of any owner, so it takes what PostgreSQL asks for
-- CREATE PUBLICATION ... FOR TABLES IN SCHEMA: a superuser. Checked for the session's role when
-- the pipeline is set (set_relay_outbox) or, for a pipeline of a relay's TOML file, for the
-- relay's login when it starts.

CREATE TABLE IF NOT EXISTS pgtrickle.relay_wal_publications (
  publication text PRIMARY KEY,
  pipeline    text NOT NULL,
  origin      text NOT NULL,                -- 'sql', or 'file:<relay group>'
  tables      jsonb NOT NULL,               -- the source's "tables", as given
  exclude     jsonb NOT NULL DEFAULT '[]',  -- and its "exclude"
  set_by      text NOT NULL DEFAULT session_user,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pipeline, origin)
);
-- What its publications publish: the schemas a pattern captures (publication <name>), and the
-- tables named, with their column lists and row filters as given ([{"rel", "columns", "where"}],
-- publication <name>t). Made so by the session that set the pipeline (_wal_pipeline_publish).
ALTER TABLE pgtrickle.relay_wal_publications ADD COLUMN IF NOT EXISTS schemas text[] NOT NULL DEFAULT '{}';
ALTER TABLE pgtrickle.relay_wal_publications ADD COLUMN IF NOT EXISTS clauses jsonb NOT NULL DEFAULT '[]';

-- The schemas the install made: never captured by a pattern.
CREATE OR REPLACE FUNCTION pgtrickle._wal_own_schema(p_schema text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p_schema IN ('pgtrickle', 'pgstream', 'pg_catalog', 'information_schema') OR p_schema LIKE 'pg\_toast%' OR p_schema LIKE 'pg\_temp%' $$;

-- One entry of "tables" or "exclude" read: a name "schema.table" or "table" (schema public), each
-- part plain (folded to lower case, as SQL folds it; "*" matches any run of characters within the
-- part) or double-quoted (exact). An entry of "tables" may also be an object {"name": ...}. Returns
-- the schema's and the table's LIKE patterns, and whether either holds a wildcard; an entry that
-- is neither raises an error naming it and what to write.
CREATE OR REPLACE FUNCTION pgtrickle._wal_pattern(p_pipeline text, p_entry jsonb, p_key text)
RETURNS TABLE (schema_like text, table_like text, schema_exact text, table_exact text, wildcard boolean)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_text  text := CASE jsonb_typeof(p_entry) WHEN 'string' THEN p_entry #>> '{}'
                                             WHEN 'object' THEN p_entry ->> 'name' END;
  v_likes text[] := '{}';
  v_exact text[] := '{}';
  v_m     text[];
  v_rest  text;
  v_part  text;
BEGIN
  IF v_text IS NULL OR btrim(v_text) = '' THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline, format(
      'source key "%s": each entry is a table name such as "public.orders", or a pattern such as "public.*"%s; found %s',
      p_key, CASE p_key WHEN 'tables' THEN ' (or {"name": "public.orders"})' ELSE '' END, p_entry));
  END IF;
  v_rest := btrim(v_text);
  LOOP
    v_m := regexp_match(v_rest, '^(?:"((?:[^"]|"")+)"|([^."\s]+))\s*(?:\.\s*(.*))?$');
    IF v_m IS NULL OR cardinality(v_likes) = 2 THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        'source key "%s": "%s" is not a table name: write "table" or "schema.table" (a part may be "double-quoted", '
        'and * matches within a part, as in "public.*" or "sales.order_*")', p_key, v_text));
    END IF;
    -- A quoted part is exact; a plain one is folded, and its * matches any run of characters.
    v_part := coalesce(replace(v_m[1], '""', '"'), lower(v_m[2]));
    v_likes := v_likes || CASE WHEN v_m[1] IS NOT NULL THEN replace(replace(replace(v_part, '\', '\\'), '%', '\%'), '_', '\_')
                               ELSE replace(replace(replace(replace(v_part, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%') END;
    v_exact := v_exact || CASE WHEN v_m[1] IS NOT NULL OR position('*' IN v_part) = 0 THEN v_part END;
    EXIT WHEN v_m[3] IS NULL;
    v_rest := v_m[3];
  END LOOP;
  IF cardinality(v_likes) = 1 THEN
    v_likes := ARRAY['public'] || v_likes;
    v_exact := ARRAY['public'] || v_exact;
  END IF;
  RETURN QUERY SELECT v_likes[1], v_likes[2], v_exact[1], v_exact[2], v_exact[1] IS NULL OR v_exact[2] IS NULL;
END
$$;

-- Does a table named p_schema.p_table belong to a pipeline whose source has these "tables" and
-- "exclude"? The install's own schemas never do.
CREATE OR REPLACE FUNCTION pgtrickle._wal_matches(p_tables jsonb, p_exclude jsonb, p_schema text, p_table text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT NOT pgtrickle._wal_own_schema(p_schema)
     AND EXISTS (SELECT FROM jsonb_array_elements(p_tables) AS e(x), pgtrickle._wal_pattern(NULL, e.x, 'tables') AS p
                 WHERE p_schema LIKE p.schema_like AND p_table LIKE p.table_like)
     AND NOT EXISTS (SELECT FROM jsonb_array_elements(coalesce(p_exclude, '[]')) AS e(x), pgtrickle._wal_pattern(NULL, e.x, 'exclude') AS p
                     WHERE p_schema LIKE p.schema_like AND p_table LIKE p.table_like)
$$;

-- A source's "tables" or "exclude" as an array (one name may be written alone).
CREATE OR REPLACE FUNCTION pgtrickle._wal_list(p_value jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN p_value IS NULL OR p_value = 'null' THEN '[]'::jsonb WHEN jsonb_typeof(p_value) = 'array' THEN p_value
                  ELSE jsonb_build_array(p_value) END $$;

-- The name of a pipeline's publication (a hash: pipeline names are free text, a publication's
-- name is 63 bytes at most).
CREATE OR REPLACE FUNCTION pgtrickle._wal_publication_name(p_pipeline text, p_origin text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'pgtrickle_w' || left(md5(p_origin || '/' || p_pipeline), 20) $$;

-- How a table is named in messages ({stream_table}, and the first part of each message's
-- identity): schema-qualified where not public; a part holding a dot or a double quote is
-- double-quoted (its quotes doubled), so no two tables share a name: public."v.orders" is
-- "v.orders", v.orders is v.orders.
CREATE OR REPLACE FUNCTION pgtrickle._wal_stream_table(p_schema text, p_table text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_schema = 'public' THEN '' ELSE q.s || '.' END || q.t
  FROM (SELECT CASE WHEN p_schema ~ '[."]' THEN '"' || replace(p_schema, '"', '""') || '"' ELSE p_schema END AS s,
               CASE WHEN p_table ~ '[."]' THEN '"' || replace(p_table, '"', '""') || '"' ELSE p_table END AS t) AS q
$$;

-- Why PostgreSQL refuses UPDATEs and DELETEs of a published table, and the fix; NULL when it
-- does not.
CREATE OR REPLACE FUNCTION pgtrickle._wal_identity_problem(p_rel regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('table %s has no primary key or replica identity: PostgreSQL refuses its UPDATEs and DELETEs while it is '
                'published (inserts are captured); add a primary key, or run ALTER TABLE %s REPLICA IDENTITY FULL', c.oid::regclass, c.oid::regclass)
  FROM pg_class AS c
  WHERE c.oid = p_rel AND c.relkind = 'r'
    AND (c.relreplident = 'n'
         OR (c.relreplident = 'd' AND NOT EXISTS (SELECT FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisprimary))
         OR (c.relreplident = 'i' AND NOT EXISTS (SELECT FROM pg_index AS i WHERE i.indrelid = c.oid AND i.indisreplident)))
$$;

-- The tables a pipeline's "tables" and "exclude" match now, with the problem each has (NULL: none).
CREATE OR REPLACE FUNCTION pgtrickle._wal_matched_tables(p_tables jsonb, p_exclude jsonb)
RETURNS TABLE (rel regclass, problem text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass, pgtrickle._wal_identity_problem(c.oid)
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
    AND pgtrickle._wal_matches(p_tables, p_exclude, n.nspname, c.relname)
  ORDER BY n.nspname, c.relname
$$;

-- A row filter used to be checked here for its shape only, then parsed by the installer's ALTER
-- PUBLICATION; it is now read by pgtrickle._relay_expression_checked before PostgreSQL sees it.
DROP FUNCTION IF EXISTS pgtrickle._wal_filter_problem(text);

-- The columns of a table's replica identity, the ones an UPDATE's or DELETE's filter may read
-- and a column list must hold (every column with REPLICA IDENTITY FULL).
CREATE OR REPLACE FUNCTION pgtrickle._wal_identity_columns(p_rel regclass)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN c.relreplident = 'f' THEN
           (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute AS a
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
         ELSE
           (SELECT array_agg(a.attname::text ORDER BY a.attnum)
            FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'i' THEN i.indisreplident WHEN 'd' THEN i.indisprimary ELSE false END)
         END
  FROM pg_class AS c WHERE c.oid = p_rel
$$;

-- Checks that the session's role may capture what "tables" names, and makes or changes the
-- pipeline's two publications: the first publishes the schemas of patterns (FOR TABLES IN SCHEMA:
-- tables created later are in it from their first row), the second (its name and "t") the tables
-- named, each with its row filter and column list, which the server applies before the WAL leaves
-- it. Rows of a schema's tables that no pattern matches, or that "exclude" names, are left out by
-- the relay. Returns the first publication's name. Run by set_relay_outbox (origin 'sql'), and by
-- _wal_file_pipeline_prepare for a pipeline of a relay's TOML file; nobody calls it directly (it
-- trusts p_origin).
CREATE OR REPLACE FUNCTION pgtrickle._wal_pipeline_prepare(p_pipeline text, p_origin text, p_source jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
  v_tables   jsonb := pgtrickle._wal_list(p_source -> 'tables');
  v_exclude  jsonb := pgtrickle._wal_list(p_source -> 'exclude');
  v_pub      text := pgtrickle._wal_publication_name(p_pipeline, p_origin);
  v_super    boolean := (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = session_user);
  v_schemas  text[] := '{}';
  v_named    jsonb := '[]';    -- [{"rel": oid, "where": text, "columns": [text], "ident": [text]}]
  v_refused  text[] := '{}';
  v_problem  text;
  v_rel      regclass;
  v_owner    oid;
  v_ident    text[];
  v_columns  text[];
  v_where    text;
  v_clauses  text[] := '{}';
  v_done     oid[] := '{}';
  p          record;
  e          jsonb;
  t          jsonb;
BEGIN
  IF jsonb_array_length(v_tables) = 0 THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline,
      'source key "tables" is required for a source of type "wal": the tables to capture, e.g. ["public.orders"] or ["public.*"]');
  END IF;
  FOR e IN SELECT x FROM jsonb_array_elements(v_exclude) AS x LOOP
    PERFORM pgtrickle._wal_pattern(p_pipeline, e, 'exclude');
  END LOOP;
  FOR e IN SELECT x FROM jsonb_array_elements(v_tables) AS x LOOP
    IF jsonb_typeof(e) = 'object' AND EXISTS (SELECT FROM jsonb_object_keys(e) AS k WHERE k NOT IN ('name', 'where', 'columns')) THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        'source key "tables": %s: an entry''s keys are "name", "where" (a row filter) and "columns" (a column list)', e));
    END IF;
    IF jsonb_typeof(e) = 'object' AND ((e ? 'where' AND jsonb_typeof(e -> 'where') <> 'string')
       OR (e ? 'columns' AND (jsonb_typeof(e -> 'columns') <> 'array' OR jsonb_array_length(e -> 'columns') = 0
                              OR EXISTS (SELECT FROM jsonb_array_elements(e -> 'columns') AS c WHERE jsonb_typeof(c) <> 'string')))) THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        'source key "tables": %s: "where" is an SQL condition as a string, "columns" a list of column names', e));
    END IF;
    SELECT * INTO p FROM pgtrickle._wal_pattern(p_pipeline, e, 'tables');
    IF p.wildcard THEN
      IF p.schema_exact IS NULL THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": %s: a pattern matches tables within one schema; name the schema (as in "public.*")', e));
      END IF;
      IF jsonb_typeof(e) = 'object' AND (e ? 'where' OR e ? 'columns') THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": %s: a row filter or column list is given to one table by name, not to a pattern', e));
      END IF;
      IF pgtrickle._wal_own_schema(p.schema_exact) THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": %s: schema %s is the install''s own (or PostgreSQL''s), and is never captured', e, p.schema_exact));
      END IF;
      -- A pattern picks up tables of any owner, those created later too.
      IF NOT coalesce(v_super, false) THEN
        v_refused := v_refused || format('%s (a pattern: it captures tables that do not exist yet, of any owner, which takes a '
                                         'superuser, as CREATE PUBLICATION ... FOR TABLES IN SCHEMA does)',
                                         e #>> CASE WHEN jsonb_typeof(e) = 'object' THEN '{name}'::text[] ELSE '{}'::text[] END);
      END IF;
      IF to_regnamespace(quote_ident(p.schema_exact)) IS NULL THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format('source key "tables": %s: schema "%s" does not exist', e, p.schema_exact));
      END IF;
      v_schemas := array_append(v_schemas, p.schema_exact);
      CONTINUE;
    END IF;
    v_rel := pgtrickle._relay_rel(p.schema_exact, p.table_exact);
    IF v_rel IS NULL THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        'source key "tables": table %I.%I does not exist; create it first, or capture it by a pattern (such as "%s.*")',
        p.schema_exact, p.table_exact, p.schema_exact));
    END IF;
    IF pgtrickle._wal_own_schema(p.schema_exact) OR (SELECT c.relkind NOT IN ('r', 'p') OR c.relpersistence <> 'p' FROM pg_class AS c WHERE c.oid = v_rel) THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        'source key "tables": %s is not a table this pipeline can capture (a permanent table or partitioned table outside '
        'the install''s schemas)', v_rel));
    END IF;
    v_owner := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = v_rel);
    IF NOT pg_has_role(session_user, v_owner, 'USAGE') THEN
      v_refused := v_refused || format('%s (owned by %s)', v_rel, v_owner::regrole);
    END IF;
    v_ident := coalesce(pgtrickle._wal_identity_columns(v_rel), '{}');
    -- The filter goes into the session's ALTER PUBLICATION: only as written again from the
    -- tokens of a grammar that runs no user code when parsed (_relay_expression_checked).
    v_where := NULL;
    IF e ? 'where' THEN
      SELECT x.expression, x.problem INTO v_where, v_problem FROM pgtrickle._relay_expression_checked(e ->> 'where', v_rel, NULL) AS x;
      IF v_problem IS NOT NULL THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": the row filter of %s, %s, is not taken: %s', v_rel, e -> 'where', v_problem));
      END IF;
    END IF;
    IF e ? 'columns' THEN
      SELECT array_agg(c ORDER BY n) INTO v_columns FROM jsonb_array_elements_text(e -> 'columns') WITH ORDINALITY AS x(c, n);
      SELECT string_agg(format('"%s"', c), ', ') INTO v_problem FROM unnest(v_columns) AS c
      WHERE NOT EXISTS (SELECT FROM pg_attribute AS a WHERE a.attrelid = v_rel AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
      IF v_problem IS NOT NULL THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": the column list of %s names %s, which it does not have', v_rel, v_problem));
      END IF;
      SELECT string_agg(format('"%s"', c), ', ') INTO v_problem FROM unnest(v_ident) AS c WHERE c <> ALL (v_columns);
      IF v_problem IS NOT NULL THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": the column list of %s leaves out %s of its replica identity, which every column list must hold '
          '(PostgreSQL would refuse the table''s UPDATEs and DELETEs)', v_rel, v_problem));
      END IF;
    END IF;
    v_named := v_named || jsonb_build_object('rel', v_rel::oid, 'where', to_jsonb(v_where), 'where_text', e -> 'where', 'columns', e -> 'columns',
                                             'ident', to_jsonb(v_ident));
  END LOOP;
  IF cardinality(v_refused) > 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('pipeline "%s": role %s may not capture %s: capturing a table takes its owner''s rights',
                       p_pipeline, session_user, array_to_string(v_refused, ', ')),
      HINT = 'The tables'' owners (or a superuser, for a pattern) set the pipeline, or grant the role their rights (GRANT <owner> TO <role>).';
  END IF;
  FOR v_problem IN SELECT m.problem FROM pgtrickle._wal_matched_tables(v_tables, v_exclude) AS m WHERE m.problem IS NOT NULL LOOP
    RAISE WARNING 'pipeline "%": %', p_pipeline, v_problem;
  END LOOP;

  -- A table of a schema a pattern publishes is published whole: named too, it is left out of the
  -- second publication; with a filter or column list it is refused (PostgreSQL would apply none of
  -- them, or refuse to decode).
  SELECT coalesce(array_agg(DISTINCT s ORDER BY s), '{}') INTO v_schemas FROM unnest(v_schemas) AS s;
  FOR t IN SELECT x FROM jsonb_array_elements(v_named) AS x LOOP
    v_rel := (t ->> 'rel')::oid;
    IF (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel) = ANY (v_schemas) THEN
      IF t -> 'where' <> 'null' OR t -> 'columns' <> 'null' THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          'source key "tables": %s has a row filter or column list, but a pattern captures its whole schema; '
          'capture the schema''s other tables by name, or give the table no filter', v_rel));
      END IF;
      CONTINUE;
    END IF;
    CONTINUE WHEN v_rel::oid = ANY (v_done);
    v_done := v_done || v_rel::oid;
    v_clauses := v_clauses || jsonb_build_object('rel', v_rel::oid, 'columns', t -> 'columns', 'where', t -> 'where_text')::text;
  END LOOP;
  INSERT INTO pgtrickle.relay_wal_publications AS w (publication, pipeline, origin, tables, exclude, schemas, clauses)
  VALUES (v_pub, p_pipeline, p_origin, v_tables, v_exclude, v_schemas,
          coalesce((SELECT jsonb_agg(c::jsonb ORDER BY n) FROM unnest(v_clauses) WITH ORDINALITY AS x(c, n)), '[]'))
  ON CONFLICT (publication) DO UPDATE SET tables = excluded.tables, exclude = excluded.exclude, schemas = excluded.schemas,
                                          clauses = excluded.clauses, set_by = session_user, updated_at = now()
  WHERE (w.tables, w.exclude, w.schemas, w.clauses) IS DISTINCT FROM (excluded.tables, excluded.exclude, excluded.schemas, excluded.clauses);
  RETURN v_pub;
END
$$;

-- What a relay runs for a WAL pipeline of its TOML file (relay group p_group): its publications,
-- for the relay's login. The relay's role alone may call it, and only for origin 'file:<group>': a
-- pipeline defined in SQL is changed by set_relay_outbox alone, and pipeline admins cannot touch
-- the publication of a file's pipeline.
CREATE OR REPLACE FUNCTION pgtrickle._wal_file_pipeline_prepare(p_pipeline text, p_group text, p_source jsonb)
RETURNS text
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$ SELECT pgtrickle._wal_pipeline_prepare(p_pipeline, 'file:' || p_group, p_source) $$;

-- What the relay calls for it: the publications recorded, then made by its session, with its login's rights.
CREATE OR REPLACE FUNCTION pgtrickle._wal_file_pipeline_start(p_pipeline text, p_group text, p_source jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM pgtrickle._wal_file_pipeline_prepare(p_pipeline, p_group, p_source);
  RETURN pgtrickle._wal_pipeline_publish(p_pipeline, 'file:' || p_group);
END
$$;


-- The publications a pipeline's slot streams: its own (the patterns' schemas), and the one of
-- its tables named.
CREATE OR REPLACE FUNCTION pgtrickle._wal_publications(p_pub text)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY[p_pub, p_pub || 't'] $$;

-- What the relay needs of a table the WAL describes (by its oid and its name at that point of the
-- WAL): whether the pipeline of publication p_pub captures it, its name in messages, its key
-- columns (the primary key, else the replica identity's index; NULL: the WAL's own key columns)
-- and the problem it has, if any.
CREATE OR REPLACE FUNCTION pgtrickle._wal_table_info(p_pub text, p_rel oid, p_schema text, p_table text)
RETURNS TABLE (wanted boolean, stream_table text, key_columns text[], problem text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  SELECT coalesce(pgtrickle._wal_matches(w.tables, w.exclude, p_schema, p_table), false),
         pgtrickle._wal_stream_table(p_schema, p_table),
         (SELECT array_agg(a.attname::text ORDER BY k.n)
          FROM (SELECT i.indkey FROM pg_index AS i WHERE i.indrelid = p_rel AND (i.indisprimary OR i.indisreplident)
                ORDER BY i.indisprimary DESC LIMIT 1) AS x
          CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute AS a ON a.attrelid = p_rel AND a.attnum = k.attnum),
         pgtrickle._wal_identity_problem((SELECT c.oid FROM pg_class AS c WHERE c.oid = p_rel))
  FROM (SELECT 1) AS one LEFT JOIN pgtrickle.relay_wal_publications AS w ON w.publication = p_pub
$$;

-- The publications of WAL pipelines that publish table p_rel, named (with its column list and row
-- filter) or by its schema (NULL, NULL: every column, every row). By index lookups.
DROP FUNCTION IF EXISTS pgtrickle._wal_publishing(regclass);
CREATE OR REPLACE FUNCTION pgtrickle._wal_publishing(p_rel regclass)
RETURNS TABLE (cols int2vector, qual pg_node_tree, pubname name)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT r.prattrs, r.prqual, p.pubname
  FROM pgtrickle.relay_wal_publications AS w JOIN pg_publication AS p ON p.pubname = ANY (pgtrickle._wal_publications(w.publication))
  JOIN pg_publication_rel AS r ON r.prpubid = p.oid
  WHERE r.prrelid = p_rel
  UNION ALL
  SELECT NULL, NULL, p.pubname
  FROM pgtrickle.relay_wal_publications AS w JOIN pg_publication AS p ON p.pubname = ANY (pgtrickle._wal_publications(w.publication))
  JOIN pg_publication_namespace AS n ON n.pnpubid = p.oid
  WHERE n.pnnspid = (SELECT c.relnamespace FROM pg_class AS c WHERE c.oid = p_rel)
$$;

-- Does a WAL pipeline's publication publish table p_rel? Asked for every statement rendering rows.
CREATE OR REPLACE FUNCTION pgtrickle._wal_published(p_rel regclass)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT FROM pgtrickle._wal_publishing(p_rel)) $$;

-- The render function of table p_rel, captured by a WAL pipeline, made (or made again, when missing,
-- of a former owner, altered, or made by an earlier install) as its owner, for a session acting for
-- it (_wal_rows_function_set). Returns it.
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_table_ensure(p_rel regclass)
RETURNS regprocedure
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name text := pgtrickle._wal_rows_table_function(p_rel);
  v_fn   regprocedure := to_regprocedure(format('pgtrickle.%I(regclass, jsonb, jsonb)', v_name));
BEGIN
  -- And the one a backfill reads it through (14_backfill.sql).
  PERFORM pgtrickle._relay_backfill_table_ensure(p_rel);
  IF v_fn IS NOT NULL AND pgtrickle._relay_owner_function_intact(v_fn, p_rel)
     AND (SELECT p.prosrc FROM pg_proc AS p WHERE p.oid = v_fn) = pgtrickle._wal_rows_function_src(p_rel) THEN
    RETURN v_fn;
  END IF;
  RETURN pgtrickle._wal_rows_function_set(v_name, p_rel);
END
$$;
DROP FUNCTION IF EXISTS pgtrickle._wal_rows_function_make(text, regclass);   -- made at render time, as the installer

-- The name of the render function of a table captured by a WAL pipeline (by oid: a rename keeps it).
CREATE OR REPLACE FUNCTION pgtrickle._wal_rows_table_function(p_rel oid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '_wal_rows_r' || p_rel::text $$;

-- Rows of a table read from the WAL by a WAL pipeline, rendered as to_jsonb renders them (see
-- _wal_render, which does the same for a table captured by enable_outbox): as the table's owner,
-- through a function of the owner's (made when the pipeline was set, or the table made or changed:
-- _wal_rows_table_ensure), in a subtransaction always rolled back. Only for a table some pipeline's publication publishes. Rows of a table that is gone, or
-- no longer published, are rendered without it: no value is read from the table, and a column of
-- a type the install did not build in is kept as its text (no code of anyone's runs).
CREATE OR REPLACE FUNCTION pgtrickle._wal_render_table(p_rel oid, p_columns jsonb, p_rows jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_rel   regclass := (SELECT c.oid FROM pg_class AS c WHERE c.oid = p_rel AND c.relkind IN ('r', 'p'));
  v_name  text := pgtrickle._wal_rows_table_function(p_rel);
  v_fn    regprocedure;
BEGIN
  IF v_rel IS NOT NULL AND NOT pgtrickle._wal_published(v_rel) THEN
    v_rel := NULL;
  END IF;
  IF v_rel IS NULL THEN
    RETURN QUERY SELECT pgtrickle._wal_rows_template(NULL,
      (SELECT coalesce(jsonb_agg(CASE WHEN (c.x ->> 'type')::oid >= 16384 THEN c.x || '{"type": 25, "mod": -1}' ELSE c.x END ORDER BY c.n), '[]')
       FROM jsonb_array_elements(p_columns) WITH ORDINALITY AS c(x, n)),
      p_rows);
    RETURN;
  END IF;
  v_fn := to_regprocedure(format('pgtrickle.%I(regclass, jsonb, jsonb)', v_name));
  IF v_fn IS NULL OR NOT pgtrickle._relay_owner_function_intact(v_fn, v_rel)
     OR (SELECT p.prosrc FROM pg_proc AS p WHERE p.oid = v_fn) IS DISTINCT FROM pgtrickle._wal_rows_function_src(v_rel) THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('table %s has no render function of its owner %s as this install makes it', v_rel,
                       (SELECT c.relowner::regrole FROM pg_class AS c WHERE c.oid = v_rel)),
      HINT = 'It is made when the pipeline is set, and when a table is made in a schema a pipeline captures: set the '
             'pipeline again (SELECT pgtrickle.set_relay_outbox(...)) as a role acting for the table''s owner, or run '
             'SELECT pgtrickle._wal_rows_table_ensure(<table>) as one.';
  END IF;
  RETURN QUERY SELECT r FROM pgtrickle._wal_render_as_owner(v_fn, v_rel, pgtrickle._wal_render_reach(v_rel, p_columns), p_rows) AS r;
END
$$;

-- What rendering a WAL pipeline's rows may read of table p_rel, whatever columns the relay names:
-- only the columns its publications publish (a column list leaves the others out); the
-- publications are named, whose row filters the template applies (and keys it takes) itself.
-- Returns p_columns so restricted, as the template takes them.
CREATE OR REPLACE FUNCTION pgtrickle._wal_render_reach(p_rel regclass, p_columns jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  WITH pubs AS (
    SELECT x.cols, x.pubname FROM pgtrickle._wal_publishing(p_rel) AS x
  ), reach AS (
    SELECT CASE WHEN bool_or(pubs.cols IS NULL) THEN NULL
                ELSE (SELECT array_agg(DISTINCT a.attname::text) FROM pubs AS x CROSS JOIN LATERAL unnest(x.cols::int2[]) AS k(attnum)
                      JOIN pg_attribute AS a ON a.attrelid = p_rel AND a.attnum = k.attnum) END AS columns,
           jsonb_agg(DISTINCT pubs.pubname) AS publications
    FROM pubs
  )
  SELECT jsonb_build_object(
    'columns', (SELECT coalesce(jsonb_agg(c.x ORDER BY c.n), '[]')
                FROM jsonb_array_elements(p_columns) WITH ORDINALITY AS c(x, n)
                WHERE reach.columns IS NULL OR c.x ->> 'name' = ANY (reach.columns)),
    'publications', coalesce(reach.publications, '[]'))
  FROM reach
$$;

-- Rows of several tables in one statement (a WAL pipeline's read-ahead spans its tables):
-- p_groups [{"rel": oid, "columns": [...], "rows": [...]}], rendered by _wal_render_table, group
-- after group, each group's rows in order. "rel" 0: rows of any tables of one shape that need no
-- code of their owners' (_wal_plain, checked here).
CREATE OR REPLACE FUNCTION pgtrickle._wal_render_tables(p_groups jsonb)
RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  g jsonb;
BEGIN
  FOR g IN SELECT x FROM jsonb_array_elements(p_groups) WITH ORDINALITY AS e(x, n) ORDER BY e.n LOOP
    IF pgtrickle._wal_plain(g -> 'columns', g -> 'rows') THEN
      RETURN QUERY SELECT r FROM pgtrickle._wal_render_plain(g -> 'columns', g -> 'rows') AS r;
    ELSIF (g ->> 'rel')::oid = 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = 'rows given without their table need no code of the table''s owner (built-in types, no value read from the table); these do';
    ELSE
      RETURN QUERY SELECT r FROM pgtrickle._wal_render_table((g ->> 'rel')::oid, g -> 'columns', g -> 'rows') WITH ORDINALITY AS t(r, n) ORDER BY t.n;
    END IF;
  END LOOP;
END
$$;

-- The publication of a pipeline defined in SQL (made by set_relay_outbox), or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._wal_pipeline_publication(p_pipeline text, p_origin text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  SELECT w.publication FROM pgtrickle.relay_wal_publications AS w
  WHERE w.pipeline = p_pipeline AND w.origin = p_origin AND EXISTS (SELECT FROM pg_publication AS p WHERE p.pubname = w.publication)
$$;

-- The tables a pipeline's source ({"tables": ..., "exclude": ...}) captures now, as messages name
-- them, with the problem each has (for the relay's start and `pgtrickle-relay validate`).
CREATE OR REPLACE FUNCTION pgtrickle._wal_pipeline_tables(p_source jsonb)
RETURNS TABLE (stream_table text, problem text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  SELECT pgtrickle._wal_stream_table(n.nspname, c.relname), m.problem
  FROM pgtrickle._wal_matched_tables(pgtrickle._wal_list(p_source -> 'tables'), pgtrickle._wal_list(p_source -> 'exclude')) AS m
  JOIN pg_class AS c ON c.oid = m.rel JOIN pg_namespace AS n ON n.oid = c.relnamespace
$$;
DROP FUNCTION IF EXISTS pgtrickle._wal_pipeline_tables(text);

DROP FUNCTION IF EXISTS pgtrickle._wal_pipeline_forget(text);   -- delete_relay drops them as the session

-- The tables a pipeline's publications publish now (bound by oid: a table named in "tables",
-- dropped and made again under its name, is another table, which set_relay_outbox must be asked for
-- again) that its "tables" and "exclude" match, with the problem each has.
CREATE OR REPLACE FUNCTION pgtrickle._wal_published_tables(p_pub text)
RETURNS TABLE (rel regclass, problem text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  SELECT m.rel, m.problem
  FROM pgtrickle.relay_wal_publications AS w CROSS JOIN LATERAL pgtrickle._wal_matched_tables(w.tables, w.exclude) AS m
  WHERE w.publication = p_pub
    AND (EXISTS (SELECT FROM pg_publication_rel AS r JOIN pg_publication AS p ON p.oid = r.prpubid
                 WHERE p.pubname = p_pub || 't' AND r.prrelid = m.rel)
         OR EXISTS (SELECT FROM pg_publication_namespace AS n JOIN pg_publication AS p ON p.oid = n.pnpubid
                    WHERE p.pubname = p_pub AND n.pnnspid = (SELECT c.relnamespace FROM pg_class AS c WHERE c.oid = m.rel)))
$$;

-- Backfills a WAL pipeline's tables (backfill_relay, "backfill": "initial"): the one p_table names
-- (as "tables" names one: "public.orders"), or every table it captures now, one after the other
-- (a table without a key, which a backfill reads in key order, is passed over with a warning).
-- Returns the first backfill's id; _wal_backfill_next takes up the next when one ends.
CREATE OR REPLACE FUNCTION pgtrickle._wal_backfill_create(p_function text, p_pipeline text, p_table text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  w       pgtrickle.relay_wal_publications;
  v_rels  oid[];
  v_none  text;
  v_rel   regclass;
  p       record;
BEGIN
  SELECT * INTO w FROM pgtrickle.relay_wal_publications AS x WHERE x.pipeline = p_pipeline
  ORDER BY x.origin = 'sql' DESC, x.updated_at DESC LIMIT 1;
  SELECT array_agg(m.rel::oid) FILTER (WHERE pgtrickle._outbox_key_columns(m.rel) IS NOT NULL),
         string_agg(m.rel::text, ', ') FILTER (WHERE pgtrickle._outbox_key_columns(m.rel) IS NULL)
  INTO v_rels, v_none
  FROM pgtrickle._wal_published_tables(w.publication) AS m;
  IF nullif(btrim(p_table), '') IS NOT NULL THEN
    SELECT * INTO p FROM pgtrickle._wal_pattern(p_pipeline, to_jsonb(p_table), 'tables');
    v_rel := CASE WHEN NOT p.wildcard THEN pgtrickle._relay_rel(p.schema_exact, p.table_exact) END;
    IF v_rel IS NULL OR NOT v_rel::oid = ANY (coalesce(v_rels, '{}')) THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('%s: "%s" is not a table pipeline "%s" captures now with a key to read it by', p_function, p_table, p_pipeline),
        HINT = format('For a pipeline of source type "wal", the second argument names one of its tables (%s), or is left out '
                      'to backfill every one; a condition is not taken.',
                      coalesce((SELECT string_agg(r::regclass::text, ', ') FROM unnest(v_rels) AS r), 'none'));
    END IF;
    v_rels := ARRAY[v_rel::oid];
  ELSIF v_none IS NOT NULL THEN
    RAISE WARNING '%: pipeline "%": % passed over: a backfill reads a table in key order, and they have no primary key or replica identity index',
      p_function, p_pipeline, v_none;
  END IF;
  IF cardinality(coalesce(v_rels, '{}')) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('%s: pipeline "%s" captures no table with a key now: nothing to backfill', p_function, p_pipeline);
  END IF;
  RETURN pgtrickle._relay_backfill_create_for(p_function, p_pipeline, w.publication, v_rels[1]::regclass, NULL, v_rels[2:]);
END
$$;

-- Backfill p_id ended (done, or failed): the next table of its WAL pipeline's queue, if any, is
-- backfilled next; one dropped meanwhile, or one that cannot be (no key left), is passed over.
CREATE OR REPLACE FUNCTION pgtrickle._wal_backfill_next(p_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  b     pgtrickle.relay_backfills;
  v_rel regclass;
BEGIN
  UPDATE pgtrickle.relay_backfills AS x SET next_tables = '{}'
  FROM (SELECT y.* FROM pgtrickle.relay_backfills AS y WHERE y.id = p_id FOR UPDATE) AS old
  WHERE x.id = old.id AND old.state IN ('done', 'failed') AND cardinality(old.next_tables) > 0
  RETURNING old.* INTO b;
  IF b.id IS NULL THEN
    RETURN;
  END IF;
  FOR i IN 1..cardinality(b.next_tables) LOOP
    v_rel := (SELECT c.oid FROM pg_class AS c WHERE c.oid = b.next_tables[i]);
    CONTINUE WHEN v_rel IS NULL OR pgtrickle._outbox_key_columns(v_rel) IS NULL;
    BEGIN
      PERFORM pgtrickle._relay_backfill_create_for('backfill_relay', b.pipeline, b.outbox, v_rel, NULL, b.next_tables[i + 1:]);
      RETURN;
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pipeline "%": table % is not backfilled: %', b.pipeline, v_rel, SQLERRM;
    END;
  END LOOP;
END
$$;
