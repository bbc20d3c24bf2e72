-- An inbox only in a schema of the installer's (or a superuser's): a schema's owner may drop any
-- table in it and put one of its own under the inbox's name, whose policies and triggers would run
-- as whoever writes or reads the inbox next: the relay's role (which reads every raw config), or
-- pgtrickle_owner through the inbox functions. Tried as a pipeline admin owning the schema would;
-- her policies and triggers call the canary (support/canary.sql), which counts the times it runs
-- with more rights than hers. tests/isolation/specs/inbox_swap.spec races the swap against a call.

\i tests/sql/support/canary.sql
SELECT current_database() || '_padmin' AS padmin, current_database() || '_colleague' AS colleague,
       current_database() || '_relay' AS relay \gset
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"colleague" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE ROLE :"relay" LOGIN IN ROLE pgtrickle_relay;
CREATE SCHEMA drop_box AUTHORIZATION :"padmin";
GRANT USAGE ON SCHEMA drop_box TO PUBLIC;

-- She makes an inbox in her schema (letting the role that makes inbox tables create there): its
-- table is the install's, but the schema is hers.
SET SESSION AUTHORIZATION :"padmin";
GRANT USAGE, CREATE ON SCHEMA drop_box TO pgtrickle_maker WITH GRANT OPTION;
SELECT pgtrickle.create_inbox('jobs', 'drop_box');
INSERT INTO drop_box.inbox_jobs (event_id) VALUES ('j1');
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq((SELECT c.relowner FROM pg_class AS c WHERE c.oid = 'drop_box.inbox_jobs'::regclass),
                    pgtrickle._relay_maker(), 'the inbox table is pgtrickle_maker''s');
END
$$;

-- Her colleague's routine calls, and the relay's write, are refused for the schema, saying what to do.
SET SESSION AUTHORIZATION :"colleague";
DO $$
DECLARE
  v_why text := 'inbox table drop_box.inbox_jobs is in schema drop_box, which belongs to role "' || current_database() || '_padmin"';
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_health('jobs') $q$, v_why, '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_processed('jobs', 'j1') $q$, v_why, '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_failed('jobs', 'j1', 'x') $q$, v_why, '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.replay_inbox_messages('jobs', ARRAY['j1']) $q$, v_why, '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_health('jobs') $q$, 'ALTER SCHEMA drop_box OWNER TO ');
END
$$;
SET SESSION AUTHORIZATION :"relay";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle._inbox_lock('inbox sink', 'drop_box', 'inbox_jobs', 'ROW EXCLUSIVE') $q$,
                       'inbox sink: inbox table drop_box.inbox_jobs is in schema drop_box, which belongs to role', '42501');
END
$$;
RESET SESSION AUTHORIZATION;

-- She swaps the table for her own, under a policy and a trigger that call the canary, open to all.
SET SESSION AUTHORIZATION :"padmin";
DROP TABLE drop_box.inbox_jobs CASCADE;
CREATE TABLE drop_box.inbox_jobs (event_id text PRIMARY KEY, event_type text, source text, aggregate_id text, payload jsonb,
                                  headers jsonb NOT NULL DEFAULT '{}', received_at timestamptz NOT NULL DEFAULT now(),
                                  processed_at timestamptz, error text, retry_count int NOT NULL DEFAULT 0, trace_id text);
INSERT INTO drop_box.inbox_jobs (event_id) VALUES ('j1');
GRANT ALL ON drop_box.inbox_jobs TO PUBLIC;
ALTER TABLE drop_box.inbox_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY sniff ON drop_box.inbox_jobs USING (canary.fly()) WITH CHECK (canary.fly());
CREATE FUNCTION drop_box.sniff() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM canary.fly(); RETURN NEW; END $$;
CREATE TRIGGER sniff BEFORE INSERT OR UPDATE ON drop_box.inbox_jobs FOR EACH ROW EXECUTE FUNCTION drop_box.sniff();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION :"colleague";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_health('jobs') $q$, 'inbox table drop_box.inbox_jobs belongs to role', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_processed('jobs', 'j1') $q$, 'belongs to role', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_mark_failed('jobs', 'j1', 'x') $q$, 'belongs to role', '42501');
  PERFORM expect_error($q$ SELECT pgtrickle.replay_inbox_messages('jobs', ARRAY['j1']) $q$, 'belongs to role', '42501');
END
$$;
SET SESSION AUTHORIZATION :"relay";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle._inbox_lock('inbox sink', 'drop_box', 'inbox_jobs', 'ROW EXCLUSIVE') $q$,
                       'belongs to role', '42501');
END
$$;
RESET SESSION AUTHORIZATION;
DO $$
BEGIN
  PERFORM assert_eq(canary.escalations(), 0::bigint, 'her policy and trigger never ran with more rights than hers');
END
$$;

-- Given to the installer, the schema holds inboxes again: the installer's table works, hers stays refused.
ALTER SCHEMA drop_box OWNER TO CURRENT_USER;
SET SESSION AUTHORIZATION :"colleague";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_health('jobs') $q$, 'belongs to role', '42501');
END
$$;
RESET SESSION AUTHORIZATION;
DROP TABLE drop_box.inbox_jobs;
SELECT pgtrickle.create_inbox('jobs', 'drop_box');
INSERT INTO drop_box.inbox_jobs (event_id) VALUES ('j1');
SET SESSION AUTHORIZATION :"colleague";
DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.inbox_mark_processed('jobs', 'j1'), true, 'marks the installer''s table');
  PERFORM assert_eq((pgtrickle.inbox_health('jobs') ->> 'processed_messages')::int, 1, 'reads it');
END
$$;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION :"relay";
BEGIN;
SELECT pgtrickle._inbox_lock('inbox sink', 'drop_box', 'inbox_jobs', 'ROW EXCLUSIVE') = 'drop_box.inbox_jobs'::regclass AS locked \gset
INSERT INTO drop_box.inbox_jobs (event_id) VALUES ('j2');
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT assert_eq(:'locked'::boolean, true, 'the relay locks the installer''s table');
SELECT assert_eq((SELECT count(*) FROM drop_box.inbox_jobs), 2::bigint, 'and writes it');

-- Schema public belongs to pg_database_owner (PostgreSQL 15 on): it stands for the database's owner.
GRANT USAGE, CREATE ON SCHEMA public TO pgtrickle_maker WITH GRANT OPTION;
SELECT pgtrickle.create_inbox('pub', 'public');
ALTER SCHEMA public OWNER TO pg_database_owner;
DO $$
BEGIN
  PERFORM assert_eq((pgtrickle.inbox_health('pub') ->> 'total_messages')::int, 0, 'public of a database a superuser owns');
END
$$;
SELECT current_user AS dba \gset
ALTER DATABASE :"DBNAME" OWNER TO :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$ SELECT pgtrickle.inbox_health('pub') $q$,
                       format('is in schema public, which belongs to role "pg_database_owner" (the owner of database %I)',
                              current_database()), '42501');
END
$$;
ALTER DATABASE :"DBNAME" OWNER TO :"dba";
