-- Any login may take any advisory lock, so no lock the install waits for may be one: a stranger
-- holding the keys earlier installs used, or trying every way a role without rights on a table can
-- lock it, stops neither commit numbering, nor catalog changes, nor partition maintenance, nor
-- subscription changes. (The relay's own ownership lock is checked by the integration tests: a
-- stranger holding it is named on /health.) The stranger acts on a real connection (dblink).

SELECT current_database() || '_stranger' AS stranger, current_database() || '_padmin' AS padmin \gset
CREATE ROLE :"stranger" LOGIN;
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('stranger', login_conninfo(:'stranger')), dblink_connect('padmin', login_conninfo(:'padmin'));

CREATE TABLE public.orders (id int PRIMARY KEY, total int);
SELECT pgtrickle.enable_outbox('public.orders');

-- The stranger holds every key earlier installs locked, in a transaction left open...
SELECT dblink_exec('stranger', 'BEGIN');
SELECT dblink_exec('stranger', format('DO $$ BEGIN PERFORM pg_advisory_lock(%s), pg_advisory_xact_lock(%s), pg_advisory_lock(%s), '
                                      'pg_advisory_lock(%s, 0), pg_advisory_lock(%s, hashtext(''public.orders'')); END $$',
                                      7072753140512305410, 7072753140512305410, 7072753140512305411,
                                      'pgstream.partition_settings'::regclass::oid::int, 'pgstream.subscriptions'::regclass::oid::int));
-- ...and every lock it can get on the tables the install locks now, without rights on them (it
-- has no USAGE on schema pgtrickle, and may only look up those of pgstream): what EXPLAIN of a
-- write plans (it checks no privilege) and what ANALYZE opens before it skips.
SELECT dblink_exec('stranger', $q$
  DO $d$
  DECLARE
    t text;
    c text;
  BEGIN
    FOREACH t IN ARRAY ARRAY['pgtrickle._lock_numbering', 'pgtrickle.outbox_numbered', 'pgtrickle._lock_catalog', 'pgstream._lock_maintenance', 'pgstream.generated'] LOOP
      FOREACH c IN ARRAY ARRAY['EXPLAIN DELETE FROM %s', 'EXPLAIN SELECT * FROM %s FOR UPDATE', 'ANALYZE %s', 'LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE'] LOOP
        BEGIN
          EXECUTE format(c, t);
        EXCEPTION WHEN insufficient_privilege OR undefined_table THEN
          NULL;
        END;
      END LOOP;
    END LOOP;
  END
  $d$$q$);
SELECT assert_eq((SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
                  WHERE a.usename = current_database() || '_stranger' AND l.granted AND l.locktype = 'advisory') >= 4,
                 true, 'the stranger holds its locks');

-- Commit numbering goes on: a write is numbered and readable below the watermark.
SELECT pgtrickle.outbox_watermark() AS before \gset
INSERT INTO public.orders VALUES (1, 10);
SELECT assert_eq(pgtrickle.outbox_watermark() > :before, true, 'a numbering round ran');
SELECT assert_eq((SELECT count(*) FROM pgtrickle.outbox_orders AS o JOIN pgtrickle.outbox_commits AS c
                    ON c.outbox = 'outbox_orders' AND c.xid = o.xid AND c.seq <= pgtrickle.outbox_watermark()), 1::bigint,
                 'the write is numbered');
-- The watermark of one outbox (which waits for a round under way) does not wait for the stranger.
SET statement_timeout = '10s';
SELECT assert_eq((SELECT w.watermark FROM pgtrickle.outbox_watermarks(ARRAY['outbox_orders']) AS w) >= :before, true, 'the watermark of one outbox returns');
-- A pipeline admin's transaction left open after a round holds that outbox's turn: a round of
-- that outbox and another waits a second at most, then numbers the other one.
CREATE TABLE public.items (id int PRIMARY KEY);
SELECT pgtrickle.enable_outbox('public.items');
SELECT dblink_exec('padmin', 'BEGIN');
SELECT * FROM dblink('padmin', $q$SELECT count(*) FROM pgtrickle.outbox_watermarks(ARRAY['outbox_orders'])$q$) AS t(n bigint);
INSERT INTO public.items VALUES (1);
SELECT w.watermark AS items_wm FROM pgtrickle.outbox_watermarks(ARRAY['outbox_orders', 'outbox_items']) AS w
WHERE w.outbox = 'outbox_items' \gset
SELECT assert_eq((SELECT count(*) FROM pgtrickle.outbox_commits AS c WHERE c.outbox = 'outbox_items' AND c.seq <= :items_wm),
                 1::bigint, 'the free outbox is numbered beside the held one');
SELECT dblink_exec('padmin', 'ROLLBACK');
-- Catalog changes by a pipeline admin go through.
SELECT dblink_exec('padmin', $q$DO $d$ BEGIN PERFORM pgtrickle.set_relay_outbox('orders-out', config => '{"stream_table": "orders", "sink_type": "stdout"}'::jsonb); END $d$$q$);
SELECT assert_eq((SELECT count(*) FROM pgtrickle.relay_outbox_config WHERE name = 'orders-out'), 1::bigint, 'set_relay_outbox went through');
-- Partition maintenance runs.
SELECT assert_eq((SELECT count(*) FROM pgstream.maintain_partitions() WHERE action = 'skipped' AND partition IS NULL), 0::bigint,
                 'partition maintenance is not skipped');
-- Subscription changes to the table go through.
INSERT INTO pgstream.subscriptions (key, stream_id, operation, schema_name, table_name) VALUES ('orders', 1, 'INSERT', 'public', 'orders');
SELECT assert_eq((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass AND tgname = 'pgstream_insert'), 1::bigint,
                 'the subscription was generated');
RESET statement_timeout;

SELECT dblink_exec('stranger', 'ROLLBACK');
SELECT dblink_disconnect('stranger'), dblink_disconnect('padmin');
DELETE FROM pgstream.subscriptions;
SELECT pgtrickle.delete_relay('orders-out');
