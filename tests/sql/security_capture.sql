-- A table's owner cannot gain more rights through its outbox's capture trigger: the capture
-- function runs as the table's owner, and stops when the table changes hands until enable_outbox
-- attaches it again for the new owner. Logins are taken with SET SESSION AUTHORIZATION, so every
-- check sees the role as it would on a real connection.

SELECT current_database() || '_victim' AS victim, current_database() || '_writer' AS writer,
       current_database() || '_heir' AS heir \gset
CREATE ROLE :"victim" LOGIN;
CREATE ROLE :"writer" LOGIN;
CREATE ROLE :"heir" LOGIN;
CREATE SCHEMA vschema AUTHORIZATION :"victim";
GRANT USAGE ON SCHEMA vschema TO :"writer";

SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.salaries (id int PRIMARY KEY, ssn text, salary int);
INSERT INTO vschema.salaries VALUES (1, '078-05-1120', 50000);
GRANT SELECT, INSERT, UPDATE, DELETE ON vschema.salaries TO :"writer";
RESET SESSION AUTHORIZATION;

-- The installer (a superuser here) sets up the capture.
SELECT pgtrickle.enable_outbox('vschema.salaries');

-- The attack of the issue: a user type whose cast to json makes its caller a superuser, reached
-- by to_jsonb(row) in the capture. The cast swallows its own failure, so the write goes on.
SET SESSION AUTHORIZATION :"victim";
CREATE TYPE vschema.evil AS ENUM ('x');
CREATE FUNCTION vschema.evil_json(vschema.evil) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
  EXCEPTION WHEN insufficient_privilege THEN
    NULL;
  END;
  RETURN '"x"';
END
$$;
CREATE CAST (vschema.evil AS json) WITH FUNCTION vschema.evil_json(vschema.evil);
-- Also a default reached from capture's own statements would run as the capture's owner.
ALTER TABLE vschema.salaries ADD COLUMN e vschema.evil;
UPDATE vschema.salaries SET e = 'x' WHERE id = 1;
INSERT INTO vschema.salaries VALUES (2, '219-09-9999', 1, 'x'), (3, '457-55-5462', 2, 'x');
RESET SESSION AUTHORIZATION;

DO $$
BEGIN
  PERFORM assert_eq((SELECT rolsuper FROM pg_roles WHERE rolname = current_database() || '_victim'), false,
                    'the table''s owner is still not a superuser');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 2::bigint, 'both writes were captured');
  PERFORM assert_eq((SELECT payload #>> '{inserted,0,e}' FROM pgtrickle.outbox_salaries ORDER BY id LIMIT 1), 'x',
                    'through the owner''s cast');
END
$$;

DO $$
BEGIN
  PERFORM assert_eq((SELECT p.proowner::regrole::text FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE t.tgrelid = 'vschema.salaries'::regclass AND t.tgname = 'pgtrickle_outbox_update'),
                    quote_ident(current_database() || '_victim'), 'the capture function belongs to the table''s owner');
END
$$;

-- A writer with no privilege on schema pgtrickle still gets its writes captured (claim check too).
UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 1 WHERE source_table = 'salaries';
SET SESSION AUTHORIZATION :"writer";
INSERT INTO vschema.salaries VALUES (4, '000-00-0004', 4);
UPDATE vschema.salaries SET salary = salary + 1 WHERE id IN (1, 2);
DELETE FROM vschema.salaries WHERE id = 3;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 5::bigint, 'the writer''s changes are captured');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries WHERE is_claim_check), 1::bigint,
                    'the two-row update went by claim check (threshold 1 written into the capture)');
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_delta_rows_salaries), 4::bigint, 'claim-check rows');
  ASSERT NOT has_schema_privilege(current_database() || '_writer', 'pgtrickle', 'USAGE'), 'the writer got nothing in pgtrickle';
END
$$;

-- The capture runs as the table's owner with no search path of its own (it names every function
-- and operator with its schema). A writer plants operators and a to_jsonb where a capture looking
-- names up in the writer's search path would find them first; run as the owner, they copy what
-- only the owner may read into the writer's table.
SET SESSION AUTHORIZATION :"victim";
CREATE TABLE vschema.secrets (s text);
INSERT INTO vschema.secrets VALUES ('the owner''s secret');
RESET SESSION AUTHORIZATION;
CREATE SCHEMA wtrap AUTHORIZATION :"writer";
SET SESSION AUTHORIZATION :"writer";
CREATE TABLE wtrap.loot (s text);
GRANT USAGE ON SCHEMA wtrap TO PUBLIC;
GRANT INSERT ON wtrap.loot TO PUBLIC;
CREATE FUNCTION wtrap.steal() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO wtrap.loot SELECT s FROM vschema.secrets;
EXCEPTION WHEN insufficient_privilege THEN
  NULL;
END
$$;
CREATE FUNCTION wtrap.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM wtrap.steal(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION wtrap.oid_eq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM wtrap.steal(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE FUNCTION wtrap.int_ge(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM wtrap.steal(); RETURN $1 OPERATOR(pg_catalog.>=) $2; END $$;
CREATE FUNCTION wtrap.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN PERFORM wtrap.steal(); RETURN pg_catalog.to_jsonb($1); END $$;
CREATE OPERATOR wtrap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = wtrap.text_eq);
CREATE OPERATOR wtrap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = wtrap.oid_eq);
CREATE OPERATOR wtrap.>= (LEFTARG = int, RIGHTARG = int, FUNCTION = wtrap.int_ge);
SET search_path = wtrap, pg_catalog;
INSERT INTO vschema.salaries VALUES (5, '000-00-0005', 5);                      -- one row
INSERT INTO vschema.salaries VALUES (6, '000-00-0006', 6), (7, '000-00-0007', 7);  -- several
UPDATE vschema.salaries SET salary = 8 WHERE id = 5;
DELETE FROM vschema.salaries WHERE id = 5;
RESET search_path;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_salaries), 9::bigint, 'the writes were captured');
  PERFORM assert_eq((SELECT count(*) FROM wtrap.loot), 0::bigint, 'the capture reached none of the writer''s operators or functions');
END
$$;
-- The trap is live: reached by the owner, it takes the secret.
SET SESSION AUTHORIZATION :"victim";
SET search_path = wtrap, pg_catalog;
SELECT 'a'::text = 'a'::text AS trap_fired;
RESET search_path;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM wtrap.loot), 1::bigint, 'the trap fires when the owner reaches it');
END
$$;

-- The owner may write only its own outbox, and cannot create anything in schema pgtrickle.
SET SESSION AUTHORIZATION :"victim";
DO $$
BEGIN
  PERFORM expect_error($q$ CREATE FUNCTION pgtrickle.planted() RETURNS int LANGUAGE sql AS 'SELECT 1' $q$,
                       'permission denied for schema pgtrickle', '42501');
  PERFORM expect_error($q$ SELECT payload FROM pgtrickle.outbox_salaries $q$, 'permission denied', '42501');
  PERFORM expect_error($q$ SELECT * FROM pgtrickle.relay_outbox_config $q$, 'permission denied', '42501');
  PERFORM expect_error($q$ INSERT INTO pgtrickle.outbox_commits (outbox, xid) VALUES ('x', '1') $q$, 'permission denied', '42501');
END
$$;
RESET SESSION AUTHORIZATION;

-- A table handed to another owner: the capture refuses rather than run the heir's code with the
-- former owner's rights, until enable_outbox attaches it again.
CREATE TABLE public.handover (id int PRIMARY KEY, v text);
SELECT pgtrickle.enable_outbox('public.handover');
INSERT INTO public.handover VALUES (1, 'by the installer');
ALTER TABLE public.handover OWNER TO :"heir";
SELECT set_config('test.installer', current_user, false) AS installer \gset
SET SESSION AUTHORIZATION :"heir";
DO $$
BEGIN
  PERFORM expect_error($q$ INSERT INTO public.handover VALUES (2, 'by the heir') $q$,
                       format('table public.handover now belongs to role %s, but its outbox capture was set up for role %s',
                              quote_ident(current_database() || '_heir'), quote_ident(current_setting('test.installer'))), '42501');
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
DECLARE
  v_hint text;
BEGIN
  INSERT INTO public.handover VALUES (2, 'x');
  RAISE EXCEPTION 'the capture ran for the former owner';
EXCEPTION WHEN insufficient_privilege THEN
  GET STACKED DIAGNOSTICS v_hint = PG_EXCEPTION_HINT;
  PERFORM assert_eq(v_hint, 'Run SELECT pgtrickle.enable_outbox(''public.handover'') again: it attaches the capture for the new owner.',
                    'the hint says what to run');
END
$$;
SELECT pgtrickle.enable_outbox('public.handover');
SET SESSION AUTHORIZATION :"heir";
INSERT INTO public.handover VALUES (2, 'by the heir');
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_handover), 2::bigint, 'capture resumed for the new owner');
  PERFORM assert_eq((SELECT p.proowner::regrole::text FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE t.tgrelid = 'public.handover'::regclass AND t.tgname = 'pgtrickle_outbox_insert'),
                    quote_ident(current_database() || '_heir'), 'the capture function moved to the new owner');
  ASSERT has_table_privilege(current_database() || '_heir', 'pgtrickle.outbox_handover', 'INSERT'), 'the heir writes its outbox';
  ASSERT NOT has_schema_privilege(current_database() || '_heir', 'pgtrickle', 'CREATE'), 'no CREATE left behind';
END
$$;

-- Handed on again: the former owner loses its outbox grants.
ALTER TABLE public.handover OWNER TO :"victim";
SELECT pgtrickle.enable_outbox('public.handover');
DO $$
BEGIN
  ASSERT NOT has_table_privilege(current_database() || '_heir', 'pgtrickle.outbox_handover', 'INSERT'),
    'the former owner may no longer write the outbox';
  ASSERT has_table_privilege(current_database() || '_victim', 'pgtrickle.outbox_handover', 'INSERT'), 'the new one may';
END
$$;

-- A superuser capturing its own table keeps what it had: the capture function is its own.
CREATE TABLE public.own (id int PRIMARY KEY);
SELECT pgtrickle.enable_outbox('own');
INSERT INTO own VALUES (1);
DO $$
BEGIN
  PERFORM assert_eq((SELECT count(*) FROM pgtrickle.outbox_own), 1::bigint, 'a superuser''s own table is captured');
  PERFORM assert_eq((SELECT p.proowner::regrole::text FROM pg_trigger AS t JOIN pg_proc AS p ON p.oid = t.tgfoid
                     WHERE t.tgrelid = 'public.own'::regclass AND t.tgname = 'pgtrickle_outbox_insert'),
                    current_user::text, 'owned by the superuser itself');
END
$$;

SELECT pgtrickle.disable_outbox('vschema.salaries');
SELECT pgtrickle.disable_outbox('public.handover');
DROP SCHEMA vschema CASCADE;
DROP SCHEMA wtrap CASCADE;
DROP TABLE public.handover;
