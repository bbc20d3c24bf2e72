// "format": "debezium" through Kafka, read with kafkajs as a Debezium consumer would: the events of
// the Debezium PostgreSQL connector's documented `customers` example (create, update, delete and its
// tombstone; with and without Kafka Connect schemas), field by field, timestamps, LSNs and ids aside;
// replica identity FULL, WAL capture and backfill in their Debezium form.
#include <map>
#include <set>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Every record of `topic`, in offset order, key and value parsed (a tombstone's value is null).
std::vector<json> records(const std::string& topic, size_t at_least) {
  auto lines = parse_json_lines(run_node("kafka.js", {kafka_brokers(), topic, std::to_string(at_least), "30000"}));
  for (auto& r : lines) {
    r["k"] = r["key"].is_null() ? json() : json::parse(r["key"].get<std::string>());
    r["v"] = r["tombstone"].get<bool>() ? json() : json::parse(r["body"].get<std::string>());
  }
  return lines;
}

// The documentation's example table, in a schema of the test's own.
const char* kCustomers =
    "CREATE TABLE customers (id SERIAL, first_name VARCHAR(255) NOT NULL, last_name VARCHAR(255) NOT NULL, "
    "email VARCHAR(255) NOT NULL, PRIMARY KEY(id))";

// The columns' schema of the documented create event: int32 id and three strings, none optional;
// the serial key declares the default Debezium gives a generated value (the documentation leaves it
// out; the connector writes it, as tests/integration/kafka/debezium_differential_test.cpp shows).
json customer_fields() {
  return json::parse(R"([{"type":"int32","optional":false,"default":0,"field":"id"},
                         {"type":"string","optional":false,"field":"first_name"},
                         {"type":"string","optional":false,"field":"last_name"},
                         {"type":"string","optional":false,"field":"email"}])");
}

// Checks the source block the documentation shows, timestamps, LSN and transaction id aside.
void expect_source(const json& source, const std::string& prefix, const std::string& db, const std::string& snapshot) {
  EXPECT_EQ(source["connector"], "postgresql");
  EXPECT_EQ(source["name"], prefix);
  EXPECT_EQ(source["db"], db);
  EXPECT_EQ(source["schema"], "public");
  EXPECT_EQ(source["table"], "customers");
  EXPECT_EQ(source["snapshot"], snapshot);
  EXPECT_TRUE(source["version"].is_string());
  EXPECT_TRUE(source["xmin"].is_null());
  // The change's commit time, in milliseconds, microseconds and nanoseconds of the same instant.
  ASSERT_TRUE(source["ts_ms"].is_number_integer());
  const double now_ms = std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(source["ts_ms"].get<double>(), now_ms, 60000);
  EXPECT_EQ(source["ts_us"].get<long long>() / 1000, source["ts_ms"].get<long long>());
  EXPECT_EQ(source["ts_ns"].get<long long>() / 1000, source["ts_us"].get<long long>());
}

// The documentation's create, update and delete of Anne, each in a transaction of its own; their
// transaction ids, as the WAL gives them (32 bits): Debezium's source.txId.
std::vector<std::string> insert_update_delete_anne(TestDb& db) {
  const std::string txid = " SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text FROM c";
  return {db.value("WITH c AS (INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', "
                   "'annek@noanswer.org') RETURNING 1)" + txid),
          db.value("WITH c AS (UPDATE customers SET first_name = 'Anne Marie' WHERE id = 1 RETURNING 1)" + txid),
          db.value("WITH c AS (DELETE FROM customers WHERE id = 1 RETURNING 1)" + txid)};
}

}  // namespace

TEST(DebeziumKafka, TheDocumentedCustomersEventsWithSchemas) {
  TestDb db;
  const std::string prefix = "PostgreSQL_server_" + db.name();
  db.exec(kCustomers);
  db.exec("SELECT pgtrickle.enable_outbox('customers')");
  // No topic: Debezium's <topic.prefix>.<schema>.<table>.
  set_outbox_pipeline(db, "customers-out", {{"source", {{"type", "outbox"}, {"stream_table", "customers"}}},
                                            {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}}},
                                            {"format", "debezium"}, {"topic_prefix", prefix}, {"schemas", true}});
  RelayProcess relay(relay_args(db));
  const std::vector<std::string> txids = insert_update_delete_anne(db);

  const std::string topic = prefix + ".public.customers";
  auto got = records(topic, 4);
  ASSERT_EQ(got.size(), 4u) << relay.err();

  // The key: {"schema": <struct of the primary key>, "payload": {"id": 1}}, the same on every record.
  const json key_schema = {{"type", "struct"},
                           {"fields", json::array({{{"type", "int32"}, {"optional", false}, {"default", 0}, {"field", "id"}}})},
                           {"optional", false},
                           {"name", prefix + ".public.customers.Key"}};
  for (const auto& r : got) {
    EXPECT_EQ(r["k"]["schema"], key_schema);
    EXPECT_EQ(r["k"]["payload"], json({{"id", 1}}));
  }
  std::set<int> partitions;
  for (const auto& r : got) partitions.insert(r["partition"].get<int>());
  EXPECT_EQ(partitions.size(), 1u) << "one key, one partition";

  // The create event's value schema: the documentation's envelope.
  const json& create = got[0]["v"];
  const json& schema = create["schema"];
  EXPECT_EQ(schema["type"], "struct");
  EXPECT_EQ(schema["optional"], false);
  EXPECT_EQ(schema["name"], prefix + ".public.customers.Envelope");
  std::vector<std::string> fields;
  for (const auto& f : schema["fields"]) fields.push_back(f["field"]);
  EXPECT_EQ(fields, (std::vector<std::string>{"before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"}));
  for (int i : {0, 1}) {
    const json& row = schema["fields"][i];
    EXPECT_EQ(row["type"], "struct");
    EXPECT_EQ(row["optional"], true);
    EXPECT_EQ(row["name"], prefix + ".public.customers.Value");
    EXPECT_EQ(row["fields"], customer_fields());
  }
  const json& source_schema = schema["fields"][2];
  EXPECT_EQ(source_schema["name"], "io.debezium.connector.postgresql.Source");
  EXPECT_EQ(source_schema["optional"], false);
  // The connector's source fields, in its order (SchemaFactory.sourceInfoSchemaBuilder and the
  // PostgreSQL connector's own).
  std::vector<std::string> source_fields;
  for (const auto& f : source_schema["fields"]) source_fields.push_back(f["field"]);
  EXPECT_EQ(source_fields, (std::vector<std::string>{"version", "connector", "name", "ts_ms", "snapshot", "db", "sequence",
                                                     "ts_us", "ts_ns", "schema", "table", "txId", "lsn", "xmin",
                                                     "origin", "origin_lsn"}));
  EXPECT_EQ(schema["fields"][4], json({{"type", "string"}, {"optional", false}, {"field", "op"}}));
  EXPECT_EQ(schema["fields"][5], json({{"type", "int64"}, {"optional", true}, {"field", "ts_ms"}}));

  // create: before null, after the new row.
  const json& c = create["payload"];
  EXPECT_TRUE(c["before"].is_null());
  EXPECT_EQ(c["after"], json({{"id", 1}, {"first_name", "Anne"}, {"last_name", "Kretchmar"}, {"email", "annek@noanswer.org"}}));
  EXPECT_EQ(c["op"], "c");
  EXPECT_TRUE(c["transaction"].is_null());
  expect_source(c["source"], prefix, db.name(), "false");
  EXPECT_GE(c["ts_ms"].get<long long>(), c["source"]["ts_ms"].get<long long>()) << "processed after the commit";

  // update with REPLICA IDENTITY DEFAULT: the WAL has no old row for it, so no before (the
  // documentation shows the key; the connector writes null).
  const json& u = got[1]["v"]["payload"];
  EXPECT_EQ(got[1]["v"]["schema"], schema) << "the same schema on every event of the table";
  EXPECT_EQ(u["op"], "u");
  EXPECT_TRUE(u["before"].is_null());
  EXPECT_EQ(u["after"]["first_name"], "Anne Marie");
  expect_source(u["source"], prefix, db.name(), "false");

  // delete: before the old key, the other NOT NULL columns at their type's zero, after null; then
  // the tombstone: the same key, a null value.
  const json& d = got[2]["v"]["payload"];
  EXPECT_EQ(d["op"], "d");
  EXPECT_EQ(d["before"], json({{"id", 1}, {"first_name", ""}, {"last_name", ""}, {"email", ""}}));
  EXPECT_TRUE(d["after"].is_null());
  EXPECT_TRUE(got[3]["tombstone"].get<bool>());
  EXPECT_TRUE(got[3]["v"].is_null());
  EXPECT_EQ(got[3]["key"], got[2]["key"]);

  // Trigger capture knows the writer's transaction (not its LSN).
  for (int i : {0, 1, 2}) {
    EXPECT_EQ(got[i]["v"]["payload"]["source"]["txId"].dump(), txids[i]) << "event " << i;
    EXPECT_TRUE(got[i]["v"]["payload"]["source"]["lsn"].is_null());
  }
}

TEST(DebeziumKafka, WithoutSchemasReplicaIdentityFullAndNoTombstones) {
  TestDb db;
  const std::string prefix = "plain_" + db.name();
  db.exec(kCustomers);
  db.exec("ALTER TABLE customers REPLICA IDENTITY FULL");
  db.exec("SELECT pgtrickle.enable_outbox('customers')");
  set_outbox_pipeline(db, "customers-out", {{"source", {{"type", "outbox"}, {"stream_table", "customers"}}},
                                            {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}}},
                                            {"format", "debezium"}, {"topic_prefix", prefix}, {"tombstones", false}});
  RelayProcess relay(relay_args(db));
  const std::vector<std::string> txids = insert_update_delete_anne(db);
  auto got = records(prefix + ".public.customers", 3);
  ASSERT_EQ(got.size(), 3u) << relay.err();
  for (int i : {0, 1, 2}) EXPECT_EQ(got[i]["v"]["source"]["txId"].dump(), txids[i]) << "event " << i;
  // No JsonConverter envelope: the key and the value are the payloads themselves.
  EXPECT_EQ(got[0]["k"], json({{"id", 1}}));
  EXPECT_FALSE(got[0]["v"].contains("schema"));
  EXPECT_EQ(got[0]["v"]["op"], "c");
  // REPLICA IDENTITY FULL: before is the whole old row.
  const json old_row = {{"id", 1}, {"first_name", "Anne"}, {"last_name", "Kretchmar"}, {"email", "annek@noanswer.org"}};
  EXPECT_EQ(got[1]["v"]["before"], old_row);
  EXPECT_EQ(got[2]["v"]["before"]["first_name"], "Anne Marie");
  EXPECT_EQ(got[2]["v"]["op"], "d");
  for (const auto& r : got) EXPECT_FALSE(r["tombstone"].get<bool>()) << "\"tombstones\": false";
}

TEST(DebeziumKafka, WalCaptureCarriesTheTransactionAndItsLsnAndBackfillReadsAsSnapshot) {
  TestDb db;
  std::string url = replication_login_url(db);
  const std::string prefix = "wal_" + db.name();
  db.exec(kCustomers);
  db.exec("INSERT INTO customers (first_name, last_name, email) VALUES ('Sally', 'Thomas', 'sally.thomas@acme.com')");
  db.exec("SELECT pgtrickle.enable_outbox('customers', capture => 'wal')");
  set_outbox_pipeline(db, "customers-out", {{"source", {{"type", "outbox"}, {"stream_table", "customers"}}},
                                            {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}}},
                                            {"format", "debezium"}, {"topic_prefix", prefix}, {"backfill", "initial"}});
  RelayProcess relay({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(slot_streams_soon(db)) << relay.err();
  // The backfill first (a row inserted while it reads may come both as read and as created).
  ASSERT_EQ(records(prefix + ".public.customers", 1).size(), 1u) << relay.err();
  db.exec("INSERT INTO customers (first_name, last_name, email) VALUES ('George', 'Bailey', 'gbailey@foobar.com')");
  auto got = records(prefix + ".public.customers", 2);
  ASSERT_EQ(got.size(), 2u) << relay.err();
  // The row the table held: a read, from the snapshot, its last row.
  const json& r = got[0]["v"];
  EXPECT_EQ(r["op"], "r");
  EXPECT_EQ(r["after"]["first_name"], "Sally");
  expect_source(r["source"], prefix, db.name(), "last");
  // The change read from the WAL: its transaction id and its commit's LSN.
  const json& c = got[1]["v"];
  EXPECT_EQ(c["op"], "c");
  EXPECT_EQ(c["after"]["first_name"], "George");
  expect_source(c["source"], prefix, db.name(), "false");
  ASSERT_TRUE(c["source"]["txId"].is_number_integer());
  ASSERT_TRUE(c["source"]["lsn"].is_number_integer());
  EXPECT_GT(c["source"]["lsn"].get<long long>(), 0);
  EXPECT_EQ(std::to_string(c["source"]["txId"].get<long long>()),
            db.value("SELECT xmin FROM customers WHERE first_name = 'George'"));
}

// A table of PostgreSQL's types, one row, through Kafka: each value as Debezium's type mappings
// write it with their defaults (the expected values worked out by hand from those mappings, not
// by the relay), each field's Connect schema, and the composite column left out as Debezium does.
TEST(DebeziumKafka, EachTypeIsWrittenAsDebeziumsTypeMappingsSay) {
  TestDb db;
  const std::string prefix = "types_" + db.name();
  db.exec("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
  db.exec("CREATE TYPE pair AS (a int, b text)");
  db.exec("CREATE DOMAIN positive AS int CHECK (VALUE > 0)");
  db.exec("CREATE TABLE types (id int PRIMARY KEY, i2 int2, i8 int8, b bool, t text, vc varchar(20), n numeric(5,2), "
          "nv numeric, m money, d date, ts timestamp, ts3 timestamp(3), tstz timestamptz, tm time, iv interval, "
          "by bytea, u uuid, j json, jb jsonb, e mood, a int4[], r int4range, ip inet, b1 bit(1), pt point, "
          "dom positive, comp pair, f8 float8)");
  db.exec("SELECT pgtrickle.enable_outbox('types')");
  set_outbox_pipeline(db, "types-out", {{"source", {{"type", "outbox"}, {"stream_table", "types"}}},
                                        {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}}},
                                        {"format", "debezium"}, {"topic_prefix", prefix}, {"schemas", true}});
  RelayProcess relay(relay_args(db));
  db.exec("SET lc_monetary = 'C'");
  db.exec("INSERT INTO types VALUES (1, 1, 3, true, 'x', 'vc', 12.34, 10.1111, 1234.56, '2024-01-02', "
          "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123', '2024-01-02 04:04:05.123456+01', '03:04:05.123456', "
          "'1 day 02:00:00', '\\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '{\"a\": 1}', 'happy', "
          "'{1,2}', '[1,10)', '10.0.0.1', B'1', '(1,2)', 5, ROW(1, 'x'), 1.5)");
  auto got = records(prefix + ".public.types", 1);
  ASSERT_EQ(got.size(), 1u) << relay.err();
  const json& after = got[0]["v"]["payload"]["after"];
  ASSERT_TRUE(after.is_object()) << got[0]["body"];
  EXPECT_EQ(after["i2"], 1);
  EXPECT_EQ(after["i8"], 3);
  EXPECT_EQ(after["b"], true);
  EXPECT_EQ(after["t"], "x");
  EXPECT_EQ(after["vc"], "vc");
  EXPECT_EQ(after["n"], "BNI=") << "Decimal: the unscaled 1234, big-endian, base64";
  EXPECT_EQ(after["nv"], json({{"scale", 4}, {"value", "AYr3"}})) << "VariableScaleDecimal";
  EXPECT_EQ(after["m"], "AeJA") << "money: Decimal of scale 2";
  EXPECT_EQ(after["d"], 19724) << "Date: days since the epoch";
  EXPECT_EQ(after["ts"], 1704164645123456LL) << "MicroTimestamp";
  EXPECT_EQ(after["ts3"], 1704164645123LL) << "Timestamp (milliseconds) for a precision up to 3";
  EXPECT_EQ(after["tstz"], "2024-01-02T03:04:05.123456Z") << "ZonedTimestamp, in UTC";
  EXPECT_EQ(after["tm"], 11045123456LL) << "MicroTime";
  EXPECT_EQ(after["iv"], 93600000000LL) << "MicroDuration";
  EXPECT_EQ(after["by"], "AQI=");
  EXPECT_EQ(after["u"], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(json::parse(after["j"].get<std::string>()), json({{"a", 1}})) << "Json: the document as a string";
  EXPECT_EQ(json::parse(after["jb"].get<std::string>()), json({{"a", 1}}));
  EXPECT_EQ(after["e"], "happy");
  EXPECT_EQ(after["a"], json({1, 2}));
  EXPECT_EQ(after["r"], "[1,10)");
  EXPECT_EQ(after["ip"], "10.0.0.1");
  EXPECT_EQ(after["b1"], true) << "bit(1) is a boolean";
  EXPECT_EQ(after["pt"]["x"], 1.0);
  EXPECT_EQ(after["pt"]["y"], 2.0);
  EXPECT_EQ(after["dom"], 5) << "a domain is its base type";
  EXPECT_FALSE(after.contains("comp")) << "Debezium leaves out a composite column";
  EXPECT_EQ(after["f8"], 1.5);

  // The schema of each field, by name.
  std::map<std::string, json> schema;
  for (const auto& f : got[0]["v"]["schema"]["fields"][1]["fields"]) schema[f["field"]] = f;
  EXPECT_FALSE(schema.count("comp"));
  EXPECT_EQ(schema["i2"]["type"], "int16");
  EXPECT_EQ(schema["id"]["optional"], false);
  EXPECT_EQ(schema["t"]["optional"], true);
  EXPECT_EQ(schema["n"]["name"], "org.apache.kafka.connect.data.Decimal");
  EXPECT_EQ(schema["n"]["parameters"], json({{"scale", "2"}, {"connect.decimal.precision", "5"}}));
  EXPECT_EQ(schema["nv"]["name"], "io.debezium.data.VariableScaleDecimal");
  EXPECT_EQ(schema["d"]["name"], "io.debezium.time.Date");
  EXPECT_EQ(schema["ts"]["name"], "io.debezium.time.MicroTimestamp");
  EXPECT_EQ(schema["ts3"]["name"], "io.debezium.time.Timestamp");
  EXPECT_EQ(schema["tstz"]["name"], "io.debezium.time.ZonedTimestamp");
  EXPECT_EQ(schema["tm"]["name"], "io.debezium.time.MicroTime");
  EXPECT_EQ(schema["iv"]["name"], "io.debezium.time.MicroDuration");
  EXPECT_EQ(schema["by"]["type"], "bytes");
  EXPECT_EQ(schema["u"]["name"], "io.debezium.data.Uuid");
  EXPECT_EQ(schema["j"]["name"], "io.debezium.data.Json");
  EXPECT_EQ(schema["e"]["name"], "io.debezium.data.Enum");
  EXPECT_EQ(schema["e"]["parameters"]["allowed"], "sad,ok,happy");
  EXPECT_EQ(schema["a"]["type"], "array");
  EXPECT_EQ(schema["a"]["items"]["type"], "int32");
  EXPECT_EQ(schema["pt"]["name"], "io.debezium.data.geometry.Point");
  EXPECT_EQ(schema["f8"]["type"], "double");
}
