-- ============================================================================================
-- Subscriptions (postgres-stream): schema pgstream
--
-- A row of pgstream.subscriptions says "when this operation happens on this table and this
-- condition holds, put an event on stream N". Inserting, changing or deleting subscriptions
-- regenerates, per (table, operation), one trigger function and one deferred constraint trigger
-- on the table; at commit they write the events into pgstream.events, partitioned by day. The relay
-- reads stream N through the view pgtrickle.pgstream_<N>, which has the layout of an outbox table
-- and is registered in pgtrickle.outbox_tables, so commit-order numbering, the outbox reader,
-- consumer groups and pipeline positions work on it as on any outbox.
--
-- Who may do what (SECURITY.md): anyone may write pgstream.subscriptions, but only for tables whose
-- owner's rights they hold (checked for current_user, the role doing the write, as CREATE TRIGGER
-- would check it); the generated function belongs to, and runs as, the table's owner; an owner may
-- insert into pgstream.events only events its own subscriptions describe.
-- ============================================================================================

CREATE SCHEMA IF NOT EXISTS pgstream;

-- Column order as in postgres-stream, so rows built for it (ROW(...)::pgstream.subscriptions) fit;
-- created_by, created_at and updated_at come after its columns.
CREATE TABLE IF NOT EXISTS pgstream.subscriptions (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  key                text NOT NULL,               -- the event's tg_name
  stream_id          bigint NOT NULL,
  operation          text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
  schema_name        text NOT NULL,
  table_name         text NOT NULL,
  when_clause        text,                        -- over new / old; NULL or '' = always
  column_names       text[],                      -- NULL = the whole row
  metadata           jsonb,                       -- stored with each event (pgstream.events.metadata)
  payload_extensions jsonb NOT NULL DEFAULT '[]', -- [{"json_path": "a.b", "expression": "<sql>"}, ...]
  created_by         regrole,                     -- may delete it once its table is gone
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  table_oid          oid,                         -- the table it is bound to (set by its check)
  -- One key per stream: set_subscriptions(stream_id, subs[]) of the README merges on it.
  UNIQUE (stream_id, key)
);
-- A subscription is bound to its table's oid when written, not to the name: a table dropped and
-- made again under its name, or another table renamed to it, does not inherit it (it stays with
-- the dropped table, orphaned, until its creator deletes it), and a renamed table keeps its own.
ALTER TABLE pgstream.subscriptions ADD COLUMN IF NOT EXISTS table_oid oid;
DO $$
BEGIN
  -- Earlier installs bound by name: bind those rows to the table their name finds now.
  IF EXISTS (SELECT FROM pgstream.subscriptions WHERE table_oid IS NULL) THEN
    ALTER TABLE pgstream.subscriptions DISABLE TRIGGER USER;
    UPDATE pgstream.subscriptions AS s SET table_oid = c.oid
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE s.table_oid IS NULL AND n.nspname = s.schema_name AND c.relname = s.table_name AND c.relkind IN ('r', 'p');
    ALTER TABLE pgstream.subscriptions ENABLE TRIGGER USER;
  END IF;
END
$$;
DROP INDEX IF EXISTS pgstream.subscriptions_target_idx;
CREATE INDEX IF NOT EXISTS subscriptions_table_idx ON pgstream.subscriptions (table_oid, operation);

-- What generation made, per (table, operation): the trigger function (the table owner's) and the
-- emit function (pgtrickle_maker's), by oid, and the md5 of the trigger's WHEN. Generation replaces
-- and drops only these, and refuses a trigger of its name it did not make; only
-- pgstream._generated_sync writes it, from the table's trigger and the subscriptions.
CREATE TABLE IF NOT EXISTS pgstream.generated (
  table_oid    oid NOT NULL,
  operation    text NOT NULL,
  trigger_fn   oid,
  emit_fn      oid,
  trigger_when text,             -- md5 of the trigger's WHEN, 'always' without one
  PRIMARY KEY (table_oid, operation)
);
-- Earlier installs kept no record: adopt the functions they generated (named _publish_after_* and
-- _emit_after_*, in schema pgstream, run by the table's pgstream_<op> trigger).
INSERT INTO pgstream.generated (table_oid, operation, trigger_fn, emit_fn, trigger_when)
SELECT t.tgrelid, upper(substr(t.tgname, length('pgstream_') + 1)), p.oid,
       to_regprocedure(format('pgstream.%I(pg_catalog.jsonb[])', '_emit' || substr(p.proname, length('_publish') + 1))),
       substring(p.prosrc FROM '-- trigger when: (\w+)')
FROM pg_catalog.pg_trigger AS t JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
WHERE t.tgname IN ('pgstream_insert', 'pgstream_update', 'pgstream_delete')
  AND p.pronamespace = 'pgstream'::regnamespace AND p.proname LIKE '\_publish\_after\_%'
ON CONFLICT DO NOTHING;

-- Partition maintenance settings (one row): days_ahead partitions after today's are created;
-- a partition whose whole range is older than retention_days days is dropped, unless it holds an
-- event that an enabled pipeline or a consumer group has not consumed.
CREATE TABLE IF NOT EXISTS pgstream.partition_settings (
  only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  days_ahead     int NOT NULL DEFAULT 3 CHECK (days_ahead BETWEEN 0 AND 365),
  retention_days int NOT NULL DEFAULT 7 CHECK (retention_days >= 1)
);
INSERT INTO pgstream.partition_settings DEFAULT VALUES ON CONFLICT DO NOTHING;

-- The events. created_at is the transaction's start, so all rows of one transaction land in one
-- partition and a partition drop takes whole transactions. xid: the commit-order numbering of
-- 08_commit_order.sql, as on outbox tables.
CREATE TABLE IF NOT EXISTS pgstream.events (
  id         bigint GENERATED BY DEFAULT AS IDENTITY,
  stream_id  bigint NOT NULL,
  payload    jsonb NOT NULL,
  metadata   jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
-- A stream's transactions (numbering), and a reader resuming inside a large one.
CREATE INDEX IF NOT EXISTS events_stream_xid_idx ON pgstream.events (stream_id, xid, id);
-- Writers never fail for want of a partition (maintenance late or not run): rows of a day without
-- its partition land here and stay here (maintenance does not create a partition whose range
-- already has rows here, and never drops this one).
CREATE TABLE IF NOT EXISTS pgstream.events_default PARTITION OF pgstream.events DEFAULT;

-- Nobody but the installer writes events: each table's generated trigger function (its owner's)
-- builds the subscribed parts of its events and hands them to the table's emit function (the
-- installer's), which writes them with the stream, key, operation and table of the subscriptions
-- it was generated for. (Earlier installs let owners insert under a row-level security policy,
-- which cost a catalog check per event.)
DROP POLICY IF EXISTS events_of_own_subscriptions ON pgstream.events;
ALTER TABLE pgstream.events DISABLE ROW LEVEL SECURITY;

-- --------------------------------------------------------------------------------------------
-- Locks without queueing
-- --------------------------------------------------------------------------------------------

-- A table's qualified name, to lock it by; undefined_table once it is gone (a regclass of a dropped
-- table prints as its bare oid, which no LOCK statement takes).
CREATE OR REPLACE FUNCTION pgstream._table_name(p_rel oid)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name text;
BEGIN
  SELECT format('%I.%I', n.nspname, c.relname) INTO v_name
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = p_rel;
  IF v_name IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table', MESSAGE = format('the table with oid %s no longer exists', p_rel);
  END IF;
  RETURN v_name;
END
$$;

-- Runs p_lock (a statement that takes a lock: LOCK TABLE ..., pg_advisory_xact_lock(...)) with a
-- 200 ms lock_timeout, a few times over about four seconds. A DDL statement waiting in the lock
-- queue of a table blocks every writer behind it; waiting briefly and trying again never does.
-- After the last try: an error naming p_what, the table and who holds it, if that can be told.
CREATE OR REPLACE FUNCTION pgstream._lock(p_lock text, p_rel regclass, p_what text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_timeout text := current_setting('lock_timeout');
  v_holders text;
BEGIN
  FOR i IN 1..15 LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '200ms', true);
      EXECUTE p_lock;
      PERFORM set_config('lock_timeout', v_timeout, true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      NULL;   -- the setting rolled back with the attempt
    END;
    PERFORM pg_sleep(0.05 + random() * 0.1);
  END LOOP;
  SELECT string_agg(DISTINCT format('pid %s (role %s, %s, in a transaction for %s)', a.pid, a.usename,
                                    coalesce(nullif(a.application_name, ''), 'no application name'),
                                    date_trunc('second', now() - a.xact_start)), '; ')
  INTO v_holders
  FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
  WHERE p_rel IS NOT NULL AND l.relation = p_rel AND l.granted AND l.pid <> pg_backend_pid();
  RAISE EXCEPTION USING ERRCODE = 'lock_not_available',
    MESSAGE = format('%s: %s is busy: no lock on it within 4 seconds%s', p_what,
                     coalesce('table ' || p_rel::text, 'another change to the same table'),
                     coalesce(', held by ' || v_holders, '')),
    HINT = 'Nothing was changed. Try again once that transaction has ended (a long transaction on the table '
           'holds its lock until it ends; pg_stat_activity shows it).';
END
$$;

-- --------------------------------------------------------------------------------------------
-- Validation (BEFORE trigger on pgstream.subscriptions; runs as the role writing the row)
-- --------------------------------------------------------------------------------------------

-- The error of a subscription: names the subscription and the field, and says what to write.
CREATE OR REPLACE FUNCTION pgstream._refuse(p_key text, p_field text, p_problem text, p_hint text,
                                            p_errcode text DEFAULT 'invalid_parameter_value')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = p_errcode,
    MESSAGE = format('pgstream.subscriptions: subscription "%s": %s%s', p_key, coalesce(p_field || ' ', ''), p_problem),
    HINT = p_hint;
END
$$;

-- The table a subscription names, from the catalog (no USAGE on its schema needed to find it).
CREATE OR REPLACE FUNCTION pgstream._target(p_schema text, p_table text)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname = p_schema AND c.relname = p_table AND c.relkind IN ('r', 'p')
$$;

-- The table a subscription is bound to, while it exists.
CREATE OR REPLACE FUNCTION pgstream._bound_table(p_oid oid)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT c.oid::regclass FROM pg_class AS c WHERE c.oid = p_oid AND c.relkind IN ('r', 'p') $$;

-- Only a role acting for the table's owner (current_user: the role doing the write, as for
-- CREATE TRIGGER) may subscribe to the table, or change or delete a subscription on it.
CREATE OR REPLACE FUNCTION pgstream._require_owner(p_key text, p_rel regclass, p_act text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_owner oid := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel);
BEGIN
  IF NOT pg_has_role(current_user, v_owner, 'USAGE') THEN
    PERFORM pgstream._refuse(p_key, NULL, format('role %s may not %s: table %s belongs to role %s',
                                                current_user, p_act, p_rel, v_owner::regrole),
                             format('Subscriptions on a table are made by its owner or a member of role %s, as triggers on it are.',
                                    v_owner::regrole),
                             'insufficient_privilege');
  END IF;
END
$$;

-- The FROM list under which a subscription's expressions are compiled: the row images its
-- operation has (INSERT: new; DELETE: old; UPDATE: both).
CREATE OR REPLACE FUNCTION pgstream._row_images(p_rel regclass, p_operation text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE p_operation
    WHEN 'INSERT' THEN format('ONLY %s AS new', p_rel)
    WHEN 'DELETE' THEN format('ONLY %s AS old', p_rel)
    ELSE format('ONLY %1$s AS new, ONLY %1$s AS old', p_rel)
  END
$$;

-- Compiles p_query (parse, analysis, plan and the executor's privilege checks; no row is read) as ONE statement: a cursor cannot be
-- opened on several. The expression a subscription gives is placed in it followed only by
-- "\n)", so a string, quoted name or comment it leaves open, or a ";" in it, fails here: the
-- generated DDL, which holds the same expression, is then one statement too. Returns the error, or
-- NULL when it compiles.
CREATE OR REPLACE FUNCTION pgstream._compile_error(p_query text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c refcursor;
BEGIN
  OPEN c FOR EXECUTE p_query;
  CLOSE c;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLERRM;
END
$$;

-- A trigger function that is never run: the WHEN of a subscription is tried on a trigger of a
-- temporary copy of its table.
CREATE OR REPLACE FUNCTION pgstream._when_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$ BEGIN RETURN NULL; END $$;

-- The events' top-level keys, which payload extensions may not replace.
CREATE OR REPLACE FUNCTION pgstream._reserved_keys()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['tg_name', 'tg_op', 'tg_table_name', 'tg_table_schema', 'timestamp', 'new', 'old'] $$;

CREATE OR REPLACE FUNCTION pgstream._subscription_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_rel    regclass;
  v_images text;
  v_error  text;
  v_hint   text;
  v_col    text;
  v_ext    jsonb;
  v_paths  text[] := '{}';
  v_path   text[];
  v_other  text[];
  i        int := 0;
BEGIN
  -- Who may: a role acting for the owner of the table, for the subscription as it was and as it
  -- becomes. A subscription whose table is gone: the role that created it.
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    v_rel := pgstream._bound_table(OLD.table_oid);
    IF v_rel IS NULL THEN
      IF NOT coalesce(pg_has_role(current_user, OLD.created_by, 'USAGE'), false) THEN
        PERFORM pgstream._refuse(OLD.key, NULL, format('role %s may not change it: its table %I.%I is gone and role %s created it',
                                                      current_user, OLD.schema_name, OLD.table_name, coalesce(OLD.created_by::text, '(unknown)')),
                                 'A member of the role that created it (or a superuser) may.', 'insufficient_privilege');
      END IF;
    ELSE
      PERFORM pgstream._require_owner(OLD.key, v_rel, 'change it');
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;

  IF NEW.key IS NULL OR btrim(NEW.key) = '' THEN
    PERFORM pgstream._refuse(coalesce(NEW.key, ''), 'key', 'is empty',
                             'Give each subscription of a stream its own key: it becomes the event''s tg_name.');
  END IF;
  IF NEW.stream_id IS NULL OR NEW.stream_id < 0 THEN
    PERFORM pgstream._refuse(NEW.key, 'stream_id', format('must be a number from 0 up, got %s', coalesce(NEW.stream_id::text, 'NULL')),
                             'Write the stream id the relay''s pipeline reads: {"source": {"type": "pgstream", "stream_id": N}}.');
  END IF;
  IF NEW.operation IS NULL OR NEW.operation NOT IN ('INSERT', 'UPDATE', 'DELETE') THEN
    PERFORM pgstream._refuse(NEW.key, 'operation', format('must be INSERT, UPDATE or DELETE, got %s', coalesce(quote_literal(NEW.operation), 'NULL')),
                             'One subscription per operation: write three rows (three keys) for all of them.');
  END IF;
  -- A subscription stays bound to its table while it names the same one (the table may have been
  -- renamed since); a new name, or a table that is gone, binds it to the table the name finds now.
  IF NOT (TG_OP = 'UPDATE' AND v_rel IS NOT NULL
          AND (NEW.schema_name, NEW.table_name) IS NOT DISTINCT FROM (OLD.schema_name, OLD.table_name)) THEN
    v_rel := pgstream._target(NEW.schema_name, NEW.table_name);
  END IF;
  IF v_rel IS NULL THEN
    PERFORM pgstream._refuse(NEW.key, 'schema_name/table_name',
                             format('name no table: %s.%s does not exist', coalesce(quote_ident(NEW.schema_name), 'NULL'),
                                    coalesce(quote_ident(NEW.table_name), 'NULL')),
                             'Write the schema and the table name as they are stored, unquoted: schema_name => ''public'', table_name => ''orders''.',
                             'undefined_table');
  END IF;
  IF (SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel)
     IN ('pgstream', 'pgtrickle', 'pg_catalog', 'information_schema') THEN
    PERFORM pgstream._refuse(NEW.key, 'schema_name/table_name', format('names %s, a table of the install or of the system', v_rel),
                             'Subscribe to tables of your own schemas.', 'insufficient_privilege');
  END IF;
  PERFORM pgstream._require_owner(NEW.key, v_rel, 'subscribe to it');
  NEW.table_oid := v_rel;
  IF TG_OP = 'INSERT' THEN
    NEW.created_by := current_user::regrole;
  ELSE
    NEW.created_by := OLD.created_by;
    NEW.updated_at := now();
  END IF;

  IF NEW.column_names IS NOT NULL THEN
    IF cardinality(NEW.column_names) = 0 OR array_position(NEW.column_names, NULL) IS NOT NULL THEN
      PERFORM pgstream._refuse(NEW.key, 'column_names', 'is empty or holds NULL',
                               'List the columns to send, or write NULL to send the whole row.');
    END IF;
    FOREACH v_col IN ARRAY NEW.column_names LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_attribute AS a WHERE a.attrelid = v_rel AND a.attname = v_col
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
        PERFORM pgstream._refuse(NEW.key, 'column_names', format('names no column of %s: %s', v_rel, quote_literal(v_col)),
                                 format('Its columns are: %s.', (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum)
                                                                 FROM pg_attribute AS a WHERE a.attrelid = v_rel
                                                                   AND a.attnum > 0 AND NOT a.attisdropped)),
                                 'undefined_column');
      END IF;
    END LOOP;
  END IF;

  -- The expressions are compiled as the role writing the row, so only when they (or what they are
  -- compiled over) change: the installer's own writes (the rename event trigger updating a renamed
  -- table's name) compile nothing a user wrote.
  IF TG_OP = 'UPDATE' AND (NEW.when_clause, NEW.payload_extensions, NEW.operation, v_rel::oid)
                          IS NOT DISTINCT FROM (OLD.when_clause, OLD.payload_extensions, OLD.operation, OLD.table_oid) THEN
    RETURN NEW;
  END IF;
  v_images := pgstream._row_images(v_rel, NEW.operation);
  v_hint := CASE NEW.operation WHEN 'INSERT' THEN 'An INSERT subscription sees the row as new.<column>.'
                               WHEN 'DELETE' THEN 'A DELETE subscription sees the row as old.<column>.'
                               ELSE 'An UPDATE subscription sees the row before as old.<column> and after as new.<column>.' END;
  IF NEW.when_clause IS NOT NULL AND btrim(NEW.when_clause) <> '' THEN
    v_error := pgstream._compile_error(format(E'SELECT FROM %s WHERE (%s\n)', v_images, NEW.when_clause));
    IF v_error IS NULL THEN
      -- What a trigger's WHEN cannot hold (subqueries, old in an INSERT trigger...), told by
      -- CREATE TRIGGER itself, on a temporary copy of the table.
      BEGIN
        EXECUTE format('CREATE TEMPORARY TABLE pgstream_when_check (LIKE %s)', v_rel);
        EXECUTE format(E'CREATE TRIGGER pgstream_when_check AFTER %s ON pg_temp.pgstream_when_check FOR EACH ROW '
                       'WHEN ((%s\n)) EXECUTE FUNCTION pgstream._when_check()', NEW.operation, NEW.when_clause);
        RAISE EXCEPTION USING ERRCODE = 'P0004';   -- compiled: undo the copy
      EXCEPTION
        WHEN assert_failure THEN NULL;
        WHEN OTHERS THEN v_error := SQLERRM;
      END;
    END IF;
    IF v_error IS NOT NULL THEN
      PERFORM pgstream._refuse(NEW.key, 'when_clause', format('does not compile: %s', v_error),
                               v_hint || ' Write one boolean SQL expression without subqueries, e.g. new.status = ''paid''; NULL or '''' means always.');
    END IF;
  END IF;

  IF NEW.payload_extensions IS NULL THEN
    NEW.payload_extensions := '[]';
  END IF;
  IF jsonb_typeof(NEW.payload_extensions) <> 'array' THEN
    PERFORM pgstream._refuse(NEW.key, 'payload_extensions', format('must be a JSON array, got %s', left(NEW.payload_extensions::text, 100)),
                             'Write ''[{"json_path": "group_id", "expression": "new.user_id::text"}]''::jsonb, or ''[]''.');
  END IF;
  FOR v_ext IN SELECT e FROM jsonb_array_elements(NEW.payload_extensions) AS e LOOP
    i := i + 1;
    IF jsonb_typeof(v_ext) <> 'object' OR NOT (v_ext ?& ARRAY['json_path', 'expression'])
       OR EXISTS (SELECT FROM jsonb_object_keys(v_ext) AS k WHERE k NOT IN ('json_path', 'expression'))
       OR jsonb_typeof(v_ext -> 'json_path') <> 'string' OR jsonb_typeof(v_ext -> 'expression') <> 'string' THEN
      PERFORM pgstream._refuse(NEW.key, format('payload_extensions[%s]', i),
                               format('must be an object {"json_path": text, "expression": text}, got %s', left(v_ext::text, 100)),
                               'Write {"json_path": "group_id", "expression": "new.user_id::text"}.');
    END IF;
    v_path := string_to_array(v_ext ->> 'json_path', '.');
    IF v_ext ->> 'json_path' = '' OR array_position(v_path, '') IS NOT NULL THEN
      PERFORM pgstream._refuse(NEW.key, format('payload_extensions[%s].json_path', i),
                               format('is not a dotted path: %s', quote_literal(v_ext ->> 'json_path')),
                               'Write key names joined by dots, e.g. "group_id" or "routing.queue".');
    END IF;
    IF v_path[1] = ANY (pgstream._reserved_keys()) THEN
      PERFORM pgstream._refuse(NEW.key, format('payload_extensions[%s].json_path', i),
                               format('would replace the event''s own key "%s"', v_path[1]),
                               format('The event''s keys %s are kept; choose another name.', array_to_string(pgstream._reserved_keys(), ', ')));
    END IF;
    -- Each path is one leaf: no path twice, none inside another ("a" and "a.b").
    FOREACH v_col IN ARRAY v_paths LOOP
      v_other := string_to_array(v_col, '.');
      IF v_other[1:cardinality(v_path)] = v_path OR v_path[1:cardinality(v_other)] = v_other THEN
        PERFORM pgstream._refuse(NEW.key, format('payload_extensions[%s].json_path', i),
                                 format('"%s" collides with "%s"', v_ext ->> 'json_path', v_col),
                                 'Each json_path sets one value: "a.b" and "a.c" nest side by side, "a" and "a.b" cannot both be set.');
      END IF;
    END LOOP;
    v_paths := v_paths || (v_ext ->> 'json_path');
    IF btrim(v_ext ->> 'expression') = '' THEN
      v_error := 'it is empty';
    ELSE
      v_error := pgstream._compile_error(format(E'SELECT FROM %s WHERE pg_catalog.jsonb_build_object(''v'', (%s\n)) IS NULL',
                                                v_images, v_ext ->> 'expression'));
    END IF;
    IF v_error IS NOT NULL THEN
      PERFORM pgstream._refuse(NEW.key, format('payload_extensions[%s].expression', i), format('does not compile: %s', v_error),
                               v_hint || ' Write one SQL expression; a text constant is quoted in SQL: "''orders-high-priority''".');
    END IF;
  END LOOP;
  RETURN NEW;
END
$$;

