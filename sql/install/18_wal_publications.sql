-- ============================================================================================
-- WAL pipelines: their publications
--
-- What _wal_pipeline_prepare (18_wal_pipelines.sql) recorded a pipeline's two publications publish
-- is made so by the session that set the pipeline (set_relay_outbox) or, for a pipeline of a
-- relay's TOML file, the relay's session, with its login's rights: CREATE, ALTER and DROP
-- PUBLICATION as PostgreSQL allows them to it, never the installer's.
-- ============================================================================================

-- Publications earlier installs made as the installer go to the role that set their pipeline,
-- which changes and drops them now (one publishing a schema stays a superuser's).
DO $$
DECLARE
  o record;
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user) THEN
    RETURN;
  END IF;
  FOR o IN SELECT p.pubname, s.rolname AS owner
           FROM pgtrickle.relay_wal_publications AS w
           JOIN pg_publication AS p ON p.pubname IN (w.publication, w.publication || 't')
           JOIN pg_roles AS s ON s.rolname = w.set_by
           WHERE p.pubowner <> s.oid AND p.pubowner = (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user)
             AND (s.rolsuper OR NOT EXISTS (SELECT FROM pg_publication_namespace AS n WHERE n.pnpubid = p.oid)) LOOP
    EXECUTE format('ALTER PUBLICATION %I OWNER TO %I', o.pubname, o.owner);
  END LOOP;
END
$$;

-- Sets what a WAL pipeline's publication p_pub (named by _wal_publication_name) publishes: the
-- schemas p_schemas whole, or the tables p_tables ([{"rel": oid, "columns": [name], "where":
-- condition}]); neither: nothing. With the caller's rights. Its CREATE/ALTER PUBLICATION holds
-- names quoted here and conditions only as _relay_expression_checked writes them again.
CREATE OR REPLACE FUNCTION pgtrickle._wal_publication_set(p_pub text, p_schemas text[], p_tables jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_what    text;
  v_clauses text[] := '{}';
  v_gone    text;
  v_rel     regclass;
  v_where   text;
  v_problem text;
  t         jsonb;
BEGIN
  IF p_pub !~ '^pgtrickle_w[0-9a-f]{20}t?$' THEN
    RAISE EXCEPTION 'pgtrickle-relay: % is not the name of a WAL pipeline''s publication', p_pub;
  END IF;
  IF cardinality(p_schemas) > 0 THEN
    v_what := 'TABLES IN SCHEMA ' || (SELECT string_agg(quote_ident(x), ', ') FROM unnest(p_schemas) AS x);
  END IF;
  FOR t IN SELECT x FROM jsonb_array_elements(coalesce(p_tables, '[]')) AS x LOOP
    v_rel := (SELECT c.oid FROM pg_class AS c WHERE c.oid = (t ->> 'rel')::oid AND c.relkind IN ('r', 'p'));
    IF v_rel IS NULL THEN
      RAISE EXCEPTION 'pgtrickle-relay: no table of oid % to publish', t ->> 'rel';
    END IF;
    v_where := NULL;
    IF t ->> 'where' IS NOT NULL THEN
      SELECT x.expression, x.problem INTO v_where, v_problem FROM pgtrickle._relay_expression_checked(t ->> 'where', v_rel, NULL) AS x;
      IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
          MESSAGE = format('the row filter of %s is not taken: %s', v_rel, v_problem);
      END IF;
    END IF;
    v_clauses := v_clauses || concat_ws(' ', v_rel::text,
      (SELECT '(' || string_agg(quote_ident(a.attname), ', ' ORDER BY c.n) || ')'
       FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(t -> 'columns') = 'array' THEN t -> 'columns' END) WITH ORDINALITY AS c(name, n)
       JOIN pg_attribute AS a ON a.attrelid = v_rel AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped),
      'WHERE (' || v_where || ')');
  END LOOP;
  IF cardinality(v_clauses) > 0 THEN
    v_what := 'TABLE ' || array_to_string(v_clauses, ', ');
  END IF;

  IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = p_pub) THEN
    EXECUTE format('CREATE PUBLICATION %I %s WITH (publish_via_partition_root = true)', p_pub, coalesce('FOR ' || v_what, ''));
  ELSIF v_what IS NOT NULL THEN
    EXECUTE format('ALTER PUBLICATION %I SET %s', p_pub, v_what);
  ELSE
    FOR v_gone IN SELECT format('TABLES IN SCHEMA %I', n.nspname) FROM pg_publication_namespace AS x
                  JOIN pg_publication AS p ON p.oid = x.pnpubid JOIN pg_namespace AS n ON n.oid = x.pnnspid WHERE p.pubname = p_pub
                  UNION ALL
                  SELECT format('TABLE %s', r.prrelid::regclass) FROM pg_publication_rel AS r
                  JOIN pg_publication AS p ON p.oid = r.prpubid WHERE p.pubname = p_pub LOOP
      EXECUTE format('ALTER PUBLICATION %I DROP %s', p_pub, v_gone);
    END LOOP;
  END IF;
END
$$;
DROP FUNCTION IF EXISTS pgtrickle._wal_publication_set(text, text);
DROP FUNCTION IF EXISTS pgtrickle._wal_publication_set(text, text[], regclass[]);

-- Makes (or changes) the publications of pipeline p_pipeline (origin p_origin) publish what
-- _wal_pipeline_prepare recorded, as the session: CREATE and ALTER PUBLICATION with its login's
-- rights, which PostgreSQL asks of them (the tables' owners' rights, CREATE on the database for a
-- new publication, the publication's own to change it; a superuser's for a schema). Nothing for a
-- pipeline that is not of source type "wal". Returns the publication's name.
CREATE OR REPLACE FUNCTION pgtrickle._wal_pipeline_publish(p_pipeline text, p_origin text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  w         pgtrickle.relay_wal_publications;
  v_pub     text;
  v_problem text;
  t         jsonb;
BEGIN
  SELECT * INTO w FROM pgtrickle.relay_wal_publications AS x WHERE x.pipeline = p_pipeline AND x.origin = p_origin;
  IF w.publication IS NULL THEN
    RETURN NULL;
  END IF;
  FOREACH v_pub IN ARRAY ARRAY[w.publication, w.publication || 't'] LOOP
    BEGIN
      -- A login without CREATE on the database has a new publication made, empty, as the owner of
      -- the first table named (which the session acts for), and then sets what it publishes.
      IF NOT EXISTS (SELECT FROM pg_publication AS p WHERE p.pubname = v_pub) AND jsonb_array_length(w.clauses) > 0
         AND NOT has_database_privilege(current_database(), 'CREATE') THEN
        PERFORM pgtrickle._relay_as_owner((w.clauses -> 0 ->> 'rel')::oid::regclass, format('pipeline "%s"', p_pipeline),
                                          format('CREATE PUBLICATION %I WITH (publish_via_partition_root = true)', v_pub), NULL);
      END IF;
      IF v_pub = w.publication THEN
        PERFORM pgtrickle._wal_publication_set(v_pub, w.schemas, NULL);
      ELSE
        PERFORM pgtrickle._wal_publication_set(v_pub, NULL, w.clauses);
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('pipeline "%s": role %s may not make or change its publication %s: %s', p_pipeline, current_user, v_pub, SQLERRM),
        HINT = CASE WHEN (SELECT p.pubowner FROM pg_publication AS p WHERE p.pubname = v_pub) IS NOT NULL
                    THEN format('The publication belongs to role %s: a member of it (or a superuser) sets the pipeline, '
                                'or it gives the publication away (ALTER PUBLICATION %I OWNER TO %I).',
                                (SELECT p.pubowner::regrole FROM pg_publication AS p WHERE p.pubname = v_pub), v_pub, current_user)
                    ELSE format('A new publication takes CREATE on the database, as CREATE PUBLICATION does: '
                                'GRANT CREATE ON DATABASE %I TO %I;', current_database(), current_user) END;
    END;
  END LOOP;
  -- An UPDATE's or DELETE's row is filtered by its replica identity: a filter reading another
  -- column would make PostgreSQL refuse them.
  FOR t IN SELECT x FROM jsonb_array_elements(w.clauses) AS x WHERE x ->> 'where' IS NOT NULL LOOP
    SELECT string_agg(DISTINCT format('"%s"', a.attname), ', ') INTO v_problem
    FROM pg_publication_rel AS r JOIN pg_publication AS pb ON pb.oid = r.prpubid
    CROSS JOIN LATERAL regexp_matches(r.prqual::text, ':varattno (\d+)', 'g') AS m(v)
    JOIN pg_attribute AS a ON a.attrelid = r.prrelid AND a.attnum = m.v[1]::int
    WHERE pb.pubname = w.publication || 't' AND r.prrelid = (t ->> 'rel')::oid
      AND a.attname <> ALL (coalesce(pgtrickle._wal_identity_columns((t ->> 'rel')::oid::regclass), '{}'));
    IF v_problem IS NOT NULL THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format(
        'source key "tables": the row filter of %s reads %s, not of its replica identity; a filter may read only those '
        'columns (PostgreSQL would refuse the table''s UPDATEs and DELETEs), or set REPLICA IDENTITY FULL on the table',
        (t ->> 'rel')::oid::regclass, v_problem));
    END IF;
  END LOOP;
  -- Each table's rows are rendered as its owner, by a function the session makes as that owner.
  PERFORM pgtrickle._wal_rows_table_ensure(m.rel) FROM pgtrickle._wal_published_tables(w.publication) AS m;
  RETURN w.publication;
END
$$;

-- A deleted pipeline's publications (delete_relay), dropped by the session: their owner's to drop.
CREATE OR REPLACE FUNCTION pgtrickle._wal_publications_drop(p_pubs text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_pub text;
BEGIN
  FOREACH v_pub IN ARRAY ARRAY(SELECT y.n FROM unnest(p_pubs) AS u(p), unnest(ARRAY[u.p, u.p || 't']) AS y(n)
                                WHERE y.n ~ '^pgtrickle_w[0-9a-f]{20}t?$') LOOP
    BEGIN
      EXECUTE format('DROP PUBLICATION IF EXISTS %I', v_pub);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('the pipeline''s publication %s belongs to role %s, and role %s may not drop it', v_pub,
                         (SELECT p.pubowner::regrole FROM pg_publication AS p WHERE p.pubname = v_pub), current_user),
        HINT = 'A member of that role (or a superuser) deletes the pipeline.';
    END;
  END LOOP;
END
$$;

-- A table made in a schema a pipeline captures (or changed: a new owner, a move into such a
-- schema) gets its render function as it is made, from the role making it, which owns it (or acts
-- for its owner): never from the relay, nor the installer. Run as that role for every CREATE and
-- ALTER TABLE once a WAL pipeline exists; a failure never stops the DDL (a warning says what the
-- pipeline will do, and how to make the function).
CREATE OR REPLACE FUNCTION pgtrickle._wal_table_made()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rel regclass;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_publication AS p WHERE p.pubname LIKE 'pgtrickle\_w%') THEN
    RETURN;
  END IF;
  FOR v_rel IN
    SELECT DISTINCT c.oid::regclass FROM pg_event_trigger_ddl_commands() AS d JOIN pg_class AS c ON c.oid = d.objid
    WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND EXISTS (SELECT FROM pg_publication AS p
                  WHERE p.pubname LIKE 'pgtrickle\_w%'
                    AND (EXISTS (SELECT FROM pg_publication_rel AS r WHERE r.prpubid = p.oid AND r.prrelid = c.oid)
                         OR EXISTS (SELECT FROM pg_publication_namespace AS n WHERE n.pnpubid = p.oid AND n.pnnspid = c.relnamespace)))
  LOOP
    BEGIN
      PERFORM pgstream._admit_owner(v_rel);
      PERFORM pgtrickle._wal_rows_table_ensure(v_rel);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgtrickle-relay: table % is captured by a WAL pipeline, but its render function was not made: %', v_rel, SQLERRM
        USING HINT = 'The pipeline stops at the table''s first row until it is: a role acting for the table''s owner runs '
                     'SELECT pgtrickle._wal_rows_table_ensure(''' || v_rel::text || ''') (outside a SECURITY DEFINER function), or sets the pipeline again.';
    END;
  END LOOP;
END
$$;
CALL pgtrickle._relay_event_trigger('pgtrickle_wal_table_made', 'ddl_command_end',
                                    ARRAY['CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE'],
                                    'pgtrickle._wal_table_made()');

-- The render functions of the tables WAL pipelines capture, as this install makes them (an
-- earlier one made them as the installer, or from another template).
DO $$
DECLARE
  v_rel regclass;
BEGIN
  FOR v_rel IN SELECT DISTINCT format('%I.%I', t.schemaname, t.tablename)::regclass
               FROM pg_publication_tables AS t WHERE t.pubname LIKE 'pgtrickle\_w%' LOOP
    BEGIN
      PERFORM pgtrickle._wal_rows_table_ensure(v_rel);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'pgtrickle-relay: the render function of table %, which a WAL pipeline captures, was left as it was: %', v_rel, SQLERRM
        USING HINT = 'Install again as a role acting for its owner, or set the pipeline again as one.';
    END;
  END LOOP;
END
$$;
