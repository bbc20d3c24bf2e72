-- ============================================================================================
-- Publications for consumers of PostgreSQL's standard logical replication protocol (Debezium,
-- Kafka Connect, a subscriber): one per table, pgtrickle_<table>. They run with the caller's own
-- rights, so PostgreSQL's checks apply as they are: the caller owns the table and may create in
-- the database.
-- ============================================================================================

-- The publication of ours that publishes exactly this table, if any.
CREATE OR REPLACE FUNCTION pgtrickle._relay_publication_of(p_rel regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p.pubname::text
  FROM pg_publication AS p
  WHERE p.pubname LIKE 'pgtrickle\_%'
    AND NOT p.puballtables
    AND (SELECT array_agg(r.prrelid) FROM pg_publication_rel AS r WHERE r.prpubid = p.oid) = ARRAY[p_rel::oid]
  ORDER BY p.pubname
  LIMIT 1
$$;

-- p_as_owner: made as the table's owner (_relay_as_owner: enable_outbox's capture from the WAL),
-- which then owns it; else as the caller, whose rights PostgreSQL checks (create_publication).
DROP FUNCTION IF EXISTS pgtrickle._relay_publication_create(text, regclass);
CREATE OR REPLACE FUNCTION pgtrickle._relay_publication_create(p_name text, p_rel regclass, p_as_owner boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_schema text;
  v_table  text;
  v_kind   "char";
  v_ident  "char";
  v_pub    text;
BEGIN
  IF p_rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('create_publication: table %s does not exist', coalesce(quote_literal(p_name), 'NULL')),
      HINT = 'Write the name as in SQL: ''orders'', ''public.orders'', or ''"Mixed Case"'' with double quotes.';
  END IF;
  SELECT n.nspname, c.relname, c.relkind, c.relreplident INTO v_schema, v_table, v_kind, v_ident
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = p_rel;
  IF v_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type', MESSAGE = format('create_publication: %s is not a table', p_rel);
  END IF;
  -- In a publication, an UPDATE or DELETE of a table without a replica identity fails: refuse
  -- rather than break the table's writers.
  IF v_ident = 'n' OR (v_ident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index AS i WHERE i.indrelid = p_rel AND i.indisprimary))
     OR (v_ident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index AS i WHERE i.indrelid = p_rel AND i.indisreplident)) THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('create_publication: table %s has no primary key or replica identity, so its UPDATEs and DELETEs '
                       'would fail once it is published', p_rel),
      HINT = format('Add a primary key, or run ALTER TABLE %s REPLICA IDENTITY FULL (old rows are then logged whole).', p_rel);
  END IF;
  IF current_setting('wal_level') <> 'logical' THEN
    RAISE WARNING USING
      MESSAGE = format('create_publication: wal_level is %s, so nothing is published until it is logical',
                       current_setting('wal_level')),
      HINT = 'Set wal_level = logical in postgresql.conf and restart PostgreSQL.';
  END IF;
  v_pub := pgtrickle._relay_publication_of(p_rel);
  IF v_pub IS NOT NULL THEN
    RAISE NOTICE 'table % is already published: publication %', p_rel, quote_ident(v_pub);
    RETURN v_pub;
  END IF;
  FOREACH v_pub IN ARRAY ARRAY[
    'pgtrickle_' || v_table,
    'pgtrickle_' || left(md5(v_schema || '.' || v_table), 16)]
  LOOP
    IF octet_length(v_pub) <= 63 AND NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = v_pub) THEN
      IF p_as_owner THEN
        PERFORM pgtrickle._relay_as_owner(p_rel, 'enable_outbox', format('CREATE PUBLICATION %I FOR TABLE %s', v_pub, p_rel), NULL);
      ELSE
        EXECUTE format('CREATE PUBLICATION %I FOR TABLE %s', v_pub, p_rel);
      END IF;
      RETURN v_pub;
    END IF;
  END LOOP;
  RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
    MESSAGE = format('create_publication: no free name for the publication of %s: %I is taken', p_rel, v_pub);
END
$$;

CALL pgtrickle._relay_define('create_publication', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_publication(p_table text)
  RETURNS text
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._relay_publication_create(p_table, pgtrickle._relay_regclass(p_table)) $fn$;
$ddl$);

DROP FUNCTION IF EXISTS pgtrickle._relay_publication_drop(text, regclass, boolean);
CREATE OR REPLACE FUNCTION pgtrickle._relay_publication_drop(p_name text, p_rel regclass, p_if_exists boolean, p_as_owner boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_pub text;
BEGIN
  IF p_rel IS NOT NULL THEN
    v_pub := pgtrickle._relay_publication_of(p_rel);
  ELSIF EXISTS (SELECT 1 FROM pg_publication AS p WHERE p.pubname = 'pgtrickle_' || p_name
                  AND NOT EXISTS (SELECT 1 FROM pg_publication_rel AS r WHERE r.prpubid = p.oid)) THEN
    v_pub := 'pgtrickle_' || p_name;   -- the table was dropped: its publication publishes nothing
  END IF;
  IF v_pub IS NULL THEN
    IF coalesce(p_if_exists, false) THEN
      RAISE NOTICE 'no publication of "%" found, skipping', p_name;
      RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('drop_publication: no publication of "%s" found', p_name),
      HINT = format('Create one with SELECT pgtrickle.create_publication(%L).', p_name);
  END IF;
  IF p_as_owner AND p_rel IS NOT NULL THEN
    -- The table's owner's (as enable_outbox makes it); one an earlier install made, its owner's.
    PERFORM pgtrickle._relay_as_role((SELECT p.pubowner FROM pg_publication AS p WHERE p.pubname = v_pub),
                                     format('DROP PUBLICATION %I', v_pub));
  ELSE
    EXECUTE format('DROP PUBLICATION %I', v_pub);
  END IF;
END
$$;

CALL pgtrickle._relay_define('drop_publication', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.drop_publication(p_table text, p_if_exists boolean DEFAULT false)
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._relay_publication_drop(p_table, pgtrickle._relay_regclass(p_table), p_if_exists) $fn$;
$ddl$);

-- The publication of a WAL-captured outbox's table, made (p_make) or dropped for enable_outbox and
-- disable_outbox, as the table's owner, by the session acting for it.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_publication_set(p_name text, p_rel regclass, p_make boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM pgtrickle._relay_require_owner(CASE WHEN p_make THEN 'enable_outbox' ELSE 'disable_outbox' END, p_rel);
  IF p_make THEN
    PERFORM pgtrickle._relay_publication_create(p_name, p_rel, true);
  ELSE
    PERFORM pgtrickle._relay_publication_drop(p_name, p_rel, true, true);
  END IF;
END
$$;

-- How the relay reads an outbox of this install captured from the WAL: the source table and its
-- publication (no row when the outbox is captured by triggers, or is pg_trickle's).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_wal_source(p_outbox text)
RETURNS TABLE (source_schema text, source_table text, publication text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  SELECT t.source_schema, t.source_table, pgtrickle._relay_publication_of(pgtrickle._outbox_source(t))
  FROM pgtrickle.outbox_tables AS t
  WHERE t.outbox_name = p_outbox AND t.capture = 'wal'
$$;
