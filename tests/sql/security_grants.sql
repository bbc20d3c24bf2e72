-- Every grant checked: each function of schemas pgtrickle and pgstream that PUBLIC, the relay's role
-- (pgtrickle_relay) or pipeline admins (pgtrickle_relay_admin) may call is in the ledger below, with
-- what it lets its caller do, read against SECURITY.md's table of parties; a function granted to
-- anyone and not in the ledger, or granted to other roles than the ledger says, fails this test
-- until it is reviewed and written here. "definer": it runs with the installer's rights
-- (tests/sql/security_definer.sql attacks each of those).

CREATE TEMP TABLE ledger (fn text PRIMARY KEY, callers text NOT NULL, lets text NOT NULL);
INSERT INTO ledger VALUES
  -- PUBLIC: the check of a subscription row, run as the role writing it (pgstream.subscriptions is
  -- open to every role); these run with the caller's rights and touch nothing.
  ('pgstream._subscription_check()', 'public', 'nothing: a trigger function, run only as the BEFORE trigger, as the writer'),
  ('pgstream._bound_table(oid)', 'public', 'look up a table by oid in pg_class, which every role reads'),
  ('pgstream._target(text,text)', 'public', 'look up a table by name in pg_class'),
  ('pgstream._require_owner(text,regclass,text)', 'public', 'raise an error unless the caller acts for a table''s owner'),
  ('pgstream._refuse(text,text,text,text,text)', 'public', 'raise an error'),
  ('pgstream._row_images(regclass,text)', 'public', 'build a FROM list text'),
  ('pgstream._reserved_keys()', 'public', 'a constant'),
  ('pgstream._compile_error(text)', 'public', 'plan a query with the caller''s own rights (as the caller could itself)'),
  ('pgstream._when_check()', 'public', 'nothing: a trigger function never run'),
  -- Generation, run as that role (pgstream._subscription_sync, the AFTER trigger): with its rights,
  -- but for the two pgtrickle_maker's, which take only a table and act on what its subscriptions
  -- and its trigger (made only by roles acting for its owner) say.
  ('pgstream._subscription_sync()', 'public', 'nothing: a trigger function, run only as the AFTER trigger, as the writer'),
  ('pgstream._generate(oid,text,text)', 'public', 'make a table''s trigger and trigger function, with the caller''s rights'),
  ('pgstream._drop_generated(pgstream.generated,regclass)', 'public', 'drop them, with the caller''s rights'),
  ('pgstream._function_name(regclass,text)', 'public', 'a free function name (catalog)'),
  ('pgstream._emit_name(text)', 'public', 'a name'),
  ('pgstream._extensions_sql(jsonb,text[])', 'public', 'build SQL text'),
  ('pgstream._image_sql(text,text[])', 'public', 'build SQL text'),
  ('pgstream._lock(text,regclass,text)', 'public', 'run a lock statement with the caller''s rights, a few times'),
  ('pgstream._table_name(oid)', 'public', 'a table''s qualified name (catalog)'),
  ('pgstream._admit_owner(regclass)', 'public', 'definer: (pgtrickle_maker''s) USAGE on schema pgtrickle to the owner of a subscribed table'),
  ('pgstream._generated_sync(oid,text)', 'public', 'definer: (pgtrickle_maker''s) a subscribed table''s emit function, as its subscriptions and trigger say, for a caller holding the table''s lock'),
  ('pgtrickle._relay_code_open(regclass,regnamespace,boolean,text[])', 'public', 'definer: (pgtrickle_maker''s) CREATE on schema pgstream for a subscribed table''s owner; on schema pgtrickle, for a pipeline admin acting for the owner'),
  ('pgtrickle._relay_expression_checked(text,regclass,text[])', 'public', 'rewrite a condition from its tokens (no SQL run)'),
  ('pgtrickle._relay_type_runs_no_user_code(oid)', 'public', 'whether a type''s functions are built in (catalog)'),
  ('pgtrickle._relay_truncate_bytes(text,integer)', 'public', 'cut a text'),
  -- And the role making a table in a schema a WAL pipeline captures (or changing one it publishes)
  -- makes its render function as its owner (the event trigger pgtrickle_wal_table_made, as that
  -- role), as a pipeline admin setting the pipeline does for the tables it names.
  ('pgtrickle._wal_rows_table_ensure(regclass)', 'public', 'make a table''s render function, as its owner, for a login acting for it'),
  ('pgtrickle._wal_rows_function_set(text,regclass)', 'public', 'the same (_relay_as_owner)'),
  ('pgtrickle._wal_rows_function_ddl(text,regclass)', 'public', 'the DDL of a table''s render function'),
  ('pgtrickle._wal_rows_function_src(regclass)', 'public', 'the body of a table''s render function'),
  ('pgtrickle._wal_rows_table_function(oid)', 'public', 'the name of a table''s render function'),
  ('pgtrickle._relay_owner_function_intact(regprocedure,regclass)', 'public', 'whether a function is as made, its table''s owner''s (catalog)'),
  ('pgtrickle._relay_as_owner(regclass,text,text,regnamespace)', 'public', 'DDL as a table''s owner, for a login that may take its role'),
  ('pgtrickle._relay_as_role(oid,text)', 'public', 'DDL as a role the login may take (what a table''s former owner left)'),
  ('pgtrickle._relay_require_owner(text,regclass)', 'public', 'whether the login acts for a table''s owner'),
  -- The relay's role alone.
  ('pgtrickle._wal_render(text,text,jsonb,jsonb)', 'relay', 'render rows of a table captured from the WAL through its owner''s function, in a rolled-back subtransaction'),
  ('pgtrickle._wal_render_table(oid,jsonb,jsonb)', 'relay', 'the same for a WAL pipeline''s table, reading only what its publications let through'),
  ('pgtrickle._wal_render_tables(jsonb)', 'relay', 'render several tables'' rows (through the two above)'),
  ('pgtrickle._wal_render_as_owner(regprocedure,regclass,jsonb,jsonb)', 'relay', 'run an owner''s render function in a subtransaction rolled back, the session cleared after'),
  ('pgtrickle._relay_session_clear()', 'relay,admin', 'clear its own session''s prepared statements and advisory locks'),
  ('pgtrickle._wal_published(regclass)', 'relay', 'whether a WAL pipeline publishes a table (catalog)'),
  ('pgtrickle._wal_publishing(regclass)', 'relay', 'the publications publishing a table (catalog)'),
  ('pgtrickle._wal_render_reach(regclass,jsonb)', 'relay', 'the columns and publications a table''s rows are rendered with (catalog)'),
  ('pgtrickle._wal_published_tables(text)', 'relay,admin', 'the tables a pipeline''s publications publish now (catalog)'),
  -- Every role: the template each owner's render function runs as that owner; run as anyone else,
  -- it reads with their rights and holds what it is told to the catalog.
  ('pgtrickle._wal_rows_template(regclass,jsonb,jsonb)', 'public', 'render rows, or build the query text, with the caller''s rights'),
  ('pgtrickle._wal_plain(jsonb,jsonb)', 'relay', 'tell whether rows need their owner''s code'),
  ('pgtrickle._wal_render_plain(jsonb,jsonb)', 'relay', 'render rows of built-in types from the values given, with the caller''s rights'),
  ('pgtrickle._wal_file_pipeline_prepare(text,text,jsonb)', 'relay', 'definer: record what a pipeline of the relay''s TOML file publishes, checked for the relay''s login'),
  ('pgtrickle._wal_file_pipeline_start(text,text,jsonb)', 'relay', 'the same, then its publications made with the login''s rights'),
  ('pgtrickle._relay_slot_rebuilt(text,text,text,text,pg_lsn)', 'relay', 'definer: record the gap of a slot it rebuilt and backfill every table the pipeline captures'),
  ('pgtrickle._relay_backfill_initial(text,text)', 'relay', 'definer: start the first backfill a pipeline''s "backfill": "initial" asks for (its rows go where its changes go)'),
  ('pgtrickle._relay_backfill_end(bigint,text)', 'relay', 'definer: record that a backfill ended, and drop its function'),
  -- The relay's role and pipeline admins: reading configs (redacted but for the relay), resolving
  -- outboxes, numbering and retention, inboxes, streams.
  ('pgtrickle.get_relay_config(text)', 'relay,admin', 'definer: read one pipeline''s config, redacted'),
  ('pgtrickle.list_relay_configs()', 'relay,admin', 'definer: read every pipeline''s config, redacted'),
  ('pgtrickle.relay_normalize_config(text,jsonb,text)', 'relay,admin', 'definer: validate a config (pure, reads the spec tables)'),
  ('pgtrickle.relay_schema_version()', 'relay,admin', 'a constant'),
  ('pgtrickle.relay_template_warnings(jsonb)', 'relay,admin', 'read which template variables are always empty for an outbox'),
  ('pgtrickle.resolve_outbox(text)', 'relay,admin', 'find an outbox and its key columns'),
  ('pgtrickle._outbox_resolve(text,regclass)', 'relay,admin', 'definer: the same, through the catalog'),
  ('pgtrickle.outbox_status(text)', 'relay,admin', 'read an outbox''s counts and pending rows'),
  ('pgtrickle._outbox_status(text,regclass)', 'relay,admin', 'definer: the same, through the catalog'),
  ('pgtrickle._outbox_is_stream(text)', 'relay,admin', 'tell whether an outbox is a pgstream stream''s view'),
  ('pgtrickle._outbox_waiting(text,boolean)', 'relay,admin', 'definer: mark that a reader waits for an outbox (capture then sends a NOTIFY)'),
  ('pgtrickle._outbox_wal_source(text)', 'relay,admin', 'definer: read which table and publication a WAL-captured outbox streams'),
  ('pgtrickle.outbox_watermark()', 'relay,admin', 'definer: number committed outbox rows in commit order'),
  ('pgtrickle.outbox_watermarks(text[],integer)', 'relay,admin', 'definer: number committed rows of some outboxes in commit order'),
  ('pgtrickle._outbox_numbered_seq(text)', 'relay,admin', 'read an outbox''s highest commit number'),
  ('pgtrickle._outbox_numbering_unit(text)', 'relay,admin', 'the numbering unit of an outbox (a constant)'),
  ('pgtrickle.run_outbox_retention()', 'relay,admin', 'definer: delete outbox rows older than their retention that every reader has passed'),
  ('pgtrickle._relay_grant_outboxes()', 'relay,admin', 'definer: grant the relay''s role SELECT on registered outboxes'),
  ('pgtrickle._relay_backfill_watermark(bigint)', 'relay,admin', 'definer: read the commit-order watermark a backfill chunk waits for'),
  ('pgtrickle._relay_backfill_function(bigint)', 'relay,admin', 'a backfill''s function name'),
  -- backfill_relay: recorded as pgtrickle_owner, then a condition's function made by the session as
  -- the table's owner (which it must act for to give one), and the estimate recorded.
  ('pgtrickle._relay_backfill_request(text,text)', 'admin', 'definer: record a backfill (backfill_relay)'),
  ('pgtrickle._relay_backfill_condition_set(text,bigint)', 'admin', 'make a backfill''s condition function as the table''s owner, with the caller''s rights'),
  ('pgtrickle._relay_backfill_estimated(bigint,bigint)', 'admin', 'definer: record a pending backfill''s estimate'),
  ('pgtrickle._relay_backfill_estimate(regprocedure,text,regclass,text)', 'admin', 'plan a read function''s rows, with the caller''s rights, rolled back'),
  ('pgtrickle._relay_backfill_body(regclass,text[],text,text[])', 'admin', 'the text of a condition function'),
  ('pgtrickle._relay_backfill_drop_functions(text)', 'admin', 'drop ended backfills'' condition functions the caller acts for the owner of'),
  ('pgtrickle._relay_backfill_table_ensure(regclass)', 'public', 'make a table''s read function as its owner, for a login acting for it'),
  ('pgtrickle._relay_backfill_table_function(oid)', 'public', 'the name of a table''s read function'),
  ('pgtrickle._relay_backfill_table_body(regclass,text[])', 'public', 'the text of a table''s read function'),
  ('pgtrickle._outbox_key_columns(regclass)', 'public', 'a table''s key columns (catalog)'),
  ('pgtrickle._relay_backfill_intact(bigint)', 'relay,admin', 'refuses a backfill whose chunk function its owner altered (reads the catalog)'),
  ('pgtrickle._relay_config_outbox_ref(jsonb)', 'relay,admin', 'the outbox a config names'),
  ('pgtrickle._relay_is_relation_name(text)', 'relay,admin', 'tell whether a text is a relation name'),
  ('pgtrickle._relay_regclass(text)', 'relay,admin', 'to_regclass in the caller''s search path'),
  ('pgtrickle._relay_regclass_qualified(text)', 'relay,admin', 'definer: the table of a schema-qualified name, found in the catalog (no USAGE on the schema needed)'),
  ('pgtrickle._relay_rel(text,text)', 'relay,admin', 'find a table by schema and name in the catalog, which every login may read'),
  ('pgtrickle._relay_installer()', 'relay,admin', 'the oid of the role that installed pgtrickle-relay'),
  ('pgtrickle._relay_maker()', 'relay,admin', 'the oid of the role that makes the install''s tables, if it has one'),
  ('pgtrickle._inbox_trusted(oid)', 'relay,admin', 'tell whether a role is the installer or a superuser, reading the catalog'),
  ('pgtrickle._inbox_lock(text,text,text,text)', 'relay,admin', 'lock an inbox table with the caller''s own rights, then refuse it unless it and its schema are the installer''s or a superuser''s'),
  ('pgtrickle.create_inbox(text,text,integer,text,boolean,boolean,integer)', 'relay,admin', 'definer: create an inbox table and its views, owned by the installer'),
  ('pgtrickle.create_inbox_table(text,text,integer,boolean,integer)', 'relay,admin', 'definer: the same, table only'),
  ('pgtrickle.inbox_health(text)', 'relay,admin', 'definer: read an inbox''s counts'),
  ('pgtrickle._wal_pipeline_publication(text,text)', 'relay,admin', 'definer: read the name of a pipeline''s publication'),
  ('pgtrickle._wal_table_info(text,oid,text,text)', 'relay,admin', 'definer: read whether a pipeline captures a table, its name in messages and key'),
  ('pgtrickle._wal_pipeline_tables(jsonb)', 'relay,admin', 'list the tables a source''s names and patterns match now'),
  ('pgtrickle._wal_matched_tables(jsonb,jsonb)', 'relay,admin', 'the same, as oids'),
  ('pgtrickle._wal_matches(jsonb,jsonb,text,text)', 'relay,admin', 'tell whether a name matches names and patterns'),
  ('pgtrickle._wal_pattern(text,jsonb,text)', 'relay,admin', 'read a table name or pattern'),
  ('pgtrickle._relay_config_error(text,text)', 'relay,admin', 'raise a config error (what _wal_pattern says of a bad pattern)'),
  ('pgtrickle._wal_list(jsonb)', 'relay,admin', 'a value as a JSON array'),
  ('pgtrickle._wal_own_schema(text)', 'relay,admin', 'tell whether a schema is the install''s'),
  ('pgtrickle._wal_publications(text)', 'relay,admin', 'the two publication names of a pipeline'),
  ('pgtrickle._wal_stream_table(text,text)', 'relay,admin', 'a table''s name in messages'),
  ('pgtrickle._wal_identity_problem(regclass)', 'relay,admin', 'read why a table''s UPDATEs would be refused while published'),
  ('pgstream.stream_outbox(bigint)', 'relay,admin', 'definer: make a stream''s view and registration (numbered with every stream by one scan)'),
  ('pgstream.stream_publication(bigint)', 'relay,admin', 'definer: make a stream''s publication of pgstream.events (its rows only)'),
  ('pgstream.maintain_partitions()', 'relay,admin', 'definer: create and drop daily partitions of pgstream.events by its settings'),
  ('pgstream.partition_status()', 'relay,admin', 'definer: read the partitions and their counts'),
  -- Pipeline admins: pipelines, outboxes, consumer groups, inboxes, backfills, publications of
  -- tables whose owner's rights the caller holds.
  ('pgtrickle.set_relay_outbox(text,jsonb)', 'admin', 'store a forward pipeline (through _relay_store; WAL tables only of owners whose rights the login holds), then make its publications as the caller'),
  ('pgtrickle.set_relay_outbox(text,text,text,jsonb,integer,boolean)', 'admin', 'store a forward pipeline, flat form (through _relay_store)'),
  ('pgtrickle.set_relay_inbox(text,jsonb)', 'admin', 'definer: store a reverse pipeline (an inbox of its own database only when the installer owns it)'),
  ('pgtrickle.set_relay_inbox(text,text,jsonb,integer,text,boolean,integer,boolean)', 'admin', 'definer: the same, flat form'),
  ('pgtrickle.enable_relay(text)', 'admin', 'definer: enable a pipeline'),
  -- A WAL pipeline's publications, made and changed by the session that sets the pipeline, with its
  -- rights (a new one, for a login without CREATE on the database, made empty as the first table's
  -- owner: _relay_as_owner).
  ('pgtrickle._wal_pipeline_publish(text,text)', 'relay,admin', 'make a pipeline''s publications publish what was recorded, with the caller''s rights'),
  ('pgtrickle._wal_publication_set(text,text[],jsonb)', 'relay,admin', 'CREATE or ALTER PUBLICATION, with the caller''s rights'),
  ('pgtrickle._wal_identity_columns(regclass)', 'relay,admin', 'a table''s replica identity columns (catalog)'),
  ('pgtrickle._relay_store(text,text,jsonb,boolean)', 'admin', 'definer: validate and store a pipeline (set_relay_outbox, set_relay_inbox)'),
  ('pgtrickle._relay_delete(text)', 'admin', 'definer: delete a pipeline, its positions and relay-named slots, returning its publications'),
  ('pgtrickle._wal_publications_drop(text[])', 'admin', 'drop a deleted pipeline''s publications, with the caller''s rights'),
  ('pgtrickle.disable_relay(text)', 'admin', 'definer: disable a pipeline'),
  ('pgtrickle.replay_dead_letters(text,bigint[])', 'admin', 'definer: ask the relay owning a pipeline to send some of its dead letters again, where that pipeline sent them'),
  ('pgtrickle._relay_dead_letter_replayed(text,bigint,text)', 'relay', 'definer: delete a dead letter an admin asked to send again (sent), or keep it with the reason it was refused again'),
  ('pgtrickle.delete_relay(text)', 'admin', 'delete a pipeline (through _relay_delete), then drop its publications as the caller'),
  ('pgtrickle.rebuild_relay_slot(text)', 'admin', 'definer: ask the relay to replace a pipeline''s slot the server invalidated (refused while readable)'),
  ('pgtrickle.backfill_relay(text,text)', 'admin', 'backfill a pipeline''s table (through _relay_backfill_request; a condition only from the table''s owner, made and run as the owner)'),
  ('pgtrickle.cancel_backfill(text)', 'admin', 'definer: cancel a pipeline''s backfill'),
  ('pgtrickle.enable_outbox(text,integer,text)', 'admin', 'capture a table whose owner''s rights the login holds (through _outbox_enable)'),
  ('pgtrickle._outbox_enable(text,regclass,integer,text)', 'admin', 'definer: the same'),
  ('pgtrickle.disable_outbox(text,boolean)', 'admin', 'stop capturing such a table (through _outbox_disable)'),
  ('pgtrickle._outbox_disable(text,regclass,boolean,boolean)', 'admin', 'definer: the same'),
  -- What enable_outbox and disable_outbox do in the session, as the table's owner (_relay_as_owner
  -- takes its role, which the login must be able to take): its capture function and triggers.
  ('pgtrickle._outbox_capture_set(pgtrickle.outbox_tables)', 'admin', 'its capture set as the table''s owner'),
  ('pgtrickle._outbox_attach(pgtrickle.outbox_tables)', 'admin', 'the same: capture function and triggers'),
  ('pgtrickle._outbox_detach(regclass)', 'admin', 'the same: triggers removed'),
  ('pgtrickle._outbox_disable_capture(text,regclass)', 'admin', 'the same, for disable_outbox'),
  ('pgtrickle._outbox_find(text,regclass)', 'admin', 'an outbox by name, read from the catalog the admin may read'),
  ('pgtrickle._outbox_find_source(text,regclass)', 'admin', 'the same, of a captured table'),
  ('pgtrickle._outbox_source(pgtrickle.outbox_tables)', 'relay,admin', 'an outbox''s table, from the catalog'),
  ('pgtrickle._wal_rows_function(text)', 'relay,admin', 'the name of an outbox''s render function'),
  ('pgtrickle._outbox_publication_set(text,regclass,boolean)', 'admin', 'make or drop a WAL-captured table''s publication as its owner'),
  ('pgtrickle._outbox_capture_function(text)', 'admin', 'the name of its capture function'),
  ('pgtrickle._outbox_capture_body()', 'admin', 'the text of a capture function'),
  ('pgtrickle._outbox_grant_capture(pgtrickle.outbox_tables,oid)', 'admin', 'definer: (pgtrickle_maker''s) what the capture writes, to the table''s owner'),
  ('pgtrickle.create_outbox(text,integer)', 'admin', 'definer: create an event outbox'),
  ('pgtrickle.outbox_publish(text,jsonb,jsonb)', 'admin', 'write an event into an event outbox (through _outbox_publish)'),
  ('pgtrickle._outbox_publish(text,regclass,jsonb,jsonb)', 'admin', 'definer: the same'),
  ('pgtrickle.create_consumer_group(text,text,text)', 'admin', 'create a consumer group on an outbox (through _consumer_group_create)'),
  ('pgtrickle._consumer_group_create(text,text,regclass,text)', 'admin', 'definer: the same'),
  ('pgtrickle.drop_consumer_group(text,boolean)', 'admin', 'definer: drop a consumer group'),
  ('pgtrickle.poll_outbox(text,text,integer,integer)', 'admin', 'definer: lease and read a consumer group''s next rows'),
  ('pgtrickle.commit_offset(text,text,bigint)', 'admin', 'definer: move a consumer group''s offset'),
  ('pgtrickle.extend_lease(text,text,integer)', 'admin', 'definer: extend a consumer''s lease'),
  ('pgtrickle.seek_offset(text,text,bigint)', 'admin', 'definer: move a consumer group''s offset to a position'),
  ('pgtrickle.consumer_heartbeat(text,text)', 'admin', 'definer: record a consumer''s heartbeat'),
  ('pgtrickle.consumer_lag(text)', 'admin', 'definer: read a consumer group''s lag'),
  ('pgtrickle.drop_inbox(text,boolean,boolean)', 'admin', 'definer: drop an inbox the install made'),
  ('pgtrickle.inbox_mark_processed(text,text)', 'admin', 'definer: mark an inbox message processed'),
  ('pgtrickle.inbox_mark_failed(text,text,text)', 'admin', 'definer: mark an inbox message failed'),
  ('pgtrickle.replay_inbox_messages(text,text[])', 'admin', 'definer: make inbox messages pending again'),
  ('pgtrickle.create_publication(text)', 'admin', 'publish a table whose owner''s rights the login holds, for other consumers (through _relay_publication_create)'),
  ('pgtrickle._relay_publication_create(text,regclass,boolean)', 'admin', 'the same, with the caller''s rights (or as the table''s owner)'),
  ('pgtrickle.drop_publication(text,boolean)', 'admin', 'drop such a publication (through _relay_publication_drop)'),
  ('pgtrickle._relay_publication_drop(text,regclass,boolean,boolean)', 'admin', 'the same, with the caller''s rights (or as its owner)'),
  ('pgtrickle._relay_publication_of(regclass)', 'admin', 'the name of a table''s publication');

DO $$
DECLARE
  v_actual text[];
  v_ledger text[];
BEGIN
  SELECT array_agg(x ORDER BY x COLLATE "C") INTO v_actual FROM (
    SELECT p.oid::regprocedure::text || ' -> ' ||
           CASE WHEN has_function_privilege('public', p.oid, 'EXECUTE') THEN 'public'
                ELSE concat_ws(',', CASE WHEN has_function_privilege('pgtrickle_relay', p.oid, 'EXECUTE') THEN 'relay' END,
                                    CASE WHEN has_function_privilege('pgtrickle_relay_admin', p.oid, 'EXECUTE') THEN 'admin' END) END AS x
    FROM pg_proc AS p
    WHERE p.pronamespace IN ('pgtrickle'::regnamespace, 'pgstream'::regnamespace)
      AND p.proname !~ '^_(publish|emit)_after_'   -- generated: security_definer.sql checks their owners and callers
      AND (has_function_privilege('public', p.oid, 'EXECUTE') OR has_function_privilege('pgtrickle_relay', p.oid, 'EXECUTE')
           OR has_function_privilege('pgtrickle_relay_admin', p.oid, 'EXECUTE'))) AS a;
  SELECT array_agg(fn || ' -> ' || callers ORDER BY fn || ' -> ' || callers COLLATE "C") INTO v_ledger FROM ledger;
  IF v_actual IS DISTINCT FROM v_ledger THEN
    RAISE EXCEPTION E'the grants differ from the ledger:\n  granted, not in the ledger: %\n  in the ledger, not granted so: %',
      (SELECT array_agg(x) FROM unnest(v_actual) AS x WHERE x <> ALL (v_ledger)),
      (SELECT array_agg(x) FROM unnest(v_ledger) AS x WHERE x <> ALL (v_actual));
  END IF;
  -- What the ledger says runs with the installer's rights does.
  PERFORM assert_eq((SELECT array_agg(l.fn ORDER BY l.fn) FROM ledger AS l
                     WHERE (l.lets LIKE 'definer:%') IS DISTINCT FROM (SELECT p.prosecdef FROM pg_proc AS p WHERE p.oid = l.fn::regprocedure)),
                    NULL::text[], 'functions whose ledger entry says otherwise of SECURITY DEFINER');
END
$$;
