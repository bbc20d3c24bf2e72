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
CREATE OR REPLACE FUNCTION pgtrickle._relay_regclass_qualified(p_ref text)
RETURNS regclass
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$ SELECT to_regclass(p_ref) $$;

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
  IF NOT pg_has_role(current_user, v_owner, 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('cannot %s of table %s: role %s, which installed pgtrickle-relay, does not act for its owner %s',
                       p_what, p_rel, current_user, v_owner::regrole),
      HINT = format('A superuser may run it, or grant the installing role the owner''s rights: GRANT %s TO %I.',
                    v_owner::regrole, current_user);
  END IF;
  RETURN v_owner;
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
