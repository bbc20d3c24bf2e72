-- create_publication / drop_publication (seed 004, approach D): one publication per table for
-- consumers of the standard logical replication protocol, made with the caller's own rights, and
-- refused where publishing would break the table's writers.
-- expect-stdout: NOTICE:  table public.orders is already published: publication pgtrickle_orders
-- expect-stdout: NOTICE:  no publication of "nothing" found, skipping

CREATE TABLE orders (id int PRIMARY KEY, note text);
CREATE SCHEMA other;
CREATE TABLE other.orders (id int PRIMARY KEY);
CREATE TABLE keyless (note text);
CREATE TABLE full_identity (note text);
ALTER TABLE full_identity REPLICA IDENTITY FULL;

DO $$
BEGIN
  PERFORM assert_eq(pgtrickle.create_publication('orders'), 'pgtrickle_orders', 'named after the table');
  PERFORM assert_eq((SELECT array_agg(prrelid::regclass::text) FROM pg_publication_rel AS r JOIN pg_publication AS p ON p.oid = r.prpubid
                     WHERE p.pubname = 'pgtrickle_orders'), ARRAY['orders'], 'it publishes that table alone');
  PERFORM assert_eq(pgtrickle.create_publication('orders'), 'pgtrickle_orders', 'again: the same publication');
  PERFORM assert_eq(pgtrickle.create_publication('other.orders'), 'pgtrickle_' || left(md5('other.orders'), 16),
                    'a namesake in another schema gets a name of its own');
  PERFORM assert_eq(pgtrickle.create_publication('full_identity'), 'pgtrickle_full_identity',
                    'REPLICA IDENTITY FULL is enough');
  PERFORM expect_error($q$SELECT pgtrickle.create_publication('keyless')$q$,
                       'table public.keyless has no primary key or replica identity, so its UPDATEs and DELETEs would fail');
  PERFORM expect_error($q$SELECT pgtrickle.create_publication('missing')$q$, 'table ''missing'' does not exist');
  -- Writers keep working on a published table.
  INSERT INTO orders VALUES (1, 'a');
  UPDATE orders SET note = 'b';
  DELETE FROM orders;

  PERFORM pgtrickle.drop_publication('orders');
  PERFORM assert_eq((SELECT count(*) FROM pg_publication WHERE pubname = 'pgtrickle_orders'), 0::bigint, 'dropped');
  PERFORM expect_error($q$SELECT pgtrickle.drop_publication('orders')$q$, 'no publication of "orders" found');
  PERFORM pgtrickle.drop_publication('nothing', p_if_exists => true);
  -- A dropped table leaves an empty publication, which drop_publication still finds by name.
  DROP TABLE full_identity;
  PERFORM pgtrickle.drop_publication('full_identity');
  PERFORM assert_eq((SELECT count(*) FROM pg_publication WHERE pubname = 'pgtrickle_full_identity'), 0::bigint,
                    'the empty publication of a dropped table is dropped');
END
$$;

-- A pipeline admin who may create in the database but does not own the table cannot publish it:
-- the caller's own rights apply.
SELECT current_database() || '_pub_admin' AS padmin \gset
CREATE ROLE :"padmin" LOGIN IN ROLE pgtrickle_relay_admin;
GRANT CREATE ON DATABASE :"DBNAME" TO :"padmin";
SET ROLE :"padmin";
DO $$
BEGIN
  PERFORM expect_error($q$SELECT pgtrickle.create_publication('orders')$q$, 'must be owner of table orders');
END
$$;
RESET ROLE;
REVOKE CREATE ON DATABASE :"DBNAME" FROM :"padmin";
DROP ROLE :"padmin";
