// The Kafka source against Apache Kafka (scripts/servers/kafka.sh, PGTRICKLE_TEST_KAFKA_BROKERS):
// records produced with kafkajs, the group's committed offsets read with kafkajs
// (tests/node/kafka.js), the inbox read in SQL.
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string write_toml(const TestDb& db, const std::string& name, const std::string& pipelines) {
  std::string path = work_dir() + "/" + name + "-" + db.name() + ".toml";
  std::ofstream f(path);
  f << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n" << pipelines;
  return path;
}

// A [[pipeline]] from a Kafka topic into an inbox; `source_extra`: more keys of the source
// (", key = value ..."); batch_size 0: the default.
std::string kafka_inbox_pipeline(const std::string& name, const std::string& inbox, const std::string& brokers,
                                 const std::string& topic, const std::string& group, int batch_size = 0,
                                 const std::string& source_extra = "") {
  return "[[pipeline]]\nname = \"" + name + "\"\n" + (batch_size ? "batch_size = " + std::to_string(batch_size) + "\n" : "") +
         "source = { type = \"kafka\", brokers = \"" + brokers + "\", topic = \"" + topic + "\", group_id = \"" + group + "\"" +
         source_extra + " }\nsink = { type = \"inbox\", inbox_name = \"" + inbox + "\" }\n";
}

// Produces `records` (kafka.js publish lines: body, id, key, partition, headers) in order.
void publish(const std::string& brokers, const std::string& topic, const std::vector<json>& records) {
  std::string file = work_dir() + "/kafka-src-" + topic + ".jsonl";
  {
    std::ofstream f(file, std::ios::trunc);
    for (const auto& r : records) f << r.dump() << '\n';
  }
  run_node("kafka.js", {"publish", brokers, topic, file});
}

struct PartitionOffsets {
  long long committed = -1;
  long long end = 0;
};
std::map<int, PartitionOffsets> group_offsets(const std::string& brokers, const std::string& group, const std::string& topic) {
  std::map<int, PartitionOffsets> out;
  for (const auto& j : parse_json_lines(run_node("kafka.js", {"offsets", brokers, group, topic})))
    out[j["partition"].get<int>()] = {j["committed"].get<long long>(), j["end"].get<long long>()};
  return out;
}

double consumed(RelayProcess& relay, const std::string& pipeline) {
  return metric(relay.admin_port(), "pgtrickle_relay_messages_consumed_total{pipeline=\"" + pipeline + "\"}");
}
// A graceful stop: the consumer commits what it acknowledged and leaves its group.
void stop(RelayProcess& relay) {
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(30s), 0) << relay.err();
}

long long count(TestDb& db, const std::string& inbox) { return db.number("SELECT count(*) FROM pgtrickle.inbox_" + inbox); }
bool wait_count(TestDb& db, const std::string& inbox, long long n, std::chrono::milliseconds timeout = 60s) {
  return wait_until([&] {
    return db.value("SELECT to_regclass('pgtrickle.inbox_" + inbox + "') IS NOT NULL") == "t" && count(db, inbox) >= n;
  }, timeout);
}

// Records e-<from>..e-<to>: identity header, body {"n": i}, partition i % partitions.
std::vector<json> numbered(int from, int to, int partitions) {
  std::vector<json> out;
  for (int i = from; i <= to; ++i)
    out.push_back({{"id", "e-" + std::to_string(i)}, {"body", json{{"n", i}}.dump()}, {"partition", i % partitions}});
  return out;
}

// Whether the inbox holds exactly e-<from>..e-<to>, each with its own body.
void expect_exactly(TestDb& db, const std::string& inbox, int from, int to) {
  EXPECT_EQ(count(db, inbox), to - from + 1);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_" + inbox + " WHERE event_id = 'e-' || (payload->>'n')"), to - from + 1);
  EXPECT_EQ(db.value("SELECT min((payload->>'n')::int) || '..' || max((payload->>'n')::int) FROM pgtrickle.inbox_" + inbox),
            std::to_string(from) + ".." + std::to_string(to));
}

TEST(KafkaSource, TheInboxPipelineOfSeed000RunsAsWritten) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('payment_events')");
  // docs/inbox.md's extra line: the seed's query groups by a customer_id column taken from the payload.
  db.exec("ALTER TABLE pgtrickle.inbox_payment_events ADD COLUMN customer_id text GENERATED ALWAYS AS (payload->>'customer_id') STORED");
  // The seed's pipeline; only the broker's address is this machine's.
  std::string toml = write_toml(db, "seed000-inbox", "[[pipeline]]\nname = \"payments-from-kafka\"\n"
      "source = { type = \"kafka\", brokers = \"" + kafka_brokers() + "\", topic = \"payment-events\", group_id = \"pgtrickle-inbox\" }\n"
      "sink = { type = \"inbox\", inbox_name = \"payment_events\" }\n");
  std::string output;
  ASSERT_EQ(run_command(shell_quote(relay_binary()) + " validate --config " + toml, output), 0) << output;
  RelayProcess relay({"--config", toml});

  // Customers unique to this run: the topic and the group outlive it.
  std::string c = "cust-" + db.name() + "-";
  std::vector<json> payments;
  std::map<std::string, std::pair<double, int>> expected;  // customer -> (total, count), unprocessed only
  for (int i = 1; i <= 60; ++i) {
    std::string customer = c + std::to_string(i % 3);
    double amount = i + 0.25;
    payments.push_back({{"key", customer}, {"body", json{{"customer_id", customer}, {"amount", amount}, {"payment", i}}.dump()}});
    if (i != 6) {
      expected[customer].first += amount;
      expected[customer].second += 1;
    }
  }
  publish(kafka_brokers(), "payment-events", payments);
  auto mine = [&] {
    return db.number("SELECT count(*) FROM pgtrickle.inbox_payment_events WHERE customer_id LIKE '" + c + "%'");
  };
  ASSERT_TRUE(wait_until([&] { return mine() >= 60; }, 120s)) << mine() << " rows\n" << relay.err();
  // Each record once, identified by topic:partition:offset (no dedup_key header), keyed by customer.
  EXPECT_EQ(mine(), 60);
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.inbox_payment_events WHERE customer_id LIKE '" + c +
                     "%' AND event_id LIKE 'payment-events:%:%' AND aggregate_id = customer_id AND event_type = 'payment-events' "
                     "AND source = 'kafka:payment-events'"),
            "60");
  std::string sixth = db.value("SELECT event_id FROM pgtrickle.inbox_payment_events WHERE (payload->>'payment')::int = 6 "
                               "AND customer_id LIKE '" + c + "%'");
  db.exec("SELECT pgtrickle.inbox_mark_processed('payment_events', '" + sixth + "')");

  auto r = db.conn().exec(
      "SELECT customer_id, SUM((payload->>'amount')::numeric) AS total_paid, COUNT(*) AS payment_count "
      "FROM pgtrickle.inbox_payment_events WHERE processed = false GROUP BY customer_id");
  ASSERT_TRUE(r) << r.error().message;
  std::map<std::string, std::pair<double, int>> got;
  for (int i = 0; i < r->rows(); ++i) {
    std::string customer(r->text(i, 0));
    if (customer.rfind(c, 0) == 0) got[customer] = {std::stod(std::string(r->text(i, 1))), std::stoi(std::string(r->text(i, 2)))};
  }
  ASSERT_EQ(got.size(), 3u);
  for (const auto& [customer, want] : expected) {
    EXPECT_DOUBLE_EQ(got[customer].first, want.first) << customer;
    EXPECT_EQ(got[customer].second, want.second) << customer;
  }
  stop(relay);
}

TEST(KafkaSource, OffsetsAreCommittedOnlyAfterTheInboxCommit) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string topic = "commit-" + db.name(), group = "g-" + topic;
  create_kafka_topic(brokers, topic, 2);
  publish(brokers, topic, numbered(1, 300, 2));
  std::string toml = write_toml(db, "commit", kafka_inbox_pipeline("k", "k", brokers, topic, group, 50,
      ", \"rdkafka.session.timeout.ms\" = \"6000\", \"rdkafka.heartbeat.interval.ms\" = \"1000\""));
  {
    // Killed (kill -9) right after its first inbox commit, before ack() could commit offsets.
    RelayProcess crashing({"--config", toml}, {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    ASSERT_EQ(crashing.wait(60s), 128 + 9) << crashing.err();
  }
  long long landed = count(db, "k");
  EXPECT_GT(landed, 0);
  EXPECT_LE(landed, 50);
  for (const auto& [partition, o] : group_offsets(brokers, group, topic))
    EXPECT_EQ(o.committed, -1) << "partition " << partition << ": nothing may be committed before ack()";

  // The next relay reads the unacknowledged batch again; the inbox keeps one row of each.
  RelayProcess relay({"--config", toml});
  ASSERT_TRUE(wait_count(db, "k", 300, 90s)) << count(db, "k") << " rows\n" << relay.err();
  EXPECT_TRUE(wait_until([&] { return dedup_skipped(relay, "k") >= static_cast<double>(landed); }, 30s))
      << dedup_skipped(relay, "k") << "\n" << relay.err();
  expect_exactly(db, "k", 1, 300);
  stop(relay);
  auto offsets = group_offsets(brokers, group, topic);
  ASSERT_EQ(offsets.size(), 2u);
  for (const auto& [partition, o] : offsets) {
    EXPECT_EQ(o.end, 150) << partition;
    EXPECT_EQ(o.committed, 150) << "partition " << partition << ": everything in the inbox is committed";
  }
}

TEST(KafkaSource, TwoRelaysInOneGroupSharePartitionsAndRebalanceWithoutLoss) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string topic = "share-" + db.name(), group = "g-" + topic;
  create_kafka_topic(brokers, topic, 4);
  auto pipeline = [&](const std::string& name) {
    return write_toml(db, name, kafka_inbox_pipeline(name, "shared", brokers, topic, group, 20,
        ", rdkafka = { \"session.timeout.ms\" = \"6000\", \"heartbeat.interval.ms\" = \"500\" }"));
  };
  // Two relays, each with its own pipeline (so both run) in the same consumer group and inbox.
  RelayProcess a({"--config", pipeline("kafka-a")});
  publish(brokers, topic, numbered(1, 200, 4));
  ASSERT_TRUE(wait_count(db, "shared", 200)) << count(db, "shared") << " rows\n" << a.err();

  RelayProcess b({"--config", pipeline("kafka-b")});
  // B joins: the group rebalances and B gets its share of the partitions.
  ASSERT_TRUE(wait_until([&] { return b.err().find("Kafka partitions assigned.") != std::string::npos; }, 60s)) << b.err();
  publish(brokers, topic, numbered(201, 600, 4));
  ASSERT_TRUE(wait_count(db, "shared", 600)) << count(db, "shared") << " rows\n" << a.err() << b.err();
  double a_before = consumed(a, "kafka-a"), b_share = consumed(b, "kafka-b");
  EXPECT_GT(b_share, 0) << "both consumers of the group take part";
  EXPECT_GT(a_before, 200) << "both consumers of the group take part";

  // A leaves while records keep coming: B takes every partition over.
  std::thread more([&] { publish(brokers, topic, numbered(601, 1000, 4)); });
  stop(a);
  more.join();
  ASSERT_TRUE(wait_count(db, "shared", 1000)) << count(db, "shared") << " rows\n" << b.err();
  expect_exactly(db, "shared", 1, 1000);
  stop(b);
  for (const auto& [partition, o] : group_offsets(brokers, group, topic))
    EXPECT_EQ(o.committed, o.end) << "partition " << partition;
}

TEST(KafkaSource, RecordsWithoutTheIdentityHeaderAreIdentifiedByTopicPartitionOffsetAndLandInOffsetOrder) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string topic = "order-" + db.name();
  create_kafka_topic(brokers, topic, 3);
  std::vector<json> records;
  for (int i = 0; i < 300; ++i)
    records.push_back({{"key", "k" + std::to_string(i % 7)}, {"partition", i % 3},
                       {"body", json{{"n", i}}.dump()}, {"headers", {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, {"tenant", "t" + std::to_string(i % 2)}}}});
  publish(brokers, topic, records);
  std::string toml = write_toml(db, "order", kafka_inbox_pipeline("o", "o", brokers, topic, "g-" + topic, 25));
  RelayProcess relay({"--config", toml});
  ASSERT_TRUE(wait_count(db, "o", 300)) << count(db, "o") << " rows\n" << relay.err();
  // Partition p holds n = p, p + 3, ... at offsets 0, 1, ...: the identity names that place.
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.inbox_o WHERE event_id = '" + topic +
                     ":' || ((payload->>'n')::int % 3) || ':' || ((payload->>'n')::int / 3)"),
            "300");
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.inbox_o WHERE aggregate_id = 'k' || ((payload->>'n')::int % 7) "
                     "AND event_type = '" + topic + "' AND source = 'kafka:" + topic + "' "
                     "AND headers->>'tenant' = 't' || ((payload->>'n')::int % 2) AND trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'"),
            "300");
  // The inbox is only inserted into, so its physical order is the order of the inserts: each
  // partition's records went in in offset order.
  auto r = db.conn().exec("SELECT (payload->>'n')::int FROM pgtrickle.inbox_o ORDER BY ctid");
  ASSERT_TRUE(r) << r.error().message;
  std::map<int, int> last;  // partition -> last n
  for (int i = 0; i < r->rows(); ++i) {
    int n = std::stoi(std::string(r->text(i, 0)));
    auto it = last.find(n % 3);
    if (it != last.end()) {
      EXPECT_GT(n, it->second) << "partition " << n % 3;
    }
    last[n % 3] = n;
  }
  stop(relay);
}

// Static membership: the relay killed (kill -9) and started again joins the group as the member it
// was, and gets its partitions back at once; as a new member it would wait for the dead one's
// session to time out (45 s, librdkafka's session.timeout.ms, kept here).
TEST(KafkaSource, ARelayKilledAndStartedAgainGetsItsPartitionsBackAtOnce) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string topic = "static-" + db.name();
  create_kafka_topic(brokers, topic, 3);
  std::string toml = write_toml(db, "static", kafka_inbox_pipeline("s", "s", brokers, topic, "g-" + topic));
  {
    RelayProcess first({"--config", toml});
    publish(brokers, topic, numbered(1, 30, 3));
    ASSERT_TRUE(wait_count(db, "s", 30)) << first.err();
    first.kill9();
    first.wait(10s);
  }
  RelayProcess again({"--config", toml});
  publish(brokers, topic, numbered(31, 60, 3));
  ASSERT_TRUE(wait_count(db, "s", 60, 30s)) << "well within the dead member's 45 s session: " << count(db, "s") << " rows\n"
                                             << again.err();
  expect_exactly(db, "s", 1, 60);
  stop(again);
}

// A member killed without leaving the group (here another pipeline's consumer) holds its
// partitions until its session times out: meanwhile /health says the pipeline waits for
// partitions, not "running" with nothing consumed; once the group hands them over the records land.
TEST(KafkaSource, WaitingForTheGroupToAssignPartitionsShowsInHealth) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string topic = "held-" + db.name(), group = "g-" + topic;
  create_kafka_topic(brokers, topic, 1);
  auto pipeline = [&](const std::string& name) {
    return write_toml(db, name, kafka_inbox_pipeline(name, name, brokers, topic, group, 0,
                                                     ", rdkafka = { \"session.timeout.ms\" = \"30000\" }"));
  };
  {
    RelayProcess holder({"--config", pipeline("holder")});
    ASSERT_TRUE(wait_until([&] { return holder.err().find("Kafka partitions assigned.") != std::string::npos; }, 60s)) << holder.err();
    holder.kill9();
    holder.wait(5s);
  }
  publish(brokers, topic, numbered(1, 10, 1));
  RelayProcess relay({"--config", pipeline("h")});
  std::string error = wait_for_pipeline_error(relay, "h", 30s);
  EXPECT_NE(error.find("to assign partitions"), std::string::npos) << error << "\n" << relay.err();
  EXPECT_NE(error.find("\"" + group + "\""), std::string::npos) << error;
  ASSERT_TRUE(wait_count(db, "h", 10, 60s)) << "after the dead member's session\n" << relay.err();
  expect_exactly(db, "h", 1, 10);
  stop(relay);
}

TEST(KafkaSource, TheLagIsWhatTheGroupHasNotCommittedYet) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string topic = "lag-" + db.name();
  create_kafka_topic(brokers, topic, 2);
  publish(brokers, topic, numbered(1, 20000, 2));
  // One record per inbox transaction: the backlog lasts long enough to be seen.
  std::string toml = write_toml(db, "lag", kafka_inbox_pipeline("l", "l", brokers, topic, "g-" + topic, 1));
  RelayProcess relay({"--config", toml});
  auto lag = [&] { return metric(relay.admin_port(), "pgtrickle_relay_consumer_lag{pipeline=\"l\"}"); };
  double seen = 0;
  ASSERT_TRUE(wait_until([&] {
    seen = lag();
    return seen > 0 || (db.value("SELECT to_regclass('pgtrickle.inbox_l') IS NOT NULL") == "t" && count(db, "l") >= 20000);
  }, 60s)) << relay.err();
  EXPECT_GT(seen, 0) << "a backlog shows as lag";
  EXPECT_LE(seen, 20000);
  ASSERT_TRUE(wait_count(db, "l", 20000, 180s)) << count(db, "l") << " rows\n" << relay.err();
  EXPECT_TRUE(wait_until([&] { return lag() == 0; }, 30s)) << lag();
  stop(relay);
}

TEST(KafkaSource, AMissingTopicAndAnAutoCommitPropertyAreReportedWithWhatToDo) {
  const std::string brokers = kafka_brokers();
  TestDb db;
  std::string toml = write_toml(db, "bad", "[[pipeline]]\nname = \"missing\"\n"
      "source = { type = \"kafka\", brokers = \"" + brokers + "\", topic = \"no-such-topic\", group_id = \"g1\" }\n"
      "sink = { type = \"inbox\", inbox_name = \"bad\" }\n\n"
      "[[pipeline]]\nname = \"autocommit\"\n"
      "source = { type = \"kafka\", brokers = \"" + brokers + "\", topic = \"t\", group_id = \"g2\", "
      "\"rdkafka.enable.auto.commit\" = \"true\" }\n"
      "sink = { type = \"inbox\", inbox_name = \"bad\" }\n");
  RelayProcess relay({"--config", toml});
  std::string missing = wait_for_pipeline_error(relay, "missing");
  EXPECT_NE(missing.find("topic \"no-such-topic\""), std::string::npos) << missing;
  EXPECT_NE(missing.find("create the topic"), std::string::npos) << missing;
  std::string autocommit = wait_for_pipeline_error(relay, "autocommit");
  EXPECT_NE(autocommit.find("rdkafka.enable.auto.commit"), std::string::npos) << autocommit;
  EXPECT_NE(autocommit.find("only after the inbox commit"), std::string::npos) << autocommit;
}

}  // namespace
