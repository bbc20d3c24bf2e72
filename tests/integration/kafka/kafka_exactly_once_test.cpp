// "delivery": "exactly_once" into Apache Kafka: each batch one Kafka transaction that also commits
// the pipeline's position. What a consumer reading with isolation.level=read_committed counts (with
// kafkajs, tests/node/kafka.js) is every row exactly once, whatever happens to the relay around the
// commit.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kOwnBrokerPort = 55830;  // and the three ports above it (scripts/servers/kafka.sh)

// What a read_committed consumer reads of `topic`: the count of each row id (payload.id), once
// `expected` records arrived and nothing more came for a while.
std::map<int, int> committed_rows(const std::string& topic, size_t expected, std::chrono::milliseconds timeout = 60s) {
  std::map<int, int> count;
  for (const auto& r : parse_json_lines(run_node("kafka.js", {"committed", kafka_brokers(), topic, std::to_string(expected),
                                                              std::to_string(timeout.count())}))) {
    auto body = json::parse(r["body"].get<std::string>());
    ++count[body["payload"]["id"].get<int>()];
  }
  return count;
}

// The rows read more than once, and those not read at all, of 1..rows.
std::string exactly_once_problems(const std::map<int, int>& count, int rows) {
  std::string twice, missing;
  for (int id = 1; id <= rows; ++id) {
    auto it = count.find(id);
    if (it == count.end()) missing += (missing.empty() ? "" : ",") + std::to_string(id);
    else if (it->second > 1) twice += (twice.empty() ? "" : ",") + std::to_string(id);
  }
  std::string out;
  if (!missing.empty()) out += "missing: " + missing.substr(0, 300) + "; ";
  if (!twice.empty()) out += "read more than once: " + twice.substr(0, 300);
  return out;
}

struct ExactlyOnce : ::testing::Test {
  TestDb db;
  std::string topic = "eos-" + db.name();

  void SetUp() override { define("trigger"); }

  // The table items and the pipeline eos reading it: captured by the outbox's trigger ("trigger"),
  // from the WAL ("wal capture"), or by a pipeline of source type wal ("wal pipeline").
  void define(const std::string& how) {
    db.exec("CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL DEFAULT 'x')");
    json pipeline = {{"sink_type", "kafka"}, {"kafka_brokers", kafka_brokers()}, {"kafka_topic", topic}, {"batch_size", 50},
                     {"delivery", "exactly_once"}};
    if (how == "wal pipeline") {
      pipeline["source"] = {{"type", "wal"}, {"tables", {"public.items"}}};
    } else {
      db.exec(how == "trigger" ? "SELECT pgtrickle.enable_outbox('items')" : "SELECT pgtrickle.enable_outbox('items', capture => 'wal')");
      pipeline["stream_table"] = "items";
    }
    create_kafka_topic(kafka_brokers(), topic, 3);
    set_outbox_pipeline(db, "eos", pipeline);
  }

  // Rows from..to, in transactions of `per` rows.
  void insert(int from, int to, int per = 50) {
    for (int a = from; a <= to; a += per)
      db.exec(fmt::format("INSERT INTO items (id) SELECT g FROM generate_series({}, {}) g", a, std::min(to, a + per - 1)));
  }

  double delivered(RelayProcess& relay) {
    return metric(relay.admin_port(), "pgtrickle_relay_messages_delivered_total{pipeline=\"eos\"}");
  }
};

// Killed before the commit (the open transaction is aborted by the next producer), after it (the
// position committed in Kafka and not yet in PostgreSQL: the next owner carries on after it), and
// after delivery before the ack: each batch is still read once.
class ExactlyOnceCapture : public ExactlyOnce, public ::testing::WithParamInterface<const char*> {
  void SetUp() override { define(GetParam()); }
};

TEST_P(ExactlyOnceCapture, ARelayKilledAroundTheCommitLeavesEveryRowReadOnce) {
  const int rows = 1000;
  {
    // A WAL capture's changes are read from its slot's creation on, when the pipeline first runs.
    RelayProcess first(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return first.err().find("Reading the ") != std::string::npos; }, 30s)) << first.err();
  }
  insert(1, rows);
  for (const char* point : {"kafka_before_commit", "kafka_after_commit", "after_delivery"}) {
    RelayProcess crashing(relay_args(db), {std::string("PGTRICKLE_RELAY_CRASH_AT=") + point});
    EXPECT_EQ(crashing.wait(60s), 128 + 9) << point << ": " << crashing.err();
  }
  RelayProcess relay(relay_args(db));
  auto count = committed_rows(topic, rows, 90s);
  EXPECT_EQ(exactly_once_problems(count, rows), "");
  EXPECT_EQ(count.size(), static_cast<size_t>(rows));
  EXPECT_NE(relay.err().find("Carrying on after the last batch committed in Kafka"), std::string::npos)
      << "the relay killed after the commit left a position to catch up with";
}

INSTANTIATE_TEST_SUITE_P(Captures, ExactlyOnceCapture, ::testing::Values("trigger", "wal capture", "wal pipeline"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), ' ', '_');
                           return name;
                         });

// A backfill's batches are transactions too, their progress committed with them: a relay killed
// right after one committed (its progress not stored yet), or after delivery, leaves every existing
// row read once.
TEST(ExactlyOnceBackfill, ABackfillInterruptedAroundItsCommitsSendsEveryRowOnce) {
  TestDb db;
  const std::string topic = "eos-backfill-" + db.name();
  const int rows = 600;
  db.exec("CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL DEFAULT 'x')");
  db.exec(fmt::format("INSERT INTO items (id) SELECT g FROM generate_series(1, {}) g", rows));
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  create_kafka_topic(kafka_brokers(), topic, 3);
  set_outbox_pipeline(db, "eos", {{"stream_table", "items"}, {"sink_type", "kafka"}, {"kafka_brokers", kafka_brokers()},
                                  {"kafka_topic", topic}, {"batch_size", 50}, {"backfill", "initial"}, {"backfill_chunk_rows", 100},
                                  {"delivery", "exactly_once"}});
  // Each time some batches of rows in: the Nth commit (or delivery) of the relay.
  for (const char* point : {"kafka_after_commit:3", "after_delivery:2", "kafka_after_commit:4"}) {
    RelayProcess crashing(relay_args(db), {std::string("PGTRICKLE_RELAY_CRASH_AT=") + point});
    EXPECT_EQ(crashing.wait(60s), 128 + 9) << point << ": " << crashing.err();
    EXPECT_NE(crashing.err().find("ackfill"), std::string::npos) << crashing.err();
  }
  RelayProcess relay(relay_args(db));
  auto count = committed_rows(topic, rows, 90s);
  EXPECT_EQ(exactly_once_problems(count, rows), "") << relay.err();
  EXPECT_EQ(count.size(), static_cast<size_t>(rows));
  EXPECT_TRUE(wait_until([&] { return db.value("SELECT state FROM pgtrickle.relay_backfills") == "done"; }, 30s)) << relay.err();
}

// A record the broker can never take (larger than the producer's message.max.bytes) is set aside in
// the dead letters, and its batch's other rows are committed once, without it.
TEST_F(ExactlyOnce, AMessageThatCanNeverBeDeliveredIsSetAsideAndTheRestCommittedOnce) {
  set_outbox_pipeline(db, "eos", {{"stream_table", "items"}, {"sink_type", "kafka"}, {"kafka_brokers", kafka_brokers()},
                                  {"kafka_topic", topic}, {"delivery", "exactly_once"},
                                  {"rdkafka", {{"message.max.bytes", "262144"}}}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO items (id) SELECT g FROM generate_series(1, 20) g");
  db.exec("INSERT INTO items (id, note) VALUES (21, repeat('x', 300 * 1024))");
  db.exec("INSERT INTO items (id) SELECT g FROM generate_series(22, 40) g");
  auto count = committed_rows(topic, 39);
  EXPECT_EQ(count.size(), 39u) << relay.err();
  EXPECT_EQ(count.count(21), 0u);
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << "row " << id << "\n" << relay.err();
  // The second statement's outbox row: <outbox>:<row id>:<n>.
  EXPECT_EQ(db.value("SELECT string_agg(dedup_key, ',') FROM pgtrickle.relay_dead_letters WHERE pipeline = 'eos'"), "outbox_items:2:0")
      << relay.err();
}

// Relays killed at moments nobody chose, while rows keep coming: a read_committed consumer still
// counts each row once.
TEST_F(ExactlyOnce, RelaysKilledAtRandomMomentsWhileRowsArriveLeaveEveryRowReadOnce) {
  const int rows = 2000;
  std::atomic<bool> done{false};
  std::thread feeder([&] {
    auto c = relay::pg::Connection::open(db.url(), "feeder");
    ASSERT_TRUE(c.has_value());
    for (int a = 1; a <= rows; a += 10) {
      (void)c->exec(fmt::format("INSERT INTO items (id) SELECT g FROM generate_series({}, {}) g", a, a + 9));
      std::this_thread::sleep_for(15ms);
    }
    done = true;
  });
  std::mt19937 random(std::random_device{}());
  for (int kill = 0; kill < 4; ++kill) {
    RelayProcess relay(relay_args(db));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1500)(random)));
    relay.kill9();
    relay.wait(10s);
  }
  feeder.join();
  RelayProcess relay(relay_args(db));
  auto count = committed_rows(topic, rows, 120s);
  EXPECT_EQ(exactly_once_problems(count, rows), "") << relay.err();
  EXPECT_EQ(count.size(), static_cast<size_t>(rows));
}

// An owner stalled in the middle of a transaction (its records produced, not committed) or right
// after it committed (its position not stored yet) loses the pipeline to a standby; once it wakes
// it is fenced, on the broker and in PostgreSQL, and adds nothing.
class ExactlyOnceTakeover : public ExactlyOnce, public ::testing::WithParamInterface<const char*> {};

TEST_P(ExactlyOnceTakeover, AStalledOwnerWakesFencedAndEveryRowIsReadOnce) {
  auto with_lease = [](std::vector<std::string> args) {
    args.insert(args.end(), {"--lease-timeout", "2"});
    return args;
  };
  RelayProcess a(with_lease(relay_args(db)), {std::string("PGTRICKLE_RELAY_PAUSE_AT=") + GetParam()});
  ASSERT_TRUE(wait_until([&] { return a.err().find("Took ownership") != std::string::npos; }, 10s)) << a.err();
  RelayProcess b(with_lease(relay_args(db)));
  ASSERT_TRUE(wait_until([&] { return b.err().find("standing by") != std::string::npos; }, 10s)) << b.err();
  insert(1, 500);
  // The owner stops itself at the point; the standby takes over once its lease lapsed.
  ASSERT_TRUE(wait_until([&] { return b.err().find("Took ownership") != std::string::npos; }, 30s)) << a.err() << b.err();
  insert(501, 1000);
  auto count = committed_rows(topic, 1000, 60s);
  a.signal(SIGCONT);
  insert(1001, 1500);
  std::this_thread::sleep_for(3s);  // time for the woken relay to do harm, if it could
  count = committed_rows(topic, 1500, 60s);
  EXPECT_EQ(exactly_once_problems(count, 1500), "") << a.err() << b.err();
  EXPECT_EQ(count.size(), 1500u);
  EXPECT_EQ(metric(a.admin_port(), "pgtrickle_relay_pipeline_owned{pipeline=\"eos\"}"), 0) << a.err();
}

INSTANTIATE_TEST_SUITE_P(Points, ExactlyOnceTakeover, ::testing::Values("kafka_before_commit", "kafka_after_commit"));

// The broker killed (kill -9) and started again, then frozen (kill -STOP: silent, as behind a
// network partition) and thawed, while rows keep coming.
TEST(ExactlyOnceBroker, TheBrokerKilledThenPartitionedLeavesEveryRowReadOnce) {
  PrivateServer kafka("kafka", kOwnBrokerPort);
  kafka.export_to_harnesses();
  TestDb db;
  const std::string topic = "eos-broker-" + db.name();
  db.exec("CREATE TABLE items (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('items')");
  create_kafka_topic(kafka_brokers(), topic, 3);
  set_outbox_pipeline(db, "eos", {{"stream_table", "items"}, {"sink_type", "kafka"}, {"kafka_brokers", kafka_brokers()},
                                  {"kafka_topic", topic}, {"batch_size", 50}, {"delivery", "exactly_once"}});
  RelayProcess relay(relay_args(db));
  const int rows = 1500;
  std::thread feeder([&] {
    auto c = relay::pg::Connection::open(db.url(), "feeder");
    ASSERT_TRUE(c.has_value());
    for (int a = 1; a <= rows; a += 10) {
      (void)c->exec(fmt::format("INSERT INTO items (id) SELECT g FROM generate_series({}, {}) g", a, a + 9));
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(1s);
  kafka.kill();
  std::this_thread::sleep_for(3s);
  kafka.start();
  std::this_thread::sleep_for(2s);
  kafka.freeze();
  std::this_thread::sleep_for(8s);
  kafka.thaw();
  feeder.join();
  auto count = committed_rows(topic, rows, 120s);
  EXPECT_EQ(exactly_once_problems(count, rows), "") << relay.err();
  EXPECT_EQ(count.size(), static_cast<size_t>(rows));
}

}  // namespace
