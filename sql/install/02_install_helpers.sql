-- ============================================================================================
-- Install helpers
-- ============================================================================================

-- Name of the extension that owns an object called p_name in schema pgtrickle (function of
-- any signature, relation or type), or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_extension_owner(p_name text)
RETURNS name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT e.extname
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid
  WHERE d.deptype = 'e'
    AND d.refclassid = 'pg_extension'::regclass
    AND ((d.classid = 'pg_proc'::regclass AND d.objid IN
            (SELECT oid FROM pg_proc WHERE pronamespace = 'pgtrickle'::regnamespace AND proname = p_name))
      OR (d.classid = 'pg_class'::regclass AND d.objid IN
            (SELECT oid FROM pg_class WHERE relnamespace = 'pgtrickle'::regnamespace AND relname = p_name))
      OR (d.classid = 'pg_type'::regclass AND d.objid IN
            (SELECT oid FROM pg_type WHERE typnamespace = 'pgtrickle'::regnamespace AND typname = p_name)))
  LIMIT 1
$$;

-- Run p_ddl unless an extension (pg_trickle) already provides an object named p_name.
-- By name, not signature: an extra overload next to pg_trickle's would make calls ambiguous.
CREATE OR REPLACE PROCEDURE pgtrickle._relay_define(p_name text, p_ddl text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_extension name := pgtrickle._relay_extension_owner(p_name);
  v_function  regprocedure;
BEGIN
  IF v_extension IS NOT NULL THEN
    RAISE NOTICE 'pgtrickle.% is provided by extension %; keeping it', p_name, v_extension;
    RETURN;
  END IF;
  BEGIN
    EXECUTE p_ddl;
  EXCEPTION WHEN invalid_function_definition THEN
    -- An older install defined the function with other result columns or parameter names,
    -- which CREATE OR REPLACE cannot change: replace it (grants are re-applied at the end).
    FOR v_function IN
      SELECT oid FROM pg_proc WHERE pronamespace = 'pgtrickle'::regnamespace AND proname = p_name
    LOOP
      EXECUTE format('DROP FUNCTION %s', v_function);
    END LOOP;
    EXECUTE p_ddl;
  END;
END
$$;

-- Longest prefix of p_text that fits in p_max bytes, cut on a character boundary.
CREATE OR REPLACE FUNCTION pgtrickle._relay_truncate_bytes(p_text text, p_max int)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v text := left(p_text, p_max);
BEGIN
  WHILE octet_length(v) > p_max LOOP
    v := left(v, -1);
  END LOOP;
  RETURN v;
END
$$;

-- An identifier p_base || p_suffix that fits PostgreSQL's 63-byte limit: when too long, the
-- base is cut and made unique again with 7 hex digits of md5(p_hash_source).
CREATE OR REPLACE FUNCTION pgtrickle._relay_ident(p_base text, p_suffix text, p_hash_source text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE
    WHEN octet_length(p_base || p_suffix) <= 63 THEN p_base || p_suffix
    ELSE pgtrickle._relay_truncate_bytes(p_base, 63 - 8 - octet_length(p_suffix))
         || '_' || left(md5(p_hash_source), 7) || p_suffix
  END
$$;

-- Is p_ref a relation name as SQL writes it: name or schema.name, each plain or double-quoted?
-- Checked up front because to_regclass() and parse_ident() raise on anything else ('"We;ird',
-- 'a.b.c.d'), and an exception block would cost a subtransaction per outbox_publish.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_relation_name(p_ref text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(p_ref ~ '^\s*("([^"]|"")+"|[^."\s]+)\s*(\.\s*("([^"]|"")+"|[^."\s]+)\s*)?$', false)
$$;

-- Is p_name a replication slot name the relay may create, read and drop (as is_relay_slot_name in
-- the relay): "pgtrickle_" then lowercase letters, digits and underscores, 63 bytes at most. A slot
-- named otherwise is another system's.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_slot_name(p_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(p_name ~ '^pgtrickle_[a-z0-9_]{1,53}$', false)
$$;

-- to_regclass() that returns NULL for text that is not a relation name. No SET search_path:
-- names resolve in the caller's search path.
-- A schema-qualified name resolves the same for everyone; the relay's role may lack USAGE on the
-- application's schema, so the relay resolves such names through this (qualified names only: the
-- pinned search_path holds no application schema).
-- Found in the catalog, as pgtrickle_owner has no USAGE on the application's schemas either.
CREATE OR REPLACE FUNCTION pgtrickle._relay_regclass_qualified(p_ref text)
RETURNS regclass
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_parts text[] := parse_ident(p_ref);
BEGIN
  IF cardinality(v_parts) = 2 THEN
    RETURN pgtrickle._relay_rel(v_parts[1], v_parts[2]);
  END IF;
  RETURN to_regclass(p_ref);
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_regclass(p_ref text)
RETURNS regclass
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF NOT pgtrickle._relay_is_relation_name(p_ref) THEN
    RETURN NULL;
  END IF;
  RETURN to_regclass(p_ref);
EXCEPTION WHEN insufficient_privilege THEN
  RETURN pgtrickle._relay_regclass_qualified(p_ref);
END
$$;

-- The role that installed pgtrickle-relay: the owner of this function, which the install makes and
-- never gives away.
CREATE OR REPLACE FUNCTION pgtrickle._relay_installer()
RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p.proowner FROM pg_proc AS p WHERE p.oid = 'pgtrickle._relay_installer()'::regprocedure $$;

-- The table p_schema.p_table, found in the catalog: unlike to_regclass, it needs no USAGE on the
-- schema (pgtrickle_owner, which most of these functions run as, has none on users' schemas).
CREATE OR REPLACE FUNCTION pgtrickle._relay_rel(p_schema text, p_table text)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname = p_schema AND c.relname = p_table
$$;

-- The SECURITY DEFINER functions that run as the installer, not as pgtrickle_owner (20_privileges.sql):
-- none. What pgtrickle_owner may not do runs as pgtrickle_maker (_relay_maker_helpers), or as the
-- session acting for a table's owner, or happens at install time. Kept (empty) so that a new one
-- must be listed here, and audited, to exist.
CREATE OR REPLACE FUNCTION pgtrickle._relay_installer_helpers()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '{}'::text[] $$;

-- SECURITY DEFINER helpers that make and drop the relay's own objects, owned by pgtrickle_maker on
-- an install by a superuser (01): no superuser's rights behind them.
CREATE OR REPLACE FUNCTION pgtrickle._relay_maker_helpers()
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY[
  -- outbox tables; the relay's read of outboxes; CREATE where a table's owner makes its code
  '_outbox_create_tables', '_outbox_drop_objects', '_relay_grant_outboxes', '_relay_code_open', '_relay_code_closed', '_outbox_grant_capture',
  -- pgstream: streams' views and publications, daily partitions
  'stream_outbox', '_stream_outbox_drop_unused', 'stream_publication', 'maintain_partitions',
  -- inbox tables and their views, in the schemas inboxes name
  '_inbox_create_objects', '_inbox_drop_objects',
  -- the relay's replication slots
  '_relay_drop_slots',
  -- pgstream: subscribed tables' owners may use schema pgtrickle; the emit functions of subscriptions
  '_admit_owner', '_generated_sync'
]::text[] $$;

-- The role pgtrickle_maker, when this install has one (an install by a superuser), else NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_maker()
RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT r.oid FROM pg_roles AS r
  WHERE r.rolname = 'pgtrickle_maker'
    AND EXISTS (SELECT FROM pg_proc AS p WHERE p.oid = to_regprocedure('pgtrickle._relay_drop_slots(text, text)') AND p.proowner = r.oid)
$$;

-- Acting on a table through these functions takes what PostgreSQL takes for the same act
-- (CREATE TRIGGER, GRANT on it): the rights of its owner. Checked for the session's role: the
-- functions doing it are SECURITY DEFINER, and the session could as well act as that role itself.
CREATE OR REPLACE FUNCTION pgtrickle._relay_require_owner(p_function text, p_rel regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_owner oid := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel);
BEGIN
  IF NOT pg_has_role(session_user, v_owner, 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('%s: must be owner of table %s (owned by role %s); role %s is not',
                       p_function, p_rel, v_owner::regrole, session_user),
      HINT = format('The table''s owner runs it, or a member of role %s.', v_owner::regrole);
  END IF;
END
$$;

-- Gives a function of schema pgtrickle or pgstream (p_function: its signature) to p_owner, the
-- owner of the table it works on. A role that is not a superuser may give a function away only to
-- a role with CREATE on its schema: granted for this statement alone.
CREATE OR REPLACE FUNCTION pgtrickle._relay_give_function(p_function regprocedure, p_owner oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_schema regnamespace := (SELECT p.pronamespace FROM pg_proc AS p WHERE p.oid = p_function);
  v_grant  boolean := NOT has_schema_privilege(p_owner, v_schema, 'CREATE');
BEGIN
  IF v_grant THEN
    EXECUTE format('GRANT CREATE ON SCHEMA %s TO %s', v_schema, p_owner::regrole);
  END IF;
  EXECUTE format('ALTER FUNCTION %s OWNER TO %s', p_function, p_owner::regrole);
  IF v_grant THEN
    EXECUTE format('REVOKE CREATE ON SCHEMA %s FROM %s', v_schema, p_owner::regrole);
  END IF;
END
$$;

-- ---- Code that runs as a table's owner ------------------------------------------------------
--
-- A function that runs as a table's owner (its capture, and the like) is made by the session that
-- acts for that owner, as that owner, never with more rights: pgtrickle._relay_as_owner runs the
-- DDL under SET ROLE to the owner, which the session's login must be able to take (as PostgreSQL
-- asks of CREATE TRIGGER's caller). The owner may create in schema pgtrickle for that DDL alone:
-- pgtrickle_maker grants it USAGE and CREATE there and takes CREATE back (_relay_code_open). Whatever a role
-- other than the installer makes in schemas pgtrickle and pgstream is held to the install's names
-- by an event trigger (pgtrickle._relay_schemas_kept, 20_privileges.sql).

-- Grants p_rel's owner what making its code takes, unless it has it, for a session acting for that
-- owner (p_open): USAGE and CREATE on schema p_schema (pgtrickle or pgstream), or with p_schema
-- NULL, CREATE on the database (a publication of the table). Or takes back the CREATE an earlier
-- call granted (NOT p_open, p_granted: what it returned; USAGE stays). Returns what it granted.
CREATE OR REPLACE FUNCTION pgtrickle._relay_code_open(p_rel regclass, p_schema regnamespace, p_open boolean, p_granted text[])
RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_owner  oid := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel);
  v_object text := CASE WHEN p_schema IS NULL THEN format('DATABASE %I', current_database()) ELSE format('SCHEMA %s', p_schema) END;
  v_grant  text[];
  v_admitted boolean;
BEGIN
  IF (p_schema IS NOT NULL AND p_schema NOT IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)) OR v_owner IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = '_relay_code_open: a table and schema pgtrickle or pgstream';
  END IF;
  -- Code is made for pipeline admins' calls, a relay's (its TOML file's WAL pipelines) and the
  -- installer's, by a session acting for the table's owner. On an install whose event trigger
  -- holds what others make in these schemas to the install's names (pgtrickle_schemas_kept, an
  -- install by a superuser), also for any table's owner: a subscribed table's, in schema pgstream
  -- (its subscriptions were written by a role acting for it, maybe inside a SECURITY DEFINER
  -- function, whatever the session's login), and a table's a WAL pipeline captures, in schema
  -- pgtrickle (its render function, made as the table is made or changed).
  v_admitted := pg_has_role(session_user, v_owner, 'USAGE')
    AND (pg_has_role(session_user, 'pgtrickle_relay_admin', 'USAGE') OR pg_has_role(session_user, 'pgtrickle_relay', 'USAGE')
         OR (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = session_user) IS NOT DISTINCT FROM pgtrickle._relay_installer());
  IF NOT v_admitted AND pgtrickle._relay_maker() IS NOT NULL THEN
    IF p_schema = 'pgstream'::regnamespace THEN
      v_admitted := EXISTS (SELECT FROM pgstream.subscriptions AS s WHERE s.table_oid = p_rel);
    ELSIF p_schema = 'pgtrickle'::regnamespace AND pg_has_role(session_user, v_owner, 'USAGE') THEN
      v_admitted := pgtrickle._wal_published(p_rel);
    END IF;
  END IF;
  IF NOT v_admitted THEN
    PERFORM pgtrickle._relay_require_owner('make code that runs as its owner', p_rel);
    IF NOT pg_has_role(session_user, 'pgtrickle_relay_admin', 'USAGE') AND NOT pg_has_role(session_user, 'pgtrickle_relay', 'USAGE')
       AND (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = session_user) IS DISTINCT FROM pgtrickle._relay_installer() THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('role %s may not make code of table %s in %s: that is for pipeline admins (role pgtrickle_relay_admin)',
                         session_user, p_rel, coalesce(p_schema::text, 'the database'));
    END IF;
  END IF;
  IF NOT p_open THEN
    -- USAGE stays: the owner's code calls the install's functions (a render function, its template).
    IF 'CREATE' = ANY (p_granted) THEN
      EXECUTE format('REVOKE CREATE ON %s FROM %s', v_object, v_owner::regrole);
    END IF;
    RETURN '{}';
  END IF;
  v_grant := ARRAY(SELECT p FROM unnest(CASE WHEN p_schema IS NULL THEN ARRAY['CREATE'] ELSE ARRAY['USAGE', 'CREATE'] END) AS p
                   WHERE NOT CASE WHEN p_schema IS NULL THEN has_database_privilege(v_owner, current_database(), p)
                                  ELSE has_schema_privilege(v_owner, p_schema, p) END);
  IF cardinality(v_grant) > 0 THEN
    EXECUTE format('GRANT %s ON %s TO %s', array_to_string(v_grant, ', '), v_object, v_owner::regrole);
  END IF;
  -- Taken back at the latest when the transaction commits, whatever its caller does after.
  IF 'CREATE' = ANY (v_grant) THEN
    INSERT INTO pgtrickle.relay_code_opened (role, object) VALUES (v_owner, v_object);
  END IF;
  RETURN v_grant;
END
$$;

-- The CREATE _relay_code_open granted, each taken back when the transaction that was granted it
-- commits (a deferred trigger, whose function is pgtrickle_maker's, as the grant is).
CREATE TABLE IF NOT EXISTS pgtrickle.relay_code_opened (role oid NOT NULL, object text NOT NULL);
CREATE OR REPLACE FUNCTION pgtrickle._relay_code_closed()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles AS r WHERE r.oid = NEW.role) THEN
    EXECUTE format('REVOKE CREATE ON %s FROM %s', NEW.object, NEW.role::regrole);
  END IF;
  DELETE FROM pgtrickle.relay_code_opened AS o WHERE o.role = NEW.role AND o.object = NEW.object;
  RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS relay_code_closed ON pgtrickle.relay_code_opened;
CREATE CONSTRAINT TRIGGER relay_code_closed AFTER INSERT ON pgtrickle.relay_code_opened
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pgtrickle._relay_code_closed();

-- Runs p_ddl (text this install built) as role p_role, which the session must act for: dropping
-- what a table's former owner left. The role the session had is set again after.
CREATE OR REPLACE FUNCTION pgtrickle._relay_as_role(p_role oid, p_ddl text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_role text := current_setting('role');
BEGIN
  IF NOT pg_has_role(session_user, p_role, 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('role %s does not act for role %s', session_user, p_role::regrole);
  END IF;
  PERFORM set_config('role', (SELECT r.rolname FROM pg_roles AS r WHERE r.oid = p_role), true);
  EXECUTE p_ddl;
  PERFORM set_config('role', v_role, true);
END
$$;

-- Runs p_ddl (text this install built: names quoted, nothing a user wrote) as the owner of p_rel,
-- refused unless the session acts for it (p_what names the caller in that error), which may create
-- in schema p_schema meanwhile (NULL: in the database). The role the session had is set again
-- after, an error included (the transaction's or subtransaction's end undoes SET LOCAL ROLE too).
CREATE OR REPLACE FUNCTION pgtrickle._relay_as_owner(p_rel regclass, p_what text, p_ddl text, p_schema regnamespace DEFAULT 'pgtrickle')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_owner   name := (SELECT r.rolname FROM pg_class AS c JOIN pg_roles AS r ON r.oid = c.relowner WHERE c.oid = p_rel);
  v_role    text := current_setting('role');
  v_granted text[];
BEGIN
  PERFORM pgtrickle._relay_require_owner(p_what, p_rel);
  v_granted := pgtrickle._relay_code_open(p_rel, p_schema, true, NULL);
  PERFORM set_config('role', v_owner, true);
  EXECUTE p_ddl;
  PERFORM set_config('role', v_role, true);
  PERFORM pgtrickle._relay_code_open(p_rel, p_schema, false, v_granted);
END
$$;

-- The owner of p_rel, for which the installer makes a function that runs as that owner (capture, a
-- backfill, rendering rows from the WAL): refused unless the installing role acts for it. p_what names what
-- is made, as in "cannot <p_what> of table t".
CREATE OR REPLACE FUNCTION pgtrickle._relay_installer_acts_for(p_rel regclass, p_what text)
RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_owner oid := (SELECT c.relowner FROM pg_class AS c WHERE c.oid = p_rel);
BEGIN
  IF NOT pg_has_role(pgtrickle._relay_installer(), v_owner, 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('cannot %s of table %s: role %s, which installed pgtrickle-relay, does not act for its owner %s',
                       p_what, p_rel, pgtrickle._relay_installer()::regrole, v_owner::regrole),
      HINT = CASE WHEN (SELECT r.rolsuper FROM pg_roles AS r WHERE r.oid = v_owner)
                  THEN format('Its owner is a superuser, whose rights no other role should hold: make the table another role''s '
                              '(ALTER TABLE %s OWNER TO <role>), then GRANT <role> TO %I; or install as a superuser.',
                              p_rel, pgtrickle._relay_installer()::regrole::text)
                  ELSE format('A superuser grants the installing role the owner''s rights: GRANT %s TO %I.',
                              v_owner::regrole, pgtrickle._relay_installer()::regrole::text) END;
  END IF;
  RETURN v_owner;
END
$$;

-- Makes event trigger p_name unless it exists. Event triggers are a superuser's to make: an install
-- by another role goes without (SECURITY.md says what each guards, and what stands in for it).
CREATE OR REPLACE PROCEDURE pgtrickle._relay_event_trigger(p_name text, p_event text, p_tags text[], p_function regprocedure)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_event_trigger WHERE evtname = p_name)
     AND (SELECT r.rolsuper FROM pg_roles AS r WHERE r.rolname = current_user) THEN
    EXECUTE format('CREATE EVENT TRIGGER %I ON %I%s EXECUTE FUNCTION %s', p_name, p_event,
                   CASE WHEN p_tags IS NOT NULL
                        THEN format(' WHEN TAG IN (%s)', (SELECT string_agg(quote_literal(t), ', ') FROM unnest(p_tags) AS t)) ELSE '' END,
                   p_function);
  END IF;
END
$$;

-- What rolling a subtransaction back leaves in a session: prepared statements and advisory locks
-- (settings, cursors, temporary objects and notifications go with the rollback). Cleared after a
-- table owner's code ran in a session, on every exit, so nothing it made there runs later with the
-- rights of whoever uses the session next, nor holds a lock in its name.
CREATE OR REPLACE FUNCTION pgtrickle._relay_session_clear()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  DEALLOCATE ALL;
  PERFORM pg_catalog.pg_advisory_unlock_all();
END
$$;

-- Locks only the installer takes. Each is an empty table locked in SHARE UPDATE EXCLUSIVE mode,
-- which conflicts with itself but with none of the modes a role without rights on the table can
-- hold (a stranger's EXPLAIN or failed statement takes at most ROW EXCLUSIVE, and LOCK TABLE is
-- refused), and never changes, so autovacuum leaves it alone. Advisory locks, which any login may
-- take by their well-known keys, let a stranger stall the relay.
CREATE TABLE IF NOT EXISTS pgtrickle._lock_catalog ();     -- changes to the relay and outbox catalogs
CREATE TABLE IF NOT EXISTS pgtrickle._lock_numbering ();   -- commit-numbering rounds (outbox_watermark)
REVOKE ALL ON pgtrickle._lock_catalog, pgtrickle._lock_numbering FROM PUBLIC;

-- Serialises changes to the relay and outbox catalogs (names are checked, then used).
CREATE OR REPLACE FUNCTION pgtrickle._relay_lock_catalog()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ LOCK TABLE pgtrickle._lock_catalog IN SHARE UPDATE EXCLUSIVE MODE $$;

-- --------------------------------------------------------------------------------------------
-- User expressions the installer's statements must hold (a publication's row filter, a trigger's
-- WHEN): a grammar checked here, token by token, before PostgreSQL sees the text.
--
-- Parsing runs code: parse analysis calls type input functions (a literal of a user's domain runs
-- its CHECK) and planning folds IMMUTABLE functions. So an expression a user wrote never reaches a
-- statement run with the installer's rights as written: it is read here into tokens, refused
-- unless each is one of columns of the table whose types run no user code when a literal is read
-- as them (built-in base types, enums, arrays of those), plain string and numeric literals, the
-- operators and keywords listed below, parentheses, brackets and commas, and calls of a short list
-- of pg_catalog functions; then it is written again from its tokens (names quoted, strings
-- quoted, functions schema-qualified). No cast, type name, COLLATE, subquery, parameter, comment or
-- prefixed string can get through, nor a name before "(" but a listed function's (PostgreSQL reads
-- "col"(...) as a call): what the installer's statement parses is only what was checked. What it
-- writes reads the same again (E'...' as quote_literal writes a string holding a backslash,
-- pg_catalog.<function>, a column named as a keyword quoted).
-- --------------------------------------------------------------------------------------------

-- Does reading a literal as type p_type, or comparing with it, run only built-in code? Built-in
-- base types (only a superuser makes a base type), enums, and arrays of those; not a domain (its
-- CHECK), a composite, a range or multirange (their parts' input functions); nor an enum, or an
-- array of one, with a cast of a function (its owner's: an implicit one puts a call of it into a
-- comparison, as in "mood <> 'sad'").
CREATE OR REPLACE FUNCTION pgtrickle._relay_type_runs_no_user_code(p_type oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN t.typtype = 'e' THEN true
              WHEN t.typtype <> 'b' THEN false
              WHEN t.typelem <> 0 AND t.typlen = -1 THEN
                (SELECT e.typtype = 'e' OR (e.typtype = 'b' AND (e.typelem = 0 OR e.typlen <> -1))
                 FROM pg_type AS e WHERE e.oid = t.typelem)
              ELSE true END
         AND NOT EXISTS (SELECT FROM pg_cast AS c
                         WHERE c.castfunc <> 0 AND (c.castsource IN (t.oid, t.typelem) OR c.casttarget IN (t.oid, t.typelem))
                           AND EXISTS (SELECT FROM pg_type AS e WHERE e.oid IN (t.oid, t.typelem) AND e.typtype = 'e'))
  FROM pg_type AS t WHERE t.oid = p_type
$$;

-- p_text read as an expression over table p_rel: its columns bare (p_images NULL: a publication's
-- row filter) or as <image>.<column> for each name of p_images ('{new,old}': a trigger's WHEN).
-- Returns the expression written again from its tokens, or the problem (and no expression).
CREATE OR REPLACE FUNCTION pgtrickle._relay_expression_checked(p_text text, p_rel regclass, p_images text[],
                                                               OUT expression text, OUT problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
-- Its patterns hold backslashes: read as written whatever the session says.
SET standard_conforming_strings = on
AS $$
DECLARE
  -- Words taken as SQL keywords (never as columns: a column of such a name is written "quoted").
  c_keywords  CONSTANT text[] := ARRAY['and', 'or', 'not', 'is', 'null', 'true', 'false', 'unknown', 'in', 'between',
                                       'symmetric', 'like', 'ilike', 'similar', 'to', 'escape', 'distinct', 'from',
                                       'isnull', 'notnull', 'case', 'when', 'then', 'else', 'end', 'any', 'all', 'some',
                                       'array', 'coalesce', 'nullif', 'greatest', 'least'];
  -- Keywords a "(" follows as a call of theirs.
  c_calls     CONSTANT text[] := ARRAY['coalesce', 'nullif', 'greatest', 'least', 'any', 'all', 'some'];
  -- Functions of pg_catalog that may be called (written pg_catalog.<name>).
  c_functions CONSTANT text[] := ARRAY['lower', 'upper', 'length', 'char_length', 'octet_length', 'abs', 'btrim', 'ltrim',
                                       'rtrim', 'substr', 'left', 'right', 'starts_with', 'round', 'trunc', 'floor', 'ceil',
                                       'mod', 'jsonb_typeof', 'jsonb_array_length', 'array_length', 'cardinality'];
  c_operators CONSTANT text[] := ARRAY['=', '<>', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', '^', '||',
                                       '~', '~*', '!~', '!~*', '~~', '~~*', '!~~', '!~~*', '@>', '<@', '&&',
                                       '->', '->>', '#>', '#>>', '?', '?|', '?&'];
  v_rest   text := p_text;
  v_out    text[] := '{}';
  v_prev   text := 'start';   -- the previous token's kind: start, word, column, function, keyword, string, number, punct, operator
  -- A plain name, as SQL reads one (letters of any alphabet, digits, underscores; not $).
  c_name      CONSTANT text := '(?:"((?:[^"]|"")+)"|((?:[A-Za-z_]|[^\x01-\x7f])(?:[A-Za-z0-9_]|[^\x01-\x7f])*))';
  v_m      text[];
  v_word   text;
  v_column text;
  v_type   oid;
  v_depth  int := 0;
BEGIN
  IF p_text IS NULL OR p_text !~ '\S' THEN
    problem := 'it is empty';
    RETURN;
  END IF;
  IF length(p_text) > 4000 THEN
    problem := 'it is longer than 4000 characters';
    RETURN;
  END IF;
  LOOP
    v_rest := regexp_replace(v_rest, '^\s+', '');
    EXIT WHEN v_rest = '';
    IF v_rest ~ '^(--|/\*)' THEN
      problem := 'it holds a comment';
    ELSIF v_rest ~ '^''' OR v_rest ~ '^E''(?:[^''\\]|''''|\\\\)*''' THEN
      -- 'plain', or E'...' as quote_literal writes a string holding a backslash (each \ and ' doubled)
      v_m := CASE WHEN v_rest ~ '^E' THEN regexp_match(v_rest, '^E''((?:[^''\\]|''''|\\\\)*)''')
                  ELSE regexp_match(v_rest, '^''((?:[^'']|'''')*)''') END;
      IF v_m IS NULL THEN
        problem := 'a string is not closed';
      ELSIF v_prev IN ('word', 'column', 'function', 'string', 'number') THEN
        problem := 'a string follows a name or a value: typed literals (date ''...''), prefixed strings (E''...'') and casts are not taken';
      ELSE
        v_out := v_out || quote_literal(replace(CASE WHEN v_rest ~ '^E' THEN replace(v_m[1], '\\', '\') ELSE v_m[1] END, '''''', ''''));
        v_rest := substr(v_rest, length(v_m[1]) + CASE WHEN v_rest ~ '^E' THEN 4 ELSE 3 END);
        v_prev := 'string';
        CONTINUE;
      END IF;
    ELSIF v_rest ~ '^(\d|\.\d)' THEN
      v_m := regexp_match(v_rest, '^((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.])');
      IF v_m IS NULL THEN
        problem := format('%s is not a number as written here (digits, a decimal point, an exponent)', substring(v_rest FROM '^[\w.]+'));
      ELSE
        v_out := v_out || v_m[1];
        v_rest := substr(v_rest, length(v_m[1]) + 1);
        v_prev := 'number';
        CONTINUE;
      END IF;
    ELSIF v_rest ~ '^("|[A-Za-z_]|[^\x01-\x7f])' THEN
      -- A name: plain (folded to lower case, as SQL folds it) or double-quoted (exact).
      v_m := regexp_match(v_rest, '^' || c_name);
      IF v_m IS NULL THEN
        problem := 'a quoted name is not closed, or empty';
      ELSE
        v_word := coalesce(replace(v_m[1], '""', '"'), translate(v_m[2], 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
        v_rest := substr(v_rest, coalesce(length(v_m[1]) + 3, length(v_m[2]) + 1));
        v_column := NULL;
        IF v_rest ~ '^\s*''' AND NOT (v_m[2] IS NOT NULL AND v_word = ANY (c_keywords)) THEN
          problem := 'a string follows a name or a value: typed literals (date ''...''), prefixed strings (E''...'') and casts are not taken';
        ELSIF v_m[2] IS NOT NULL AND v_word = ANY (c_keywords) THEN
          IF v_word = ANY (c_calls) AND v_rest !~ '^\s*\(' THEN
            problem := format('%s is written with its arguments in parentheses', upper(v_word));
          ELSE
            v_out := v_out || upper(v_word);
            v_prev := 'keyword';
            CONTINUE;
          END IF;
        ELSIF v_m[2] IS NOT NULL AND v_rest ~ '^\s*\(' THEN
          IF v_word = ANY (c_functions) THEN
            v_out := v_out || ('pg_catalog.' || v_word);
            v_prev := 'function';
            CONTINUE;
          END IF;
          problem := format('it calls %s: a condition calls only %s', v_word, array_to_string(c_functions, ', '));
        ELSIF v_m[2] IS NOT NULL AND v_word = 'pg_catalog'
              AND lower(substring(v_rest FROM '^\s*\.\s*([A-Za-z_]+)\s*\(')) = ANY (c_functions) THEN
          -- pg_catalog.<function>(, as a call is written again
          v_out := v_out || ('pg_catalog.' || lower(substring(v_rest FROM '^\s*\.\s*([A-Za-z_]+)')));
          v_rest := regexp_replace(v_rest, '^\s*\.\s*[A-Za-z_]+', '');
          v_prev := 'function';
          CONTINUE;
        ELSIF p_images IS NOT NULL THEN
          -- <image>.<column>
          v_m := regexp_match(v_rest, '^\s*\.\s*' || c_name);
          IF v_m IS NULL OR v_word <> ALL (p_images) THEN
            problem := format('%s is not a column written as %s.<column>', quote_ident(v_word), array_to_string(p_images, '.<column> or '));
          ELSE
            v_column := coalesce(replace(v_m[1], '""', '"'), translate(v_m[2], 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
            v_rest := regexp_replace(v_rest, '^\s*\.\s*' || c_name, '');
          END IF;
        ELSIF v_rest ~ '^\s*\.' THEN
          problem := format('%s.… is not taken: a column is named alone, without its table or schema, and only the functions '
                            'listed are called (%s)', quote_ident(v_word), array_to_string(c_functions, ', '));
        ELSE
          v_column := v_word;
        END IF;
        IF problem IS NULL THEN
          SELECT a.atttypid INTO v_type FROM pg_attribute AS a
          WHERE a.attrelid = p_rel AND a.attname = v_column AND a.attnum > 0 AND NOT a.attisdropped;
          IF v_type IS NULL THEN
            problem := format('%s is no column of %s (a word that is not a column, a keyword or a function listed here is not taken)',
                              quote_ident(v_column), p_rel);
          ELSIF NOT pgtrickle._relay_type_runs_no_user_code(v_type) THEN
            problem := format('column %s is of type %s, whose values are read by code of its own (a domain, composite or range, '
                              'or an enum with a cast of a function): a condition reads columns of built-in types, enums and arrays '
                              'of those', quote_ident(v_column), v_type::regtype);
          ELSIF v_rest ~ '^\s*\(' THEN
            problem := format('column %s is followed by "(", which PostgreSQL reads as a call of a function of that name',
                              quote_ident(v_column));
          ELSE
            v_out := v_out || CASE WHEN p_images IS NOT NULL THEN v_word || '.' || quote_ident(v_column)
                                   WHEN v_column = ANY (c_keywords) THEN '"' || v_column || '"'
                                   ELSE quote_ident(v_column) END;
            v_prev := 'column';
            CONTINUE;
          END IF;
        END IF;
      END IF;
    ELSIF v_rest ~ '^[(),\[\]]' THEN
      v_word := left(v_rest, 1);
      v_depth := v_depth + CASE v_word WHEN '(' THEN 1 WHEN ')' THEN -1 ELSE 0 END;
      IF v_depth < 0 THEN
        problem := 'a parenthesis closes that was not opened';
      ELSE
        v_out := v_out || v_word;
        v_rest := substr(v_rest, 2);
        v_prev := 'punct';
        CONTINUE;
      END IF;
    ELSIF v_rest ~ '^[-+*/<>=~!@#%^&|`?]' THEN
      v_word := substring(v_rest FROM '^[-+*/<>=~!@#%^&|`?]+');
      IF v_word ~ '--|/\*' THEN
        problem := 'it holds a comment';
      ELSIF v_word <> ALL (c_operators) THEN
        problem := format('operator %s is not taken (only %s)', v_word, array_to_string(c_operators, ' '));
      ELSE
        v_out := v_out || v_word;
        v_rest := substr(v_rest, length(v_word) + 1);
        v_prev := 'operator';
        CONTINUE;
      END IF;
    ELSE
      problem := format('%s is not taken: a condition is written with columns, plain ''strings'' and numbers, operators, '
                        'parentheses and the functions listed (no ::casts, ;, $, :, \ or .)',
                        quote_literal(left(v_rest, 1)));
    END IF;
    RETURN;   -- a problem
  END LOOP;
  IF v_depth <> 0 THEN
    problem := 'a parenthesis is not closed';
    RETURN;
  END IF;
  expression := array_to_string(v_out, ' ');
  IF length(expression) > 4000 THEN
    expression := NULL;
    problem := 'it is longer than 4000 characters as written again (a space between tokens, functions as pg_catalog.<name>)';
  END IF;
END
$$;
