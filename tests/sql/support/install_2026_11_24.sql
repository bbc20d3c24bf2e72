-- The SQL install as it was on 2026-11-24 (writers numbered their own commits), kept to test that
-- the current install upgrades it in place (tests/sql/upgrade.sql). Not part of the product.
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

-- Concurrent installs into one database queue here instead of racing on CREATE ... IF NOT EXISTS.
DO $$ BEGIN PERFORM pg_advisory_xact_lock(7072753140512305409); END $$;

SET LOCAL client_min_messages = warning;
-- Every name below is schema-qualified; an empty creation schema makes a slip fail loudly.
SET LOCAL search_path = pg_catalog, pg_temp;


-- ============================================================================================
-- Schema and roles
-- ============================================================================================

CREATE SCHEMA IF NOT EXISTS pgtrickle;

-- pgtrickle_relay: what the relay process logs in as (through a LOGIN member role).
-- pgtrickle_relay_admin: may create, change and delete pipelines, outboxes and inboxes.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['pgtrickle_relay', 'pgtrickle_relay_admin'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- roles are cluster-wide: an install into another database created it meanwhile
      END;
    END IF;
  END LOOP;
END
$$;

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

-- Serialises changes to the relay and outbox catalogs (names are checked, then used).
CREATE OR REPLACE FUNCTION pgtrickle._relay_lock_catalog()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_advisory_xact_lock(7072753140512305411) $$;

-- ============================================================================================
-- Config spec tables
--
-- One row per backend and per key. The validator below is generic: everything it knows about a
-- backend comes from these rows, which are generated from the relay's own spec.
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.relay_backends (
  role          text NOT NULL CHECK (role IN ('source', 'sink')),
  backend       text NOT NULL,
  type_aliases  text[] NOT NULL DEFAULT '{}',
  -- Prefixes of this backend's keys in the flat config form; empty means "<backend>_" with
  -- '-' written as '_'.
  flat_prefixes text[] NOT NULL DEFAULT '{}',
  description   text NOT NULL DEFAULT '',
  PRIMARY KEY (role, backend)
);

CREATE TABLE IF NOT EXISTS pgtrickle.relay_config_keys (
  role          text NOT NULL CHECK (role IN ('source', 'sink', 'pipeline')),
  backend       text NOT NULL,   -- '*' for pipeline options
  key           text NOT NULL,
  value_type    text NOT NULL CHECK (value_type IN ('string', 'integer', 'number', 'boolean', 'object',
                                                    'array', 'string_list', 'enum', 'subject')),
  required      boolean NOT NULL DEFAULT false,
  one_of        text,            -- keys sharing a group name: exactly one of them must be given
  allowed       text[],          -- enum values
  aliases       text[] NOT NULL DEFAULT '{}',
  secret        boolean NOT NULL DEFAULT false,
  default_value jsonb,
  min_value     bigint,          -- the range of an integer key
  max_value     bigint,
  description   text NOT NULL DEFAULT '',
  PRIMARY KEY (role, backend, key),
  CHECK ((role = 'pipeline') = (backend = '*'))
);
-- Installs made before integer ranges existed.
ALTER TABLE pgtrickle.relay_config_keys ADD COLUMN IF NOT EXISTS min_value bigint, ADD COLUMN IF NOT EXISTS max_value bigint;

-- The config spec rows: generated from the backend specs by `pgtrickle-relay spec --sql`
-- (scripts/regen.sh writes this file); edit the specs, not this file.
DELETE FROM pgtrickle.relay_config_keys;
DELETE FROM pgtrickle.relay_backends;
INSERT INTO pgtrickle.relay_backends (role, backend, type_aliases, flat_prefixes, description) VALUES
  ('source', 'outbox', '{}'::text[], '{}'::text[], 'Rows committed to a PostgreSQL outbox table, in commit order.')
 ,('sink', 'stdout', '{}'::text[], '{}'::text[], 'Standard output, one message per line.')
 ,('sink', 'file', '{}'::text[], '{}'::text[], 'A local file, appended and optionally rotated by size.')
 ,('sink', 'pg-inbox', ARRAY['inbox']::text[], ARRAY['pg_inbox_']::text[], 'A PostgreSQL inbox table, local or remote; duplicates are skipped by event_id.')
 ,('sink', 'nats', '{}'::text[], ARRAY['nats_']::text[], 'NATS JetStream: publish with PubAck; Nats-Msg-Id deduplicates.')
 ,('source', 'nats', '{}'::text[], ARRAY['nats_']::text[], 'NATS JetStream durable pull consumer; acked after the inbox commit.')
 ,('sink', 'kafka', '{}'::text[], ARRAY['kafka_']::text[], 'Apache Kafka: idempotent producer, acks=all.')
 ,('source', 'kafka', '{}'::text[], ARRAY['kafka_']::text[], 'Apache Kafka consumer group.')
 ,('sink', 'redis', '{}'::text[], ARRAY['redis_']::text[], 'Redis Streams: pipelined XADD.')
 ,('source', 'redis', '{}'::text[], ARRAY['redis_']::text[], 'Redis Streams consumer group; XACK after the inbox commit.')
 ,('sink', 'rabbitmq', ARRAY['amqp']::text[], ARRAY['rabbitmq_','amqp_']::text[], 'RabbitMQ: persistent messages with publisher confirms.')
 ,('source', 'rabbitmq', ARRAY['amqp']::text[], ARRAY['rabbitmq_','amqp_']::text[], 'RabbitMQ queue; manual ack after the inbox commit.')
 ,('sink', 'sqs', '{}'::text[], ARRAY['sqs_']::text[], 'Amazon SQS: SendMessageBatch of 10, FIFO deduplication.')
 ,('source', 'sqs', '{}'::text[], ARRAY['sqs_']::text[], 'Amazon SQS long polling; DeleteMessageBatch after the inbox commit.')
 ,('sink', 'webhook', ARRAY['http']::text[], ARRAY['webhook_','http_']::text[], 'HTTP webhook: per-event or batched requests with Idempotency-Key.')
 ,('source', 'http', ARRAY['webhook']::text[], ARRAY['webhook_','http_']::text[], 'HTTP receiver; answers 2xx only after the inbox commit.')
 ,('source', 'stdin', '{}'::text[], '{}'::text[], 'JSON lines from standard input.')
;
INSERT INTO pgtrickle.relay_config_keys (role, backend, key, value_type, required, one_of, allowed, aliases, secret, default_value, min_value, max_value, description) VALUES
  ('pipeline', '*', 'batch_size', 'integer', false, NULL, NULL, '{}'::text[], false, '1000'::jsonb, 1, 100000, 'Most messages handed to the sink at once.')
 ,('pipeline', '*', 'poll_interval_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '1000'::jsonb, 1, 2147483647, 'How often the source is polled when no notification wakes it.')
 ,('pipeline', '*', 'granularity', 'enum', false, NULL, ARRAY['row','delta']::text[], '{}'::text[], false, '"row"'::jsonb, NULL, NULL, 'row: one message per changed row (op insert/update/delete); delta: one message per outbox row (one per route when the sink''s templates read row fields).')
 ,('pipeline', '*', 'format', 'enum', false, NULL, ARRAY['json','cloudevents']::text[], '{}'::text[], false, '"json"'::jsonb, NULL, NULL, 'Envelope of each message: the relay''s JSON envelope or a CloudEvents 1.0 structured event.')
 ,('pipeline', '*', 'key', 'string_list', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Columns (a name or a list) or a template forming the message key; default the row''s primary key.')
 ,('pipeline', '*', 'retry_initial_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '100'::jsonb, 0, 2147483647, 'First wait before retrying a transient failure; doubles up to retry_max_ms, with jitter.')
 ,('pipeline', '*', 'retry_max_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '30000'::jsonb, 0, 2147483647, 'Longest wait between retries of a transient failure.')
 ,('pipeline', '*', 'dead_letter', 'boolean', false, NULL, NULL, '{}'::text[], false, 'true'::jsonb, NULL, NULL, 'Set undeliverable messages aside in pgtrickle.relay_dead_letters and go on; false stops the pipeline instead.')
 ,('pipeline', '*', 'enabled', 'boolean', false, NULL, NULL, '{}'::text[], false, 'true'::jsonb, NULL, NULL, 'Whether the pipeline runs.')
 ,('pipeline', '*', 'relay_group', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'The relay group that runs the pipeline (relays started with that --relay-group-id); unset: a relay of any group, one at a time.')
 ,('pipeline', '*', 'description', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Free text for operators.')
 ,('source', 'outbox', 'stream_table', 'string', false, 'target', NULL, ARRAY['table']::text[], false, NULL, NULL, NULL, 'The table (or pg_trickle stream table) whose outbox is read, e.g. "orders" or "sales.orders".')
 ,('source', 'outbox', 'outbox', 'string', false, 'target', NULL, '{}'::text[], false, NULL, NULL, NULL, 'The outbox by name ("outbox_orders", or a name given to create_outbox / outbox_publish).')
 ,('source', 'outbox', 'group', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'The relay group that runs the pipeline, as pg_trickle''s set_relay_outbox(p_name, p_outbox, p_group, ...) stores it: the same as the pipeline option relay_group.')
 ,('source', 'outbox', 'retention_hours', 'integer', false, NULL, NULL, '{}'::text[], false, NULL, 0, 2147483647, 'Accepted for compatibility with pg_trickle''s set_relay_outbox; retention is set per outbox by enable_outbox.')
 ,('sink', 'stdout', 'format', 'enum', false, NULL, ARRAY['jsonl','json','csv']::text[], '{}'::text[], false, '"jsonl"'::jsonb, NULL, NULL, 'jsonl: one message per line; json: pretty-printed; csv: one row per message.')
 ,('sink', 'file', 'path', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'File to append to; rotated files get .1, .2, ... suffixes. A pipeline defined in SQL writes only under the operator''s --sql-file-dir.')
 ,('sink', 'file', 'format', 'enum', false, NULL, ARRAY['jsonl','json','csv']::text[], '{}'::text[], false, '"jsonl"'::jsonb, NULL, NULL, 'jsonl: one message per line; json: pretty-printed; csv: one row per message.')
 ,('sink', 'file', 'rotate_bytes', 'integer', false, NULL, NULL, '{}'::text[], false, '0'::jsonb, 0, 9223372036854775807, 'Rotate the file once it reaches this size; 0 never rotates.')
 ,('sink', 'file', 'max_files', 'integer', false, NULL, NULL, '{}'::text[], false, '10'::jsonb, 0, 2147483647, 'Rotated files kept besides the current one.')
 ,('sink', 'file', 'fsync', 'boolean', false, NULL, NULL, '{}'::text[], false, 'true'::jsonb, NULL, NULL, 'fsync after each batch before acknowledging it (durable delivery).')
 ,('sink', 'pg-inbox', 'postgres_url', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Database holding the inbox (libpq URL or key=value); default the relay''s own database.')
 ,('sink', 'pg-inbox', 'inbox_name', 'string', false, 'inbox', NULL, ARRAY['inbox']::text[], false, NULL, NULL, NULL, 'Inbox created by create_inbox(name): the table pgtrickle.inbox_<name>.')
 ,('sink', 'pg-inbox', 'inbox_table', 'string', false, 'inbox', NULL, '{}'::text[], false, NULL, NULL, NULL, 'Inbox table by name; unqualified names live in schema pgtrickle.')
 ,('sink', 'pg-inbox', 'event_id', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Where event_id comes from instead of the message''s identity: a JSON path into the payload ("$.id") or "header:<name>".')
 ,('sink', 'pg-inbox', 'event_type', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'The event_type column: a template in outbox pipelines (default "{stream_table}.{op}"); in reverse pipelines the subject, topic, routing key or stream key by default, or a JSON path ("$.type"), "header:<name>" or fixed text.')
 ,('sink', 'pg-inbox', 'aggregate_id', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Where aggregate_id comes from instead of the message key: a JSON path ("$.order_id") or "header:<name>".')
 ,('sink', 'pg-inbox', 'trace_id', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Where trace_id comes from instead of the traceparent header: a JSON path or "header:<name>".')
 ,('sink', 'pg-inbox', 'invalid_payload', 'enum', false, NULL, ARRAY['store','dead_letter']::text[], '{}'::text[], false, '"store"'::jsonb, NULL, NULL, 'A payload that is not JSON: stored as a JSON string with the error column set, or set aside in pgtrickle.relay_dead_letters.')
 ,('sink', 'pg-inbox', 'max_payload_bytes', 'integer', false, NULL, NULL, '{}'::text[], false, '1048576'::jsonb, 1, 1073741824, 'Larger payloads are set aside in pgtrickle.relay_dead_letters.')
 ,('sink', 'pg-inbox', 'max_retries', 'integer', false, NULL, NULL, '{}'::text[], false, '3'::jsonb, 0, 2147483647, 'max_retries of an inbox the relay creates.')
 ,('sink', 'pg-inbox', 'schedule', 'string', false, NULL, NULL, '{}'::text[], false, '"1s"'::jsonb, NULL, NULL, 'Accepted for compatibility with pg_trickle''s set_relay_inbox.')
 ,('sink', 'pg-inbox', 'with_dead_letter', 'boolean', false, NULL, NULL, '{}'::text[], false, 'true'::jsonb, NULL, NULL, 'with_dead_letter of an inbox the relay creates.')
 ,('sink', 'pg-inbox', 'retention_hours', 'integer', false, NULL, NULL, '{}'::text[], false, '72'::jsonb, 0, 2147483647, 'Retention of an inbox the relay creates.')
 ,('sink', 'nats', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'NATS server URL(s), e.g. nats://localhost:4222 (comma-separated for a cluster).')
 ,('sink', 'nats', 'token', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Authentication token.')
 ,('sink', 'nats', 'user', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'User name for user/password authentication.')
 ,('sink', 'nats', 'password', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Password for user/password authentication.')
 ,('sink', 'nats', 'creds_file', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'NATS credentials (.creds) file.')
 ,('sink', 'nats', 'tls_ca', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'CA certificate file (PEM) that verifies the server; default the system''s CA store.')
 ,('sink', 'nats', 'tls_cert', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Client certificate file (PEM), with tls_key.')
 ,('sink', 'nats', 'tls_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Client private key file (PEM).')
 ,('sink', 'nats', 'stream', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'JetStream stream that stores the subjects; created when missing if create_stream is true.')
 ,('sink', 'nats', 'subject', 'subject', true, NULL, NULL, ARRAY['subject_template']::text[], false, NULL, NULL, NULL, 'Subject template, e.g. "pgtrickle.{stream_table}.{op}"; wildcards are not allowed when publishing.')
 ,('sink', 'nats', 'create_stream', 'boolean', false, NULL, NULL, '{}'::text[], false, 'true'::jsonb, NULL, NULL, 'Create the stream when missing, with subjects from the template''s fixed prefix.')
 ,('source', 'nats', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'NATS server URL(s), e.g. nats://localhost:4222 (comma-separated for a cluster).')
 ,('source', 'nats', 'token', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Authentication token.')
 ,('source', 'nats', 'user', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'User name for user/password authentication.')
 ,('source', 'nats', 'password', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Password for user/password authentication.')
 ,('source', 'nats', 'creds_file', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'NATS credentials (.creds) file.')
 ,('source', 'nats', 'tls_ca', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'CA certificate file (PEM) that verifies the server; default the system''s CA store.')
 ,('source', 'nats', 'tls_cert', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Client certificate file (PEM), with tls_key.')
 ,('source', 'nats', 'tls_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Client private key file (PEM).')
 ,('source', 'nats', 'stream', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'JetStream stream to consume.')
 ,('source', 'nats', 'consumer', 'string', true, NULL, NULL, ARRAY['durable_name']::text[], false, NULL, NULL, NULL, 'Durable pull consumer; created when missing.')
 ,('source', 'nats', 'filter_subject', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Only messages on this subject (wildcards allowed).')
 ,('source', 'nats', 'ack_wait_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '30000'::jsonb, 1, 2147483647, 'How long the server waits for an ack before redelivering.')
 ,('source', 'nats', 'max_deliver', 'integer', false, NULL, NULL, '{}'::text[], false, '-1'::jsonb, -1, 2147483647, 'Deliveries before the server gives up on a message (-1: unlimited).')
 ,('sink', 'kafka', 'brokers', 'string_list', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Bootstrap brokers, "host:port,..." or a list.')
 ,('sink', 'kafka', 'topic', 'string', true, NULL, NULL, ARRAY['topic_template']::text[], false, NULL, NULL, NULL, 'Topic template, e.g. "{stream_table}-deltas".')
 ,('sink', 'kafka', 'key', 'string', false, NULL, NULL, ARRAY['key_field','key_template']::text[], false, NULL, NULL, NULL, 'Record key: a template such as "{{ customer_id }}" or column names "a,b"; default the pipeline''s key (the row''s key).')
 ,('sink', 'kafka', 'compression', 'enum', false, NULL, ARRAY['none','gzip','snappy','lz4','zstd']::text[], '{}'::text[], false, '"none"'::jsonb, NULL, NULL, 'Compression codec.')
 ,('sink', 'kafka', 'acks', 'enum', false, NULL, ARRAY['all','1','0']::text[], '{}'::text[], false, '"all"'::jsonb, NULL, NULL, 'Broker acknowledgements required.')
 ,('sink', 'kafka', 'rdkafka', 'object', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Any librdkafka property, e.g. {"sasl.mechanism": "PLAIN"}; also accepted as rdkafka.<name> keys.')
 ,('source', 'kafka', 'brokers', 'string_list', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Bootstrap brokers, "host:port,..." or a list.')
 ,('source', 'kafka', 'topic', 'string_list', true, NULL, NULL, ARRAY['topics']::text[], false, NULL, NULL, NULL, 'Topic or topics to consume, "a,b" or a list; "^regex" subscribes by pattern.')
 ,('source', 'kafka', 'group_id', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Consumer group; offsets are committed after the inbox commit.')
 ,('source', 'kafka', 'auto_offset_reset', 'enum', false, NULL, ARRAY['earliest','latest']::text[], '{}'::text[], false, '"earliest"'::jsonb, NULL, NULL, 'Where a new group starts.')
 ,('source', 'kafka', 'rdkafka', 'object', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Any librdkafka consumer property, e.g. {"session.timeout.ms": "10000"}; also accepted as rdkafka.<name> keys. enable.auto.commit is the relay''s: offsets are committed only after the inbox commit.')
 ,('sink', 'redis', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'redis://[user:pass@]host:port/db')
 ,('sink', 'redis', 'stream_key', 'string', true, NULL, NULL, ARRAY['stream']::text[], false, NULL, NULL, NULL, 'Stream key template, e.g. "pgtrickle:{stream_table}".')
 ,('sink', 'redis', 'maxlen', 'integer', false, NULL, NULL, ARRAY['max_len']::text[], false, '0'::jsonb, 0, 9223372036854775807, 'Trim the stream to about this many entries (MAXLEN ~); 0 keeps all.')
 ,('source', 'redis', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'redis://[user:pass@]host:port/db')
 ,('source', 'redis', 'stream_key', 'string', true, NULL, NULL, ARRAY['stream']::text[], false, NULL, NULL, NULL, 'Stream to consume.')
 ,('source', 'redis', 'group', 'string', true, NULL, NULL, ARRAY['group_name']::text[], false, NULL, NULL, NULL, 'Consumer group; created when missing (XGROUP CREATE ... 0 MKSTREAM: from the first entry, so a backlog written before the first start is read).')
 ,('source', 'redis', 'consumer', 'string', false, NULL, NULL, ARRAY['consumer_name']::text[], false, NULL, NULL, NULL, 'Consumer name within the group; default the host name.')
 ,('source', 'redis', 'claim_idle_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '30000'::jsonb, 1, 2147483647, 'Entries pending this long for another consumer of the group (a dead relay) are claimed with XAUTOCLAIM.')
 ,('sink', 'rabbitmq', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'amqp://user:pass@host:port/vhost, or amqps:// for TLS (port 5671 by default).')
 ,('sink', 'rabbitmq', 'tls_ca', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'CA certificate file (PEM) that verifies the server; default the system''s CA store.')
 ,('sink', 'rabbitmq', 'tls_cert', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Client certificate file (PEM), with tls_key.')
 ,('sink', 'rabbitmq', 'tls_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Client private key file (PEM).')
 ,('sink', 'rabbitmq', 'exchange', 'string', false, NULL, NULL, '{}'::text[], false, '""'::jsonb, NULL, NULL, 'Exchange to publish to ("" is the default exchange).')
 ,('sink', 'rabbitmq', 'exchange_type', 'enum', false, NULL, ARRAY['direct','fanout','topic','headers']::text[], '{}'::text[], false, '"topic"'::jsonb, NULL, NULL, 'Type used when declaring the exchange.')
 ,('sink', 'rabbitmq', 'routing_key', 'string', false, NULL, NULL, ARRAY['routing_key_template']::text[], false, '"{stream_table}.{op}"'::jsonb, NULL, NULL, 'Routing key template.')
 ,('sink', 'rabbitmq', 'declare', 'boolean', false, NULL, NULL, ARRAY['declare_exchange']::text[], false, 'false'::jsonb, NULL, NULL, 'Declare the exchange (durable) at start; when false it must exist.')
 ,('sink', 'rabbitmq', 'mandatory', 'boolean', false, NULL, NULL, '{}'::text[], false, 'true'::jsonb, NULL, NULL, 'Publish with the mandatory flag: a message no queue is bound for comes back and is dead-lettered; false lets the broker drop it.')
 ,('source', 'rabbitmq', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'amqp://user:pass@host:port/vhost, or amqps:// for TLS (port 5671 by default).')
 ,('source', 'rabbitmq', 'tls_ca', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'CA certificate file (PEM) that verifies the server; default the system''s CA store.')
 ,('source', 'rabbitmq', 'tls_cert', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Client certificate file (PEM), with tls_key.')
 ,('source', 'rabbitmq', 'tls_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Client private key file (PEM).')
 ,('source', 'rabbitmq', 'queue', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Queue to consume.')
 ,('source', 'rabbitmq', 'prefetch', 'integer', false, NULL, NULL, ARRAY['prefetch_count']::text[], false, NULL, 1, 65535, 'Unacknowledged messages the server may send ahead (basic.qos, 1 to 65535); default twice the pipeline''s batch_size.')
 ,('sink', 'sqs', 'queue_url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Queue URL; FIFO queues end in .fifo.')
 ,('sink', 'sqs', 'region', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'AWS region; default AWS_REGION or AWS_DEFAULT_REGION.')
 ,('sink', 'sqs', 'endpoint_url', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Endpoint override (emulators, VPC endpoints).')
 ,('sink', 'sqs', 'access_key_id', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Default AWS_ACCESS_KEY_ID.')
 ,('sink', 'sqs', 'secret_access_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Default AWS_SECRET_ACCESS_KEY.')
 ,('sink', 'sqs', 'session_token', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Default AWS_SESSION_TOKEN.')
 ,('sink', 'sqs', 'max_in_flight', 'integer', false, NULL, NULL, '{}'::text[], false, '1'::jsonb, 1, 64, 'SendMessageBatch requests in flight at once: 1 keeps the pipeline''s order; more sends messages with different keys (FIFO: different message groups) in parallel, order kept per key/group.')
 ,('sink', 'sqs', 'timeout_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '30000'::jsonb, 1, 3600000, 'Whole-request timeout.')
 ,('sink', 'sqs', 'message_group_id', 'string', false, NULL, NULL, '{}'::text[], false, '"{stream_table}"'::jsonb, NULL, NULL, 'FIFO MessageGroupId template.')
 ,('source', 'sqs', 'queue_url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Queue URL; FIFO queues end in .fifo.')
 ,('source', 'sqs', 'region', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'AWS region; default AWS_REGION or AWS_DEFAULT_REGION, else read from queue_url.')
 ,('source', 'sqs', 'endpoint_url', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Endpoint override (emulators, VPC endpoints).')
 ,('source', 'sqs', 'access_key_id', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Default AWS_ACCESS_KEY_ID.')
 ,('source', 'sqs', 'secret_access_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Default AWS_SECRET_ACCESS_KEY.')
 ,('source', 'sqs', 'session_token', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Default AWS_SESSION_TOKEN.')
 ,('source', 'sqs', 'wait_time_seconds', 'integer', false, NULL, NULL, '{}'::text[], false, '20'::jsonb, 0, 20, 'Long-poll wait of ReceiveMessage (0-20).')
 ,('source', 'sqs', 'visibility_timeout', 'integer', false, NULL, NULL, '{}'::text[], false, NULL, 0, 43200, 'Seconds a received message stays hidden; 0 uses the queue''s. Extended while a batch takes longer than half of it.')
 ,('source', 'sqs', 'max_messages', 'integer', false, NULL, NULL, '{}'::text[], false, '10'::jsonb, 1, 10, 'Messages per ReceiveMessage (1-10).')
 ,('source', 'sqs', 'max_in_flight', 'integer', false, NULL, NULL, '{}'::text[], false, '8'::jsonb, 1, 64, 'ReceiveMessage requests in flight at once while the queue has a backlog (1-64); one long poll when it is idle.')
 ,('sink', 'webhook', 'url', 'string', true, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Target URL template.')
 ,('sink', 'webhook', 'method', 'enum', false, NULL, ARRAY['POST','PUT','PATCH']::text[], '{}'::text[], false, '"POST"'::jsonb, NULL, NULL, 'HTTP method.')
 ,('sink', 'webhook', 'headers', 'object', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Extra headers; values may use ${ENV:NAME}.')
 ,('sink', 'webhook', 'timeout_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '10000'::jsonb, 1, 3600000, 'Whole-request timeout.')
 ,('sink', 'webhook', 'batch', 'boolean', false, NULL, NULL, ARRAY['batch_mode']::text[], false, 'false'::jsonb, NULL, NULL, 'One POST per batch (a JSON array) instead of one per event.')
 ,('sink', 'webhook', 'retry_max', 'integer', false, NULL, NULL, '{}'::text[], false, '3'::jsonb, 0, 100, 'Retries of a 408/429/5xx answer or a network error within one delivery attempt, before the core retries.')
 ,('sink', 'webhook', 'retry_backoff_ms', 'integer', false, NULL, NULL, '{}'::text[], false, '200'::jsonb, 0, 600000, 'First backoff between those retries.')
 ,('sink', 'webhook', 'max_in_flight', 'integer', false, NULL, NULL, '{}'::text[], false, '1'::jsonb, 1, 64, 'Per-event requests in flight at once: 1 keeps the pipeline''s order; more sends messages with different keys in parallel (order kept per key).')
 ,('sink', 'webhook', 'signing_secret', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'HMAC-SHA256 key for the signature header.')
 ,('sink', 'webhook', 'tls_ca', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'CA certificate file (PEM) that verifies the server; default the system''s CA store.')
 ,('sink', 'webhook', 'tls_cert', 'string', false, NULL, NULL, '{}'::text[], false, NULL, NULL, NULL, 'Client certificate file (PEM), with tls_key.')
 ,('sink', 'webhook', 'tls_key', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Client private key file (PEM).')
 ,('source', 'http', 'listen', 'string', false, NULL, NULL, ARRAY['bind','listen_addr']::text[], false, '"0.0.0.0:8080"'::jsonb, NULL, NULL, 'Address to listen on, host:port.')
 ,('source', 'http', 'path', 'string', false, NULL, NULL, '{}'::text[], false, '"/events"'::jsonb, NULL, NULL, 'Path accepting POSTed events; GET on it answers 200 while the receiver accepts (a probe).')
 ,('source', 'http', 'bearer_token', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Required Authorization: Bearer token. Set it and/or hmac_secret: requests are never accepted unauthenticated.')
 ,('source', 'http', 'hmac_secret', 'string', false, NULL, NULL, '{}'::text[], true, NULL, NULL, NULL, 'Key verifying the webhook sink''s X-Pgtrickle-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">).')
 ,('source', 'http', 'signature_tolerance_s', 'integer', false, NULL, NULL, '{}'::text[], false, '300'::jsonb, 1, 86400, 'Largest difference in seconds between a signature''s timestamp and the receiver''s clock (replay protection); older gets 403.')
 ,('source', 'http', 'max_body_bytes', 'integer', false, NULL, NULL, '{}'::text[], false, '1048576'::jsonb, 1, 1073741824, 'Larger requests get 413.')
 ,('source', 'http', 'max_pending', 'integer', false, NULL, NULL, '{}'::text[], false, '10000'::jsonb, 1, 10000000, 'Messages accepted and waiting for their commit; a request beyond gets 429 with Retry-After.')
 ,('source', 'http', 'max_requests_per_s', 'integer', false, NULL, NULL, '{}'::text[], false, '0'::jsonb, 0, 10000000, 'Requests a second the receiver takes (bursts up to as many); more get 429 with Retry-After, before any credential check. 0: no limit.')
 ,('source', 'http', 'max_connections', 'integer', false, NULL, NULL, '{}'::text[], false, '256'::jsonb, 1, 65536, 'Connections open at once; more are closed as soon as accepted.')
 ,('source', 'http', 'max_connections_per_client', 'integer', false, NULL, NULL, '{}'::text[], false, '64'::jsonb, 1, 65536, 'Connections open at once from one client address (behind a proxy, all come from its address); more are closed as soon as accepted.')
 ,('source', 'http', 'request_timeout_s', 'integer', false, NULL, NULL, '{}'::text[], false, '30'::jsonb, 1, 3600, 'Seconds a connection has to deliver a whole request (headers and body) from its opening or its previous answer; then it is closed. The wait for the commit does not count.')
 ,('source', 'stdin', 'format', 'enum', false, NULL, ARRAY['jsonl']::text[], '{}'::text[], false, '"jsonl"'::jsonb, NULL, NULL, 'Input format.')
;

-- ============================================================================================
-- Config normalisation and validation
--
-- relay_normalize_config() turns any accepted config shape into the canonical one,
--   {"source": {"type": ..., <keys>}, "sink": {"type": ..., <keys>}, <pipeline options>},
-- with every key under its canonical name, or raises an error that names the key.
-- ============================================================================================

-- Edit distance for "did you mean" (fuzzystrmatch may not be installed).
CREATE OR REPLACE FUNCTION pgtrickle._relay_levenshtein(a text, b text)
RETURNS int
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  la   int := char_length(a);
  lb   int := char_length(b);
  prev int[];
  cur  int[];
BEGIN
  IF la = 0 OR lb = 0 THEN
    RETURN greatest(la, lb);
  END IF;
  prev := ARRAY(SELECT generate_series(0, lb));   -- prev[j + 1] = distance to b's first j chars
  FOR i IN 1 .. la LOOP
    cur := ARRAY[i];
    FOR j IN 1 .. lb LOOP
      cur := cur || least(prev[j + 1] + 1,
                          cur[j] + 1,
                          prev[j] + CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END);
    END LOOP;
    prev := cur;
  END LOOP;
  RETURN prev[lb + 1];
END
$$;

-- ' (did you mean "x"?)' for the closest candidate, or '' when none is close.
CREATE OR REPLACE FUNCTION pgtrickle._relay_did_you_mean(p_word text, p_candidates text[])
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce((
    SELECT format(' (did you mean "%s"?)', c)
    FROM unnest(p_candidates) AS c
    WHERE pgtrickle._relay_levenshtein(lower(p_word), lower(c)) <= greatest(2, char_length(p_word) / 3)
    ORDER BY pgtrickle._relay_levenshtein(lower(p_word), lower(c)), c
    LIMIT 1), '')
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_config_error(p_pipeline text, p_message text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = 'invalid_parameter_value',
    MESSAGE = 'relay.invalid_config: '
              || CASE WHEN p_pipeline IS NULL THEN '' ELSE format('pipeline "%s": ', p_pipeline) END
              || p_message;
END
$$;

-- Canonical backend for a type as written ('inbox' -> 'pg-inbox'), or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_backend(p_role text, p_type text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT backend FROM pgtrickle.relay_backends
  WHERE role = p_role AND (backend = lower(p_type) OR lower(p_type) = ANY (type_aliases))
  ORDER BY backend = lower(p_type) DESC
  LIMIT 1
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_backend_prefixes(p_role text, p_backend text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN cardinality(flat_prefixes) > 0 THEN flat_prefixes
              ELSE ARRAY[replace(backend, '-', '_') || '_'] END
  FROM pgtrickle.relay_backends
  WHERE role = p_role AND backend = p_backend
$$;

-- Canonical name of a key as written at one place (aliases resolved), or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._relay_key(p_role text, p_backend text, p_key text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT key FROM pgtrickle.relay_config_keys
  WHERE role = p_role AND backend = p_backend AND (key = p_key OR p_key = ANY (aliases))
  ORDER BY key = p_key DESC
  LIMIT 1
$$;

-- Every spelling a place accepts (keys and aliases), each after p_prefix.
CREATE OR REPLACE FUNCTION pgtrickle._relay_key_spellings(p_role text, p_backend text, p_prefix text DEFAULT '')
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(array_agg(p_prefix || s ORDER BY s), '{}')
  FROM pgtrickle.relay_config_keys, unnest(key || aliases) AS s
  WHERE role = p_role AND backend = p_backend
$$;

-- How messages name a place: 'pipeline options', 'sink "nats"'.
CREATE OR REPLACE FUNCTION pgtrickle._relay_place(p_role text, p_backend text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_role = 'pipeline' THEN 'pipeline options' ELSE format('%s "%s"', p_role, p_backend) END
$$;

-- ... and a key at that place: 'option "batch_size"', 'sink "nats" key "url"'.
CREATE OR REPLACE FUNCTION pgtrickle._relay_place_key(p_role text, p_backend text, p_key text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p_role = 'pipeline' THEN format('option "%s"', p_key)
              ELSE format('%s "%s" key "%s"', p_role, p_backend, p_key) END
$$;

-- ${ENV:NAME} and ${FILE:/path} are resolved by the relay when it starts a pipeline, so SQL
-- accepts them wherever a scalar is expected and never shows what they resolve to.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_reference(p_value jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(jsonb_typeof(p_value) = 'string'
                  AND (p_value #>> '{}') ~ '^\$\{(ENV:[A-Za-z_][A-Za-z0-9_]*|FILE:[^}]+)\}$', false)
$$;

-- Checks one value against its spec row; returns it in canonical form (enum spelling,
-- integers without fraction digits).
CREATE OR REPLACE FUNCTION pgtrickle._relay_check_value(p_pipeline text, p_spec pgtrickle.relay_config_keys, p_value jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_where    text := pgtrickle._relay_place_key(p_spec.role, p_spec.backend, p_spec.key);
  v_kind     text := jsonb_typeof(p_value);
  v_text     text := p_value #>> '{}';
  v_shown    text := CASE WHEN p_spec.secret THEN '***' ELSE left(p_value::text, 200) END;
  v_expected text;
  v_match    text;
  v_tokens   text[];
BEGIN
  IF pgtrickle._relay_is_reference(p_value) AND p_spec.value_type NOT IN ('object', 'array') THEN
    RETURN p_value;
  END IF;

  CASE p_spec.value_type
  WHEN 'string' THEN
    IF v_kind = 'string' THEN RETURN p_value; END IF;
    v_expected := 'a string';
  WHEN 'integer' THEN
    IF v_kind = 'number' THEN
      IF v_text::numeric = trunc(v_text::numeric) THEN
        IF v_text::numeric BETWEEN coalesce(p_spec.min_value, -9223372036854775808) AND coalesce(p_spec.max_value, 9223372036854775807) THEN
          RETURN to_jsonb(v_text::numeric::bigint);
        END IF;
        PERFORM pgtrickle._relay_config_error(p_pipeline, CASE
          WHEN p_spec.max_value = 9223372036854775807 THEN format('%s must be at least %s, got %s', v_where, p_spec.min_value, v_shown)
          ELSE format('%s must be between %s and %s, got %s', v_where, p_spec.min_value, p_spec.max_value, v_shown) END);
      END IF;
    END IF;
    v_expected := 'an integer';
  WHEN 'number' THEN
    IF v_kind = 'number' THEN RETURN p_value; END IF;
    v_expected := 'a number';
  WHEN 'boolean' THEN
    IF v_kind = 'boolean' THEN RETURN p_value; END IF;
    v_expected := 'true or false';
  WHEN 'object' THEN
    IF v_kind = 'object' THEN RETURN p_value; END IF;
    v_expected := 'a JSON object';
  WHEN 'array' THEN
    IF v_kind = 'array' THEN RETURN p_value; END IF;
    v_expected := 'a JSON array';
  WHEN 'string_list' THEN
    IF v_kind = 'string' THEN RETURN p_value; END IF;
    IF v_kind = 'array' THEN
      IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_value) AS e WHERE jsonb_typeof(e) <> 'string') THEN
        RETURN p_value;
      END IF;
    END IF;
    v_expected := 'a string or an array of strings';
  WHEN 'enum' THEN
    IF v_kind IN ('string', 'number', 'boolean') THEN
      SELECT a INTO v_match FROM unnest(p_spec.allowed) AS a WHERE lower(a) = lower(v_text) LIMIT 1;
      IF v_match IS NOT NULL THEN RETURN to_jsonb(v_match); END IF;
    END IF;
    v_expected := 'one of ' || (SELECT string_agg(format('"%s"', a), ', ') FROM unnest(p_spec.allowed) AS a);
  WHEN 'subject' THEN
    IF v_kind = 'string' THEN
      v_tokens := string_to_array(v_text, '.');
      IF '*' = ANY (v_tokens) OR '>' = ANY (v_tokens) THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          '%s: "%s" is a wildcard, but a publish subject must be concrete; use a template such as "%s"',
          v_where, v_text,
          array_to_string(ARRAY(SELECT CASE WHEN t IN ('*', '>') THEN '{op}' ELSE t END
                                FROM unnest(v_tokens) WITH ORDINALITY AS u(t, i) ORDER BY i), '.')));
      END IF;
      -- Template expressions may hold spaces and dots; what is left must be plain tokens.
      v_tokens := string_to_array(regexp_replace(v_text, '\{\{[^}]*\}\}|\{[A-Za-z_]+\}', 'x', 'g'), '.');
      IF v_text = '' OR '' = ANY (v_tokens) OR array_to_string(v_tokens, '.') ~ '\s' THEN
        PERFORM pgtrickle._relay_config_error(p_pipeline, format(
          '%s: "%s" is not a valid subject: it needs non-empty tokens separated by single dots, without spaces',
          v_where, v_text));
      END IF;
      RETURN p_value;
    END IF;
    v_expected := 'a string';
  END CASE;

  PERFORM pgtrickle._relay_config_error(p_pipeline, format('%s must be %s, got %s', v_where, v_expected, v_shown));
  RETURN NULL;
END
$$;

-- The backend of one side ('source' or 'sink'), from "<side>": {"type": ...} or "<side>_type".
CREATE OR REPLACE FUNCTION pgtrickle._relay_pick_backend(p_direction text, p_side text, p_config jsonb, p_pipeline text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_valid   text;
  v_written jsonb;
  v_from    text;
  v_found   text[] := '{}';
  v_origin  text[] := '{}';
  v_backend text;
BEGIN
  SELECT string_agg(backend, ', ' ORDER BY backend) INTO v_valid
  FROM pgtrickle.relay_backends WHERE role = p_side;

  IF p_config -> p_side IS NOT NULL AND jsonb_typeof(p_config -> p_side) <> 'object' THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline,
      format('"%s" must be a JSON object such as {"type": "..."}', p_side));
  END IF;

  FOREACH v_from IN ARRAY ARRAY[p_side || '.type', p_side || '_type'] LOOP
    v_written := CASE WHEN v_from LIKE '%.type' THEN p_config -> p_side -> 'type' ELSE p_config -> (p_side || '_type') END;
    CONTINUE WHEN v_written IS NULL OR v_written = 'null'::jsonb;
    IF jsonb_typeof(v_written) <> 'string' THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline,
        format('%s must be a string; valid %s types: %s', v_from, p_side, v_valid));
    END IF;
    v_backend := pgtrickle._relay_backend(p_side, v_written #>> '{}');
    IF v_backend IS NULL THEN
      PERFORM pgtrickle._relay_config_error(p_pipeline, format('unknown %s type "%s"%s; valid %s types: %s',
        p_side, v_written #>> '{}',
        pgtrickle._relay_did_you_mean(v_written #>> '{}',
          (SELECT array_agg(s) FROM pgtrickle.relay_backends, unnest(backend || type_aliases) AS s WHERE role = p_side)),
        p_side, v_valid));
    END IF;
    v_found := v_found || v_backend;
    v_origin := v_origin || v_from;
  END LOOP;

  IF cardinality(v_found) = 2 AND v_found[1] <> v_found[2] THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline, format('%s type is given twice and differs: "%s" (%s) and "%s" (%s)',
      p_side, v_found[1], v_origin[1], v_found[2], v_origin[2]));
  END IF;

  v_backend := coalesce(v_found[1],
                        CASE WHEN p_direction = 'forward' AND p_side = 'source' THEN 'outbox'
                             WHEN p_direction = 'reverse' AND p_side = 'sink' THEN 'pg-inbox' END);
  IF v_backend IS NULL THEN
    PERFORM pgtrickle._relay_config_error(p_pipeline,
      format('%s_type is required; valid %s types: %s', p_side, p_side, v_valid));
  END IF;
  RETURN v_backend;
END
$$;

-- Accepts three shapes: canonical (nested "source"/"sink" objects with "type"), pg_trickle's
-- stored layout (source_type, source, sink_type, sink), and the flat form
-- ({"stream_table": ..., "sink_type": "nats", "nats_url": ...}), also mixed. A JSON null
-- means "not set" (pg_trickle stores "group": null).
CREATE OR REPLACE FUNCTION pgtrickle.relay_normalize_config(p_direction text, p_config jsonb, p_name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_far     text := CASE p_direction WHEN 'forward' THEN 'sink' ELSE 'source' END;
  v_near    text := CASE p_direction WHEN 'forward' THEN 'source' ELSE 'sink' END;
  v_backend jsonb := '{"pipeline": "*"}';                           -- place -> backend
  v_out     jsonb := '{"pipeline": {}, "source": {}, "sink": {}}';  -- place -> {key: value}
  v_given   jsonb := '{}';                                          -- "place/key" -> spelling used
  v_entries jsonb := '[]';                                          -- [place, key, spelling, value]
  v_entry   jsonb;
  v_side    text;
  v_place   text;
  v_b       text;
  v_key     text;
  v_canon   text;
  v_prefix  text;
  v_val     jsonb;
  v_spec    pgtrickle.relay_config_keys;
  v_group   record;
  v_words   text[];
BEGIN
  IF p_direction IS NULL OR p_direction NOT IN ('forward', 'reverse') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('relay: direction must be ''forward'' or ''reverse'', not %s', coalesce(quote_literal(p_direction), 'NULL'));
  END IF;
  IF p_config IS NULL OR jsonb_typeof(p_config) <> 'object' THEN
    PERFORM _relay_config_error(p_name, 'the config must be a JSON object');
  END IF;

  -- Backends of both sides, and the direction they imply.
  FOREACH v_side IN ARRAY ARRAY['source', 'sink'] LOOP
    v_backend := v_backend || jsonb_build_object(v_side, _relay_pick_backend(p_direction, v_side, p_config, p_name));
  END LOOP;
  IF p_direction = 'forward' AND v_backend ->> 'source' <> 'outbox' THEN
    PERFORM _relay_config_error(p_name, format(
      'a forward pipeline reads an outbox, so its source type must be "outbox", not "%s"; '
      'a pipeline from %s into PostgreSQL is a reverse pipeline: use set_relay_inbox',
      v_backend ->> 'source', v_backend ->> 'source'));
  END IF;
  IF p_direction = 'reverse' AND v_backend ->> 'source' = 'outbox' THEN
    PERFORM _relay_config_error(p_name,
      'a pipeline that reads an outbox is a forward pipeline: use set_relay_outbox');
  END IF;
  IF p_direction = 'reverse' AND v_backend ->> 'sink' <> 'pg-inbox' THEN
    PERFORM _relay_config_error(p_name, format(
      'a reverse pipeline writes into a PostgreSQL inbox, so its sink type must be "pg-inbox", not "%s"; '
      'a pipeline from an outbox to %s is a forward pipeline: use set_relay_outbox',
      v_backend ->> 'sink', v_backend ->> 'sink'));
  END IF;

  -- Keys nested under "source" and "sink".
  FOREACH v_side IN ARRAY ARRAY['source', 'sink'] LOOP
    CONTINUE WHEN jsonb_typeof(p_config -> v_side) IS DISTINCT FROM 'object';
    v_b := v_backend ->> v_side;
    FOR v_key, v_val IN
      SELECT key, value FROM jsonb_each(p_config -> v_side) WHERE key <> 'type' AND value <> 'null'::jsonb
    LOOP
      v_canon := _relay_key(v_side, v_b, v_key);
      -- librdkafka pass-through written as "rdkafka.<property>": folded into the rdkafka object below.
      IF v_canon IS NULL AND starts_with(v_key, 'rdkafka.') AND _relay_key(v_side, v_b, 'rdkafka') IS NOT NULL THEN
        v_canon := v_key;
      END IF;
      IF v_canon IS NULL THEN
        PERFORM _relay_config_error(p_name, format('%s has no key "%s"%s; its keys are: %s',
          _relay_place(v_side, v_b), v_key,
          _relay_did_you_mean(v_key, _relay_key_spellings(v_side, v_b)),
          (SELECT string_agg(key, ', ' ORDER BY key) FROM relay_config_keys WHERE role = v_side AND backend = v_b)));
      END IF;
      v_entries := v_entries || jsonb_build_array(jsonb_build_array(v_side, v_canon, v_key, v_val));
    END LOOP;
  END LOOP;

  -- Flat keys go, in this order, to: a pipeline option; a backend key written with that
  -- backend's prefix ("nats_url"); an unprefixed key of the far side (the sink of a forward
  -- pipeline, the source of a reverse one); an unprefixed key of the near side.
  FOR v_key, v_val IN
    SELECT key, value FROM jsonb_each(p_config)
    WHERE key NOT IN ('source', 'sink', 'source_type', 'sink_type') AND value <> 'null'::jsonb
  LOOP
    v_place := NULL;
    v_canon := _relay_key('pipeline', '*', v_key);
    IF v_canon IS NOT NULL THEN
      v_place := 'pipeline';
      -- A key both a pipeline option and a far-side key ("format": "csv" for a file sink) goes
      -- to the side whose allowed values include it.
      IF jsonb_typeof(v_val) = 'string'
         AND EXISTS (SELECT 1 FROM relay_config_keys WHERE role = 'pipeline' AND key = v_canon
                     AND allowed IS NOT NULL AND NOT lower(v_val #>> '{}') = ANY (SELECT lower(a) FROM unnest(allowed) a))
         AND EXISTS (SELECT 1 FROM relay_config_keys WHERE role = v_far AND backend = v_backend ->> v_far AND key = v_key
                     AND allowed IS NOT NULL AND lower(v_val #>> '{}') = ANY (SELECT lower(a) FROM unnest(allowed) a)) THEN
        v_place := v_far;
      END IF;
    END IF;
    IF v_place IS NULL THEN
      <<prefixed>>
      FOREACH v_side IN ARRAY ARRAY[v_far, v_near] LOOP
        FOREACH v_prefix IN ARRAY _relay_backend_prefixes(v_side, v_backend ->> v_side) LOOP
          IF starts_with(v_key, v_prefix) THEN
            v_canon := _relay_key(v_side, v_backend ->> v_side, substr(v_key, char_length(v_prefix) + 1));
            IF v_canon IS NOT NULL THEN
              v_place := v_side;
              EXIT prefixed;
            END IF;
          END IF;
        END LOOP;
      END LOOP;
    END IF;
    IF v_place IS NULL THEN
      FOREACH v_side IN ARRAY ARRAY[v_far, v_near] LOOP
        v_canon := _relay_key(v_side, v_backend ->> v_side, v_key);
        IF v_canon IS NOT NULL THEN
          v_place := v_side;
          EXIT;
        END IF;
      END LOOP;
    END IF;
    IF v_place IS NULL AND starts_with(v_key, 'rdkafka.') THEN
      FOREACH v_side IN ARRAY ARRAY[v_far, v_near] LOOP
        IF _relay_key(v_side, v_backend ->> v_side, 'rdkafka') IS NOT NULL THEN
          v_place := v_side;
          v_canon := v_key;
          EXIT;
        END IF;
      END LOOP;
    END IF;
    IF v_place IS NULL THEN
      SELECT array_agg(DISTINCT s) INTO v_words
      FROM (VALUES ('pipeline', '*'), ('source', v_backend ->> 'source'), ('sink', v_backend ->> 'sink')) AS p(role, backend)
      CROSS JOIN LATERAL unnest(ARRAY[''] || CASE WHEN p.role = 'pipeline' THEN '{}'::text[]
                                                  ELSE _relay_backend_prefixes(p.role, p.backend) END) AS x(prefix)
      CROSS JOIN LATERAL unnest(_relay_key_spellings(p.role, p.backend, x.prefix)) AS s;
      PERFORM _relay_config_error(p_name, format(
        'unknown key "%s"%s; a %s pipeline from "%s" to "%s" accepts the keys of %s, %s and the pipeline options (see pgtrickle.relay_config_keys)',
        v_key, _relay_did_you_mean(v_key, v_words), p_direction, v_backend ->> 'source', v_backend ->> 'sink',
        _relay_place('source', v_backend ->> 'source'), _relay_place('sink', v_backend ->> 'sink')));
    END IF;
    v_entries := v_entries || jsonb_build_array(jsonb_build_array(v_place, v_canon, v_key, v_val));
  END LOOP;

  -- Values.
  FOR v_entry IN SELECT value FROM jsonb_array_elements(v_entries) LOOP
    v_place := v_entry ->> 0;
    v_canon := v_entry ->> 1;
    v_key   := v_entry ->> 2;
    v_b     := v_backend ->> v_place;
    IF starts_with(v_canon, 'rdkafka.') THEN
      v_out := jsonb_set(v_out, ARRAY[v_place, 'rdkafka'], coalesce(v_out #> ARRAY[v_place, 'rdkafka'], '{}'::jsonb)
               || jsonb_build_object(substr(v_canon, 9), CASE WHEN jsonb_typeof(v_entry -> 3) = 'string'
                                                          THEN v_entry -> 3 ELSE to_jsonb((v_entry -> 3) #>> '{}') END));
      CONTINUE;
    END IF;
    IF v_given ? (v_place || '/' || v_canon) THEN
      PERFORM _relay_config_error(p_name, format('%s is given twice, as "%s" and as "%s"',
        _relay_place_key(v_place, v_b, v_canon), v_given ->> (v_place || '/' || v_canon), v_key));
    END IF;
    v_given := v_given || jsonb_build_object(v_place || '/' || v_canon, v_key);
    SELECT * INTO STRICT v_spec FROM relay_config_keys WHERE role = v_place AND backend = v_b AND key = v_canon;
    v_out := jsonb_set(v_out, ARRAY[v_place, v_canon], _relay_check_value(p_name, v_spec, v_entry -> 3));
  END LOOP;

  -- Required keys and one-of groups.
  FOREACH v_place IN ARRAY ARRAY['pipeline', 'source', 'sink'] LOOP
    v_b := v_backend ->> v_place;
    SELECT key INTO v_canon FROM relay_config_keys
    WHERE role = v_place AND backend = v_b AND required AND NOT ((v_out -> v_place) ? key)
    ORDER BY key LIMIT 1;
    IF FOUND THEN
      PERFORM _relay_config_error(p_name, format('%s needs key "%s"%s', _relay_place(v_place, v_b), v_canon,
        CASE WHEN v_place <> 'pipeline' AND jsonb_typeof(p_config -> v_place) IS DISTINCT FROM 'object'
             THEN format(' (flat form: "%s%s")', (_relay_backend_prefixes(v_place, v_b))[1], v_canon) ELSE '' END));
    END IF;
    FOR v_group IN
      SELECT array_agg(key ORDER BY key) AS keys,
             array_agg(key ORDER BY key) FILTER (WHERE (v_out -> v_place) ? key) AS given
      FROM relay_config_keys
      WHERE role = v_place AND backend = v_b AND one_of IS NOT NULL
      GROUP BY one_of ORDER BY one_of
    LOOP
      IF coalesce(cardinality(v_group.given), 0) <> 1 THEN
        PERFORM _relay_config_error(p_name, format('%s needs exactly one of %s%s', _relay_place(v_place, v_b),
          array_to_string(v_group.keys, ', '),
          CASE WHEN cardinality(v_group.given) > 1 THEN format(', got %s', array_to_string(v_group.given, ' and ')) ELSE '' END));
      END IF;
    END LOOP;
  END LOOP;

  -- The relay group: "relay_group", or the outbox source's "group" (pg_trickle's p_group).
  IF (v_out #>> '{pipeline,relay_group}') = '' THEN
    PERFORM _relay_config_error(p_name, 'relay_group must name a relay group (or be left out: any relay group may run it)');
  END IF;
  IF v_out #>> '{pipeline,relay_group}' <> v_out #>> '{source,group}' THEN
    PERFORM _relay_config_error(p_name, format('relay_group "%s" and source group "%s" disagree; the source''s "group" is the relay group '
      'too (pg_trickle''s p_group): keep one of them', v_out #>> '{pipeline,relay_group}', v_out #>> '{source,group}'));
  END IF;

  RETURN (v_out -> 'pipeline')
      || jsonb_build_object('source', jsonb_build_object('type', v_backend ->> 'source') || (v_out -> 'source'),
                            'sink',   jsonb_build_object('type', v_backend ->> 'sink') || (v_out -> 'sink'));
END
$$;

-- True when a key, as written at a place (or flat, with or without a backend prefix), is
-- marked secret. NULL role/backend: any.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_secret_key(p_role text, p_backend text, p_key text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (
    SELECT 1
    FROM pgtrickle.relay_config_keys AS k
    JOIN pgtrickle.relay_backends AS b USING (role, backend)
    CROSS JOIN LATERAL unnest(ARRAY[''] || pgtrickle._relay_backend_prefixes(b.role, b.backend)) AS x(prefix)
    CROSS JOIN LATERAL unnest(k.key || k.aliases) AS s(spelling)
    WHERE k.secret
      AND (p_role IS NULL OR k.role = p_role)
      AND (p_backend IS NULL OR k.backend = p_backend)
      AND p_key = x.prefix || s.spelling)
$$;

-- Configs as shown to readers (get_relay_config, list_relay_configs): what could be a secret is
-- "***". The relay applies the same rules to what it logs and shows on /health:
--   keys marked secret in the spec;
--   in every string (also in lists), a URL's password (scheme://user:***@host), the value of a
--   URL query parameter whose name contains token, key, secret, password, passwd, pwd,
--   signature, sig, auth or credential (any case), and a conninfo's password= / sslpassword=;
--   every value of a sink's "headers" object;
--   librdkafka properties (in "rdkafka" or as rdkafka.<name> keys) whose name contains password,
--   secret, token, key.pem, private or oauthbearer.config (any case).
-- References ("${ENV:NAME}", "${FILE:/path}") stay as written, whole or inside a URL: they hold
-- no secret. Works on every stored layout.
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_text(p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(p_text,
    '([A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*):(?!\$\{(ENV|FILE):)[^/@\s?#]+@', '\1:***@', 'g'),
    '([?&][^=&#\s]*(token|key|secret|password|passwd|pwd|signature|sig|auth|credential)[^=&#\s]*=)(?!\$\{(ENV|FILE):)[^&#\s]*',
    '\1***', 'gi'),
    '((^|\s)(ssl)?password=)(?!\$\{(ENV|FILE):)(''[^'']*''|[^\s&]*)', '\1***', 'g')
$$;

-- _relay_redact_text on a string, or on each string of a list.
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_url(p_value jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE jsonb_typeof(p_value)
    WHEN 'string' THEN to_jsonb(pgtrickle._relay_redact_text(p_value #>> '{}'))
    WHEN 'array' THEN (SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(e) = 'string'
                                                      THEN to_jsonb(pgtrickle._relay_redact_text(e #>> '{}')) ELSE e END
                                                 ORDER BY i), '[]')
                       FROM jsonb_array_elements(p_value) WITH ORDINALITY AS x(e, i))
    ELSE p_value END
$$;

-- A librdkafka property that holds a secret.
CREATE OR REPLACE FUNCTION pgtrickle._relay_is_secret_rdkafka(p_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT p_name ~* '(password|secret|token|key\.pem|private|oauthbearer\.config)' $$;

-- One level of a config (a source, a sink, or the top of a flat config; p_role and p_backend
-- NULL for the top) with its secrets redacted.
CREATE OR REPLACE FUNCTION pgtrickle._relay_redact_level(p_level jsonb, p_role text, p_backend text)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(jsonb_object_agg(l.key, CASE
    WHEN pgtrickle._relay_is_reference(l.value) THEN l.value
    WHEN pgtrickle._relay_is_secret_key(p_role, p_backend, l.key) THEN '"***"'::jsonb
    WHEN l.key ~ '(^|_)headers$' AND jsonb_typeof(l.value) = 'object' AND coalesce(p_role, 'sink') = 'sink' THEN
      (SELECT coalesce(jsonb_object_agg(h.key, CASE WHEN pgtrickle._relay_is_reference(h.value) THEN h.value
                                                    ELSE '"***"'::jsonb END), '{}')
       FROM jsonb_each(l.value) AS h)
    WHEN l.key ~ '(^|_)rdkafka$' AND jsonb_typeof(l.value) = 'object' THEN
      (SELECT coalesce(jsonb_object_agg(r.key, CASE WHEN pgtrickle._relay_is_reference(r.value) THEN r.value
                                                    WHEN pgtrickle._relay_is_secret_rdkafka(r.key) THEN '"***"'::jsonb
                                                    ELSE pgtrickle._relay_redact_url(r.value) END), '{}')
       FROM jsonb_each(l.value) AS r)
    WHEN l.key ~ '(^|_)rdkafka\.' AND pgtrickle._relay_is_secret_rdkafka(substring(l.key FROM 'rdkafka\.(.*)$')) THEN '"***"'::jsonb
    ELSE pgtrickle._relay_redact_url(l.value)
  END), '{}')
  FROM jsonb_each(p_level) AS l
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_redact(p_config jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v      jsonb;
  v_side text;
BEGIN
  IF jsonb_typeof(p_config) IS DISTINCT FROM 'object' THEN
    RETURN p_config;
  END IF;
  v := pgtrickle._relay_redact_level(p_config - 'source' - 'sink', NULL, NULL);
  FOREACH v_side IN ARRAY ARRAY['source', 'sink'] LOOP
    CONTINUE WHEN NOT p_config ? v_side;
    v := v || jsonb_build_object(v_side, CASE WHEN jsonb_typeof(p_config -> v_side) = 'object' THEN
      pgtrickle._relay_redact_level(p_config -> v_side, v_side,
        pgtrickle._relay_backend(v_side, coalesce(p_config -> v_side ->> 'type', p_config ->> (v_side || '_type'))))
      ELSE p_config -> v_side END);
  END LOOP;
  RETURN v;
END
$$;

-- Where a config holds a secret as literal text (what _relay_redact hides): 'sink.password', ...
CREATE OR REPLACE FUNCTION pgtrickle._relay_literal_secrets(p_config jsonb)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH r AS (SELECT pgtrickle._relay_redact(p_config) AS redacted)
  SELECT coalesce(array_agg(x.path ORDER BY x.path), '{}')
  FROM r, LATERAL (
    SELECT t.key AS path FROM jsonb_each(p_config) AS t
    WHERE t.key NOT IN ('source', 'sink') AND t.value IS DISTINCT FROM r.redacted -> t.key
    UNION ALL
    SELECT side || '.' || k.key FROM unnest(ARRAY['source', 'sink']) AS side, jsonb_each(p_config -> side) AS k
    WHERE jsonb_typeof(p_config -> side) = 'object' AND k.value IS DISTINCT FROM r.redacted -> side -> k.key
  ) AS x
$$;

-- ============================================================================================
-- Relay catalog: pipeline config tables and functions
--
-- Names and positional signatures as in pg_trickle 0.29, so scripts written for it keep
-- working; when pg_trickle itself provides one of them, its version stays.
-- ============================================================================================

CREATE OR REPLACE FUNCTION pgtrickle._relay_touch()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Hot reload: relays LISTEN on pgtrickle_relay_config and re-read the named pipeline.
CALL pgtrickle._relay_define('relay_config_notify', $ddl$
CREATE OR REPLACE FUNCTION pgtrickle.relay_config_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
DECLARE
  v_direction text := CASE TG_TABLE_NAME WHEN 'relay_outbox_config' THEN 'forward' ELSE 'reverse' END;
BEGIN
  -- Listeners track pipelines by name: a rename also retires the old name.
  IF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name THEN
    PERFORM pg_notify('pgtrickle_relay_config', json_build_object(
      'direction', v_direction, 'event', 'DELETE', 'name', OLD.name, 'enabled', OLD.enabled)::text);
  END IF;
  PERFORM pg_notify('pgtrickle_relay_config', json_build_object(
    'direction', v_direction,
    'event',     TG_OP,
    'name',      CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END,
    'enabled',   CASE WHEN TG_OP = 'DELETE' THEN OLD.enabled ELSE NEW.enabled END)::text);
  RETURN NULL;
END
$fn$
$ddl$);

CALL pgtrickle._relay_define('relay_outbox_config', $ddl$
  CREATE TABLE IF NOT EXISTS pgtrickle.relay_outbox_config (
    name       text PRIMARY KEY,
    enabled    boolean NOT NULL DEFAULT true,
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  ALTER TABLE pgtrickle.relay_outbox_config
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
  CREATE OR REPLACE TRIGGER relay_outbox_config_touch
    BEFORE UPDATE ON pgtrickle.relay_outbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._relay_touch();
  CREATE OR REPLACE TRIGGER relay_outbox_config_notify
    AFTER INSERT OR UPDATE OR DELETE ON pgtrickle.relay_outbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle.relay_config_notify();
$ddl$);

CALL pgtrickle._relay_define('relay_inbox_config', $ddl$
  CREATE TABLE IF NOT EXISTS pgtrickle.relay_inbox_config (
    name       text PRIMARY KEY,
    enabled    boolean NOT NULL DEFAULT true,
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  ALTER TABLE pgtrickle.relay_inbox_config
    ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
  CREATE OR REPLACE TRIGGER relay_inbox_config_touch
    BEFORE UPDATE ON pgtrickle.relay_inbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle._relay_touch();
  CREATE OR REPLACE TRIGGER relay_inbox_config_notify
    AFTER INSERT OR UPDATE OR DELETE ON pgtrickle.relay_inbox_config
    FOR EACH ROW EXECUTE FUNCTION pgtrickle.relay_config_notify();
$ddl$);

-- Validates, normalises and stores one pipeline. p_enabled NULL: take "enabled" from the
-- config, else true for a new pipeline and unchanged for an existing one.
CREATE OR REPLACE FUNCTION pgtrickle._relay_store(p_direction text, p_name text, p_config jsonb, p_enabled boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_table   text := CASE p_direction WHEN 'forward' THEN 'relay_outbox_config' ELSE 'relay_inbox_config' END;
  v_other   text := CASE p_direction WHEN 'forward' THEN 'relay_inbox_config' ELSE 'relay_outbox_config' END;
  v_config  jsonb;
  v_enabled boolean := p_enabled;
  v_taken   boolean;
  v_warning text;
BEGIN
  IF p_name IS NULL OR btrim(p_name) = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'relay.invalid_config: the pipeline name must not be empty';
  END IF;
  PERFORM _relay_lock_catalog();

  v_config := relay_normalize_config(p_direction, p_config, p_name);
  IF v_config ? 'enabled' THEN
    IF jsonb_typeof(v_config -> 'enabled') <> 'boolean' THEN
      PERFORM _relay_config_error(p_name, 'option "enabled" must be true or false here');
    END IF;
    v_enabled := coalesce(v_enabled, (v_config ->> 'enabled')::boolean);
    v_config := v_config - 'enabled';   -- kept in the "enabled" column only
  END IF;

  IF cardinality(_relay_literal_secrets(v_config)) > 0 THEN
    RAISE WARNING 'pipeline "%": % stored as literal text, readable by members of pgtrickle_relay, superusers and the role that installed pgtrickle-relay (and by anyone holding a dump of this database)',
      p_name, array_to_string(_relay_literal_secrets(v_config), ', ')
      USING HINT = 'Write a reference instead, e.g. "${ENV:NAME}" or "${FILE:/path/to/secret}": the relay resolves it on its host, within what its operator allowed for pipelines defined in SQL.';
  END IF;

  EXECUTE format('SELECT EXISTS (SELECT 1 FROM pgtrickle.%I WHERE name = $1)', v_other) INTO v_taken USING p_name;
  IF v_taken THEN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
      MESSAGE = format('relay.invalid_config: pipeline "%s": the name is already used by a %s pipeline; '
                       'delete that one first (SELECT pgtrickle.delete_relay(%L)) or choose another name',
                       p_name, CASE p_direction WHEN 'forward' THEN 'reverse' ELSE 'forward' END, p_name);
  END IF;

  IF p_direction = 'forward' THEN
    FOR v_warning IN SELECT w FROM relay_template_warnings(v_config) AS w LOOP
      RAISE WARNING 'pipeline "%": %', p_name, v_warning
        USING HINT = 'Every message would get an empty part there (a broker may refuse it, and the message is dead-lettered).';
    END LOOP;
  END IF;

  -- An unchanged pipeline is not rewritten, so relays are not told to reload it.
  EXECUTE format($q$
    INSERT INTO pgtrickle.%1$I AS t (name, enabled, config) VALUES ($1, coalesce($2, true), $3)
    ON CONFLICT (name) DO UPDATE SET enabled = coalesce($2, t.enabled), config = EXCLUDED.config
    WHERE (t.enabled, t.config) IS DISTINCT FROM (coalesce($2, t.enabled), EXCLUDED.config)
  $q$, v_table) USING p_name, v_enabled, v_config;
END
$$;

CALL pgtrickle._relay_define('set_relay_outbox', $ddl$
  -- Flat or canonical config: set_relay_outbox('orders-to-nats', config => '{...}').
  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_outbox(name text, config jsonb)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_store('forward', name, config, NULL) $fn$;

  -- pg_trickle 0.29's positional form.
  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_outbox(
    p_name text, p_outbox text, p_group text, p_sink jsonb,
    p_retention_hours int DEFAULT 24, p_enabled boolean DEFAULT true)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT pgtrickle._relay_store('forward', p_name,
      jsonb_build_object(
        'source', jsonb_strip_nulls(jsonb_build_object('type', 'outbox', 'outbox', p_outbox, 'group', p_group,
                                                       'retention_hours', p_retention_hours)),
        'sink', p_sink),
      coalesce(p_enabled, true))
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('set_relay_inbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_inbox(name text, config jsonb)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_store('reverse', name, config, NULL) $fn$;

  CREATE OR REPLACE FUNCTION pgtrickle.set_relay_inbox(
    p_name text, p_inbox text, p_source jsonb,
    p_max_retries int DEFAULT 3, p_schedule text DEFAULT '1s', p_with_dead_letter boolean DEFAULT true,
    p_retention_hours int DEFAULT 72, p_enabled boolean DEFAULT true)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT pgtrickle._relay_store('reverse', p_name,
      jsonb_build_object(
        'source', p_source,
        'sink', jsonb_strip_nulls(jsonb_build_object('type', 'pg-inbox', 'inbox_name', p_inbox,
                  'max_retries', p_max_retries, 'schedule', p_schedule,
                  'with_dead_letter', p_with_dead_letter, 'retention_hours', p_retention_hours))),
      coalesce(p_enabled, true))
  $fn$;
$ddl$);

CREATE OR REPLACE FUNCTION pgtrickle._relay_not_found(p_name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- A pipeline of a relay's TOML file is changed in that file, not here.
  IF to_regclass('pgtrickle.relay_pipeline_status') IS NOT NULL
     AND EXISTS (SELECT 1 FROM pgtrickle.relay_pipeline_status WHERE pipeline = p_name AND origin = 'file') THEN
    RAISE EXCEPTION USING ERRCODE = 'no_data_found',
      MESSAGE = format('relay: pipeline "%s" is defined in a relay''s config file, not in the catalog', p_name),
      HINT = 'Change or remove it in that TOML file (the relay reloads it); delete_relay(name) forgets its stored position once it is gone from the file.';
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = format('relay: pipeline "%s" not found', p_name),
    HINT = 'SELECT name, direction, origin FROM pgtrickle.list_relay_configs() shows the pipelines (those of relays'' TOML files while a relay runs them).';
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._relay_set_enabled(p_name text, p_enabled boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM _relay_lock_catalog();
  IF NOT EXISTS (SELECT 1 FROM relay_outbox_config WHERE name = p_name)
     AND NOT EXISTS (SELECT 1 FROM relay_inbox_config WHERE name = p_name) THEN
    PERFORM _relay_not_found(p_name);
  END IF;
  -- Only a real change is written, so relays are only told about real changes.
  UPDATE relay_outbox_config SET enabled = p_enabled WHERE name = p_name AND enabled IS DISTINCT FROM p_enabled;
  UPDATE relay_inbox_config SET enabled = p_enabled WHERE name = p_name AND enabled IS DISTINCT FROM p_enabled;
END
$$;

CALL pgtrickle._relay_define('enable_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.enable_relay(p_name text)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_set_enabled(p_name, true) $fn$;
$ddl$);

CALL pgtrickle._relay_define('disable_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.disable_relay(p_name text)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$ SELECT pgtrickle._relay_set_enabled(p_name, false) $fn$;
$ddl$);

-- The relay group a stored pipeline config is assigned to, in any stored layout; NULL: any
-- relay group may run it (one relay at a time, under the name 'default').
CREATE OR REPLACE FUNCTION pgtrickle._relay_config_group(p_config jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT nullif(coalesce(p_config ->> 'relay_group', p_config #>> '{source,group}'), '')
$$;

-- Every pipeline of both directions, secrets redacted.
CREATE OR REPLACE FUNCTION pgtrickle._relay_all_configs()
RETURNS TABLE (name text, direction text, enabled boolean, config jsonb, updated_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
  -- updated_at through to_jsonb(): pg_trickle's own config tables do not have the column.
  SELECT c.name, 'forward', c.enabled, pgtrickle._relay_redact(c.config), (to_jsonb(c) ->> 'updated_at')::timestamptz
  FROM pgtrickle.relay_outbox_config AS c
  UNION ALL
  SELECT c.name, 'reverse', c.enabled, pgtrickle._relay_redact(c.config), (to_jsonb(c) ->> 'updated_at')::timestamptz
  FROM pgtrickle.relay_inbox_config AS c
$$;

CALL pgtrickle._relay_define('get_relay_config', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.get_relay_config(p_name text)
  RETURNS TABLE (name text, direction text, enabled boolean, config jsonb)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    RETURN QUERY SELECT c.name, c.direction, c.enabled, c.config FROM pgtrickle._relay_all_configs() AS c WHERE c.name = p_name;
    IF NOT FOUND THEN
      PERFORM pgtrickle._relay_not_found(p_name);
    END IF;
  END
  $fn$;
$ddl$);

-- ============================================================================================
-- Relay runtime state: offsets, pipeline status, dead letters
--
-- Written by the relay directly; positions are (last_seq, last_id) in commit order (section 7).
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.relay_offsets (
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  last_seq       bigint NOT NULL DEFAULT 0,
  last_id        bigint NOT NULL DEFAULT 0,
  -- While the claim-check rows of an outbox row are partly delivered, (last_seq, last_id) is
  -- that row and next_row the row_num to resume at; NULL once last_id is fully delivered.
  next_row       bigint,
  worker_id      text,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay_group_id, pipeline)
);
-- The outbox table a forward pipeline reads, so retention also waits for pipelines that live only
-- in a relay's TOML file. Installs made before it: added here.
ALTER TABLE pgtrickle.relay_offsets ADD COLUMN IF NOT EXISTS outbox text;

-- Ownership epochs (fencing tokens): a relay that takes a pipeline bumps its epoch while it holds
-- the pipeline's advisory lock, and stores positions only while the epoch is still its own. A
-- stalled former owner that wakes up finds a newer epoch and stores nothing.
CREATE TABLE IF NOT EXISTS pgtrickle.relay_owners (
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  epoch          bigint NOT NULL,
  worker_id      text,
  taken_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (relay_group_id, pipeline)
);

CREATE TABLE IF NOT EXISTS pgtrickle.relay_pipeline_status (
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  owner          text,
  owner_since    timestamptz,
  heartbeat_at   timestamptz,
  state          text,
  lag_rows       bigint,
  lag_seconds    double precision,
  last_error     text,
  PRIMARY KEY (relay_group_id, pipeline)
);
-- Where the pipeline is defined ('sql' or 'file') and its direction, so that pipelines of relays'
-- TOML files can be listed too. Installs made before them: added here.
ALTER TABLE pgtrickle.relay_pipeline_status
  ADD COLUMN IF NOT EXISTS origin text,
  ADD COLUMN IF NOT EXISTS direction text;

CREATE TABLE IF NOT EXISTS pgtrickle.relay_dead_letters (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  relay_group_id text,
  pipeline       text NOT NULL,
  direction      text,
  dedup_key      text,
  error          text NOT NULL,
  payload        jsonb,
  raw_payload    text,            -- the bytes as received when they are not JSON
  headers        jsonb,
  position       text,            -- where it came from: outbox id, topic/partition/offset ...
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS relay_dead_letters_pipeline_idx ON pgtrickle.relay_dead_letters (pipeline, created_at);

-- The logical replication slots the pipelines of WAL-captured tables read (one per pipeline and
-- relay group), recorded by the relay when it creates one, so that delete_relay and
-- disable_outbox drop them: an abandoned slot holds the server's WAL forever.
CREATE TABLE IF NOT EXISTS pgtrickle.relay_slots (
  slot_name      text PRIMARY KEY,
  relay_group_id text NOT NULL,
  pipeline       text NOT NULL,
  outbox         text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Drops the recorded slots of a pipeline (p_pipeline) or of an outbox (p_outbox). A slot being read
-- is released first: its reader's connection is ended (a relay reconnects and finds it gone). Run
-- by delete_relay and disable_outbox, with their (the installer's) rights.
CREATE OR REPLACE FUNCTION pgtrickle._relay_drop_slots(p_pipeline text, p_outbox text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_slot text;
BEGIN
  FOR v_slot IN
    DELETE FROM pgtrickle.relay_slots WHERE pipeline = p_pipeline OR outbox = p_outbox RETURNING slot_name
  LOOP
    -- Only a slot the relay can have created (the relay role writes this table: it must not get
    -- another system's slot dropped through it).
    CONTINUE WHEN v_slot !~ '^pgtrickle_[0-9a-f]{20}$' OR NOT EXISTS (
      SELECT 1 FROM pg_replication_slots
      WHERE slot_name = v_slot AND plugin = 'pgoutput' AND database = current_database());
    FOR i IN 1..50 LOOP
      EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = v_slot AND active);
      PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = v_slot AND active;
      PERFORM pg_sleep(0.1);
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = v_slot) THEN
      PERFORM pg_drop_replication_slot(v_slot);
    END IF;
  END LOOP;
END
$$;

-- Deleting a pipeline also forgets its offsets: a new pipeline of the same name starts afresh.
CALL pgtrickle._relay_define('delete_relay', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.delete_relay(p_name text)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_found boolean;
  BEGIN
    PERFORM pgtrickle._relay_lock_catalog();
    WITH gone AS (
      DELETE FROM pgtrickle.relay_outbox_config WHERE name = p_name RETURNING 1
    ), gone_too AS (
      DELETE FROM pgtrickle.relay_inbox_config WHERE name = p_name RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM gone_too) INTO v_found;
    -- A pipeline of a relay's TOML file has no catalog entry, only its stored position.
    IF NOT v_found AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_offsets WHERE pipeline = p_name) THEN
      PERFORM pgtrickle._relay_not_found(p_name);
    END IF;
    DELETE FROM pgtrickle.relay_offsets WHERE pipeline = p_name;
    DELETE FROM pgtrickle.relay_pipeline_status WHERE pipeline = p_name;
    PERFORM pgtrickle._relay_drop_slots(p_name, NULL);
  END
  $fn$;
$ddl$);

-- Every pipeline: those of the catalog, then those of relays' TOML files that a live relay runs
-- (read-only here, config NULL, origin 'file'). relay_group_id is the relay group assigned to run
-- the pipeline (NULL: any); owner, state and lag come from the freshest status row of a live relay
-- (heartbeat under 30 s). A disabled pipeline shows state 'disabled' and no owner, at once.
CALL pgtrickle._relay_define('list_relay_configs', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.list_relay_configs()
  RETURNS TABLE (name text, direction text, enabled boolean, config jsonb, relay_group_id text, owner text,
                 state text, lag bigint, lag_seconds double precision, last_error text, updated_at timestamptz,
                 origin text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT * FROM (
      SELECT c.name, c.direction, c.enabled, c.config, pgtrickle._relay_config_group(c.config),
             CASE WHEN c.enabled THEN s.owner END,
             CASE WHEN c.enabled THEN s.state ELSE 'disabled' END,
             CASE WHEN c.enabled THEN s.lag_rows END, CASE WHEN c.enabled THEN s.lag_seconds END,
             CASE WHEN c.enabled THEN s.last_error END, c.updated_at, 'sql'
      FROM pgtrickle._relay_all_configs() AS c
      LEFT JOIN LATERAL (
        SELECT * FROM pgtrickle.relay_pipeline_status AS s
        WHERE s.pipeline = c.name AND s.heartbeat_at > now() - interval '30 seconds'
        ORDER BY s.heartbeat_at DESC
        LIMIT 1
      ) AS s ON true
      UNION ALL
      (SELECT DISTINCT ON (s.pipeline) s.pipeline, s.direction, true, NULL::jsonb, s.relay_group_id, s.owner, s.state,
              s.lag_rows, s.lag_seconds, s.last_error, NULL::timestamptz, 'file'
       FROM pgtrickle.relay_pipeline_status AS s
       WHERE s.origin = 'file' AND s.heartbeat_at > now() - interval '30 seconds'
         AND NOT EXISTS (SELECT 1 FROM pgtrickle._relay_all_configs() AS c WHERE c.name = s.pipeline)
       ORDER BY s.pipeline, s.heartbeat_at DESC)
    ) AS p
    ORDER BY 1
  $fn$;
$ddl$);

-- ============================================================================================
-- Outbox: commit order
--
-- Outbox ids are handed out when rows are inserted, not when their transaction commits, so a
-- reader that remembers "last id" skips rows of a transaction that commits late. Instead each
-- writing transaction gets a number from outbox_commit_seq *while it commits*, and readers
-- walk positions (seq, id).
--
-- Numbering runs in a deferred trigger under a shared advisory lock that is held until the
-- transaction ends. outbox_watermark() takes the same lock exclusively, so it returns only
-- when every transaction that has taken a number has committed or aborted: a new statement
-- then sees every committed row with seq <= watermark, and no row can later appear below it.
-- ============================================================================================

-- One fixed key: the lock guards the one sequence. Advisory locks are per database.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_commit_lock_key()
RETURNS bigint
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 7072753140512305410::bigint $$;

CREATE SEQUENCE IF NOT EXISTS pgtrickle.outbox_commit_seq;

-- One row per (outbox, writing transaction); seq and committed_at are NULL until that transaction
-- commits. committed_at is the commit time the relay measures delivery latency from.
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_commits (
  outbox       text NOT NULL,
  xid          xid8 NOT NULL,
  seq          bigint,
  committed_at timestamptz,
  PRIMARY KEY (outbox, xid)
);
ALTER TABLE pgtrickle.outbox_commits ADD COLUMN IF NOT EXISTS committed_at timestamptz;
CREATE INDEX IF NOT EXISTS outbox_commits_seq_idx ON pgtrickle.outbox_commits (outbox, seq);

CREATE OR REPLACE FUNCTION pgtrickle._outbox_number_commit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(pgtrickle._outbox_commit_lock_key());
  UPDATE pgtrickle.outbox_commits SET seq = nextval('pgtrickle.outbox_commit_seq'), committed_at = clock_timestamp()
  WHERE outbox = NEW.outbox AND xid = NEW.xid;
  RETURN NULL;
END
$$;

DO $$
BEGIN
  -- Constraint triggers have no CREATE OR REPLACE.
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                 WHERE tgrelid = 'pgtrickle.outbox_commits'::regclass AND tgname = 'outbox_commits_number') THEN
    CREATE CONSTRAINT TRIGGER outbox_commits_number
      AFTER INSERT ON pgtrickle.outbox_commits
      DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION pgtrickle._outbox_number_commit();
  END IF;
END
$$;

-- Highest commit number whose transaction, and every one numbered before it, has finished.
-- Read rows with seq <= this value in a later statement (READ COMMITTED).
CREATE OR REPLACE FUNCTION pgtrickle.outbox_watermark()
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_last   bigint;
  v_called boolean;
BEGIN
  -- Session-level, so it is released right here rather than held to the end of the caller's
  -- transaction, which would stall every committing writer meanwhile.
  PERFORM pg_advisory_lock(pgtrickle._outbox_commit_lock_key());
  BEGIN
    SELECT last_value, is_called INTO v_last, v_called FROM pgtrickle.outbox_commit_seq;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- Never leave the session holding the lock: every committing writer would wait on it.
    PERFORM pg_advisory_unlock(pgtrickle._outbox_commit_lock_key());
    RAISE;
  END;
  PERFORM pg_advisory_unlock(pgtrickle._outbox_commit_lock_key());
  RETURN CASE WHEN v_called THEN v_last ELSE 0 END;
END
$$;

-- Replaced by the relay reading up to outbox_watermark() with prepared statements.
DROP FUNCTION IF EXISTS pgtrickle.outbox_pending_commits(text, bigint, integer);

-- Statement trigger on every outbox table: registers the writing transaction and wakes relays.
-- On the outbox table itself, so rows inserted by any path get a commit number.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_register_commit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pgt_new) THEN
    INSERT INTO pgtrickle.outbox_commits (outbox, xid) VALUES (TG_TABLE_NAME, pg_current_xact_id())
    ON CONFLICT DO NOTHING;
    PERFORM pg_notify('pgtrickle_outbox_new', TG_TABLE_NAME);
  END IF;
  RETURN NULL;
END
$$;

-- ============================================================================================
-- Outbox on ordinary tables and event outboxes
--
-- enable_outbox(table) captures every INSERT/UPDATE/DELETE/TRUNCATE of a table, in the same
-- transaction, as rows of pgtrickle.outbox_<table> carrying the delta (payload v1, compatible
-- with pg_trickle's). create_outbox(name) makes an outbox for application events, written with
-- outbox_publish().
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.outbox_tables (
  outbox_name           text PRIMARY KEY,   -- table pgtrickle.<outbox_name>
  source_schema         text,               -- NULL for an event outbox
  source_table          text,               -- the captured table, or the event outbox's name
  delta_table           text UNIQUE,        -- claim-check rows; NULL for an event outbox
  key_columns           text[],             -- at enable time; resolve_outbox() reads them live
  retention_hours       int NOT NULL DEFAULT 24 CHECK (retention_hours > 0),
  inline_threshold_rows int NOT NULL DEFAULT 1000 CHECK (inline_threshold_rows >= 0),
  created_at            timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source_schema, source_table)
);
-- How the table's changes are captured: 'trigger' (the capture triggers write the outbox table) or
-- 'wal' (no trigger: pipelines read the table's changes from the WAL through its publication).
-- Installs made before it: added here.
ALTER TABLE pgtrickle.outbox_tables
  ADD COLUMN IF NOT EXISTS capture text NOT NULL DEFAULT 'trigger' CHECK (capture IN ('trigger', 'wal'));

-- The row identity of a table: primary key columns, else replica identity index columns.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_key_columns(p_table regclass)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT NULLIF(ARRAY(
    SELECT a.attname::text
    FROM pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indexrelid = (SELECT indexrelid FROM pg_index
                          WHERE indrelid = p_table AND (indisprimary OR indisreplident)
                          ORDER BY indisprimary DESC LIMIT 1)
    ORDER BY k.ord), '{}')
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_name_taken(p_name text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT 1 FROM pgtrickle.outbox_tables WHERE p_name IN (outbox_name, delta_table))
      OR to_regclass(format('pgtrickle.%I', p_name)) IS NOT NULL
$$;

-- p_prefix || table when that fits in 63 bytes and is free; otherwise the name cut on a
-- character boundary plus 7 hex digits of md5("schema.table"), so a.orders and b.orders, or
-- two long names sharing a prefix, get different outboxes.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_free_name(p_prefix text, p_schema text, p_table text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name text;
BEGIN
  FOREACH v_name IN ARRAY ARRAY[
    p_prefix || p_table,
    pgtrickle._relay_truncate_bytes(p_prefix || p_table, 55) || '_'
      || left(md5(coalesce(p_schema || '.', '') || p_table), 7)]
  LOOP
    IF octet_length(v_name) <= 63 AND NOT pgtrickle._outbox_name_taken(v_name) THEN
      RETURN v_name;
    END IF;
  END LOOP;
  RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
    MESSAGE = format('no free name for the outbox of %s: pgtrickle.%I is taken', p_table, v_name);
END
$$;

-- The relay reads outboxes and their claim-check rows.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_grant(p_tables text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_table text;
BEGIN
  FOREACH v_table IN ARRAY p_tables LOOP
    -- Names come from pg_trickle's catalog too: never one of the relay's own catalog tables.
    IF v_table IS NOT NULL AND to_regclass(format('pgtrickle.%I', v_table)) IS NOT NULL
       AND v_table !~ '^(relay_|pgt_)'
       AND v_table NOT IN ('outbox_tables', 'outbox_commits', 'outbox_consumer_groups', 'outbox_consumers',
                           'outbox_consumer_leases') THEN
      EXECUTE format('GRANT SELECT ON pgtrickle.%I TO pgtrickle_relay, pgtrickle_relay_admin', v_table);
    END IF;
  END LOOP;
END
$$;

-- Creates (or completes) the outbox table and its delta table.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_create_tables(t pgtrickle.outbox_tables)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning   -- no "already exists, skipping" noise on repeated calls
AS $$
BEGIN
  EXECUTE format($ddl$
    CREATE TABLE IF NOT EXISTS pgtrickle.%1$I (
      id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      created_at     timestamptz NOT NULL DEFAULT now(),
      inserted_count bigint NOT NULL DEFAULT 0,
      deleted_count  bigint NOT NULL DEFAULT 0,
      is_claim_check boolean NOT NULL DEFAULT false,
      payload        jsonb,
      refresh_id     uuid,
      headers        jsonb NOT NULL DEFAULT '{}',
      kind           text NOT NULL DEFAULT 'delta' CHECK (kind IN ('delta', 'event')),
      xid            xid8 NOT NULL DEFAULT pg_current_xact_id()
    );
    -- (xid, id): a reader resuming inside a large transaction seeks straight to its next row.
    CREATE INDEX IF NOT EXISTS %2$I ON pgtrickle.%1$I (xid, id);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_commit
      AFTER INSERT ON pgtrickle.%1$I REFERENCING NEW TABLE AS pgt_new
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle._outbox_register_commit();
  $ddl$, t.outbox_name, pgtrickle._relay_ident(t.outbox_name, '_xid_idx', t.outbox_name));

  IF t.delta_table IS NOT NULL THEN
    EXECUTE format($ddl$
      CREATE TABLE IF NOT EXISTS pgtrickle.%1$I (
        outbox_id bigint NOT NULL,
        row_num   bigint NOT NULL,
        row_op    text NOT NULL CHECK (row_op IN ('INSERT', 'DELETE')),
        row_data  jsonb NOT NULL,
        PRIMARY KEY (outbox_id, row_num)
      )
    $ddl$, t.delta_table);
  END IF;
  PERFORM pgtrickle._outbox_grant(ARRAY[t.outbox_name, t.delta_table]);
END
$$;

-- The captured table of an outbox, or NULL (an event outbox, or the table is gone). From the
-- catalog, not to_regclass: a role without USAGE on the table's schema still finds it.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_source(t pgtrickle.outbox_tables)
RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid::regclass FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
  WHERE n.nspname = t.source_schema AND c.relname = t.source_table
$$;

-- The body of an outbox's capture trigger function, which writes one statement's changes to the
-- outbox. _outbox_attach writes in what the body needs, so it reads no catalog of ours at run time
-- and its outbox INSERTs are static SQL, planned once per session (a dynamic EXECUTE is parsed and
-- planned for every statement: that doubled the cost of a single-row write):
--   @outbox@ the outbox table (a quoted identifier), @delta@ the delta table's name (a literal),
--   @threshold@ inline_threshold_rows, @owner@ the oid of the table's owner when it was attached.
-- The function is SECURITY DEFINER and owned by the captured table's owner: whoever may write the
-- table may write its outbox without any privilege on schema pgtrickle, and what runs in it (the
-- casts and output functions of the table's types, reached by to_jsonb) runs with the rights of
-- the role that controls that code, never more. Should the table change owner, capture stops
-- until enable_outbox attaches it again for the new owner.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_capture_body()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $body$ SELECT $src$
DECLARE
  v_keys     text[];
  v_inserted bigint := 0;
  v_deleted  bigint := 0;
  v_project  text;
  v_sort     text;
  v_parts    text[] := '{}';
  v_ins_rows jsonb;
  v_del_rows jsonb;
  v_id       bigint;
  v_owner    oid;
BEGIN
  SELECT c.relowner INTO v_owner FROM pg_catalog.pg_class AS c WHERE c.oid = TG_RELID;
  IF v_owner IS DISTINCT FROM @owner@::oid THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('table %I.%I now belongs to role %s, but its outbox capture was set up for role %s: '
                       'capture stops rather than run with the former owner''s rights',
                       TG_TABLE_SCHEMA, TG_TABLE_NAME, v_owner::regrole, @owner@::oid::regrole),
      HINT = format('Run SELECT pgtrickle.enable_outbox(%L) again: it attaches the capture for the new owner.',
                    format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME));
  END IF;

  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO pgtrickle.@outbox@ (payload)
    VALUES ('{"v": 1, "inserted": [], "deleted": [], "full_refresh": true, "truncated": true}'::jsonb);
    RETURN NULL;
  END IF;

  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    SELECT count(*) INTO v_inserted FROM pgt_new;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT count(*) INTO v_deleted FROM pgt_old;
  END IF;
  IF v_inserted + v_deleted = 0 THEN
    RETURN NULL;
  END IF;

  IF v_inserted <= 1 AND v_deleted <= 1 AND v_inserted + v_deleted <= @threshold@ THEN
    -- The hot path (one row written, or one updated): static queries, planned once per session.
    IF v_inserted > 0 THEN
      SELECT jsonb_agg(to_jsonb(pgt_row.*)) INTO v_ins_rows FROM pgt_new AS pgt_row;
    END IF;
    IF v_deleted > 0 THEN
      SELECT jsonb_agg(to_jsonb(pgt_row.*)) INTO v_del_rows FROM pgt_old AS pgt_row;
    END IF;
    INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count)
    VALUES (jsonb_build_object('v', 1, 'inserted', coalesce(v_ins_rows, '[]'), 'deleted', coalesce(v_del_rows, '[]'),
                               'full_refresh', false),
            v_inserted, v_deleted);
    RETURN NULL;
  END IF;

  -- The row identity, read live so it survives key changes: primary key columns, else replica
  -- identity index columns (as pgtrickle._outbox_key_columns).
  v_keys := NULLIF(ARRAY(
    SELECT a.attname::text
    FROM pg_catalog.pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indexrelid = (SELECT x.indexrelid FROM pg_catalog.pg_index AS x
                          WHERE x.indrelid = TG_RELID AND (x.indisprimary OR x.indisreplident)
                          ORDER BY x.indisprimary DESC LIMIT 1)
    ORDER BY k.ord), '{}');

  IF v_inserted + v_deleted <= @threshold@ THEN
    -- Several rows: in key order, so the payload does not depend on the plan.
    v_sort := coalesce('ORDER BY ' || (SELECT string_agg(format('pgt_row.%I', k), ', ') FROM unnest(v_keys) AS k), '');
    IF v_inserted > 0 THEN
      EXECUTE format('SELECT jsonb_agg(to_jsonb(pgt_row.*) %s) FROM pgt_new AS pgt_row', v_sort) INTO v_ins_rows;
    END IF;
    IF v_deleted > 0 THEN
      EXECUTE format('SELECT jsonb_agg(to_jsonb(pgt_row.*) %s) FROM pgt_old AS pgt_row', v_sort) INTO v_del_rows;
    END IF;
    INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count)
    VALUES (jsonb_build_object('v', 1, 'inserted', coalesce(v_ins_rows, '[]'), 'deleted', coalesce(v_del_rows, '[]'),
                               'full_refresh', false),
            v_inserted, v_deleted);
    RETURN NULL;
  END IF;

  -- Claim check: rows go to the delta table, numbered in key order with a key's DELETE right
  -- before its INSERT, so a reader streaming them pairs an update's old and new row.
  INSERT INTO pgtrickle.@outbox@ (payload, inserted_count, deleted_count, is_claim_check)
  VALUES (jsonb_build_object('v', 1, 'claim_check', true, 'inserted_count', v_inserted, 'deleted_count', v_deleted,
                             'full_refresh', false),
          v_inserted, v_deleted, true)
  RETURNING id INTO v_id;
  v_project := coalesce((SELECT string_agg(format(', pgt_row.%I AS k%s', k, i), '' ORDER BY i)
                         FROM unnest(v_keys) WITH ORDINALITY AS u(k, i)), '');
  v_sort := coalesce((SELECT string_agg(format('k%s, ', i), '' ORDER BY i)
                      FROM generate_subscripts(v_keys, 1) AS i), '') || 'op_rank';
  IF v_deleted > 0 THEN
    v_parts := v_parts || format('SELECT ''DELETE''::text AS row_op, 0 AS op_rank, to_jsonb(pgt_row.*) AS row_data%s '
                                 'FROM pgt_old AS pgt_row', v_project);
  END IF;
  IF v_inserted > 0 THEN
    v_parts := v_parts || format('SELECT ''INSERT''::text AS row_op, 1 AS op_rank, to_jsonb(pgt_row.*) AS row_data%s '
                                 'FROM pgt_new AS pgt_row', v_project);
  END IF;
  EXECUTE format('INSERT INTO pgtrickle.%I (outbox_id, row_num, row_op, row_data) '
                 'SELECT $1, row_number() OVER (ORDER BY %s), row_op, row_data FROM (%s) AS s',
                 @delta@::text, v_sort, array_to_string(v_parts, ' UNION ALL '))
    USING v_id;
  RETURN NULL;
END
$src$::text $body$;

-- The name of an outbox's capture function (outbox names may be any text).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_capture_function(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT '_outbox_capture_' || left(md5(p_outbox), 16) $$;

-- (Re)creates a table outbox's capture function and triggers, owned by the table's owner, who is
-- granted exactly what the function does: USAGE on schema pgtrickle, INSERT on this outbox and its
-- delta table (and SELECT of the outbox's id, which the claim check reads back). A former owner
-- loses those grants.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_attach(t pgtrickle.outbox_tables)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_fn        text := pgtrickle._outbox_capture_function(t.outbox_name);
  v_rel       regclass := pgtrickle._outbox_source(t);
  v_owner     oid;
  v_old_owner oid;
  v_me        oid := (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user);
  v_grant     boolean;
BEGIN
  SELECT c.relowner INTO v_owner FROM pg_class AS c WHERE c.oid = v_rel;
  IF NOT pg_has_role(current_user, v_owner, 'USAGE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('cannot attach the outbox capture of table %s: role %s, which installed pgtrickle-relay, '
                       'does not act for its owner %s', v_rel, current_user, v_owner::regrole),
      HINT = format('A superuser may run it, or grant the installing role the owner''s rights: GRANT %s TO %I.',
                    v_owner::regrole, current_user);
  END IF;
  SELECT p.proowner INTO v_old_owner FROM pg_proc AS p WHERE p.oid = to_regprocedure(format('pgtrickle.%I()', v_fn));

  EXECUTE format('CREATE OR REPLACE FUNCTION pgtrickle.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER '
                 'SET search_path = pg_catalog, pgtrickle, pg_temp AS %L',
                 v_fn, replace(replace(replace(replace(pgtrickle._outbox_capture_body(),
                   '@outbox@', quote_ident(t.outbox_name)),
                   '@delta@', quote_literal(t.delta_table)),
                   '@threshold@', t.inline_threshold_rows::text),
                   '@owner@', v_owner::text));
  EXECUTE format('REVOKE ALL ON FUNCTION pgtrickle.%I() FROM PUBLIC', v_fn);  -- only ever run as a trigger

  IF v_owner <> coalesce(v_old_owner, v_me) THEN
    -- A role that is not a superuser may give a function away only to a role with CREATE on its
    -- schema: granted for this statement alone.
    v_grant := NOT has_schema_privilege(v_owner, 'pgtrickle', 'CREATE');
    IF v_grant THEN
      EXECUTE format('GRANT CREATE ON SCHEMA pgtrickle TO %s', v_owner::regrole);
    END IF;
    EXECUTE format('ALTER FUNCTION pgtrickle.%I() OWNER TO %s', v_fn, v_owner::regrole);
    IF v_grant THEN
      EXECUTE format('REVOKE CREATE ON SCHEMA pgtrickle FROM %s', v_owner::regrole);
    END IF;
  END IF;
  IF v_old_owner IS NOT NULL AND v_old_owner <> v_owner AND v_old_owner <> v_me THEN
    EXECUTE format('REVOKE ALL ON pgtrickle.%I, pgtrickle.%I FROM %s', t.outbox_name, t.delta_table, v_old_owner::regrole);
  END IF;
  IF v_owner <> v_me THEN
    EXECUTE format('GRANT USAGE ON SCHEMA pgtrickle TO %1$s;
                    GRANT INSERT, SELECT (id) ON pgtrickle.%2$I TO %1$s;
                    GRANT INSERT ON pgtrickle.%3$I TO %1$s', v_owner::regrole, t.outbox_name, t.delta_table);
  END IF;

  EXECUTE format($ddl$
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_insert AFTER INSERT ON %1$s
      REFERENCING NEW TABLE AS pgt_new
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_update AFTER UPDATE ON %1$s
      REFERENCING OLD TABLE AS pgt_old NEW TABLE AS pgt_new
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_delete AFTER DELETE ON %1$s
      REFERENCING OLD TABLE AS pgt_old
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
    CREATE OR REPLACE TRIGGER pgtrickle_outbox_truncate AFTER TRUNCATE ON %1$s
      FOR EACH STATEMENT EXECUTE FUNCTION pgtrickle.%3$I(%2$L);
  $ddl$, v_rel, t.outbox_name, v_fn);
END
$$;

-- inline_threshold_rows is written into the capture function: a change attaches it again.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_threshold_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF pgtrickle._outbox_source(NEW) IS NOT NULL THEN
    PERFORM pgtrickle._outbox_attach(NEW);
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER outbox_tables_threshold
  AFTER UPDATE OF inline_threshold_rows ON pgtrickle.outbox_tables
  FOR EACH ROW WHEN (OLD.inline_threshold_rows IS DISTINCT FROM NEW.inline_threshold_rows)
  EXECUTE FUNCTION pgtrickle._outbox_threshold_changed();

-- Every table outbox is attached again on each install: capture functions of earlier installs
-- (one shared function, or functions owned by the installing role) are replaced.
DO $$
DECLARE
  t pgtrickle.outbox_tables;
BEGIN
  FOR t IN SELECT * FROM pgtrickle.outbox_tables AS o WHERE pgtrickle._outbox_source(o) IS NOT NULL LOOP
    BEGIN
      PERFORM pgtrickle._outbox_attach(t);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'table %.% keeps its earlier capture trigger: %', t.source_schema, t.source_table, SQLERRM
        USING HINT = 'Run SELECT pgtrickle.enable_outbox(...) for it as a superuser.';
    END;
  END LOOP;
  -- The shared function of older installs goes once no trigger uses it.
  IF to_regprocedure('pgtrickle._outbox_capture()') IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgfoid = to_regprocedure('pgtrickle._outbox_capture()')) THEN
    DROP FUNCTION pgtrickle._outbox_capture();
  END IF;
END
$$;

-- ============================================================================================
-- Outbox functions: finding an outbox, enabling, publishing, disabling, resolving for the relay
-- ============================================================================================

-- Our outbox for a reference: a table (p_rel: p_ref resolved in the caller's search path), an
-- outbox table name, an event outbox name, or the unqualified name of a table that is not in
-- the search path (or was dropped). NULL if none.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_find(p_ref text, p_rel regclass)
RETURNS pgtrickle.outbox_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t   pgtrickle.outbox_tables;
  v_n int;
BEGIN
  IF p_rel IS NOT NULL THEN
    SELECT o.* INTO t
    FROM pgtrickle.outbox_tables AS o
    JOIN pg_class AS c ON c.oid = p_rel
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE (o.source_schema = n.nspname AND o.source_table = c.relname)
       OR (n.nspname = 'pgtrickle' AND o.outbox_name = c.relname);
    IF FOUND THEN RETURN t; END IF;
  END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE outbox_name = p_ref;
  IF FOUND THEN RETURN t; END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_schema IS NULL AND source_table = p_ref;
  IF FOUND OR p_rel IS NOT NULL THEN
    RETURN t;   -- a visible table without an outbox must not match a namesake elsewhere
  END IF;
  SELECT count(*) INTO v_n FROM pgtrickle.outbox_tables WHERE source_table = p_ref;
  IF v_n > 1 THEN
    RAISE EXCEPTION USING ERRCODE = 'ambiguous_parameter',
      MESSAGE = format('outbox reference "%s" is ambiguous: tables of that name in several schemas have outboxes', p_ref),
      HINT = 'Qualify it with the schema, e.g. ''public.orders''.';
  END IF;
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_table = p_ref;
  RETURN t;   -- all NULL when not found
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_not_found(p_ref text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'undefined_object',
    MESSAGE = format('outbox for "%s" not found: enable it with SELECT pgtrickle.enable_outbox(%L)', p_ref, p_ref),
    HINT = format('For application events without a table, create one with SELECT pgtrickle.create_outbox(%L).', p_ref);
END
$$;

-- Does a pipeline's source reference denote this outbox? Deliberately generous (an
-- unqualified name matches in any schema): retention must rather keep rows than lose them.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_ref_matches(p_ref text, t pgtrickle.outbox_tables)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p_ref IS NOT NULL AND (
       p_ref IN (t.outbox_name, t.source_table)
    OR (t.source_schema IS NOT NULL
        AND pgtrickle._relay_regclass(p_ref) = to_regclass(format('%I.%I', t.source_schema, t.source_table)))
    OR pgtrickle._relay_regclass(p_ref) = to_regclass(format('pgtrickle.%I', t.outbox_name)))
$$;

-- The outbox a stored pipeline config reads, in any stored layout.
CREATE OR REPLACE FUNCTION pgtrickle._relay_config_outbox_ref(p_config jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(p_config #>> '{source,stream_table}', p_config #>> '{source,table}',
                  p_config #>> '{source,outbox}', p_config ->> 'stream_table', p_config ->> 'outbox')
$$;

-- Enabled forward pipelines reading an outbox, each with the position it has consumed in the
-- relay group it runs in (positions other relay groups left behind do not count); (0, 0) when it
-- has no offset yet. A row at (seq, id) is
-- consumed when (seq, id, 1) <= (last_seq, last_id, complete): complete is 0 while the row at
-- the position itself is only partly delivered (relay_offsets.next_row). Pipelines that are not
-- in the catalog (a relay's TOML file) count from their first stored position on, until
-- delete_relay(name) forgets them.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_pipeline_positions(t pgtrickle.outbox_tables)
RETURNS TABLE (pipeline text, last_seq bigint, last_id bigint, complete int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p.name, coalesce(o.last_seq, 0), coalesce(o.last_id, 0), coalesce(o.complete, 1)
  FROM pgtrickle.relay_outbox_config AS p
  LEFT JOIN LATERAL (
    SELECT r.last_seq, r.last_id, CASE WHEN r.next_row IS NULL THEN 1 ELSE 0 END AS complete
    FROM pgtrickle.relay_offsets AS r
    WHERE r.pipeline = p.name AND r.relay_group_id = coalesce(pgtrickle._relay_config_group(p.config), 'default')
    ORDER BY r.last_seq, r.last_id, r.next_row IS NULL
    LIMIT 1
  ) AS o ON true
  WHERE p.enabled AND pgtrickle._outbox_ref_matches(pgtrickle._relay_config_outbox_ref(p.config), t)
  UNION ALL
  (SELECT DISTINCT ON (r.pipeline) r.pipeline, r.last_seq, r.last_id, CASE WHEN r.next_row IS NULL THEN 1 ELSE 0 END
   FROM pgtrickle.relay_offsets AS r
   WHERE r.outbox = t.outbox_name
     AND NOT EXISTS (SELECT 1 FROM pgtrickle.relay_outbox_config AS c WHERE c.name = r.pipeline)
   ORDER BY r.pipeline, r.last_seq, r.last_id, r.next_row IS NULL)
$$;

-- Rows of an outbox with their commit position, as SQL text for EXECUTE: (seq, id, o).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_rows_sql(p_outbox text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format('SELECT c.seq, o.id, o FROM pgtrickle.%I AS o '
                'JOIN pgtrickle.outbox_commits AS c ON c.outbox = %L AND c.xid = o.xid', p_outbox, p_outbox)
$$;

-- Functions that take a table name are pairs: a public wrapper with the caller's rights that
-- resolves the name in the caller's search path, and a SECURITY DEFINER implementation, whose
-- own search path is fixed, that receives the resolved table.

-- The capture triggers of a table, removed (disable_outbox; enable_outbox switching to WAL capture).
CREATE OR REPLACE FUNCTION pgtrickle._outbox_detach(p_rel regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
BEGIN
  EXECUTE format('DROP TRIGGER IF EXISTS pgtrickle_outbox_insert ON %1$s;
                  DROP TRIGGER IF EXISTS pgtrickle_outbox_update ON %1$s;
                  DROP TRIGGER IF EXISTS pgtrickle_outbox_delete ON %1$s;
                  DROP TRIGGER IF EXISTS pgtrickle_outbox_truncate ON %1$s;', p_rel);
END
$$;

-- Before capture modes: one signature fewer.
DROP FUNCTION IF EXISTS pgtrickle._outbox_enable(text, regclass, int);

CREATE OR REPLACE FUNCTION pgtrickle._outbox_enable(p_name text, p_rel regclass, p_retention_hours int,
                                                    p_capture text DEFAULT 'trigger')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_rel    regclass := p_rel;
  v_schema text;
  v_table  text;
  v_kind   "char";
  t        pgtrickle.outbox_tables;
BEGIN
  IF p_retention_hours IS NULL OR p_retention_hours < 1 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('enable_outbox: retention_hours must be at least 1, got %s', coalesce(p_retention_hours::text, 'NULL'));
  END IF;
  IF p_capture IS NULL OR p_capture NOT IN ('trigger', 'wal') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('enable_outbox: capture must be ''trigger'' or ''wal'', got %s', coalesce(quote_literal(p_capture), 'NULL')),
      HINT = 'capture => ''trigger'' (any wal_level: triggers write the outbox) or capture => ''wal'' (wal_level = logical: no trigger, changes are read from the WAL).';
  END IF;
  IF v_rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('enable_outbox: table %s does not exist', coalesce(quote_literal(p_name), 'NULL')),
      HINT = 'Write the name as in SQL: ''orders'', ''public.orders'', or ''"Mixed Case"'' with double quotes.';
  END IF;
  SELECT n.nspname, c.relname, c.relkind INTO v_schema, v_table, v_kind
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = v_rel;
  IF v_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('enable_outbox: %s is not a table', v_rel);
  END IF;
  IF v_schema = 'pgtrickle' AND EXISTS (SELECT 1 FROM pgtrickle.outbox_tables WHERE v_table IN (outbox_name, delta_table)) THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('enable_outbox: %s is itself an outbox', v_rel);
  END IF;

  PERFORM pgtrickle._relay_require_owner('enable_outbox', v_rel);
  IF p_capture = 'wal' AND current_setting('wal_level') <> 'logical' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('enable_outbox: capture => ''wal'' needs wal_level = logical; this server runs with wal_level = %s',
                       current_setting('wal_level')),
      HINT = 'Set wal_level = logical in postgresql.conf and restart PostgreSQL, or use capture => ''trigger'', which works with any wal_level.';
  END IF;

  PERFORM pgtrickle._relay_lock_catalog();
  SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_schema = v_schema AND source_table = v_table;
  IF FOUND THEN
    -- The two modes' positions do not translate (outbox rows against WAL positions): a switch
    -- would make running pipelines skip or lose changes, so it is an explicit start over.
    IF t.capture <> p_capture THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('enable_outbox: %s is captured with capture => %L, not %L', v_rel, t.capture, p_capture),
        HINT = format('To switch, deliver what its pipelines have not sent yet, then run SELECT pgtrickle.disable_outbox(%L); '
                      'and SELECT pgtrickle.enable_outbox(%L, capture => %L); its pipelines then carry on with the changes '
                      'committed after they next start.', p_name, p_name, p_capture);
    END IF;
    RAISE NOTICE 'outbox already enabled for %: pgtrickle.%', v_rel, quote_ident(t.outbox_name);
    IF t.retention_hours <> p_retention_hours THEN
      UPDATE pgtrickle.outbox_tables SET retention_hours = p_retention_hours
      WHERE outbox_name = t.outbox_name
      RETURNING * INTO t;
    END IF;
  ELSE
    INSERT INTO pgtrickle.outbox_tables (outbox_name, source_schema, source_table, delta_table, key_columns, retention_hours, capture)
    VALUES (pgtrickle._outbox_free_name('outbox_', v_schema, v_table), v_schema, v_table,
            pgtrickle._outbox_free_name('outbox_delta_rows_', v_schema, v_table),
            pgtrickle._outbox_key_columns(v_rel), p_retention_hours, p_capture)
    RETURNING * INTO t;
  END IF;
  -- Also repairs a partly dropped outbox.
  PERFORM pgtrickle._outbox_create_tables(t);
  IF t.capture = 'wal' THEN
    -- No trigger: the table's publication carries its changes (refused for a table whose UPDATEs
    -- and DELETEs a publication would break).
    PERFORM pgtrickle._outbox_detach(v_rel);
    PERFORM pgtrickle._relay_publication_create(p_name, v_rel);
    -- The relay renders the rows it reads from the WAL through the table's row type, and reads an
    -- unchanged TOASTed value the WAL leaves out from the table: what the WAL already shows it.
    EXECUTE format('GRANT SELECT ON %s TO pgtrickle_relay', v_rel);
  ELSE
    PERFORM pgtrickle._outbox_attach(t);
  END IF;
END
$$;

CALL pgtrickle._relay_define('enable_outbox', $ddl$
  DROP FUNCTION IF EXISTS pgtrickle.enable_outbox(text, int);  -- before capture modes
  CREATE OR REPLACE FUNCTION pgtrickle.enable_outbox(p_name text, p_retention_hours int DEFAULT 24, capture text DEFAULT 'trigger')
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._outbox_enable(p_name, pgtrickle._relay_regclass(p_name), p_retention_hours, capture) $fn$;
$ddl$);

CALL pgtrickle._relay_define('create_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_outbox(p_name text, p_retention_hours int DEFAULT 24)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    t pgtrickle.outbox_tables;
  BEGIN
    IF p_name IS NULL OR btrim(p_name) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'create_outbox: the name must not be empty';
    END IF;
    IF p_retention_hours IS NULL OR p_retention_hours < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('create_outbox: retention_hours must be at least 1, got %s', coalesce(p_retention_hours::text, 'NULL'));
    END IF;
    PERFORM pgtrickle._relay_lock_catalog();
    SELECT * INTO t FROM pgtrickle.outbox_tables WHERE source_schema IS NULL AND source_table = p_name;
    IF FOUND THEN
      RAISE NOTICE 'outbox "%" already exists: pgtrickle.%', p_name, quote_ident(t.outbox_name);
      IF t.retention_hours <> p_retention_hours THEN
        UPDATE pgtrickle.outbox_tables SET retention_hours = p_retention_hours WHERE outbox_name = t.outbox_name
        RETURNING * INTO t;
      END IF;
    ELSE
      IF octet_length('outbox_' || p_name) <= 63 AND pgtrickle._outbox_name_taken('outbox_' || p_name) THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
          MESSAGE = format('create_outbox: pgtrickle.%I already exists', 'outbox_' || p_name),
          HINT = 'Choose another name.';
      END IF;
      INSERT INTO pgtrickle.outbox_tables (outbox_name, source_schema, source_table, delta_table, retention_hours)
      VALUES (pgtrickle._outbox_free_name('outbox_', NULL, p_name), NULL, p_name, NULL, p_retention_hours)
      RETURNING * INTO t;
    END IF;
    PERFORM pgtrickle._outbox_create_tables(t);
  END
  $fn$;
$ddl$);

-- An application event, written in the caller's transaction; returns its outbox id.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_publish(p_outbox text, p_rel regclass, p_payload jsonb, p_headers jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t    pgtrickle.outbox_tables := pgtrickle._outbox_find(p_outbox, p_rel);
  v_id bigint;
BEGIN
  IF t.outbox_name IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('outbox_publish: outbox "%s" not found', p_outbox),
      HINT = format('Create an event outbox with SELECT pgtrickle.create_outbox(%L), '
                    'or capture a table with SELECT pgtrickle.enable_outbox(''schema.table'').', p_outbox);
  END IF;
  IF p_payload IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'outbox_publish: the payload must not be NULL';
  END IF;
  IF p_headers IS NOT NULL AND jsonb_typeof(p_headers) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('outbox_publish: headers must be a JSON object, got %s', left(p_headers::text, 200));
  END IF;
  EXECUTE format('INSERT INTO pgtrickle.%I (payload, headers, kind) VALUES ($1, $2, ''event'') RETURNING id', t.outbox_name)
    INTO v_id USING p_payload, coalesce(p_headers, '{}');
  RETURN v_id;
END
$$;

CALL pgtrickle._relay_define('outbox_publish', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.outbox_publish(p_outbox text, p_payload jsonb, p_headers jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._outbox_publish(p_outbox, pgtrickle._relay_regclass(p_outbox), p_payload, p_headers) $fn$;
$ddl$);

CREATE OR REPLACE FUNCTION pgtrickle._outbox_disable(p_name text, p_rel regclass, p_if_exists boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t     pgtrickle.outbox_tables;
  v_rel regclass;
BEGIN
  PERFORM pgtrickle._relay_lock_catalog();
  t := pgtrickle._outbox_find(p_name, p_rel);
  IF t.outbox_name IS NULL THEN
    IF coalesce(p_if_exists, false) THEN
      RAISE NOTICE 'outbox for "%" not found, skipping', p_name;
      RETURN;
    END IF;
    PERFORM pgtrickle._outbox_not_found(p_name);
  END IF;
  IF t.source_schema IS NOT NULL THEN
    v_rel := pgtrickle._outbox_source(t);
    IF v_rel IS NOT NULL THEN
      PERFORM pgtrickle._relay_require_owner('disable_outbox', v_rel);
      PERFORM pgtrickle._outbox_detach(v_rel);
      IF t.capture = 'wal' THEN
        PERFORM pgtrickle._relay_publication_drop(p_name, v_rel, true);
        EXECUTE format('REVOKE SELECT ON %s FROM pgtrickle_relay', v_rel);
      END IF;
    END IF;
  END IF;
  PERFORM pgtrickle._relay_drop_slots(NULL, t.outbox_name);
  IF t.capture = 'wal' THEN
    -- Positions in the WAL mean nothing to the outbox a later enable_outbox makes.
    DELETE FROM pgtrickle.relay_offsets WHERE outbox = t.outbox_name;
  END IF;
  EXECUTE format('DROP FUNCTION IF EXISTS pgtrickle.%I()', pgtrickle._outbox_capture_function(t.outbox_name));
  EXECUTE format('DROP TABLE IF EXISTS pgtrickle.%I', t.outbox_name);
  IF t.delta_table IS NOT NULL THEN
    EXECUTE format('DROP TABLE IF EXISTS pgtrickle.%I', t.delta_table);
  END IF;
  DELETE FROM pgtrickle.outbox_commits WHERE outbox = t.outbox_name;
  DELETE FROM pgtrickle.outbox_tables WHERE outbox_name = t.outbox_name;   -- its consumer groups go too
END
$$;

CALL pgtrickle._relay_define('disable_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.disable_outbox(p_name text, p_if_exists boolean DEFAULT false)
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._outbox_disable(p_name, pgtrickle._relay_regclass(p_name), p_if_exists) $fn$;
$ddl$);

-- Finds an outbox for the relay: ours (kind 'relay', read in commit order) or pg_trickle's
-- (kind 'pg_trickle', read by id). stream_table is the unqualified source table name.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_resolve(p_ref text, p_rel regclass)
RETURNS TABLE (outbox_table text, delta_table text, key_columns text[], kind text, stream_table text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t        pgtrickle.outbox_tables := pgtrickle._outbox_find(p_ref, p_rel);
  v_st     text;
  v_outbox text;
  v_found  text;
  v_delta  text;
BEGIN
  IF t.outbox_name IS NOT NULL THEN
    RETURN QUERY SELECT t.outbox_name, t.delta_table,
      coalesce(CASE WHEN t.source_schema IS NOT NULL
                    THEN pgtrickle._outbox_key_columns(to_regclass(format('%I.%I', t.source_schema, t.source_table))) END,
               t.key_columns),
      'relay'::text, t.source_table;
    RETURN;
  END IF;

  -- pg_trickle's outboxes: its catalog, else a table pgtrickle.outbox_<ref> of its shape.
  v_st := CASE WHEN pgtrickle._relay_is_relation_name(p_ref)
               THEN (parse_ident(p_ref))[cardinality(parse_ident(p_ref))] ELSE p_ref END;
  IF to_regclass('pgtrickle.pgt_outbox_config') IS NOT NULL THEN
    EXECUTE 'SELECT outbox_table_name, stream_table_name FROM pgtrickle.pgt_outbox_config
             WHERE stream_table_name = $1 OR outbox_table_name = $2 ORDER BY stream_table_name = $1 DESC LIMIT 1'
      INTO v_outbox, v_found USING v_st, p_ref;
    v_st := coalesce(v_found, v_st);
  END IF;
  IF v_outbox IS NULL AND (SELECT count(*) = 3 FROM pg_attribute
                           WHERE attrelid = to_regclass(format('pgtrickle.%I', 'outbox_' || v_st))
                             AND attname IN ('pgt_id', 'is_claim_check', 'payload') AND NOT attisdropped) THEN
    v_outbox := 'outbox_' || v_st;
  END IF;
  IF v_outbox IS NULL THEN
    PERFORM pgtrickle._outbox_not_found(p_ref);
  END IF;
  -- pg_trickle names the claim-check table after the first 48 characters of the stream table.
  v_delta := 'outbox_delta_rows_' || left(v_st, 48);
  RETURN QUERY SELECT v_outbox, CASE WHEN to_regclass(format('pgtrickle.%I', v_delta)) IS NOT NULL THEN v_delta END,
                      NULL::text[], 'pg_trickle'::text, v_st;
END
$$;

CALL pgtrickle._relay_define('resolve_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.resolve_outbox(p_ref text)
  RETURNS TABLE (outbox_table text, delta_table text, key_columns text[], kind text, stream_table text)
  LANGUAGE sql STABLE
  AS $fn$ SELECT * FROM pgtrickle._outbox_resolve(p_ref, pgtrickle._relay_regclass(p_ref)) $fn$;
$ddl$);

-- Template variables that are always empty for a forward pipeline's outbox, so that every message
-- would get an empty subject token, topic or key part (and a broker refusing it would have every
-- message dead-lettered): {refresh_id} on an outbox of this install (only pg_trickle's own outboxes
-- of stream tables carry a refresh id), and a row field {{ column }} naming no column of the
-- captured table. One sentence per finding; none while the outbox does not exist yet. Run by
-- set_relay_outbox (as warnings), by `pgtrickle-relay validate` and by the relay when a pipeline
-- starts.
CREATE OR REPLACE FUNCTION pgtrickle.relay_template_warnings(p_config jsonb)
RETURNS SETOF text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  v_ref   text := pgtrickle._relay_config_outbox_ref(p_config);
  v_kind  text;
  v_name  text;
  v_rel   regclass;
  v_cols  text[];
  v_key   text;
  v_text  text;
  v_field text;
BEGIN
  IF v_ref IS NULL OR coalesce(p_config #>> '{source,type}', p_config ->> 'source_type', 'outbox') <> 'outbox' THEN
    RETURN;
  END IF;
  BEGIN
    SELECT r.kind, r.outbox_table INTO v_kind, v_name FROM pgtrickle.resolve_outbox(v_ref) AS r;
  EXCEPTION WHEN OTHERS THEN
    RETURN;  -- no such outbox (yet): nothing to tell
  END;
  IF v_kind IS DISTINCT FROM 'relay' THEN
    RETURN;
  END IF;
  SELECT to_regclass(format('%I.%I', t.source_schema, t.source_table)) INTO v_rel
  FROM pgtrickle.outbox_tables AS t WHERE t.outbox_name = v_name AND t.source_schema IS NOT NULL;
  IF v_rel IS NOT NULL THEN
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_cols
    FROM pg_attribute AS a WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped;
  END IF;
  FOR v_key, v_text IN
    SELECT 'sink key "' || e.key || '"', e.value #>> '{}'
    FROM jsonb_each(CASE WHEN jsonb_typeof(p_config -> 'sink') = 'object' THEN p_config -> 'sink' ELSE '{}' END) AS e
    WHERE jsonb_typeof(e.value) = 'string'
    UNION ALL
    SELECT 'key "key"', p_config ->> 'key' WHERE jsonb_typeof(p_config -> 'key') = 'string'
  LOOP
    IF v_text ~ '(^|[^{])\{refresh_id\}' THEN
      RETURN NEXT format('%s uses {refresh_id}, which is always empty on outbox %s (only pg_trickle''s own outboxes of '
                         'stream tables carry a refresh id); use {outbox_id} or a row field instead', v_key, v_name);
    END IF;
    CONTINUE WHEN v_cols IS NULL;
    FOR v_field IN SELECT (regexp_matches(v_text, '\{\{\s*([^{}\s.]+)[^{}]*\}\}', 'g'))[1] LOOP
      IF NOT v_field = ANY (v_cols) THEN
        RETURN NEXT format('%s uses the row field {{ %s }}, but %s has no such column, so it is always empty; its columns are: %s',
                           v_key, v_field, v_rel, array_to_string(v_cols, ', '));
      END IF;
    END LOOP;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._outbox_status(p_name text, p_rel regclass)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t         pgtrickle.outbox_tables := pgtrickle._outbox_find(p_name, p_rel);
  v_stats   jsonb;
  v_pending jsonb;
  v_groups  jsonb;
  v_rows    text;
BEGIN
  IF t.outbox_name IS NULL THEN
    RETURN jsonb_build_object('enabled', false, 'stream_table', p_name);
  END IF;
  v_rows := pgtrickle._outbox_rows_sql(t.outbox_name);
  EXECUTE format('SELECT jsonb_build_object(''row_count'', count(*), ''oldest_row'', min(created_at), '
                 '''newest_row'', max(created_at), ''max_id'', max(id)) FROM pgtrickle.%I', t.outbox_name)
    INTO v_stats;
  -- Rows each enabled pipeline reading this outbox has not consumed yet.
  EXECUTE format('SELECT coalesce(jsonb_object_agg(p.pipeline, (SELECT count(*) FROM (%s) AS r
                                                               WHERE (r.seq, r.id, 1) > (p.last_seq, p.last_id, p.complete))), ''{}'')
                  FROM pgtrickle._outbox_pipeline_positions($1) AS p', v_rows)
    INTO v_pending USING t;
  EXECUTE format('SELECT coalesce(jsonb_object_agg(g.group_name, (SELECT count(*) FROM (%s) AS r
                                                                 WHERE (r.seq, r.id) > (g.committed_seq, g.committed_id))), ''{}'')
                  FROM pgtrickle.outbox_consumer_groups AS g WHERE g.outbox_name = $1', v_rows)
    INTO v_groups USING t.outbox_name;
  RETURN jsonb_build_object(
    'enabled', true,
    'kind', CASE WHEN t.source_schema IS NULL THEN 'event' ELSE 'table' END,
    'stream_table', CASE WHEN t.source_schema IS NULL THEN t.source_table ELSE format('%I.%I', t.source_schema, t.source_table) END,
    'outbox_table', format('pgtrickle.%I', t.outbox_name),
    'delta_table', CASE WHEN t.delta_table IS NOT NULL THEN format('pgtrickle.%I', t.delta_table) END,
    'key_columns', to_jsonb(t.key_columns),
    'retention_hours', t.retention_hours,
    'inline_threshold_rows', t.inline_threshold_rows,
    'created_at', t.created_at,
    'pending_by_pipeline', v_pending,
    'pending_by_consumer_group', v_groups) || v_stats;
END
$$;

CALL pgtrickle._relay_define('outbox_status', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.outbox_status(p_name text)
  RETURNS jsonb
  LANGUAGE sql STABLE
  AS $fn$ SELECT pgtrickle._outbox_status(p_name, pgtrickle._relay_regclass(p_name)) $fn$;
$ddl$);

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

CREATE OR REPLACE FUNCTION pgtrickle._relay_publication_create(p_name text, p_rel regclass)
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
      EXECUTE format('CREATE PUBLICATION %I FOR TABLE %s', v_pub, p_rel);
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

CREATE OR REPLACE FUNCTION pgtrickle._relay_publication_drop(p_name text, p_rel regclass, p_if_exists boolean)
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
  EXECUTE format('DROP PUBLICATION %I', v_pub);
END
$$;

CALL pgtrickle._relay_define('drop_publication', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.drop_publication(p_table text, p_if_exists boolean DEFAULT false)
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._relay_publication_drop(p_table, pgtrickle._relay_regclass(p_table), p_if_exists) $fn$;
$ddl$);

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

-- ============================================================================================
-- Outbox retention
-- ============================================================================================

-- Deletes outbox rows older than their outbox's retention_hours, but never a row that an
-- enabled forward pipeline (in the relay group it runs in) or a consumer group has not consumed yet; an
-- enabled pipeline without an offset has consumed nothing. With no readers, age alone decides.
-- Returns the number of outbox rows deleted (their claim-check rows go with them).
CALL pgtrickle._relay_define('run_outbox_retention', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.run_outbox_retention()
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    t          pgtrickle.outbox_tables;
    v_bounded  boolean;
    v_seq      bigint;
    v_id       bigint;
    v_complete int;
    v_ids      bigint[];
    v_xids     xid8[];
    v_total    bigint := 0;
  BEGIN
    FOR t IN SELECT * FROM pgtrickle.outbox_tables ORDER BY outbox_name LOOP
      SELECT s.seq, s.id, s.complete INTO v_seq, v_id, v_complete
      FROM (SELECT p.last_seq AS seq, p.last_id AS id, p.complete FROM pgtrickle._outbox_pipeline_positions(t) AS p
            UNION ALL
            SELECT g.committed_seq, g.committed_id, 1 FROM pgtrickle.outbox_consumer_groups AS g
            WHERE g.outbox_name = t.outbox_name) AS s
      ORDER BY s.seq, s.id, s.complete
      LIMIT 1;
      v_bounded := FOUND;

      LOOP   -- in batches, so one run never holds a huge list of ids
        EXECUTE format($q$
          WITH gone AS (
            DELETE FROM pgtrickle.%1$I AS o
            WHERE o.id IN (
              SELECT r.id FROM pgtrickle.%1$I AS r
              JOIN pgtrickle.outbox_commits AS c ON c.outbox = $1 AND c.xid = r.xid
              WHERE r.created_at < now() - make_interval(hours => $2)
                AND (NOT $3 OR (c.seq, r.id, 1) <= ($4, $5, $6))
              LIMIT 10000)
            RETURNING o.id, o.xid)
          SELECT array_agg(id), array_agg(DISTINCT xid) FROM gone
        $q$, t.outbox_name)
        INTO v_ids, v_xids
        USING t.outbox_name, t.retention_hours, v_bounded, v_seq, v_id, v_complete;
        EXIT WHEN v_ids IS NULL;

        v_total := v_total + cardinality(v_ids);
        IF t.delta_table IS NOT NULL THEN
          EXECUTE format('DELETE FROM pgtrickle.%I WHERE outbox_id = ANY ($1)', t.delta_table) USING v_ids;
        END IF;
        EXECUTE format('DELETE FROM pgtrickle.outbox_commits AS c WHERE c.outbox = $1 AND c.xid = ANY ($2)
                          AND NOT EXISTS (SELECT 1 FROM pgtrickle.%I AS o WHERE o.xid = c.xid)', t.outbox_name)
          USING t.outbox_name, v_xids;
        EXIT WHEN cardinality(v_ids) < 10000;
      END LOOP;
    END LOOP;
    RETURN v_total;
  END
  $fn$;
$ddl$);

-- ============================================================================================
-- Consumer groups
--
-- Direct polling of an outbox by applications. The workers of one group share the work: each
-- poll hands a worker a lease on the next rows (in commit order) that nobody else holds; an
-- expired lease returns its rows to the group; a commit marks a lease done, and the group's
-- position moves over done leases that follow it without a gap, never backwards. Offsets
-- exposed to callers are outbox ids.
-- ============================================================================================

CREATE TABLE IF NOT EXISTS pgtrickle.outbox_consumer_groups (
  group_name        text PRIMARY KEY,
  outbox_name       text NOT NULL REFERENCES pgtrickle.outbox_tables (outbox_name) ON DELETE CASCADE,
  auto_offset_reset text NOT NULL DEFAULT 'latest' CHECK (auto_offset_reset IN ('earliest', 'latest')),
  committed_seq     bigint NOT NULL DEFAULT 0,   -- every row up to (committed_seq, committed_id) is consumed
  committed_id      bigint NOT NULL DEFAULT 0,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_consumer_groups_outbox_idx ON pgtrickle.outbox_consumer_groups (outbox_name);

CREATE TABLE IF NOT EXISTS pgtrickle.outbox_consumers (
  group_name            text NOT NULL REFERENCES pgtrickle.outbox_consumer_groups ON DELETE CASCADE,
  consumer_id           text NOT NULL,
  last_heartbeat_at     timestamptz NOT NULL DEFAULT now(),
  last_committed_at     timestamptz,
  last_committed_offset bigint,
  PRIMARY KEY (group_name, consumer_id)
);

-- Rows (first_seq, first_id) .. (last_seq, last_id) in commit order, handed to one consumer.
CREATE TABLE IF NOT EXISTS pgtrickle.outbox_consumer_leases (
  group_name  text NOT NULL,
  consumer_id text NOT NULL,
  first_seq   bigint NOT NULL,
  first_id    bigint NOT NULL,
  last_seq    bigint NOT NULL,
  last_id     bigint NOT NULL,
  expires_at  timestamptz NOT NULL,
  done        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (group_name, first_seq, first_id),
  FOREIGN KEY (group_name, consumer_id) REFERENCES pgtrickle.outbox_consumers ON DELETE CASCADE
);

-- A consumer group, locked when p_lock: polls and commits of one group run one at a time.
CREATE OR REPLACE FUNCTION pgtrickle._consumer_group(p_group text, p_lock boolean)
RETURNS pgtrickle.outbox_consumer_groups
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  g pgtrickle.outbox_consumer_groups;
BEGIN
  IF p_lock THEN
    SELECT * INTO g FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_group FOR UPDATE;
  ELSE
    SELECT * INTO g FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_group;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('consumer group "%s" not found', p_group),
      HINT = 'Create it with SELECT pgtrickle.create_consumer_group(group_name, outbox).';
  END IF;
  RETURN g;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._consumer_require(p_group text, p_consumer text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pgtrickle.outbox_consumers WHERE group_name = p_group AND consumer_id = p_consumer) THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('consumer "%s" is not a member of consumer group "%s"', p_consumer, p_group),
      HINT = 'A consumer joins its group with its first poll_outbox.';
  END IF;
END
$$;

-- Commit position (seq) of the committed outbox row with this id, or NULL.
CREATE OR REPLACE FUNCTION pgtrickle._outbox_seq_of(p_outbox text, p_id bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_seq bigint;
BEGIN
  EXECUTE format('SELECT r.seq FROM (%s) AS r WHERE r.id = $1 AND r.seq IS NOT NULL', pgtrickle._outbox_rows_sql(p_outbox))
    INTO v_seq USING p_id;
  RETURN v_seq;
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._consumer_group_create(p_name text, p_outbox text, p_rel regclass, p_auto_offset_reset text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
DECLARE
  t      pgtrickle.outbox_tables;
  g      pgtrickle.outbox_consumer_groups;
  v_seq  bigint := 0;
  v_id   bigint := 0;
BEGIN
  IF p_name IS NULL OR btrim(p_name) = '' THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'create_consumer_group: the group name must not be empty';
  END IF;
  IF p_auto_offset_reset IS NULL OR p_auto_offset_reset NOT IN ('earliest', 'latest') THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('create_consumer_group: auto_offset_reset must be ''earliest'' or ''latest'', got %s',
                       coalesce(quote_literal(p_auto_offset_reset), 'NULL'));
  END IF;
  t := pgtrickle._outbox_find(p_outbox, p_rel);
  IF t.outbox_name IS NULL THEN
    PERFORM pgtrickle._outbox_not_found(p_outbox);
  END IF;
  PERFORM pgtrickle._relay_lock_catalog();
  SELECT * INTO g FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_name;
  IF FOUND THEN
    IF g.outbox_name = t.outbox_name AND g.auto_offset_reset = p_auto_offset_reset THEN
      RAISE NOTICE 'consumer group "%" already exists', p_name;
      RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
      MESSAGE = format('consumer group "%s" already exists, for outbox pgtrickle.%I with auto_offset_reset ''%s''',
                       p_name, g.outbox_name, g.auto_offset_reset);
  END IF;
  IF p_auto_offset_reset = 'latest' THEN
    -- "latest" is the position now: rows committed from here on are the group's.
    EXECUTE format('SELECT r.seq, r.id FROM (%s) AS r WHERE r.seq <= $1 ORDER BY r.seq DESC, r.id DESC LIMIT 1',
                   pgtrickle._outbox_rows_sql(t.outbox_name))
      INTO v_seq, v_id USING pgtrickle.outbox_watermark();
  END IF;
  INSERT INTO pgtrickle.outbox_consumer_groups (group_name, outbox_name, auto_offset_reset, committed_seq, committed_id)
  VALUES (p_name, t.outbox_name, p_auto_offset_reset, coalesce(v_seq, 0), coalesce(v_id, 0));
END
$$;

CALL pgtrickle._relay_define('create_consumer_group', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_consumer_group(p_name text, p_outbox text, p_auto_offset_reset text DEFAULT 'latest')
  RETURNS void
  LANGUAGE sql
  AS $fn$ SELECT pgtrickle._consumer_group_create(p_name, p_outbox, pgtrickle._relay_regclass(p_outbox), p_auto_offset_reset) $fn$;
$ddl$);

CALL pgtrickle._relay_define('drop_consumer_group', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.drop_consumer_group(p_name text, p_if_exists boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    DELETE FROM pgtrickle.outbox_consumer_groups WHERE group_name = p_name;
    IF NOT FOUND THEN
      IF coalesce(p_if_exists, false) THEN
        RAISE NOTICE 'consumer group "%" not found, skipping', p_name;
      ELSE
        PERFORM pgtrickle._consumer_group(p_name, false);   -- raises "not found"
      END IF;
    END IF;
  END
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('poll_outbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.poll_outbox(p_group text, p_consumer text, p_batch_size int DEFAULT 100,
                                                   p_visibility_seconds int DEFAULT 30)
  RETURNS TABLE (outbox_id bigint, pgt_id uuid, created_at timestamptz, inserted_count bigint, deleted_count bigint,
                 is_claim_check boolean, payload jsonb, headers jsonb)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  #variable_conflict use_column
  DECLARE
    g       pgtrickle.outbox_consumer_groups;
    l       pgtrickle.outbox_consumer_leases;
    v_next  pgtrickle.outbox_consumer_leases;
    v_rows  text;
    v_wm    bigint;
    v_seq   bigint;
    v_id    bigint;
    v_fseq  bigint;
    v_fid   bigint;
    v_lseq  bigint;
    v_lid   bigint;
  BEGIN
    IF p_consumer IS NULL OR btrim(p_consumer) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'poll_outbox: the consumer id must not be empty';
    END IF;
    IF p_batch_size IS NULL OR p_batch_size < 1 OR p_visibility_seconds IS NULL OR p_visibility_seconds < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('poll_outbox: batch size and visibility seconds must be at least 1, got %s and %s',
                         coalesce(p_batch_size::text, 'NULL'), coalesce(p_visibility_seconds::text, 'NULL'));
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_transaction_state',
        MESSAGE = 'poll_outbox needs READ COMMITTED isolation: it must see rows that commit while it waits for the outbox watermark';
    END IF;

    g := pgtrickle._consumer_group(p_group, true);
    INSERT INTO pgtrickle.outbox_consumers (group_name, consumer_id) VALUES (p_group, p_consumer)
    ON CONFLICT (group_name, consumer_id) DO UPDATE SET last_heartbeat_at = now();
    -- Expired leases give their rows back to the group.
    DELETE FROM pgtrickle.outbox_consumer_leases AS x
    WHERE x.group_name = p_group AND NOT x.done AND x.expires_at <= now();
    v_rows := pgtrickle._outbox_rows_sql(g.outbox_name);

    -- A consumer that still holds a lease gets the same rows again.
    SELECT * INTO l FROM pgtrickle.outbox_consumer_leases AS x
    WHERE x.group_name = p_group AND x.consumer_id = p_consumer AND NOT x.done
    ORDER BY x.first_seq, x.first_id LIMIT 1;

    IF NOT FOUND THEN
      v_wm := pgtrickle.outbox_watermark();
      -- The first row past the group position that no lease covers ...
      v_seq := g.committed_seq;
      v_id := g.committed_id;
      LOOP
        EXECUTE format('SELECT r.seq, r.id FROM (%s) AS r WHERE r.seq <= $1 AND (r.seq, r.id) > ($2, $3) '
                       'ORDER BY r.seq, r.id LIMIT 1', v_rows)
          INTO v_fseq, v_fid USING v_wm, v_seq, v_id;
        IF v_fseq IS NULL THEN
          RETURN;   -- nothing to hand out
        END IF;
        SELECT x.last_seq, x.last_id INTO v_seq, v_id FROM pgtrickle.outbox_consumer_leases AS x
        WHERE x.group_name = p_group
          AND (x.first_seq, x.first_id) <= (v_fseq, v_fid) AND (x.last_seq, x.last_id) >= (v_fseq, v_fid);
        EXIT WHEN NOT FOUND;
      END LOOP;
      -- ... and up to batch-size rows from there, stopping before the next lease.
      SELECT * INTO v_next FROM pgtrickle.outbox_consumer_leases AS x
      WHERE x.group_name = p_group AND (x.first_seq, x.first_id) > (v_fseq, v_fid)
      ORDER BY x.first_seq, x.first_id LIMIT 1;
      EXECUTE format('SELECT b.seq, b.id FROM (SELECT r.seq, r.id FROM (%s) AS r '
                     '  WHERE r.seq <= $1 AND (r.seq, r.id) >= ($2, $3) AND ($4::bigint IS NULL OR (r.seq, r.id) < ($4, $5)) '
                     '  ORDER BY r.seq, r.id LIMIT $6) AS b '
                     'ORDER BY b.seq DESC, b.id DESC LIMIT 1', v_rows)
        INTO v_lseq, v_lid USING v_wm, v_fseq, v_fid, v_next.first_seq, v_next.first_id, p_batch_size;
      INSERT INTO pgtrickle.outbox_consumer_leases (group_name, consumer_id, first_seq, first_id, last_seq, last_id, expires_at)
      VALUES (p_group, p_consumer, v_fseq, v_fid, v_lseq, v_lid, now() + make_interval(secs => p_visibility_seconds))
      RETURNING * INTO l;
    END IF;

    RETURN QUERY EXECUTE format(
      'SELECT (r.o).id, (r.o).refresh_id, (r.o).created_at, (r.o).inserted_count, (r.o).deleted_count, '
      '       (r.o).is_claim_check, (r.o).payload, (r.o).headers '
      'FROM (%s) AS r WHERE (r.seq, r.id) >= ($1, $2) AND (r.seq, r.id) <= ($3, $4) ORDER BY r.seq, r.id', v_rows)
      USING l.first_seq, l.first_id, l.last_seq, l.last_id;
  END
  $fn$;
$ddl$);

-- Marks the caller's lease done up to p_last_offset (an outbox id it was handed), then moves
-- the group position over every done lease that directly follows it.
CALL pgtrickle._relay_define('commit_offset', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.commit_offset(p_group text, p_consumer text, p_last_offset bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    g      pgtrickle.outbox_consumer_groups := pgtrickle._consumer_group(p_group, true);
    l      pgtrickle.outbox_consumer_leases;
    v_rows text := pgtrickle._outbox_rows_sql(g.outbox_name);
    v_seq  bigint;
    v_nseq bigint;
    v_nid  bigint;
    v_gap  boolean;
  BEGIN
    PERFORM pgtrickle._consumer_require(p_group, p_consumer);
    v_seq := pgtrickle._outbox_seq_of(g.outbox_name, p_last_offset);
    IF v_seq IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('commit_offset: outbox pgtrickle.%I has no committed row with id %s', g.outbox_name, p_last_offset);
    END IF;

    IF (v_seq, p_last_offset) > (g.committed_seq, g.committed_id) THEN
      SELECT * INTO l FROM pgtrickle.outbox_consumer_leases AS x
      WHERE x.group_name = p_group AND x.consumer_id = p_consumer AND NOT x.done
        AND (x.first_seq, x.first_id) <= (v_seq, p_last_offset) AND (x.last_seq, x.last_id) >= (v_seq, p_last_offset);
      IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
          MESSAGE = format('commit_offset: consumer "%s" of group "%s" holds no lease covering offset %s',
                           p_consumer, p_group, p_last_offset),
          HINT = 'The lease probably expired and its rows were handed to another consumer; poll again. '
                 'Use extend_lease() while processing takes long.';
      END IF;
      IF (l.last_seq, l.last_id) > (v_seq, p_last_offset) THEN
        -- Part of the lease: the rest stays leased to the consumer.
        EXECUTE format('SELECT r.seq, r.id FROM (%s) AS r WHERE (r.seq, r.id) > ($1, $2) ORDER BY r.seq, r.id LIMIT 1', v_rows)
          INTO v_nseq, v_nid USING v_seq, p_last_offset;
        UPDATE pgtrickle.outbox_consumer_leases SET first_seq = v_nseq, first_id = v_nid
        WHERE group_name = p_group AND first_seq = l.first_seq AND first_id = l.first_id;
        INSERT INTO pgtrickle.outbox_consumer_leases (group_name, consumer_id, first_seq, first_id, last_seq, last_id, expires_at, done)
        VALUES (p_group, p_consumer, l.first_seq, l.first_id, v_seq, p_last_offset, l.expires_at, true);
      ELSE
        UPDATE pgtrickle.outbox_consumer_leases SET done = true
        WHERE group_name = p_group AND first_seq = l.first_seq AND first_id = l.first_id;
      END IF;

      -- Advance over done leases that follow the position without an unconsumed row between.
      LOOP
        SELECT * INTO l FROM pgtrickle.outbox_consumer_leases AS x
        WHERE x.group_name = p_group ORDER BY x.first_seq, x.first_id LIMIT 1;
        EXIT WHEN NOT FOUND OR NOT l.done;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM (%s) AS r WHERE (r.seq, r.id) > ($1, $2) AND (r.seq, r.id) < ($3, $4))', v_rows)
          INTO v_gap USING g.committed_seq, g.committed_id, l.first_seq, l.first_id;
        EXIT WHEN v_gap;
        g.committed_seq := l.last_seq;
        g.committed_id := l.last_id;
        DELETE FROM pgtrickle.outbox_consumer_leases
        WHERE group_name = p_group AND first_seq = l.first_seq AND first_id = l.first_id;
      END LOOP;
      UPDATE pgtrickle.outbox_consumer_groups
      SET committed_seq = g.committed_seq, committed_id = g.committed_id, updated_at = now()
      WHERE group_name = p_group;
    END IF;
    -- At or below the group position: already consumed, nothing moves back.

    UPDATE pgtrickle.outbox_consumers
    SET last_committed_at = now(), last_committed_offset = p_last_offset, last_heartbeat_at = now()
    WHERE group_name = p_group AND consumer_id = p_consumer;
  END
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('extend_lease', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.extend_lease(p_group text, p_consumer text, p_extension_seconds int DEFAULT 30)
  RETURNS timestamptz
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_expires timestamptz;
  BEGIN
    IF p_extension_seconds IS NULL OR p_extension_seconds < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('extend_lease: extension seconds must be at least 1, got %s', coalesce(p_extension_seconds::text, 'NULL'));
    END IF;
    PERFORM pgtrickle._consumer_group(p_group, true);
    PERFORM pgtrickle._consumer_require(p_group, p_consumer);
    UPDATE pgtrickle.outbox_consumer_leases
    SET expires_at = now() + make_interval(secs => p_extension_seconds)
    WHERE group_name = p_group AND consumer_id = p_consumer AND NOT done
    RETURNING expires_at INTO v_expires;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('extend_lease: consumer "%s" of group "%s" holds no lease', p_consumer, p_group),
        HINT = 'The lease may have expired and been handed to another consumer; poll again.';
    END IF;
    UPDATE pgtrickle.outbox_consumers SET last_heartbeat_at = now() WHERE group_name = p_group AND consumer_id = p_consumer;
    RETURN v_expires;
  END
  $fn$;
$ddl$);

-- The explicit way to move a group: to just after outbox id p_new_offset (0 = the beginning),
-- forwards or backwards. Every lease of the group is dropped.
CALL pgtrickle._relay_define('seek_offset', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.seek_offset(p_group text, p_consumer text, p_new_offset bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    g     pgtrickle.outbox_consumer_groups := pgtrickle._consumer_group(p_group, true);
    v_seq bigint := 0;
  BEGIN
    IF p_consumer IS NULL OR btrim(p_consumer) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'seek_offset: the consumer id must not be empty';
    END IF;
    IF p_new_offset IS NULL OR p_new_offset < 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('seek_offset: the offset must be an outbox id or 0, got %s', coalesce(p_new_offset::text, 'NULL'));
    END IF;
    IF p_new_offset <> 0 THEN
      v_seq := pgtrickle._outbox_seq_of(g.outbox_name, p_new_offset);
      IF v_seq IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
          MESSAGE = format('seek_offset: outbox pgtrickle.%I has no committed row with id %s', g.outbox_name, p_new_offset);
      END IF;
    END IF;
    INSERT INTO pgtrickle.outbox_consumers (group_name, consumer_id) VALUES (p_group, p_consumer)
    ON CONFLICT (group_name, consumer_id) DO UPDATE SET last_heartbeat_at = now();
    DELETE FROM pgtrickle.outbox_consumer_leases WHERE group_name = p_group;
    UPDATE pgtrickle.outbox_consumer_groups
    SET committed_seq = v_seq, committed_id = p_new_offset, updated_at = now()
    WHERE group_name = p_group;
  END
  $fn$;
$ddl$);

-- Also how a consumer announces itself before its first poll.
CALL pgtrickle._relay_define('consumer_heartbeat', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.consumer_heartbeat(p_group text, p_consumer text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  BEGIN
    PERFORM pgtrickle._consumer_group(p_group, false);
    IF p_consumer IS NULL OR btrim(p_consumer) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'consumer_heartbeat: the consumer id must not be empty';
    END IF;
    INSERT INTO pgtrickle.outbox_consumers (group_name, consumer_id) VALUES (p_group, p_consumer)
    ON CONFLICT (group_name, consumer_id) DO UPDATE SET last_heartbeat_at = now();
  END
  $fn$;
$ddl$);

-- Per consumer of the group: the group's committed offset (outbox id), the outbox's highest
-- id, the group's lag (rows not consumed yet), and whether the consumer was heard from in the
-- last minute. A group without consumers yields one row with consumer_id NULL.
CALL pgtrickle._relay_define('consumer_lag', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.consumer_lag(p_group text)
  RETURNS TABLE (consumer_id text, committed_offset bigint, max_outbox_id bigint, lag bigint,
                 last_heartbeat_at timestamptz, is_alive boolean)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  #variable_conflict use_column
  DECLARE
    g      pgtrickle.outbox_consumer_groups := pgtrickle._consumer_group(p_group, false);
    v_max  bigint;
    v_lag  bigint;
  BEGIN
    EXECUTE format('SELECT coalesce(max(id), 0) FROM pgtrickle.%I', g.outbox_name) INTO v_max;
    EXECUTE format('SELECT count(*) FROM (%s) AS r WHERE (r.seq, r.id) > ($1, $2) AND NOT EXISTS (
                      SELECT 1 FROM pgtrickle.outbox_consumer_leases AS x
                      WHERE x.group_name = $3 AND x.done
                        AND (r.seq, r.id) >= (x.first_seq, x.first_id) AND (r.seq, r.id) <= (x.last_seq, x.last_id))',
                   pgtrickle._outbox_rows_sql(g.outbox_name))
      INTO v_lag USING g.committed_seq, g.committed_id, p_group;
    RETURN QUERY
      SELECT c.consumer_id, g.committed_id, v_max, v_lag, c.last_heartbeat_at,
             c.last_heartbeat_at > now() - interval '60 seconds'
      FROM pgtrickle.outbox_consumers AS c WHERE c.group_name = p_group
      ORDER BY c.consumer_id;
    IF NOT FOUND THEN
      RETURN QUERY SELECT NULL::text, g.committed_id, v_max, v_lag, NULL::timestamptz, false;
    END IF;
  END
  $fn$;
$ddl$);

-- ============================================================================================
-- Inbox
--
-- create_inbox(name) makes <schema>.inbox_<name>, where reverse pipelines land messages
-- idempotently (INSERT ... ON CONFLICT (event_id) DO NOTHING), plus views _pending, _dlq and
-- _stats. pgt_inbox_config is compatible with pg_trickle's inbox catalog.
-- ============================================================================================

CALL pgtrickle._relay_define('pgt_inbox_config', $ddl$
  CREATE TABLE IF NOT EXISTS pgtrickle.pgt_inbox_config (
    inbox_name          text PRIMARY KEY,
    inbox_schema        text NOT NULL DEFAULT 'pgtrickle',
    max_retries         int NOT NULL DEFAULT 3,
    schedule            text NOT NULL DEFAULT '1s',
    with_dead_letter    boolean NOT NULL DEFAULT true,
    with_stats          boolean NOT NULL DEFAULT true,
    retention_hours     int NOT NULL DEFAULT 72,
    id_column           text NOT NULL DEFAULT 'event_id',
    processed_at_column text NOT NULL DEFAULT 'processed_at',
    retry_count_column  text NOT NULL DEFAULT 'retry_count',
    error_column        text NOT NULL DEFAULT 'error',
    received_at_column  text NOT NULL DEFAULT 'received_at',
    event_type_column   text NOT NULL DEFAULT 'event_type',
    is_managed          boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now()
  );
$ddl$);

-- The table of a registered inbox: <schema>.inbox_<name>, or <schema>.<name> as pg_trickle's
-- own create_inbox names it.
CREATE OR REPLACE FUNCTION pgtrickle._inbox(p_name text, OUT inbox_schema text, OUT inbox_table text, OUT max_retries int,
                                            OUT retention_hours int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT c.inbox_schema, c.max_retries, c.retention_hours INTO inbox_schema, max_retries, retention_hours
  FROM pgtrickle.pgt_inbox_config AS c WHERE c.inbox_name = p_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('inbox "%s" not found', p_name),
      HINT = format('Create it with SELECT pgtrickle.create_inbox(%L).', p_name);
  END IF;
  inbox_table := CASE WHEN to_regclass(format('%I.%I', inbox_schema, 'inbox_' || p_name)) IS NOT NULL
                      THEN 'inbox_' || p_name ELSE p_name END;
END
$$;

-- _inbox() for the SECURITY DEFINER functions that read or change an inbox's rows: only a table
-- the installing role owns, since what a table's owner may attach to it (triggers, rules,
-- policies, column types with their casts and operators) would otherwise run as that role.
CREATE OR REPLACE FUNCTION pgtrickle._inbox_owned(p_name text, OUT inbox_schema text, OUT inbox_table text,
                                                  OUT max_retries int, OUT retention_hours int)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_owner oid;
BEGIN
  SELECT i.inbox_schema, i.inbox_table, i.max_retries, i.retention_hours
    INTO inbox_schema, inbox_table, max_retries, retention_hours FROM pgtrickle._inbox(p_name) AS i;
  SELECT c.relowner INTO v_owner FROM pg_class AS c WHERE c.oid = to_regclass(format('%I.%I', inbox_schema, inbox_table));
  IF v_owner IS DISTINCT FROM (SELECT r.oid FROM pg_roles AS r WHERE r.rolname = current_user) THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('inbox "%s": table %I.%I belongs to role %s, not to the role that installed pgtrickle-relay, '
                       'so these functions do not touch it', p_name, inbox_schema, inbox_table, coalesce(v_owner::regrole::text, '(none)')),
      HINT = 'Its owner updates it directly, e.g. UPDATE ... SET processed_at = now() WHERE event_id = ...';
  END IF;
END
$$;

-- p_bare: a new inbox's table is <schema>.<name> rather than <schema>.inbox_<name> (a reverse
-- pipeline's inbox_table given without the prefix); an existing inbox keeps the table it has.
DROP FUNCTION IF EXISTS pgtrickle._inbox_create_objects(text);
CREATE OR REPLACE FUNCTION pgtrickle._inbox_create_objects(p_name text, p_bare boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning   -- no "already exists, skipping" noise on repeated calls
AS $$
DECLARE
  c       pgtrickle.pgt_inbox_config;
  v_table text;
BEGIN
  SELECT * INTO STRICT c FROM pgtrickle.pgt_inbox_config WHERE inbox_name = p_name;
  IF to_regclass(format('%I.%I', c.inbox_schema, 'inbox_' || p_name)) IS NOT NULL
     OR to_regclass(format('%I.%I', c.inbox_schema, p_name)) IS NOT NULL THEN
    v_table := (SELECT i.inbox_table FROM pgtrickle._inbox(p_name) AS i);
  ELSE
    v_table := CASE WHEN p_bare THEN p_name ELSE 'inbox_' || p_name END;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE IF NOT EXISTS %1$I.%2$I (
      event_id     text PRIMARY KEY,
      event_type   text,
      source       text,
      aggregate_id text,
      payload      jsonb,
      headers      jsonb NOT NULL DEFAULT '{}',
      received_at  timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz,
      processed    boolean GENERATED ALWAYS AS (processed_at IS NOT NULL) STORED,
      error        text,
      retry_count  int NOT NULL DEFAULT 0,
      trace_id     text
    );
    CREATE INDEX IF NOT EXISTS %3$I ON %1$I.%2$I (received_at) WHERE processed_at IS NULL;
    GRANT SELECT, INSERT ON %1$I.%2$I TO pgtrickle_relay;
    GRANT SELECT, INSERT, UPDATE, DELETE ON %1$I.%2$I TO pgtrickle_relay_admin;
  $ddl$, c.inbox_schema, v_table, pgtrickle._relay_ident(v_table, '_pending_idx', v_table));

  -- The views read max_retries from the catalog, so changing it there takes effect at once.
  EXECUTE format($ddl$
    CREATE OR REPLACE VIEW %1$I.%3$I AS
      SELECT * FROM %1$I.%2$I
      WHERE processed_at IS NULL
        AND retry_count < (SELECT max_retries FROM pgtrickle.pgt_inbox_config WHERE inbox_name = %4$L);
    GRANT SELECT ON %1$I.%3$I TO pgtrickle_relay, pgtrickle_relay_admin;
  $ddl$, c.inbox_schema, v_table, v_table || '_pending', p_name);
  IF c.with_dead_letter THEN
    EXECUTE format($ddl$
      CREATE OR REPLACE VIEW %1$I.%3$I AS
        SELECT * FROM %1$I.%2$I
        WHERE processed_at IS NULL
          AND retry_count >= (SELECT max_retries FROM pgtrickle.pgt_inbox_config WHERE inbox_name = %4$L);
      GRANT SELECT ON %1$I.%3$I TO pgtrickle_relay, pgtrickle_relay_admin;
    $ddl$, c.inbox_schema, v_table, v_table || '_dlq', p_name);
  END IF;
  IF c.with_stats THEN
    EXECUTE format($ddl$
      CREATE OR REPLACE VIEW %1$I.%3$I AS
        SELECT i.event_type,
               count(*) AS message_count,
               count(*) FILTER (WHERE i.processed_at IS NOT NULL) AS processed_count,
               count(*) FILTER (WHERE i.processed_at IS NULL AND i.retry_count < c.max_retries) AS pending_count,
               count(*) FILTER (WHERE i.processed_at IS NULL AND i.retry_count >= c.max_retries) AS dlq_count,
               max(i.received_at) AS last_received_at
        FROM %1$I.%2$I AS i
        CROSS JOIN (SELECT max_retries FROM pgtrickle.pgt_inbox_config WHERE inbox_name = %4$L) AS c
        GROUP BY i.event_type;
      GRANT SELECT ON %1$I.%3$I TO pgtrickle_relay, pgtrickle_relay_admin;
    $ddl$, c.inbox_schema, v_table, v_table || '_stats', p_name);
  END IF;
END
$$;

-- The body of create_inbox and create_inbox_table; p_bare names the table <schema>.<name> (see _inbox_create_objects).
CREATE OR REPLACE FUNCTION pgtrickle._inbox_create(
  p_name text, p_schema text, p_max_retries int, p_schedule text, p_with_dead_letter boolean,
  p_with_stats boolean, p_retention_hours int, p_bare boolean)
RETURNS void
LANGUAGE plpgsql   -- runs inside create_inbox / create_inbox_table, as their definer
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
  DECLARE
    v_schema   text := coalesce(p_schema, 'pgtrickle');
    v_old      pgtrickle.pgt_inbox_config;
    v_existing regclass;
  BEGIN
    IF p_name IS NULL OR btrim(p_name) = '' THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'create_inbox: the inbox name must not be empty';
    END IF;
    -- Longest derived name: inbox_<name>_pending. Cutting it silently would make two inboxes collide.
    IF octet_length(CASE WHEN p_bare THEN '' ELSE 'inbox_' END || p_name || '_pending') > 63 THEN
      RAISE EXCEPTION USING ERRCODE = 'name_too_long',
        MESSAGE = format('create_inbox: the inbox name "%s" is too long: at most %s bytes, it has %s', p_name,
                         CASE WHEN p_bare THEN 55 ELSE 49 END, octet_length(p_name));
    END IF;
    IF to_regnamespace(quote_ident(v_schema)) IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_schema_name', MESSAGE = format('create_inbox: schema "%s" does not exist', v_schema);
    END IF;
    IF v_schema <> 'pgtrickle' AND NOT has_schema_privilege(session_user, to_regnamespace(quote_ident(v_schema)), 'CREATE') THEN
      RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = format('create_inbox: permission denied to create tables in schema "%s"', v_schema);
    END IF;
    IF p_max_retries IS NULL OR p_max_retries < 0 OR p_retention_hours IS NULL OR p_retention_hours < 1 THEN
      RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('create_inbox: max_retries must be at least 0 and retention_hours at least 1, got %s and %s',
                         coalesce(p_max_retries::text, 'NULL'), coalesce(p_retention_hours::text, 'NULL'));
    END IF;

    PERFORM pgtrickle._relay_lock_catalog();
    SELECT * INTO v_old FROM pgtrickle.pgt_inbox_config AS c WHERE c.inbox_name = p_name;
    IF FOUND THEN
      IF v_old.inbox_schema <> v_schema THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
          MESSAGE = format('create_inbox: inbox "%s" already exists in schema "%s"', p_name, v_old.inbox_schema);
      END IF;
      RAISE NOTICE 'inbox "%" already exists', p_name;   -- its settings stay as they are
    ELSE
      -- A new inbox may take over an existing table (of either name it may have) only for its owner.
      FOREACH v_existing IN ARRAY ARRAY[to_regclass(format('%I.%I', v_schema, 'inbox_' || p_name)),
                                        to_regclass(format('%I.%I', v_schema, p_name))] LOOP
        IF v_existing IS NOT NULL THEN
          PERFORM pgtrickle._relay_require_owner(CASE WHEN p_bare THEN 'create_inbox_table' ELSE 'create_inbox' END, v_existing);
        END IF;
      END LOOP;
      INSERT INTO pgtrickle.pgt_inbox_config
        (inbox_name, inbox_schema, max_retries, schedule, with_dead_letter, with_stats, retention_hours)
      VALUES (p_name, v_schema, p_max_retries, coalesce(p_schedule, '1s'),
              coalesce(p_with_dead_letter, true), coalesce(p_with_stats, true), p_retention_hours);
    END IF;
    PERFORM pgtrickle._inbox_create_objects(p_name, p_bare);
  END
$fn$;

CALL pgtrickle._relay_define('create_inbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.create_inbox(
    p_name text, p_schema text DEFAULT 'pgtrickle', p_max_retries int DEFAULT 3, p_schedule text DEFAULT '1s',
    with_dead_letter boolean DEFAULT true, with_stats boolean DEFAULT true, p_retention_hours int DEFAULT 72)
  RETURNS void
  LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
    SELECT pgtrickle._inbox_create(p_name, p_schema, p_max_retries, p_schedule, with_dead_letter, with_stats,
                                   p_retention_hours, false);
  $fn$;
$ddl$);

-- An inbox whose table is exactly <schema>.<table>: what a reverse pipeline's inbox_table names
-- when it does not exist yet (the relay creates it with the standard columns and views).
CREATE OR REPLACE FUNCTION pgtrickle.create_inbox_table(
  p_table text, p_schema text DEFAULT 'pgtrickle', p_max_retries int DEFAULT 3, p_with_dead_letter boolean DEFAULT true,
  p_retention_hours int DEFAULT 72)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $fn$
  SELECT pgtrickle._inbox_create(p_table, p_schema, p_max_retries, '1s', p_with_dead_letter, true, p_retention_hours, true);
$fn$;

CALL pgtrickle._relay_define('drop_inbox', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.drop_inbox(p_name text, p_if_exists boolean DEFAULT false, p_cascade boolean DEFAULT false)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    v_schema text;
    v_table  text;
    v_view   text;
  BEGIN
    PERFORM pgtrickle._relay_lock_catalog();
    IF NOT EXISTS (SELECT 1 FROM pgtrickle.pgt_inbox_config WHERE inbox_name = p_name) THEN
      IF coalesce(p_if_exists, false) THEN
        RAISE NOTICE 'inbox "%" not found, skipping', p_name;
        RETURN;
      END IF;
    END IF;
    SELECT i.inbox_schema, i.inbox_table INTO v_schema, v_table FROM pgtrickle._inbox(p_name) AS i;
    FOREACH v_view IN ARRAY ARRAY['_pending', '_dlq', '_stats'] LOOP
      EXECUTE format('DROP VIEW IF EXISTS %I.%I', v_schema, v_table || v_view);
    END LOOP;
    DELETE FROM pgtrickle.pgt_inbox_config WHERE inbox_name = p_name;
    IF coalesce(p_cascade, false) THEN
      -- A table the inbox took over (not one it created) is dropped only for its owner.
      IF (SELECT c.relowner::regrole::text FROM pg_class AS c WHERE c.oid = to_regclass(format('%I.%I', v_schema, v_table)))
         <> quote_ident(current_user) THEN
        PERFORM pgtrickle._relay_require_owner('drop_inbox', format('%I.%I', v_schema, v_table)::regclass);
      END IF;
      EXECUTE format('DROP TABLE IF EXISTS %I.%I CASCADE', v_schema, v_table);
    ELSE
      RAISE NOTICE 'table %.% is kept; drop_inbox(%, p_cascade => true) drops it too',
        quote_ident(v_schema), quote_ident(v_table), quote_literal(p_name);
    END IF;
  END
  $fn$;
$ddl$);

-- True when the event was unprocessed and is now marked processed.
CALL pgtrickle._relay_define('inbox_mark_processed', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.inbox_mark_processed(p_name text, p_event_id text)
  RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i     record := pgtrickle._inbox_owned(p_name);
    v_hit boolean;
  BEGIN
    EXECUTE format('UPDATE %I.%I SET processed_at = now(), error = NULL WHERE event_id = $1 AND processed_at IS NULL '
                   'RETURNING true', i.inbox_schema, i.inbox_table)
      INTO v_hit USING p_event_id;
    RETURN coalesce(v_hit, false);
  END
  $fn$;
$ddl$);

-- Records a failed attempt; returns the event's retry count.
CALL pgtrickle._relay_define('inbox_mark_failed', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.inbox_mark_failed(p_name text, p_event_id text, p_error text)
  RETURNS int
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i         record := pgtrickle._inbox_owned(p_name);
    v_retries int;
  BEGIN
    EXECUTE format('UPDATE %I.%I SET retry_count = retry_count + 1, error = $2 '
                   'WHERE event_id = $1 AND processed_at IS NULL RETURNING retry_count', i.inbox_schema, i.inbox_table)
      INTO v_retries USING p_event_id, p_error;
    IF v_retries IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'no_data_found',
        MESSAGE = format('inbox "%s" has no unprocessed event "%s"', p_name, p_event_id);
    END IF;
    RETURN v_retries;
  END
  $fn$;
$ddl$);

-- Makes events pending again (processed_at, retry_count and error cleared); returns how many.
CALL pgtrickle._relay_define('replay_inbox_messages', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.replay_inbox_messages(p_name text, p_event_ids text[])
  RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i   record := pgtrickle._inbox_owned(p_name);
    v_n bigint;
  BEGIN
    EXECUTE format('WITH r AS (UPDATE %I.%I SET processed_at = NULL, retry_count = 0, error = NULL '
                   'WHERE event_id = ANY ($1) RETURNING 1) SELECT count(*) FROM r', i.inbox_schema, i.inbox_table)
      INTO v_n USING p_event_ids;
    RETURN v_n;
  END
  $fn$;
$ddl$);

CALL pgtrickle._relay_define('inbox_health', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.inbox_health(p_name text)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pgtrickle, pg_temp
  AS $fn$
  DECLARE
    i   record := pgtrickle._inbox_owned(p_name);
    v   jsonb;
  BEGIN
    EXECUTE format($q$
      SELECT jsonb_build_object(
        'total_messages', count(*),
        'pending_messages', count(*) FILTER (WHERE processed_at IS NULL AND retry_count < $1),
        'dlq_messages', count(*) FILTER (WHERE processed_at IS NULL AND retry_count >= $1),
        'processed_messages', count(*) FILTER (WHERE processed_at IS NOT NULL),
        'oldest_pending_age_seconds',
          extract(epoch FROM now() - min(received_at) FILTER (WHERE processed_at IS NULL AND retry_count < $1)),
        'last_received_at', max(received_at))
      FROM %I.%I $q$, i.inbox_schema, i.inbox_table)
      INTO v USING i.max_retries;
    RETURN v || jsonb_build_object(
      'inbox_name', p_name,
      'inbox_schema', i.inbox_schema,
      'inbox_table', format('%I.%I', i.inbox_schema, i.inbox_table),
      'status', CASE WHEN (v ->> 'dlq_messages')::bigint > 0 THEN 'WARNING' ELSE 'OK' END,
      'max_retries', i.max_retries,
      'retention_hours', i.retention_hours);
  END
  $fn$;
$ddl$);

-- ============================================================================================
-- Version
-- ============================================================================================

CALL pgtrickle._relay_define('relay_schema_version', $ddl$
  CREATE OR REPLACE FUNCTION pgtrickle.relay_schema_version()
  RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  AS $fn$ SELECT '1'::text $fn$;
$ddl$);

-- ============================================================================================
-- Privileges
--
-- Applied in full on every install, so a fresh install and a re-install end with the same
-- grants. pgtrickle_relay may read pipeline configs and outboxes, keep its offsets, status and
-- dead letters, and write inboxes; it cannot change pipelines. pgtrickle_relay_admin may manage
-- pipelines (reading their configs redacted), outboxes, consumer groups and inboxes. Functions of the pg_trickle
-- extension only receive grants; their other privileges stay as the extension set them.
-- ============================================================================================

CREATE OR REPLACE FUNCTION pgtrickle._outbox_grant_existing()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_tables text[];
BEGIN
  SELECT array_agg(n) INTO v_tables FROM pgtrickle.outbox_tables, unnest(ARRAY[outbox_name, delta_table]) AS n;
  PERFORM pgtrickle._outbox_grant(coalesce(v_tables, '{}'));
  -- pg_trickle's own outboxes, which the relay reads too.
  IF to_regclass('pgtrickle.pgt_outbox_config') IS NOT NULL THEN
    EXECUTE 'SELECT array_agg(n) FROM pgtrickle.pgt_outbox_config,
               unnest(ARRAY[outbox_table_name, ''outbox_delta_rows_'' || left(stream_table_name, 48)]) AS n'
      INTO v_tables;
    PERFORM pgtrickle._outbox_grant(coalesce(v_tables, '{}'));
  END IF;
END
$$;

-- The relay calls this when it may not read an outbox pg_trickle created after the install: it
-- grants its role SELECT on the registered outboxes (and nothing else).
CREATE OR REPLACE FUNCTION pgtrickle._relay_grant_outboxes()
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pgtrickle, pg_temp
AS $$
BEGIN
  PERFORM pgtrickle._outbox_grant_existing();
EXCEPTION WHEN insufficient_privilege THEN
  NULL;  -- the installer does not own those tables: the relay's error names the GRANT to run
END
$$;

CREATE OR REPLACE FUNCTION pgtrickle._inbox_grant_existing()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_name   text;
  v_schema text;
  v_table  text;
  v_view   text;
BEGIN
  FOR v_name IN SELECT inbox_name FROM pgtrickle.pgt_inbox_config LOOP
    SELECT i.inbox_schema, i.inbox_table INTO v_schema, v_table FROM pgtrickle._inbox(v_name) AS i;
    CONTINUE WHEN to_regclass(format('%I.%I', v_schema, v_table)) IS NULL;
    EXECUTE format('GRANT SELECT, INSERT ON %I.%I TO pgtrickle_relay', v_schema, v_table);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO pgtrickle_relay_admin', v_schema, v_table);
    FOREACH v_view IN ARRAY ARRAY['_pending', '_dlq', '_stats'] LOOP
      IF to_regclass(format('%I.%I', v_schema, v_table || v_view)) IS NOT NULL THEN
        EXECUTE format('GRANT SELECT ON %I.%I TO pgtrickle_relay, pgtrickle_relay_admin', v_schema, v_table || v_view);
      END IF;
    END LOOP;
  END LOOP;
END
$$;

DO $$
DECLARE
  -- What the relay process calls.
  v_relay_functions text[] := ARRAY[
    'relay_schema_version', 'relay_normalize_config', 'get_relay_config', 'list_relay_configs',
    'resolve_outbox', '_outbox_resolve', 'outbox_watermark', 'outbox_status', '_outbox_status',
    'run_outbox_retention', 'create_inbox', 'create_inbox_table', 'inbox_health', '_relay_regclass', '_relay_regclass_qualified', '_relay_is_relation_name', '_relay_grant_outboxes',
    'relay_template_warnings', '_relay_config_outbox_ref', '_outbox_wal_source'];
  -- Everything meant to be called by people and applications.
  v_admin_functions text[] := v_relay_functions || ARRAY[
    'set_relay_outbox', 'set_relay_inbox', 'enable_relay', 'disable_relay', 'delete_relay',
    'enable_outbox', '_outbox_enable', 'disable_outbox', '_outbox_disable', 'create_outbox',
    'outbox_publish', '_outbox_publish', 'create_consumer_group', '_consumer_group_create', 'drop_consumer_group', 'poll_outbox', 'commit_offset', 'extend_lease',
    'seek_offset', 'consumer_heartbeat', 'consumer_lag',
    'drop_inbox', 'inbox_mark_processed', 'inbox_mark_failed', 'replay_inbox_messages',
    'create_publication', 'drop_publication', '_relay_publication_create', '_relay_publication_drop', '_relay_publication_of'];
  f record;
BEGIN
  GRANT USAGE ON SCHEMA pgtrickle TO pgtrickle_relay, pgtrickle_relay_admin;
  -- The inbox sink skips duplicates through a temporary staging table (PUBLIC has TEMPORARY by
  -- default; this keeps it working where that was revoked).
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO pgtrickle_relay', current_database());

  -- Catalog tables: reset, then grant, so an older install converges.
  REVOKE ALL ON pgtrickle.relay_outbox_config, pgtrickle.relay_inbox_config,
                pgtrickle.relay_backends, pgtrickle.relay_config_keys,
                pgtrickle.relay_offsets, pgtrickle.relay_owners, pgtrickle.relay_pipeline_status, pgtrickle.relay_dead_letters,
                pgtrickle.outbox_commits, pgtrickle.outbox_tables, pgtrickle.pgt_inbox_config,
                pgtrickle.outbox_consumer_groups, pgtrickle.outbox_consumers, pgtrickle.outbox_consumer_leases,
                pgtrickle.relay_slots
    FROM pgtrickle_relay, pgtrickle_relay_admin;
  -- Raw pipeline configs, which may hold literal secrets, only for the relay; pipeline admins read
  -- them redacted through get_relay_config() and list_relay_configs().
  GRANT SELECT ON pgtrickle.relay_outbox_config, pgtrickle.relay_inbox_config TO pgtrickle_relay;
  GRANT SELECT ON pgtrickle.relay_backends, pgtrickle.relay_config_keys,
                  pgtrickle.outbox_commits, pgtrickle.outbox_tables, pgtrickle.pgt_inbox_config
    TO pgtrickle_relay, pgtrickle_relay_admin;
  GRANT SELECT, INSERT, UPDATE, DELETE ON pgtrickle.relay_offsets, pgtrickle.relay_owners, pgtrickle.relay_pipeline_status TO pgtrickle_relay;
  GRANT SELECT, INSERT ON pgtrickle.relay_dead_letters TO pgtrickle_relay;
  -- The relay records the slots it creates for WAL capture; delete_relay and disable_outbox drop them.
  GRANT SELECT, INSERT, DELETE ON pgtrickle.relay_slots TO pgtrickle_relay;
  GRANT SELECT ON pgtrickle.relay_slots TO pgtrickle_relay_admin;
  EXECUTE format('GRANT USAGE ON SEQUENCE %s TO pgtrickle_relay',
                 pg_get_serial_sequence('pgtrickle.relay_dead_letters', 'id'));
  -- The admin inspects runtime state and clears dead letters; changes go through functions.
  GRANT SELECT ON pgtrickle.relay_offsets, pgtrickle.relay_owners, pgtrickle.relay_pipeline_status,
                  pgtrickle.outbox_consumer_groups, pgtrickle.outbox_consumers, pgtrickle.outbox_consumer_leases
    TO pgtrickle_relay_admin;
  GRANT SELECT, DELETE ON pgtrickle.relay_dead_letters TO pgtrickle_relay_admin;

  PERFORM pgtrickle._outbox_grant_existing();
  PERFORM pgtrickle._inbox_grant_existing();

  FOR f IN
    SELECT p.oid::regprocedure AS signature, p.proname::text AS name,
           CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
           EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d
                   WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') AS extension_owned
    FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'pgtrickle'::regnamespace
      AND (p.proname = ANY (v_admin_functions) OR p.proname = 'relay_config_notify'
           OR p.proname ~ '^_(relay|outbox|consumer|inbox)')
  LOOP
    IF NOT f.extension_owned THEN
      EXECUTE format('REVOKE ALL ON %s %s FROM PUBLIC, pgtrickle_relay, pgtrickle_relay_admin', f.kind, f.signature);
    END IF;
    IF f.name = ANY (v_relay_functions) THEN
      EXECUTE format('GRANT EXECUTE ON %s %s TO pgtrickle_relay', f.kind, f.signature);
    END IF;
    IF f.name = ANY (v_admin_functions) THEN
      EXECUTE format('GRANT EXECUTE ON %s %s TO pgtrickle_relay_admin', f.kind, f.signature);
    END IF;
  END LOOP;
END
$$;

COMMIT;

