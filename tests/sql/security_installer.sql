-- An install made by a role that is not a superuser (the database's owner): capture functions are
-- still handed to each table's owner, which takes the installer acting for that owner; without
-- it, enable_outbox says what to grant.

SELECT current_database() || '_inst' AS inst, current_database() || '_victim' AS victim,
       current_database() AS db \gset
CREATE ROLE :"inst" LOGIN;
CREATE ROLE :"victim" LOGIN IN ROLE pgtrickle_relay_admin;
DROP SCHEMA pgtrickle CASCADE;
DROP SCHEMA pgstream CASCADE;   -- the superuser's install made it too
ALTER DATABASE :"db" OWNER TO :"inst";
CREATE SCHEMA vschema AUTHORIZATION :"victim";

SET SESSION AUTHORIZATION :"inst";
\i :install_sql
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.salaries (id int PRIMARY KEY, ssn text);
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.enable_outbox('vschema.salaries') $q$,
                       format('cannot attach the outbox capture of table vschema.salaries: role %s, which installed pgtrickle-relay, '
                              'does not act for its owner %s', current_database() || '_inst', session_user), '42501');
END
$$;
RESET SESSION AUTHORIZATION;

GRANT :"victim" TO :"inst";
SET SESSION AUTHORIZATION :"victim";
SELECT pgtrickle.enable_outbox('vschema.salaries');
CREATE TYPE vschema.evil AS ENUM ('x');
CREATE FUNCTION vschema.evil_json(vschema.evil) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE format('ALTER ROLE %I CREATEROLE', session_user);
  EXCEPTION WHEN insufficient_privilege THEN
    NULL;
  END;
  RETURN '"x"';
END
$$;
CREATE CAST (vschema.evil AS json) WITH FUNCTION vschema.evil_json(vschema.evil);
ALTER TABLE vschema.salaries ADD COLUMN e vschema.evil;
INSERT INTO vschema.salaries VALUES (1, '078-05-1120', 'x');
RESET SESSION AUTHORIZATION;

DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 1::bigint, 'captured');
  PERFORM assert_eq((SELECT p.proowner::regrole::text FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE t.tgrelid = 'vschema.salaries'::regclass AND t.tgname = 'pgtrickle_outbox_insert'),
                    quote_ident(current_database() || '_victim'), 'the capture function belongs to the table''s owner');
  ASSERT NOT has_schema_privilege(current_database() || '_victim', 'pgtrickle', 'CREATE'), 'the transient CREATE is gone';
  ASSERT NOT (SELECT bool_or(rolcreaterole) FROM pg_roles WHERE rolname LIKE current_database() || '\_%'), 'no role gained anything';
END
$$;

-- A re-install by the same role keeps it so.
SET SESSION AUTHORIZATION :"inst";
\i :install_sql
RESET SESSION AUTHORIZATION;
INSERT INTO vschema.salaries VALUES (2, '219-09-9999', 'x');
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 2::bigint, 'still captured after a re-install');
END
$$;

DROP SCHEMA vschema CASCADE;
DROP SCHEMA pgtrickle CASCADE;
