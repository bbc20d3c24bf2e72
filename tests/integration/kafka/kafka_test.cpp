// The Kafka sink against Apache Kafka (scripts/servers/kafka.sh, PGTRICKLE_TEST_KAFKA_BROKERS) and,
// for errors a real broker cannot be made to answer (NOT_ENOUGH_REPLICAS, INVALID_RECORD), against
// librdkafka's mock cluster in the test process; what arrived is read with kafkajs.
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"
#include "mock_cluster.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Every record of `topic` (partition by partition, in offset order) as kafka.js prints it.
std::vector<json> records(const std::string& bootstraps, const std::string& topic, size_t at_least,
                          std::chrono::milliseconds timeout = 30s) {
  std::string out = run_node("kafka.js", {bootstraps, topic, std::to_string(at_least), std::to_string(timeout.count())});
  auto r = parse_json_lines(out);
  for (auto& j : r) j["envelope"] = json::parse(j["body"].get<std::string>());
  return r;
}

TEST(Kafka, TheKafkaPipelineOfSeed000RunsAsWritten) {
  TestDb db;
  db.exec("CREATE TABLE revenue_by_region (region text PRIMARY KEY, day date, revenue numeric, order_count int)");
  db.exec("SELECT pgtrickle.enable_outbox('revenue_by_region')");
  std::string toml = work_dir() + "/seed000-kafka-" + db.name() + ".toml";
  {
    // The seed's file; only the addresses are this machine's.
    std::ofstream f(toml);
    f << "# relay.toml\n[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n"
      << "[[pipeline]]\nname = \"revenue-to-kafka\"\n"
      << "source = { type = \"outbox\", stream_table = \"revenue_by_region\" }\n"
      << "sink = { type = \"kafka\", brokers = \"" << kafka_brokers() << "\", topic = \"revenue-deltas\" }\n";
  }
  std::string output;
  ASSERT_EQ(run_command(shell_quote(relay_binary()) + " validate --config " + toml, output), 0) << output;
  RelayProcess relay({"--config", toml});
  // Regions unique to this run: the topic is shared with earlier runs.
  std::string eu = "europe-" + db.name(), asia = "asia-" + db.name();
  db.exec("INSERT INTO revenue_by_region VALUES ('" + eu + "', '2026-04-27', 150200.50, 1203), ('" + asia +
          "', '2026-04-27', 9000, 80)");
  ASSERT_TRUE(wait_until([&] { return delivered(relay, "revenue-to-kafka") == 2; }, 30s)) << relay.err();
  std::map<std::string, json> mine;
  for (auto& r : records(kafka_brokers(), "revenue-deltas", 2)) {
    const json& p = r["envelope"]["payload"];
    if (p.is_object() && (p["region"] == eu || p["region"] == asia)) mine[p["region"]] = r;
  }
  ASSERT_EQ(mine.size(), 2u);
  const json& r = mine[eu];
  EXPECT_EQ(r["topic"], "revenue-deltas");
  EXPECT_EQ(r["key"], eu) << "the record key is the row's primary key";
  EXPECT_EQ(r["id"], r["envelope"]["dedup_key"]) << "the dedup identity travels in the dedup_key header";
  EXPECT_EQ(r["envelope"]["payload"]["revenue"], 150200.50);
  EXPECT_EQ(r["envelope"]["op"], "insert");
}

TEST(Kafka, TopicTemplatesRouteByOpAndTheSinkKeyPicksColumns) {
  TestDb db;
  std::string u = "k" + db.name();
  db.exec("CREATE TABLE accounts (id int PRIMARY KEY, region text, amount int)");
  db.exec("SELECT pgtrickle.enable_outbox('accounts')");
  // The flat form of seed 001 with kafka_ prefixes, compression and a pass-through property.
  set_outbox_pipeline(db, "acc", {{"stream_table", "accounts"}, {"sink_type", "kafka"}, {"kafka_brokers", kafka_brokers()},
                           {"kafka_topic", u + ".{stream_table}.{op}"}, {"kafka_key", "region"},
                           {"kafka_compression", "gzip"}, {"rdkafka", {{"linger.ms", "2"}}}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO accounts VALUES (1, 'eu', 10), (2, 'us', 20), (3, 'eu', 30)");
  db.exec("UPDATE accounts SET amount = 11 WHERE id = 1");
  db.exec("DELETE FROM accounts WHERE id = 2");
  ASSERT_TRUE(wait_until([&] { return delivered(relay, "acc") == 5; }, 30s)) << relay.err();
  auto inserts = records(kafka_brokers(), u + ".accounts.insert", 3);
  auto updates = records(kafka_brokers(), u + ".accounts.update", 1);
  auto deletes = records(kafka_brokers(), u + ".accounts.delete", 1);
  ASSERT_EQ(inserts.size(), 3u);
  ASSERT_EQ(updates.size(), 1u);
  ASSERT_EQ(deletes.size(), 1u);
  std::set<std::string> ids;
  for (const auto* group : {&inserts, &updates, &deletes})
    for (const auto& r : *group) {
      EXPECT_EQ(r["key"], r["envelope"]["payload"]["region"]) << "key = the sink's key column";
      EXPECT_EQ(r["id"], r["envelope"]["dedup_key"]);
      ids.insert(r["id"].get<std::string>());
    }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(updates[0]["envelope"]["payload"]["amount"], 11);
  EXPECT_EQ(deletes[0]["envelope"]["payload"]["id"], 2);
}

TEST(Kafka, ApplicationHeadersBecomeKafkaHeaders) {
  TestDb db;
  std::string u = "h" + db.name();
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"order_id\": 17}', "
          "'{\"type\": \"OrderPaid\", \"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}')");
  set_outbox_pipeline(db, "ev", {{"outbox", "order_events"}, {"sink_type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", u}});
  RelayProcess relay(relay_args(db));
  auto got = records(kafka_brokers(), u, 1);
  ASSERT_EQ(got.size(), 1u) << relay.err();
  const json& h = got[0]["headers"];
  EXPECT_EQ(h["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(h["type"], "OrderPaid");
  EXPECT_EQ(h["dedup_key"], got[0]["envelope"]["dedup_key"]);
}

// Every message of one row key lands on one partition, in commit order, whatever the format (the
// record key is the row's key: its text, or Debezium's key object).
TEST(Kafka, EachKeyKeepsItsOrderAcrossPartitionsInEveryFormat) {
  for (std::string format : {"json", "cloudevents", "debezium"}) {
    SCOPED_TRACE(format);
    TestDb db;
    std::string u = "p" + format + db.name();  // auto-created: 4 partitions
    db.exec("CREATE TABLE counters (k text PRIMARY KEY, n int)");
    db.exec("SELECT pgtrickle.enable_outbox('counters')");
    set_outbox_pipeline(db, "cnt", {{"stream_table", "counters"}, {"sink_type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", u},
                             {"batch_size", 50}, {"format", format}});
    RelayProcess relay(relay_args(db));
    db.exec("INSERT INTO counters SELECT 'key-' || g, 0 FROM generate_series(1, 8) g");
    for (int round = 1; round <= 20; ++round) db.exec("UPDATE counters SET n = " + std::to_string(round));
    const size_t total = 8 + 8 * 20;
    auto got = records(kafka_brokers(), u, total, 60s);
    ASSERT_EQ(got.size(), total) << relay.err();
    std::map<std::string, std::vector<int>> by_key;
    std::map<std::string, std::set<int>> partitions_of_key;
    std::set<int> partitions;
    for (const auto& r : got) {
      const json& e = r["envelope"];
      const json& row = format == "json" ? e["payload"] : format == "cloudevents" ? e["data"]["after"] : e["after"];
      std::string key = r["key"].get<std::string>();
      if (format == "debezium") EXPECT_EQ(json::parse(key), json({{"k", row["k"]}})) << "Debezium's key object";
      else EXPECT_EQ(key, row["k"].get<std::string>());
      by_key[key].push_back(row["n"].get<int>());
      partitions_of_key[key].insert(r["partition"].get<int>());
      partitions.insert(r["partition"].get<int>());
    }
    EXPECT_GT(partitions.size(), 1u) << "keys are spread over the partitions";
    ASSERT_EQ(by_key.size(), 8u);
    for (const auto& [key, ns] : by_key) {
      EXPECT_EQ(partitions_of_key[key].size(), 1u) << key << ": one key, one partition";
      ASSERT_EQ(ns.size(), 21u) << key;
      for (int i = 0; i <= 20; ++i) EXPECT_EQ(ns[i], i) << key << " at " << i;
    }
  }
}

TEST(Kafka, BrokerErrorsAreRetriedOrDeadLetteredByTheirKind) {
  MockKafka mock;
  TestDb db;
  std::string u = "e" + db.name();
  mock.create_topic(u, 1);
  db.exec("CREATE TABLE items (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  set_outbox_pipeline(db, "err", {{"stream_table", "items"}, {"sink_type", "kafka"}, {"brokers", mock.bootstraps()}, {"topic", u}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO items VALUES (1)");
  ASSERT_EQ(records(mock.bootstraps(), u, 1).size(), 1u) << relay.err();

  // Transient: the partition has too few in-sync replicas for a while.
  mock.fail_produce(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 3);
  db.exec("INSERT INTO items VALUES (2)");
  ASSERT_EQ(records(mock.bootstraps(), u, 2).size(), 2u) << relay.err();
  // Permanent: the broker refuses the record itself.
  mock.fail_produce(RD_KAFKA_RESP_ERR_INVALID_RECORD, 1);
  db.exec("INSERT INTO items VALUES (3)");
  ASSERT_TRUE(wait_until([&] { return db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; }, 30s))
      << relay.err();
  EXPECT_NE(db.value("SELECT error FROM pgtrickle.relay_dead_letters").find("INVALID_RECORD"), std::string::npos);
  db.exec("INSERT INTO items VALUES (4)");
  auto got = records(mock.bootstraps(), u, 3);
  ASSERT_EQ(got.size(), 3u) << relay.err();
  EXPECT_EQ(got[2]["envelope"]["payload"]["id"], 4) << "the pipeline goes on after the dead letter";
}

TEST(Kafka, BadConfigIsReportedWithTheKeyAtFault) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  auto base = [&] { return json{{"stream_table", "t"}, {"sink_type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", "t"}}; };

  json bad_codec = base();
  bad_codec["compression"] = "brotli";
  std::string e = db.error_of("SELECT pgtrickle.set_relay_outbox('a', config => " + relay::pg::quote_literal(bad_codec.dump()) + "::jsonb)");
  EXPECT_NE(e.find("compression"), std::string::npos) << e;
  EXPECT_NE(e.find("zstd"), std::string::npos) << "names what is allowed: " << e;

  json no_brokers = base();
  no_brokers.erase("brokers");
  e = db.error_of("SELECT pgtrickle.set_relay_outbox('a', config => " + relay::pg::quote_literal(no_brokers.dump()) + "::jsonb)");
  EXPECT_NE(e.find("brokers"), std::string::npos) << e;

  // What only librdkafka or the topic rules can judge fails the pipeline when it starts, naming the key.
  json unknown_prop = base();
  unknown_prop["rdkafka"] = {{"no.such.property", "1"}};
  set_outbox_pipeline(db, "prop", unknown_prop);
  json bad_topic = base();
  bad_topic["topic"] = "orders/{op}";
  set_outbox_pipeline(db, "topic", bad_topic);
  json conflict = base();
  conflict["acks"] = "1";
  conflict["rdkafka"] = {{"enable.idempotence", "true"}};
  set_outbox_pipeline(db, "acks", conflict);
  RelayProcess relay(relay_args(db));
  auto error_of = [&](const std::string& p) {
    int status = 0;
    auto health = json::parse(http_get(relay.admin_port(), "/health", status), nullptr, false);
    if (health.is_discarded() || !health.contains("pipelines")) return std::string();
    for (const auto& x : health["pipelines"])
      if (x.value("name", "") == p && x.contains("last_error") && x["last_error"].is_string()) return x["last_error"].get<std::string>();
    return std::string();
  };
  ASSERT_TRUE(wait_until([&] { return !error_of("prop").empty() && !error_of("topic").empty() && !error_of("acks").empty(); }, 20s))
      << relay.err();
  EXPECT_NE(error_of("prop").find("rdkafka.no.such.property"), std::string::npos) << error_of("prop");
  EXPECT_NE(error_of("topic").find("\"topic\""), std::string::npos) << error_of("topic");
  EXPECT_NE(error_of("topic").find('/'), std::string::npos) << error_of("topic");
  EXPECT_NE(error_of("acks").find("acks"), std::string::npos) << error_of("acks");
  EXPECT_TRUE(relay.alive()) << "a bad pipeline does not take the relay down";
}

}  // namespace

// A config change reaches a pipeline whose brokers cannot be reached at once: the send under way
// (here one that would wait up to 30 s for its delivery reports) stops, and the new config takes
// the rows.
TEST(KafkaReload, AConfigChangeWhileTheBrokersAreUnreachableIsAppliedAtOnce) {
  TestDb db;
  db.exec("CREATE TABLE items (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  db.exec("INSERT INTO items SELECT generate_series(1, 3)");
  set_outbox_pipeline(db, "away", {{"stream_table", "items"}, {"sink_type", "kafka"}, {"brokers", "127.0.0.1:9"}, {"topic", "t"},
                                   {"rdkafka", {{"message.timeout.ms", "60000"}}}});
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return relay.err().find("Kafka client error") != std::string::npos; }, 20s)) << relay.err();
  std::this_thread::sleep_for(1s);  // the send is under way, waiting for its reports
  const std::string file = work_dir() + "/reload-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "away", {{"stream_table", "items"}, {"sink_type", "file"}, {"path", file}});
  EXPECT_TRUE(wait_until([&] { return read_lines(file).size() == 3; }, 20s))
      << "well before the send's 30 s: " << read_lines(file).size() << " rows\n" << relay.err();
}
