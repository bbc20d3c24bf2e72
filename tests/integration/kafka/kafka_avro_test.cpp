// "value_converter": "avro" through a real Kafka broker and a real schema registry (Apicurio
// Registry's Confluent API): the records are in the Confluent wire format, their schemas registered
// under Kafka's TopicNameStrategy subjects, and each decodes (with avsc, an Avro implementation of
// its own, against the schema fetched from the registry by id) to exactly the payload Kafka
// Connect's JsonConverter gives for the same change; an ALTER TABLE registers the next version, and
// a schema the registry refuses stops the pipeline with the registry's reason until it is accepted.
// The way back: a Kafka source reads the records into an inbox as that JSON, sets aside what is not
// Avro, and waits (losing nothing) while the registry cannot be reached.

#include <algorithm>
#include <fstream>
#include <map>
#include <tuple>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "../tls_certs.h"
#include "kafka_admin.h"
#include "util/digest.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Every record of `topic`; with `avro`, keys and values decoded against their registered schemas.
std::vector<json> records(const std::string& topic, size_t at_least, bool avro) {
  std::vector<std::string> args{kafka_brokers(), topic, std::to_string(at_least), "30000"};
  if (avro) args.insert(args.begin(), {"avro", schema_registry_url()});
  auto lines = parse_json_lines(run_node("kafka.js", args));
  for (auto& r : lines) {
    r["k"] = r["key"].is_null() ? json() : json::parse(r["key"].get<std::string>());
    r["v"] = r["tombstone"].get<bool>() ? json() : json::parse(r["body"].get<std::string>());
  }
  return lines;
}

// A forward pipeline of `table`'s changes to `topic` in Debezium's events, Avro through the
// registry; `sink_extra`, `pipeline_extra`: more keys of the sink and of the pipeline.
void set_avro_pipeline(TestDb& db, const std::string& name, const std::string& table, const std::string& topic,
                       const json& sink_extra = json::object(), const json& pipeline_extra = json::object()) {
  json sink = {{"type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", topic}, {"value_converter", "avro"},
               {"schema_registry_url", schema_registry_url()}};
  sink.update(sink_extra);
  json config = {{"source", {{"type", "outbox"}, {"stream_table", table}}}, {"sink", sink}, {"format", "debezium"}};
  config.update(pipeline_extra);
  set_outbox_pipeline(db, name, config);
}

// A reverse pipeline reading `topic`'s Avro records (schemas from `registry`) into `inbox`.
json avro_back(const std::string& topic, const std::string& group, const std::string& inbox, const std::string& registry) {
  return {{"source", {{"type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", topic}, {"group_id", group},
                      {"value_converter", "avro"}, {"schema_registry_url", registry}}},
          {"sink", {{"type", "inbox"}, {"inbox_name", inbox}}}};
}

json pipeline_health(int port, const std::string& name) {
  int status = 0;
  auto h = json::parse(http_get(port, "/health", status), nullptr, false);
  if (h.is_discarded()) return json::object();
  for (const auto& p : h["pipelines"])
    if (p.value("name", "") == name) return p;
  return json::object();
}

// The pipeline's last error in /health ("" while it has none: the field is null then).
std::string last_error(int port, const std::string& name) {
  const json p = pipeline_health(port, name);
  return p.contains("last_error") && p["last_error"].is_string() ? p["last_error"].get<std::string>() : "";
}

// A change event as both converters carry it, less what the relay stamps when it sends (the
// envelope's ts_ms, ts_us and ts_ns: each pipeline sends at its own moment).
json comparable(json event) {
  for (const char* k : {"ts_ms", "ts_us", "ts_ns"}) event.erase(k);
  return event;
}

const char* kItems =
    "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, price numeric(10,2), born date, seen timestamptz, "
    "flag boolean, qty int, data bytea, note text)";

}  // namespace

TEST(KafkaAvro, DebeziumEventsInAvroDecodeToWhatJsonConverterWritesAndAnAlterRegistersTheNextVersion) {
  TestDb db;
  db.exec(kItems);
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  const std::string prefix = "shop_" + db.name(), avro_topic = "avro-" + db.name(), json_topic = "json-" + db.name();
  json source = {{"type", "outbox"}, {"stream_table", "items"}};
  set_outbox_pipeline(db, "items-avro", {{"source", source},
                                          {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", avro_topic},
                                                    {"value_converter", "avro"}, {"schema_registry_url", schema_registry_url()}}},
                                          {"format", "debezium"}, {"topic_prefix", prefix}});
  set_outbox_pipeline(db, "items-json", {{"source", source},
                                          {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", json_topic}}},
                                          {"format", "debezium"}, {"topic_prefix", prefix}, {"schemas", true}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO items (name, price, born, seen, flag, qty, data, note) VALUES "
          "('pen', 1.50, '2020-02-29', '2026-11-28 10:00:00.123+00', true, 3, '\\xdeadbeef', NULL), "
          "('ink', NULL, NULL, NULL, NULL, NULL, NULL, 'blue')");
  db.exec("UPDATE items SET price = 2.25, note = 'red' WHERE name = 'pen'");
  db.exec("DELETE FROM items WHERE name = 'ink'");

  auto avro = records(avro_topic, 5, true);
  auto plain = records(json_topic, 5, false);
  ASSERT_EQ(avro.size(), 5u) << relay.err();  // 2 creates, an update, a delete and its tombstone
  ASSERT_EQ(plain.size(), 5u) << relay.err();
  // Each key's records in order (Kafka partitions by the key's bytes, which differ between the two
  // converters: the keys' partitions may too).
  std::map<std::string, std::vector<json>> avro_by_key, plain_by_key;
  for (const auto& r : avro) avro_by_key[r["k"].dump()].push_back(r);
  for (const auto& r : plain) plain_by_key[r["k"]["payload"].dump()].push_back(r);
  ASSERT_EQ(avro_by_key.size(), 2u);
  for (const auto& [key, mine] : avro_by_key) {
    const auto& theirs = plain_by_key[key];
    ASSERT_EQ(mine.size(), theirs.size()) << key;
    for (size_t i = 0; i < mine.size(); ++i) {
      if (theirs[i]["tombstone"].get<bool>()) {
        EXPECT_TRUE(mine[i]["tombstone"].get<bool>()) << key << " record " << i << ": a tombstone stays a null value";
        continue;
      }
      EXPECT_EQ(comparable(mine[i]["v"]), comparable(theirs[i]["v"]["payload"])) << key << " record " << i;
    }
  }
  const auto& pen = avro_by_key[R"({"id":1})"];
  ASSERT_EQ(pen.size(), 2u);
  EXPECT_EQ(pen[0]["v"]["op"], "c");
  EXPECT_EQ(pen[1]["v"]["after"]["price"], "AOE=") << "2.25 as a Decimal of scale 2: the unscaled 225";

  // Registered under TopicNameStrategy's subjects, as the converter registers them: Debezium's
  // record names, Kafka Connect's properties.
  const json value = schema_registry_call("GET", "/subjects/" + avro_topic + "-value/versions/latest");
  ASSERT_TRUE(value.is_object()) << "no value subject";
  EXPECT_EQ(value["id"], pen[0]["value_schema_id"]);
  const json schema = json::parse(value["schema"].get<std::string>());
  EXPECT_EQ(schema["type"], "record");
  EXPECT_EQ(schema["name"], "Envelope");
  EXPECT_EQ(schema["namespace"], prefix + ".public.items");
  EXPECT_EQ(schema["connect.name"], prefix + ".public.items.Envelope");
  const json key = schema_registry_call("GET", "/subjects/" + avro_topic + "-key/versions/latest");
  ASSERT_TRUE(key.is_object()) << "no key subject";
  EXPECT_EQ(json::parse(key["schema"].get<std::string>())["name"], "Key");
  EXPECT_EQ(schema_registry_call("GET", "/subjects/" + avro_topic + "-value/versions").size(), 1u) << "one schema for every event";
  const std::string requests = "pgtrickle_relay_schema_registry_requests_total{pipeline=\"items-avro\"}";
  EXPECT_EQ(metric(relay.admin_port(), requests), 2) << "the key's schema and the value's, each registered once";

  // A column added: the next version, at the first change after it; the records still decode.
  db.exec("ALTER TABLE items ADD COLUMN colour text");
  db.exec("INSERT INTO items (name, colour) VALUES ('pad', 'green')");
  avro = records(avro_topic, 6, true);
  ASSERT_EQ(avro.size(), 6u) << relay.err();
  const auto pad = std::find_if(avro.begin(), avro.end(), [](const json& r) { return r["k"] == json{{"id", 3}}; });
  ASSERT_NE(pad, avro.end());
  EXPECT_EQ((*pad)["v"]["after"]["colour"], "green");
  EXPECT_NE((*pad)["value_schema_id"], pen[0]["value_schema_id"]);
  EXPECT_EQ(schema_registry_call("GET", "/subjects/" + avro_topic + "-value/versions").size(), 2u);
  EXPECT_EQ(metric(relay.admin_port(), requests), 3) << "the value's next schema; the key's unchanged";
}

TEST(KafkaAvro, ASchemaTheRegistryRefusesStopsThePipelineWithItsReasonUntilItIsAccepted) {
  TestDb db;
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, total int)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  const std::string topic = "refused-" + db.name();
  set_avro_pipeline(db, "orders-avro", "orders", topic);
  RelayProcess relay(relay_args(db));
  const int port = relay.admin_port();
  db.exec("INSERT INTO orders VALUES (1, 10)");
  ASSERT_EQ(records(topic, 1, true).size(), 1u) << relay.err();

  // BACKWARD, Confluent's default: a new schema must read what the old one wrote. A required column
  // without a default cannot.
  ASSERT_TRUE(schema_registry_call("PUT", "/config/" + topic + "-value", R"({"compatibility":"BACKWARD"})").is_object());
  db.exec("ALTER TABLE orders ADD COLUMN region int NOT NULL DEFAULT 1");
  db.exec("ALTER TABLE orders ALTER COLUMN region DROP DEFAULT");
  db.exec("INSERT INTO orders VALUES (2, 20, 7)");
  db.exec("INSERT INTO orders VALUES (3, 30, 8)");
  ASSERT_TRUE(wait_until([&] { return pipeline_health(port, "orders-avro").value("state", "") == "failed"; }, 30s)) << relay.err();
  const std::string error = last_error(port, "orders-avro");
  EXPECT_NE(error.find("409"), std::string::npos) << error;
  EXPECT_NE(error.find(topic + "-value"), std::string::npos) << error;
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'orders-avro'"), 0) << "nothing set aside";
  EXPECT_EQ(records(topic, 1, true).size(), 1u) << "nothing after the refused record was sent";

  // Accepted once the subject allows it: the pipeline runs again and sends both rows, in order.
  ASSERT_TRUE(schema_registry_call("PUT", "/config/" + topic + "-value", R"({"compatibility":"NONE"})").is_object());
  auto got = records(topic, 3, true);
  ASSERT_EQ(got.size(), 3u) << relay.err();
  std::map<int, json> by_id;
  for (const auto& r : got) by_id[r["v"]["after"]["id"].get<int>()] = r["v"]["after"];
  EXPECT_EQ(by_id[2]["region"], 7);
  EXPECT_EQ(by_id[3]["region"], 8);
  EXPECT_TRUE(wait_until([&] { return pipeline_health(port, "orders-avro").value("state", "") == "running"; }, 30s)) << relay.err();
}

TEST(KafkaAvro, AKafkaSourceReadsAvroBackIntoTheInboxAsJsonAndSetsAsideWhatIsNotAvro) {
  TestDb db;
  db.exec("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), born date)");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  db.exec("SELECT pgtrickle.create_inbox('avro_back')");
  const std::string topic = "back-" + db.name();
  set_avro_pipeline(db, "items-avro", "items", topic);
  set_inbox_pipeline(db, "items-back", avro_back(topic, "back-" + db.name(), "avro_back", schema_registry_url()));
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO items VALUES (1, 'pen', 1.50, '2020-02-29'), (2, NULL, NULL, NULL)");
  db.exec("UPDATE items SET name = 'ink' WHERE id = 2");

  // What an Avro library of its own decodes from each record is what the inbox holds, by identity.
  auto sent = records(topic, 3, true);
  ASSERT_EQ(sent.size(), 3u) << relay.err();
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.inbox_avro_back") == 3; }, 30s)) << relay.err();
  for (const auto& r : sent) {
    const std::string id = r["id"].get<std::string>();
    const json stored = json::parse(db.value("SELECT payload::text FROM pgtrickle.inbox_avro_back WHERE event_id = " +
                                             relay::pg::quote_literal(id)));
    EXPECT_EQ(stored, r["v"]) << id;
  }
  EXPECT_EQ(db.value("SELECT payload #>> '{after,name}' FROM pgtrickle.inbox_avro_back WHERE payload ->> 'op' = 'u'"), "ink");

  // A record that is not in the Confluent wire format is set aside with the reason; the next is read.
  std::string file = work_dir() + "/not-avro-" + db.name() + ".jsonl";
  {
    std::ofstream f(file);
    f << json{{"body", R"({"plain":"json"})"}, {"id", "not-avro-1"}}.dump() << "\n";
  }
  run_node("kafka.js", {"publish", kafka_brokers(), topic, file});
  db.exec("INSERT INTO items VALUES (3, 'pad', 2.00, NULL)");
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.inbox_avro_back") == 4; }, 30s)) << relay.err();
  const std::string error = db.value("SELECT coalesce(max(error), '') FROM pgtrickle.relay_dead_letters WHERE pipeline = 'items-back'");
  EXPECT_NE(error.find("not in the Confluent wire format"), std::string::npos) << error;
}

TEST(KafkaAvro, AKafkaSourceWhoseRegistryCannotBeReachedWaitsAndLosesNothing) {
  TestDb db;
  db.exec("CREATE TABLE items (id int PRIMARY KEY, name text)");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  db.exec("SELECT pgtrickle.create_inbox('avro_wait')");
  const std::string topic = "wait-" + db.name();
  set_avro_pipeline(db, "items-avro", "items", topic);
  json back = avro_back(topic, "wait-" + db.name(), "avro_wait", "http://127.0.0.1:9/apis/ccompat/v7");
  set_inbox_pipeline(db, "items-back", back);
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 5) AS g");
  ASSERT_EQ(records(topic, 5, true).size(), 5u) << relay.err();
  // Nothing stored, nothing set aside, while the schemas cannot be had; the pipeline says why.
  ASSERT_TRUE(wait_until([&] {
    return last_error(relay.admin_port(), "items-back").find("cannot be reached") != std::string::npos;
  }, 30s)) << relay.err();
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_avro_wait"), 0);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'items-back'"), 0);
  // The registry reachable again (here: the pipeline pointed at it): every record arrives, once.
  back["source"]["schema_registry_url"] = schema_registry_url();
  set_inbox_pipeline(db, "items-back", back);
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.inbox_avro_wait") == 5; }, 60s)) << relay.err();
  EXPECT_EQ(db.number("SELECT count(DISTINCT payload #>> '{after,id}') FROM pgtrickle.inbox_avro_wait"), 5);
}

TEST(KafkaAvro, TheRecordNameStrategiesRegisterUnderTheRecordsNames) {
  TestDb db;
  db.exec("CREATE TABLE parts (id int PRIMARY KEY, name text)");
  db.exec("SELECT pgtrickle.enable_outbox('parts')");
  const std::string prefix = "plant_" + db.name(), by_record = "rec-" + db.name(), by_topic_record = "toprec-" + db.name();
  for (const auto& [name, topic, strategy] : {std::tuple{"parts-record", by_record, "record"},
                                              std::tuple{"parts-topic-record", by_topic_record, "topic_record"}}) {
    set_avro_pipeline(db, name, "parts", topic, {{"subject_name_strategy", strategy}}, {{"topic_prefix", prefix}});
  }
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO parts VALUES (1, 'bolt')");
  ASSERT_EQ(records(by_record, 1, true).size(), 1u) << relay.err();
  ASSERT_EQ(records(by_topic_record, 1, true).size(), 1u) << relay.err();
  const std::string envelope = prefix + ".public.parts.Envelope", key = prefix + ".public.parts.Key";
  EXPECT_TRUE(schema_registry_call("GET", "/subjects/" + envelope + "/versions/latest").is_object()) << envelope;
  EXPECT_TRUE(schema_registry_call("GET", "/subjects/" + key + "/versions/latest").is_object()) << key;
  EXPECT_TRUE(schema_registry_call("GET", "/subjects/" + by_topic_record + "-" + envelope + "/versions/latest").is_object());
  EXPECT_TRUE(schema_registry_call("GET", "/subjects/" + by_topic_record + "-" + key + "/versions/latest").is_object());
  EXPECT_FALSE(schema_registry_call("GET", "/subjects/" + by_record + "-value/versions/latest").is_object()) << "no TopicNameStrategy subject";
}

namespace {

// The test's own registry: HTTPS only, with the test CA's server certificate, and basic auth (user
// "relay"); its storage kept when it is stopped and started again (scripts/servers/schema-registry.sh).
class SecuredRegistry {
 public:
  static constexpr const char* kPassword = "registry-s3cret";
  SecuredRegistry() : dir_(work_dir() + "/secured-registry-" + std::to_string(::getpid())) {}
  ~SecuredRegistry() { stop(); }
  std::string start() {  // "" once it answers, else why not
    std::string out;
    const auto& certs = test_certs();
    int rc = run_command(script() + " start " + shell_quote(dir_) + " " + std::to_string(kPort) + " --tls " +
                             shell_quote(certs.server_cert) + " " + shell_quote(certs.server_key) + " --basic relay " + kPassword + " 2>&1",
                         out);
    return rc == 0 ? "" : out;
  }
  void stop() {
    std::string out;
    run_command(script() + " stop " + shell_quote(dir_) + " 2>&1", out);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(kPort) + "/apis/ccompat/v7"; }
  // An operator's call to its Confluent API (curl, with the CA and the password): the answer, or null.
  json get(const std::string& path) const {
    std::string out;
    if (run_command("curl -sf --cacert " + shell_quote(test_certs().ca) + " -u relay:" + kPassword + " " + shell_quote(url() + path), out) != 0)
      return json();
    return json::parse(out, nullptr, false);
  }

 private:
  static constexpr int kPort = 55820;  // and 55821, its management port
  static std::string script() { return source_script("scripts/servers/schema-registry.sh"); }
  std::string dir_;
};

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

// The schema ids of `topic`'s record values (the Confluent wire format's), in partition and offset order.
std::vector<std::uint32_t> value_schema_ids(const std::string& topic, size_t at_least) {
  std::vector<std::uint32_t> ids;
  for (const auto& r : parse_json_lines(run_node("kafka.js", {kafka_brokers(), topic, std::to_string(at_least), "30000"}))) {
    const auto bytes = relay::util::base64_decode(r["raw_value"].get<std::string>()).value_or("");
    EXPECT_TRUE(bytes.size() > 5 && bytes[0] == 0) << "not in the Confluent wire format";
    if (bytes.size() < 5) continue;
    ids.push_back(static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[1])) << 24 |
                  static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[2])) << 16 |
                  static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[3])) << 8 | static_cast<unsigned char>(bytes[4]));
  }
  return ids;
}

}  // namespace

// A registry behind TLS and basic auth, reached with the CA and the password the pipeline names
// (the password a secret reference); an unknown CA and a wrong password named in /health, nothing
// sent meanwhile. Then the registry down while a table change needs its next schema: the pipeline
// waits, saying why, and sends every row once the registry is back.
TEST(KafkaAvro, ARegistryBehindTlsAndBasicAuthIsReachedAsToldAndWaitedForWhileDown) {
  SecuredRegistry registry;
  ASSERT_EQ(registry.start(), "");
  TestDb db;
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, amount int)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  const std::string topic = "secured-" + db.name(), wrong = work_dir() + "/wrong-password-" + db.name(),
                    right = work_dir() + "/registry-password-" + db.name();
  write_text_file(wrong, "not-the-password");
  write_text_file(right, SecuredRegistry::kPassword);
  json sink = {{"schema_registry_url", registry.url()}, {"schema_registry_username", "relay"},
               {"schema_registry_password", "${FILE:" + wrong + "}"}};
  set_avro_pipeline(db, "secured", "orders", topic, sink);
  RelayProcess relay(relay_args(db));
  const int port = relay.admin_port();
  db.exec("INSERT INTO orders VALUES (1, 10)");

  // The system's CAs do not know the test CA.
  ASSERT_TRUE(wait_until([&] { return last_error(port, "secured").find("certificate") != std::string::npos; }, 30s))
      << last_error(port, "secured") << relay.err();
  // The CA given; the password wrong.
  sink["schema_registry_tls_ca"] = test_certs().ca;
  set_avro_pipeline(db, "secured", "orders", topic, sink);
  ASSERT_TRUE(wait_until([&] { return last_error(port, "secured").find("401") != std::string::npos; }, 30s))
      << last_error(port, "secured") << relay.err();
  EXPECT_NE(last_error(port, "secured").find("schema_registry_password"), std::string::npos) << last_error(port, "secured");
  EXPECT_EQ(last_error(port, "secured").find("not-the-password"), std::string::npos);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'secured'"), 0);
  // The right password: the row goes, under a schema the registry holds.
  sink["schema_registry_password"] = "${FILE:" + right + "}";
  set_avro_pipeline(db, "secured", "orders", topic, sink);
  auto ids = value_schema_ids(topic, 1);
  ASSERT_EQ(ids.size(), 1u) << relay.err();
  EXPECT_TRUE(registry.get("/schemas/ids/" + std::to_string(ids[0])).is_object());

  // Down while an added column needs the next schema: nothing sent, nothing set aside, the reason said.
  registry.stop();
  db.exec("ALTER TABLE orders ADD COLUMN note text");
  db.exec("INSERT INTO orders VALUES (2, 20, 'two'), (3, 30, 'three')");
  ASSERT_TRUE(wait_until([&] { return last_error(port, "secured").find("cannot be reached") != std::string::npos; }, 30s))
      << last_error(port, "secured") << relay.err();
  EXPECT_EQ(value_schema_ids(topic, 1).size(), 1u);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE pipeline = 'secured'"), 0);
  // Back: both rows, under the next version.
  ASSERT_EQ(registry.start(), "");
  ids = value_schema_ids(topic, 3);
  ASSERT_GE(ids.size(), 3u) << relay.err();
  EXPECT_NE(ids.back(), ids.front()) << "the next schema";
  const json versions = registry.get("/subjects/" + topic + "-value/versions");
  EXPECT_EQ(versions, json::array({1, 2}));
  EXPECT_TRUE(wait_until([&] { return pipeline_health(port, "secured").value("state", "") == "running"; }, 30s)) << relay.err();
}
