// The Debezium PostgreSQL connector 3.6.1 itself (its embedded engine) and a WAL pipeline of
// "format": "debezium" read the same tables through slots of their own while the same statements
// run; every record must be the same, key and value, but for the fields the harness does not
// compare (debezium_harness.cpp). Each test runs twice: with Kafka Connect's JsonConverter (schemas
// on; each of our records must also be read by JsonConverter as a sink connector reads it), and with
// Avro through the suite's schema registry (Debezium with Apicurio's Avro converter; each side's
// records read back by that converter, and the Avro schemas registered for them the same).
#include <set>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "debezium_harness.h"
#include "kafka_admin.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

class DebeziumDifferential : public ::testing::TestWithParam<Converter> {
 protected:
  Converter converter() const { return GetParam(); }
};

}  // namespace

// Both replica identities, NOT NULL columns with and without defaults, a key change, deletes, columns
// added mid-stream (the next schema: with Avro, its next registered version).
TEST_P(DebeziumDifferential, RowChangesOfBothIdentitiesAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "dd_" + db.name();
  db.exec("CREATE TABLE t_default (id bigint PRIMARY KEY, name text, seq bigserial, qty int NOT NULL DEFAULT 5, "
          "note varchar(20) NOT NULL, created timestamptz NOT NULL DEFAULT now(), flag boolean NOT NULL DEFAULT true, "
          "amount numeric(10,2) NOT NULL DEFAULT 1.50, day date NOT NULL, doc jsonb, tags text[] NOT NULL DEFAULT '{}')");
  db.exec("CREATE TABLE t_full (id int PRIMARY KEY, a text NOT NULL, b jsonb, c int)");
  db.exec("ALTER TABLE t_full REPLICA IDENTITY FULL");
  db.exec("CREATE TABLE t_serial (id serial PRIMARY KEY, v text NOT NULL)");  // Debezium's customers: a serial key

  Debezium debezium(db, converter(), prefix, "public.t_default,public.t_full,public.t_serial", "no_data");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "all-tables", {"public.t_default", "public.t_full", "public.t_serial"}, prefix);
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();

  db.exec("INSERT INTO t_default (id, name, note, day, doc) VALUES (1, 'one', 'n1', '2024-01-02', '{\"b\": [1, 2], \"a\": {\"x\": null}}'), "
          "(2, NULL, 'n2', '2024-02-03', NULL)");
  db.exec("UPDATE t_default SET name = 'uno', qty = 7 WHERE id = 1");
  db.exec("UPDATE t_default SET id = 3 WHERE id = 2");  // a key change
  db.exec("DELETE FROM t_default WHERE id = 1");
  db.exec("DELETE FROM t_default WHERE id = 3");
  db.exec("INSERT INTO t_full VALUES (1, 'a', '[1, {\"k\": \"v\"}]', NULL)");
  db.exec("UPDATE t_full SET c = 4, a = 'b' WHERE id = 1");
  db.exec("DELETE FROM t_full WHERE id = 1");
  db.exec("INSERT INTO t_serial (v) VALUES ('x')");
  db.exec("DELETE FROM t_serial");
  db.exec("ALTER TABLE t_full ADD COLUMN d text, ADD COLUMN e int NOT NULL DEFAULT 7");
  db.exec("INSERT INTO t_full VALUES (2, 'c', NULL, 1, 'dee')");
  db.exec("UPDATE t_full SET e = 8 WHERE id = 2");

  // t_default: 2 creates, an update, the key change (delete, tombstone, create), 2 deletes and tombstones;
  // t_full: create, update, delete, tombstone, then a create and an update with the added columns;
  // t_serial: create, delete, tombstone.
  const size_t n_default = 2 + 1 + 3 + 4, n_full = 4 + 2, n_serial = 3;
  auto theirs = debezium.records(n_default + n_full + n_serial);
  ASSERT_EQ(count(by_key(theirs)), n_default + n_full + n_serial) << debezium.log();
  auto mine = relay_records(converter(), {prefix + ".public.t_default", prefix + ".public.t_full", prefix + ".public.t_serial"},
                   {{prefix + ".public.t_default", n_default}, {prefix + ".public.t_full", n_full}, {prefix + ".public.t_serial", n_serial}});
  ASSERT_EQ(count(by_key(mine)), n_default + n_full + n_serial) << relay.err();
  expect_debeziums_own(mine, theirs, relay);
  if (converter() == Converter::json) {
    EXPECT_EQ(connect_rejects(theirs), "") << "the converter reads Debezium's own";
  }
}

// Every type docs/debezium-types.md maps, NOT NULL (a delete's before fills them as the connector
// does) and NULL; special values; an unchanged TOASTed value; a TRUNCATE (which Debezium skips).
TEST_P(DebeziumDifferential, EveryTypeAndTheirSpecialValuesAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "dt_" + db.name();
  db.exec("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  db.exec("CREATE DOMAIN positive AS int CHECK (VALUE > 0)");
  db.exec("CREATE TABLE t_types (id int PRIMARY KEY, i2 int2 NOT NULL, i8 int8 NOT NULL, b bool NOT NULL, t text NOT NULL, "
          "vc varchar(20) NOT NULL, c5 char(5) NOT NULL, n numeric(5,2) NOT NULL, nv numeric NOT NULL, d date NOT NULL, "
          "ts timestamp NOT NULL, ts3 timestamp(3) NOT NULL, tstz timestamptz NOT NULL, tm time NOT NULL, tmtz timetz NOT NULL, "
          "iv interval NOT NULL, by bytea NOT NULL, u uuid NOT NULL, jb jsonb NOT NULL, e mood NOT NULL, a int4[] NOT NULL, "
          "ta text[] NOT NULL, r int4range NOT NULL, ip inet NOT NULL, b1 bit(1) NOT NULL, dom positive NOT NULL, "
          "f4 float4 NOT NULL, f8 float8 NOT NULL, o oid, ci cidr, mac macaddr, b8 bit(8), vb varbit, pt point, x xml, "
          "tsv tsvector, j json, dr daterange, nr numrange)");
  db.exec("CREATE TABLE t_toast (id int PRIMARY KEY, big text, small int)");

  Debezium debezium(db, converter(), prefix, "public.t_types,public.t_toast", "no_data");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "types", {"public.t_types", "public.t_toast"}, prefix);
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();

  db.exec("INSERT INTO t_types VALUES (1, 1, 3, true, 'x', 'vc', 'ab', 12.34, 10.1111, '2024-01-02', "
          "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123', '2024-01-02 04:04:05.123456+01', '03:04:05.123456', "
          "'03:04:05+02', '1 year 2 mons 3 days 04:05:06.5', '\\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
          "'{\"b\": [1, 2.50, \"é\"], \"a\": null}', 'happy', '{1,2,NULL}', '{\"a b\",c}', '[1,10)', '10.0.0.1/8', B'1', 5, "
          "1.25, 2.5e-10, 42, '10.0.0.0/8', '08:00:2b:01:02:03', B'10101010', B'101', '(1.5,2)', '<a>x</a>', "
          "'a fat cat', '{\"k\": [1, 2]}', '[2024-01-01,2024-02-01)', '(1.5,2.5]')");
  db.exec("INSERT INTO t_types (id, i2, i8, b, t, vc, c5, n, nv, d, ts, ts3, tstz, tm, tmtz, iv, by, u, jb, e, a, ta, r, ip, b1, "
          "dom, f4, f8) VALUES (2, -32768, -9223372036854775808, false, '', 'ünï', '', -999.99, '-0.000001', '-infinity', "
          "'infinity', '1900-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', '24:00:00', '00:00:00-05', '-1 days', '', "
          "'00000000-0000-0000-0000-000000000000', '[]', 'sad', '{}', '{}', 'empty', '::1', B'0', 1, 'NaN', '-Infinity')");
  db.exec("UPDATE t_types SET t = 'y', a = '{3}' WHERE id = 1");
  db.exec("DELETE FROM t_types");
  // An unchanged TOASTed value: the WAL does not carry it.
  db.exec("INSERT INTO t_toast VALUES (1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) AS i), 1)");
  db.exec("UPDATE t_toast SET small = 2 WHERE id = 1");
  db.exec("TRUNCATE t_toast");
  db.exec("INSERT INTO t_toast VALUES (2, 'after the truncate', 3)");

  // t_types: 2 creates, an update, 2 deletes and their tombstones; t_toast: create, update, create.
  const size_t n_types = 7, n_toast = 3;
  auto theirs = debezium.records(n_types + n_toast);
  ASSERT_EQ(count(by_key(theirs)), n_types + n_toast) << debezium.log();
  auto mine = relay_records(converter(), {prefix + ".public.t_types", prefix + ".public.t_toast"},
                   {{prefix + ".public.t_types", n_types}, {prefix + ".public.t_toast", n_toast}});
  expect_debeziums_own(mine, theirs, relay);
}

// Debezium's outbox event router over Debezium's outbox table, with its defaults and with further
// settings, beside two pipelines of "format": "outbox_event_router" with the same settings: the
// same topics, keys, values and id headers; deletes (the outbox kept empty) and updates not sent.
TEST_P(DebeziumDifferential, TheOutboxEventRoutersRecordsAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "do_" + db.name(), order = "order_" + db.name(), customer = "customer_" + db.name();
  for (const char* table : {"outbox", "outbox_custom"})
    db.exec(std::string("CREATE TABLE ") + table + " (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL, "
            "aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb, tenant int)");
  // One engine, two routers, each on the records of its table (Kafka Connect's predicates).
  const std::string custom = "transforms.custom.";
  Debezium debezium(db, converter(), prefix, "public.outbox,public.outbox_custom", "no_data",
                    "transforms=outbox,custom\n"
                    "transforms.outbox.type=io.debezium.transforms.outbox.EventRouter\ntransforms.outbox.predicate=isOutbox\n" +
                        custom + "type=io.debezium.transforms.outbox.EventRouter\n" + custom + "predicate=isCustom\n" + custom +
                        "route.by.field=type\n" + custom + "route.topic.replacement=events.${routedByValue}\n" + custom +
                        "table.expand.json.payload=true\n" + custom +
                        "table.fields.additional.placement=type:header:eventType,tenant:envelope,aggregatetype:envelope:kind\n"
                        "predicates=isOutbox,isCustom\n"
                        "predicates.isOutbox.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches\n"
                        "predicates.isOutbox.pattern=" + prefix + "\\\\.public\\\\.outbox\n"
                        "predicates.isCustom.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches\n"
                        "predicates.isCustom.pattern=" + prefix + "\\\\.public\\\\.outbox_custom\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "router", {"public.outbox"}, prefix, {{"format", "outbox_event_router"}});
  set_debezium_pipeline(db, converter(), "router-custom", {"public.outbox_custom"}, prefix,
                   {{"format", "outbox_event_router"},
                    {"outbox_event_router", {{"route.by.field", "type"}, {"route.topic.replacement", "events.${routedByValue}"},
                                             {"table.expand.json.payload", "true"},
                                             {"table.fields.additional.placement", "type:header:eventType,tenant:envelope,aggregatetype:envelope:kind"}}}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(wait_until([&] {
    return db.number("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                     "WHERE s.database = current_database() AND r.state IS DISTINCT FROM 'startup' AND s.slot_name NOT LIKE 'dbz\\_%'") == 2;
  }, 60s)) << relay.err();

  for (const char* table : {"outbox", "outbox_custom"}) {
    const std::string t = table;
    auto insert = [&](const std::string& id, const std::string& type, const std::string& aggregate, const std::string& event,
                      const std::string& payload, const std::string& tenant) {
      return "INSERT INTO " + t + " VALUES ('" + id + "', '" + type + "', '" + aggregate + "', '" + event + "_" + db.name() +
             "', " + payload + ", " + tenant + ")";
    };
    db.exec(insert("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", order, "o-1", "OrderCreated",
                   "'{\"total\": 2.50, \"lines\": [{\"sku\": \"x\", \"qty\": 1}, {\"sku\": \"y\", \"qty\": 2}], "
                   "\"ship\": {\"city\": \"Oslo\", \"zip\": null}, "
                   "\"gift\": null, \"tags\": [], \"big\": 3000000000, \"at\": \"2024-01-02\", \"ok\": true}'", "1"));
    db.exec(insert("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", order, "o-2", "OrderPaid", "NULL", "NULL"));
    db.exec(insert("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13", customer, "c-1", "CustomerCreated", "'{\"name\": \"Ann \\u00e9\"}'", "3"));
    // Debezium's outbox kept empty: the row deleted in the transaction that wrote it.
    db.exec("BEGIN; " + insert("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14", customer, "c-2", "CustomerDeleted", "'{\"reason\": \"gone\", \"at\": [1.5, 2]}'", "4") +
            "; DELETE FROM " + t + " WHERE aggregateid = 'c-2'; COMMIT");
    db.exec("UPDATE " + t + " SET tenant = 9 WHERE aggregateid = 'o-1'");  // not an event: skipped, with a warning
  }

  // outbox: two orders and two customers on their aggregate types' topics; outbox_custom: one each
  // on its event types' topics.
  auto theirs = debezium.records(8);
  ASSERT_EQ(count(by_key(theirs)), 8u) << debezium.log();
  const std::map<std::string, size_t> topics = {
      {"outbox.event." + order, 2}, {"outbox.event." + customer, 2}, {"events.OrderCreated_" + db.name(), 1},
      {"events.OrderPaid_" + db.name(), 1}, {"events.CustomerCreated_" + db.name(), 1}, {"events.CustomerDeleted_" + db.name(), 1}};
  std::vector<std::string> names;
  for (const auto& [topic, n] : topics) names.push_back(topic);
  auto mine = relay_records(converter(), names, topics);
  ASSERT_EQ(count(by_key(mine)), 8u) << relay.err();
  expect_debeziums_own(mine, theirs, relay);
  EXPECT_NE(relay.err().find("An UPDATE of an outbox row was not sent"), std::string::npos);
}

// A table's existing rows: Debezium's initial snapshot beside the relay's initial backfill, both
// op "r" marked first, true…, last, then a change. The reads' position in the stream is not
// compared: Debezium's snapshot reads at one LSN in one transaction, the backfill in chunks
// between positions of the stream (no long transaction), and names none.
TEST_P(DebeziumDifferential, ABackfillIsDebeziumsInitialSnapshot) {
  TestDb db;
  const std::string prefix = "ds_" + db.name();
  db.exec("CREATE TABLE t_rows (id int PRIMARY KEY, name text NOT NULL, note varchar(10))");
  db.exec("INSERT INTO t_rows VALUES (1, 'one', 'a'), (2, 'two', NULL), (3, 'three', 'c')");
  // The backfill's markers are logical decoding messages, which every slot of the database sees:
  // Debezium is told to leave them out (docs/debezium.md).
  Debezium debezium(db, converter(), prefix, "public.t_rows", "initial", "message.prefix.exclude.list=pgtrickle_backfill\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "rows", {"public.t_rows"}, prefix, {{"backfill", "initial"}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();
  const std::string topic = prefix + ".public.t_rows";
  ASSERT_EQ(count(by_key(relay_records(converter(), {topic}, {{topic, 3}}))), 3u) << relay.err();  // the backfill done
  db.exec("INSERT INTO t_rows VALUES (4, 'four', 'd')");

  expect_debeziums_records(converter(), debezium, relay, {{topic, 4}}, /*reads_masked=*/true);
}

// hstore as a map (Debezium's hstore.handling.mode map, the relay's hstore_handling): values,
// nulls, the schema, a delete's zero for a NOT NULL column.
TEST_P(DebeziumDifferential, HstoreAsAMapIsDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "dh_" + db.name();
  db.exec("CREATE EXTENSION IF NOT EXISTS hstore");
  db.exec("CREATE TABLE t_h (id int PRIMARY KEY, h hstore NOT NULL, h2 hstore)");
  Debezium debezium(db, converter(), prefix, "public.t_h", "no_data", "hstore.handling.mode=map\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "h", {"public.t_h"}, prefix, {{"hstore_handling", "map"}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();
  db.exec("INSERT INTO t_h VALUES (1, 'a=>1, \"b c\"=>NULL, \"é\"=>\"x\\\"y\"', NULL), (2, '', 'k=>v')");
  db.exec("UPDATE t_h SET h = h || 'z=>9' WHERE id = 1");
  db.exec("DELETE FROM t_h WHERE id = 2");

  const std::string topic = prefix + ".public.t_h";
  expect_debeziums_records(converter(), debezium, relay, {{topic, 5}});
}

// PostGIS's geometry and geography (the EWKB and its SRID), from a backfill beside Debezium's
// snapshot and from the WAL: 2-D, 3-D and measured shapes, a curve GeoJSON cannot write, an empty
// one, a shape large enough to be TOASTed and left unchanged, a delete's NOT NULL column, arrays.
TEST_P(DebeziumDifferential, PostgisGeometryAndGeographyAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "dg_" + db.name();
  db.exec("CREATE EXTENSION IF NOT EXISTS postgis");
  db.exec("CREATE TABLE t_geo (id int PRIMARY KEY, g geometry NOT NULL, p geometry(Point, 4326), gg geography, "
          "big geometry, note text, gs geometry[], ggs geography[])");
  db.exec("INSERT INTO t_geo VALUES (1, 'POINT(1.1234567890123457 -2.5)', 'SRID=4326;POINT(13.4 52.52)', "
          "'SRID=4326;LINESTRING(0 0, 1 1)', NULL, 'snapshot', ARRAY['POINT(1 2)'::geometry, NULL, 'SRID=3857;POINT Z(1 2 3)'], "
          "ARRAY['SRID=4326;POINT(5 6)'::geography])");
  Debezium debezium(db, converter(), prefix, "public.t_geo", "initial", "message.prefix.exclude.list=pgtrickle_backfill\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "geo", {"public.t_geo"}, prefix, {{"backfill", "initial"}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();
  const std::string topic = prefix + ".public.t_geo";
  ASSERT_EQ(count(by_key(relay_records(converter(), {topic}, {{topic, 1}}))), 1u) << relay.err();  // the backfill done

  db.exec("INSERT INTO t_geo VALUES (2, 'SRID=3857;POLYGON Z((0 0 1, 4 0 2, 4 4 3, 0 0 1))', NULL, "
          "'SRID=4326;POINT(-73.99 40.73)', NULL, 'z'), (3, 'POINT M(1 2 3)', NULL, NULL, NULL, 'm'), "
          "(4, 'CIRCULARSTRING(0 0, 1 1, 1 0)', NULL, NULL, NULL, 'curve'), (5, 'GEOMETRYCOLLECTION EMPTY', NULL, "
          "NULL, NULL, 'empty')");
  db.exec("INSERT INTO t_geo SELECT 6, 'POINT(0 0)', NULL, NULL, ST_MakeLine(array_agg(ST_MakePoint(random() * 1000, "
          "random() * 1000) ORDER BY i)), 'toasted' FROM generate_series(1, 400) AS i");
  db.exec("UPDATE t_geo SET note = 'big left alone' WHERE id = 6");
  db.exec("UPDATE t_geo SET g = 'SRID=4326;MULTIPOINT((1 2), (3 4))', gs = ARRAY['CIRCULARSTRING(0 0, 1 1, 1 0)'::geometry] "
          "WHERE id = 2");
  db.exec("DELETE FROM t_geo WHERE id = 3");

  // 1 read, 5 creates, 2 updates, a delete and its tombstone.
  const size_t n = 1 + 5 + 2 + 2;
  expect_debeziums_records(converter(), debezium, relay, {{topic, n}}, /*reads_masked=*/true);
}

// column.propagate.source.type and datatype.propagate.source.type (the relay's
// column_propagate_source_type and datatype_propagate_source_type): each type's name, length and
// scale as Debezium's streaming gives them, arrays, an enum, a domain, a serial; the key's schema
// without them; a column neither rule matches without them.
TEST_P(DebeziumDifferential, PropagatedSourceTypesAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "dp_" + db.name();
  db.exec("CREATE TYPE mood AS ENUM ('sad', 'ok')");
  db.exec("CREATE DOMAIN price AS numeric(8,3)");
  db.exec("CREATE TABLE t_p (id serial PRIMARY KEY, a int2, b int8, c float4, d float8, e numeric, f numeric(10,2), "
          "g varchar, h varchar(20), i char(5), j text NOT NULL DEFAULT 'x', k boolean, l bytea, m date, n time, o time(3), "
          "p timetz, q timestamp, r timestamp(3), s timestamptz, t interval, u interval(3), v uuid, w jsonb, x bit(3), "
          "y varbit, z int4[], aa varchar(20)[], ab mood, ac price, ad time(1), ae money)");
  db.exec("CREATE TABLE t_q (id int PRIMARY KEY, n numeric(5,1), s text)");
  const std::string columns = "public\\.t_p\\..*", datatypes = ".+\\.NUMERIC";
  Debezium debezium(db, converter(), prefix, "public.t_p,public.t_q", "no_data",
                    "column.propagate.source.type=" + columns + "\ndatatype.propagate.source.type=" + datatypes + "\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "p", {"public.t_p", "public.t_q"}, prefix,
                   {{"column_propagate_source_type", columns}, {"datatype_propagate_source_type", datatypes}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();
  db.exec("INSERT INTO t_p (a, f, h, z, ab, ac) VALUES (1, 2.5, 'x', '{1,2}', 'ok', 1.5)");
  db.exec("UPDATE t_p SET a = 2");
  db.exec("INSERT INTO t_q VALUES (1, 1.5, 's')");
  db.exec("DELETE FROM t_q");

  const std::string tp = prefix + ".public.t_p", tq = prefix + ".public.t_q";
  expect_debeziums_records(converter(), debezium, relay, {{tp, 2}, {tq, 3}});
}

// include.unknown.datatypes (the relay's include_unknown_datatypes): the types Debezium does not
// map, sent as the bytes of their text, from a backfill beside Debezium's snapshot and from the WAL:
// a composite and an array of it, built-in types without a mapping, geometric types (whose numbers
// Debezium writes again as Java doubles), a multirange; NOT NULL in a delete.
TEST_P(DebeziumDifferential, UnknownTypesAsBytesAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "du_" + db.name();
  db.exec("CREATE TYPE pair AS (a int, b text)");
  db.exec("CREATE TABLE t_u (id int PRIMARY KEY, p pair NOT NULL, ps pair[], q tsquery, l pg_lsn, x xid, b box, "
          "c circle, li line, ls lseg, pa path, po polygon, mr int4multirange, qs tsquery[])");
  db.exec("INSERT INTO t_u VALUES (1, '(1,\"a b\")', '{\"(1,x)\",\"(2,)\"}', 'a & b', '0/16B3748', '42', '(1,1),(0,0)', "
          "'<(10,20),1.5>', '{1,-1,0}', '[(1,2),(3,4)]', '((0,0),(1,1),(2,0))', '((0,0),(1,1))', '{[1,3),[5,7)}', "
          "'{\"a & b\",c}')");
  Debezium debezium(db, converter(), prefix, "public.t_u", "initial",
                    "include.unknown.datatypes=true\nmessage.prefix.exclude.list=pgtrickle_backfill\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "u", {"public.t_u"}, prefix, {{"backfill", "initial"}, {"include_unknown_datatypes", true}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay.err();
  const std::string topic = prefix + ".public.t_u";
  ASSERT_EQ(count(by_key(relay_records(converter(), {topic}, {{topic, 1}}))), 1u) << relay.err();  // the backfill done

  db.exec("INSERT INTO t_u (id, p, b, pa) VALUES (2, '(-3,\"q\"\"uote\")', '(2.5,1e-5),(-1,0)', '[(1.5,2),(3,4)]')");
  db.exec("UPDATE t_u SET q = 'x | y', ps = '{\"(7,\\\\\\\\)\"}' WHERE id = 1");
  db.exec("DELETE FROM t_u WHERE id = 2");
  // 1 read, a create, an update, a delete and its tombstone.
  const size_t n = 1 + 1 + 1 + 2;
  expect_debeziums_records(converter(), debezium, relay, {{topic, n}}, /*reads_masked=*/true);
}

// heartbeat.interval.ms (the relay's heartbeat_interval_ms): the heartbeat topic, its key and its
// value as Debezium's; its ts_ms the time it was sent.
TEST_P(DebeziumDifferential, HeartbeatsAreDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "db_" + db.name();
  db.exec("CREATE TABLE t_hb (id int PRIMARY KEY)");
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  const std::int64_t started = now_ms();
  Debezium debezium(db, converter(), prefix, "public.t_hb", "no_data", "heartbeat.interval.ms=1000\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "hb", {"public.t_hb"}, prefix, {{"heartbeat_interval_ms", 1000}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  const std::string topic = "__debezium-heartbeat." + prefix;
  auto theirs = debezium.records(2);
  ASSERT_GE(theirs.size(), 2u) << debezium.log();
  auto mine = relay_records(converter(), {topic}, {{topic, 2}});
  ASSERT_GE(mine.size(), 2u) << relay.err();
  EXPECT_EQ(theirs[0].topic, topic);
  EXPECT_EQ(mine[0].key, theirs[0].key);
  EXPECT_EQ(mine[0].value, theirs[0].value) << "the schema, and the payload but for ts_ms";
  if (converter() == Converter::json) {
    EXPECT_EQ(connect_rejects(mine), "");
  }
  // The times sent.
  std::set<std::int64_t> sent;
  for (const auto& r : mine) {
    ASSERT_TRUE(r.sent_ts_ms.is_number_integer()) << r.value;
    const std::int64_t ts = r.sent_ts_ms.get<std::int64_t>();
    EXPECT_GE(ts, started);
    EXPECT_LE(ts, now_ms());
    sent.insert(ts);
  }
  EXPECT_GE(sent.size(), 2u) << "a heartbeat at start and one a second later";
}

// provide.transaction.metadata (the relay's provide_transaction_metadata): each transaction's
// BEGIN and END on <prefix>.transaction, their ids (xid and LSN) and counts per table, and each
// change's place in its transaction; a transaction of several tables, a key change, a skipped
// TRUNCATE; a relay killed inside a transaction sent in chunks goes on counting where it was.
TEST_P(DebeziumDifferential, TransactionMetadataIsDebeziumsOwn) {
  TestDb db;
  const std::string prefix = "dx_" + db.name();
  db.exec("CREATE TABLE t1 (id int PRIMARY KEY, v text)");
  db.exec("CREATE TABLE t2 (id int PRIMARY KEY, v text)");
  db.exec("CREATE TABLE zeta (id int PRIMARY KEY, v text)");
  Debezium debezium(db, converter(), prefix, "public.t1,public.t2,public.zeta", "no_data", "provide.transaction.metadata=true\n");
  ASSERT_TRUE(debezium.streaming(db)) << debezium.log();
  std::string url = replication_login_url(db);
  set_debezium_pipeline(db, converter(), "x", {"public.t1", "public.t2", "public.zeta"}, prefix,
                   {{"provide_transaction_metadata", true}, {"batch_size", 7}});
  auto relay = std::make_unique<RelayProcess>(std::vector<std::string>{"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db, "s.slot_name NOT LIKE 'dbz\\_%'")) << relay->err();

  db.exec("BEGIN; INSERT INTO zeta VALUES (1, 'z'); INSERT INTO t2 VALUES (1, 'a'); INSERT INTO t1 VALUES (1, 'a'); "
          "UPDATE t1 SET v = 'b' WHERE id = 1; COMMIT");
  db.exec("INSERT INTO t1 VALUES (2, 'c')");
  db.exec("UPDATE t1 SET id = 3 WHERE id = 2");  // a key change: a delete and a create
  db.exec("TRUNCATE t2");                          // skipped: a transaction of no events
  const std::string tx = prefix + ".transaction", t1 = prefix + ".public.t1", t2 = prefix + ".public.t2",
                    zeta = prefix + ".public.zeta";
  // Each transaction's BEGIN and END: 4 transactions.
  ASSERT_EQ(count(by_key(relay_records(converter(), {tx}, {{tx, 8}}))), 8u) << relay->err();
  // A transaction sent in chunks of 7, the relay killed inside it and started again.
  db.exec("INSERT INTO t1 SELECT i, repeat('x', 200) FROM generate_series(10, 5009) AS i");
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'x' "
                                               "AND next_row > 1") == "1"; }, 60s))
      << relay->err();
  relay->kill9();
  relay = std::make_unique<RelayProcess>(std::vector<std::string>{"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(wait_until([&] { return relay->err().find("Resuming inside a transaction") != std::string::npos; }, 30s))
      << relay->err();
  db.exec("DELETE FROM t1 WHERE id < 10");

  // t1: a create and an update, a create, a key change (a delete, its tombstone, a create), 5,000
  // creates, 2 deletes and their tombstones; t2: 1; zeta: 1; transactions: 6 BEGINs and ENDs.
  const size_t n1 = 2 + 1 + 3 + 5000 + 4, n2 = 1, nz = 1, ntx = 12;
  expect_debeziums_records(converter(), debezium, *relay, {{t1, n1}, {t2, n2}, {zeta, nz}, {tx, ntx}});
}

INSTANTIATE_TEST_SUITE_P(Converters, DebeziumDifferential, ::testing::Values(Converter::json, Converter::avro),
                         [](const ::testing::TestParamInfo<Converter>& info) {
                           return std::string(info.param == Converter::json ? "json" : "avro");
                         });
