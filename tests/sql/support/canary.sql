-- The canary: code an attacker would get run while PostgreSQL parses or plans its text. A test
-- includes this file (\i tests/sql/support/canary.sql) and feeds the expressions below wherever a
-- user's text goes; canary.escalations() counts the times the canary ran with more rights than
-- its attacker's: as a superuser, as the installer (the owner of schema pgtrickle), or as a member
-- of pgtrickle_owner (which the functions serving other roles run as), pgtrickle_relay or
-- pgtrickle_relay_admin for a login that is not. The counts are sequences,
-- which a rollback does not undo: a statement that failed after running the canary is caught too.
--
--   '{1}'::canary.d[]   parse analysis reads the literal through the domain's input: its CHECK
--   canary.imm(1)       IMMUTABLE: the planner folds it
--   a column of type canary.d or canary.d[] compared with a literal: the literal is read as it
CREATE SCHEMA canary;
GRANT USAGE ON SCHEMA canary TO PUBLIC;
CREATE SEQUENCE canary.runs;
CREATE SEQUENCE canary.escalated;
GRANT USAGE ON SEQUENCE canary.runs, canary.escalated TO PUBLIC;

CREATE FUNCTION canary.fly() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_catalog.nextval('canary.runs');
  IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
     OR (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'pgtrickle')
        = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
     OR (pg_catalog.pg_has_role(current_user, 'pgtrickle_relay', 'MEMBER') AND NOT pg_catalog.pg_has_role(session_user, 'pgtrickle_relay', 'MEMBER'))
     OR (pg_catalog.pg_has_role(current_user, 'pgtrickle_owner', 'MEMBER') AND NOT pg_catalog.pg_has_role(session_user, 'pgtrickle_owner', 'MEMBER'))
     OR (pg_catalog.pg_has_role(current_user, 'pgtrickle_relay_admin', 'MEMBER')
         AND NOT pg_catalog.pg_has_role(session_user, 'pgtrickle_relay_admin', 'MEMBER')) THEN
    PERFORM pg_catalog.nextval('canary.escalated');
    RAISE WARNING 'canary: ran as % for login %', current_user, session_user;
  END IF;
  RETURN true;
END
$$;
CREATE DOMAIN canary.d AS int CHECK (canary.fly());
CREATE FUNCTION canary.imm(int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN canary.fly(); END $$;
GRANT EXECUTE ON FUNCTION canary.fly(), canary.imm(int) TO PUBLIC;

CREATE FUNCTION canary.count(p_seq regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s', p_seq) INTO v;
  RETURN v;
END
$$;
-- How often the canary ran, and how often with more rights than its attacker's.
CREATE FUNCTION canary.runs() RETURNS bigint LANGUAGE sql AS $$ SELECT canary.count('canary.runs') $$;
CREATE FUNCTION canary.escalations() RETURNS bigint LANGUAGE sql AS $$ SELECT canary.count('canary.escalated') $$;

-- Hostile text for every argument: expressions that run the canary when parsed or planned, and
-- names that would break out of a quote, a comment, a header or a qualified name.
CREATE FUNCTION canary.corpus() RETURNS text[] LANGUAGE sql IMMUTABLE AS $fn$
  SELECT ARRAY[
    '''{1}''::canary.d[] IS NOT NULL', 'canary.imm(1)', 'id > 0 OR canary.imm(1)', 'id > 0 OR ''{1}''::canary.d[] IS NOT NULL',
    'new.id > 0 OR canary.imm(1)', 'new.id > 0 OR ''{1}''::canary.d[] IS NOT NULL', 'old.id > 0 OR canary.imm(1)',
    '(SELECT canary.fly())', 'darr = ''{1}''', 'new.darr = ''{1}''', 'dcol = 1', 'canary.imm(1)::text',
    E'a\r\nAuthorization: x', E'a\nb', 'a.b', '"q"', 'q"', '--', '*/', '$$', 'x''); SELECT canary.fly(); --']
$fn$;
