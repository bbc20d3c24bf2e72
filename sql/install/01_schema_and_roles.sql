-- pgtrickle-relay: SQL install (schema pgtrickle).
--
-- One transaction. Idempotent: running it again, or over an older install, converges to the
-- same objects, spec rows and grants. Objects that the pg_trickle extension already provides
-- are left untouched. Plain SQL only (no psql meta-commands), so it can also be sent as one
-- string through libpq.
--
-- Assembled at build time from the files of sql/install/, in the order sql/install/files.cmake
-- lists them, into build/pgtrickle_relay.sql (what `psql -f` takes) and into the binary (what
-- `pgtrickle-relay install` sends): the same bytes. This first file opens the transaction, the last
-- one commits it.

BEGIN;

-- Concurrent installs into one database queue here instead of racing on CREATE ... IF NOT EXISTS
-- (an advisory lock: the schema, and so any lock table of its own, may not exist yet). Any login
-- may take that lock: an install that waits for it for 30 seconds (or the session's lock_timeout)
-- names the holder and stops.
DO $$
DECLARE
  v_wait    interval := coalesce(nullif(pg_catalog.current_setting('lock_timeout'), '0')::interval, interval '30 seconds');
  v_until   timestamptz := pg_catalog.clock_timestamp() + v_wait;
  v_holders text;
BEGIN
  LOOP
    IF pg_catalog.pg_try_advisory_xact_lock(7072753140512305409) THEN
      RETURN;
    END IF;
    EXIT WHEN pg_catalog.clock_timestamp() >= v_until;
    PERFORM pg_catalog.pg_sleep(0.1);
  END LOOP;
  SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (role %s, application name %L)', a.pid, a.usename, a.application_name), '; ')
  INTO v_holders
  FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1646753666 AND l.objid = 474198273 AND l.objsubid = 1
    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = pg_catalog.current_database());
  RAISE EXCEPTION USING ERRCODE = 'lock_not_available',
    MESSAGE = pg_catalog.format('pgtrickle-relay install: another session has held the install lock for %s: %s',
                                v_wait, coalesce(v_holders, 'it has just ended')),
    HINT = 'If that is not an install under way, end it (SELECT pg_terminate_backend(<pid>)) and install again.';
END
$$;

SET LOCAL client_min_messages = warning;
-- Every name below is schema-qualified; an empty creation schema makes a slip fail loudly.
SET LOCAL search_path = pg_catalog, pg_temp;


-- ============================================================================================
-- Schema and roles
-- ============================================================================================

CREATE SCHEMA IF NOT EXISTS pgtrickle;

-- Roles are the cluster's: installs into other databases at once would make and change the same
-- roles (and deadlock, each waiting on the other's new role). A superuser's install that has roles
-- to make or change (the first one) holds the role catalogs until it commits.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
     AND ((SELECT count(*) FROM pg_catalog.pg_roles
           WHERE rolname IN ('pgtrickle_relay', 'pgtrickle_relay_admin', 'pgtrickle_owner')) < 3
          OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                         WHERE r.rolname = 'pgtrickle_maker' AND r.rolreplication
                           AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolcanlogin)
                           AND pg_catalog.pg_has_role(r.oid, 'pgtrickle_owner', 'MEMBER')
                           AND pg_catalog.pg_has_role(r.oid, 'pg_signal_backend', 'MEMBER'))) THEN
    LOCK TABLE pg_catalog.pg_authid, pg_catalog.pg_auth_members IN SHARE ROW EXCLUSIVE MODE;
  END IF;
END
$$;

-- pgtrickle_relay: what the relay process logs in as (through a LOGIN member role).
-- pgtrickle_relay_admin: may create, change and delete pipelines, outboxes and inboxes.
-- pgtrickle_owner: what the functions serving other roles run as (SECURITY DEFINER, owned by it):
-- no login, no attribute, only the grants of 20_privileges.sql. What needs more (DDL on a user's
-- table, publications, slots) is done by the installer's few helpers, which take no user text
-- (SECURITY.md, "Whose rights").
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['pgtrickle_relay', 'pgtrickle_relay_admin', 'pgtrickle_owner'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- roles are cluster-wide: an install into another database created it meanwhile
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
          MESSAGE = format('pgtrickle-relay install: role %s does not exist, and role %s may not create roles', r, current_user),
          HINT = 'A superuser (or a role with CREATEROLE) creates the install''s roles first: '
                 'CREATE ROLE pgtrickle_relay NOLOGIN; CREATE ROLE pgtrickle_relay_admin NOLOGIN; '
                 'CREATE ROLE pgtrickle_owner NOLOGIN;';
      END;
    END IF;
  END LOOP;
  -- An installer that is not a superuser gives functions to pgtrickle_owner (ALTER FUNCTION ...
  -- OWNER TO), which takes a membership that may SET ROLE to it. From PostgreSQL 16 on, a role
  -- that created pgtrickle_owner (CREATEROLE) is a member with ADMIN OPTION only, which may grant
  -- the role (to itself too) but not SET ROLE to it: 'SET' is asked there, 'MEMBER' before.
  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
     AND NOT pg_catalog.pg_has_role(current_user, 'pgtrickle_owner',
               CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) THEN
    BEGIN
      EXECUTE format('GRANT pgtrickle_owner TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      -- The functions then run as the installer, which is no superuser either.
      RAISE NOTICE USING
        MESSAGE = format('pgtrickle-relay install: role %s may not make itself a member of role pgtrickle_owner, '
                         'so the functions serving other roles run as %s', current_user, current_user),
        HINT = format('For them to run as pgtrickle_owner, which holds less: GRANT pgtrickle_owner TO %I; and install again.',
                      current_user);
    END;
  END IF;
  -- pgtrickle_owner never holds more than its grants: an earlier role of that name is checked.
  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgtrickle_owner'
               AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls OR rolcanlogin))
     OR EXISTS (SELECT FROM pg_catalog.pg_auth_members AS m WHERE m.member = 'pgtrickle_owner'::regrole) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = 'pgtrickle-relay install: role pgtrickle_owner has attributes or memberships of its own; '
                'the functions serving other roles run as it, so it must have none',
      HINT = 'ALTER ROLE pgtrickle_owner NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS; '
             'and revoke the roles granted to it. If it is the login you install with (as an earlier SECURITY.md '
             'suggested), rename that login first: ALTER ROLE pgtrickle_owner RENAME TO relay_installer;';
  END IF;
END
$$;

-- pgtrickle_maker: what the helpers that make the relay's own objects run as (outbox tables,
-- streams' views, pgstream's partitions and publications, dropping the relay's slots), so that
-- no function another role can call runs as the installing superuser. No login and no superuser;
-- it holds pgtrickle_owner's grants, CREATE on the install's schemas and the database (for
-- publications), REPLICATION (a slot is dropped only with it) and pg_signal_backend (ending the
-- walsender that still reads a slot being dropped) — nothing that reaches a superuser's rights.
-- Only a superuser's install makes it (an install by another role keeps its helpers itself: no
-- superuser behind them either).
DO $$
DECLARE
  v_extra text;
BEGIN
  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RETURN;
  END IF;
  -- Changed only when it must be (the role catalogs are then held: above).
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                 WHERE r.rolname = 'pgtrickle_maker' AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolcanlogin)
                   AND r.rolreplication
                   AND pg_catalog.pg_has_role(r.oid, 'pgtrickle_owner', 'MEMBER') AND pg_catalog.pg_has_role(r.oid, 'pg_signal_backend', 'MEMBER')) THEN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgtrickle_maker') THEN
      CREATE ROLE pgtrickle_maker NOLOGIN REPLICATION;
    END IF;
    -- Whatever an earlier role of that name held beyond this is taken back.
    ALTER ROLE pgtrickle_maker NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS REPLICATION;
    GRANT pgtrickle_owner, pg_signal_backend TO pgtrickle_maker;
  END IF;
  SELECT pg_catalog.string_agg(m.roleid::regrole::text, ', ') INTO v_extra
  FROM pg_catalog.pg_auth_members AS m
  WHERE m.member = 'pgtrickle_maker'::regrole AND m.roleid NOT IN ('pgtrickle_owner'::regrole, 'pg_signal_backend'::regrole);
  IF v_extra IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('pgtrickle-relay install: role pgtrickle_maker is a member of %s; the install''s helpers run as it, '
                       'so it holds pgtrickle_owner and pg_signal_backend alone', v_extra),
      HINT = format('REVOKE %s FROM pgtrickle_maker; and install again.', v_extra);
  END IF;
  -- Until 20_privileges.sql gives them out again, the helpers an earlier install gave it run as the
  -- installer: what they call may not be granted yet.
  FOR v_extra IN
    SELECT pg_catalog.format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                             p.oid::regprocedure, current_user)
    FROM pg_catalog.pg_proc AS p
    WHERE p.proowner = 'pgtrickle_maker'::regrole
      AND p.pronamespace IN (to_regnamespace('pgtrickle'), to_regnamespace('pgstream'))
  LOOP
    EXECUTE v_extra;
  END LOOP;
END
$$;
