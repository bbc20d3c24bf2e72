// The sink contract (PRODUCT §6-7), the same for every broker: all rows arrive in order with a
// stable dedup identity that survives a replay; the broker unreachable for 10 s loses nothing; a
// permanent refusal dead-letters that one message and the pipeline goes on; stop flushes within
// its deadline and never acknowledges ahead of the broker; metrics count what was delivered.
#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include "../integration/fixture.h"
#include "sink_contract.h"
#include "tcp_proxy.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> compiled_sinks() {
  std::vector<std::string> out;
  for (const char* s : {"nats", "kafka", "redis", "rabbitmq", "sqs", "webhook"})
    if (make_harness(s)) out.emplace_back(s);
  return out;
}

class SinkContract : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    harness_ = make_harness(GetParam());
    ASSERT_TRUE(harness_);
    unique_ = "c" + db_.name();
    db_.exec("CREATE TABLE items (id int PRIMARY KEY, seq int NOT NULL, note text)");
    db_.exec("SELECT pgtrickle.enable_outbox('items')");
  }

  // Creates the pipeline items → this backend; through a cuttable proxy when `proxied`.
  void create_pipeline(bool proxied, const json& extra = json::object()) {
    if (proxied && !harness_->uses_proxy()) harness_->prepare_cut();
    auto [host, port] = harness_->server();
    std::string address = host + ":" + std::to_string(port);
    if (proxied && harness_->uses_proxy()) {
      proxy_ = std::make_unique<TcpProxy>(host, port);
      address = proxy_->address();
    }
    json config = harness_->sink_config(unique_, address);
    config["stream_table"] = "items";
    for (auto& [k, v] : extra.items()) config[k] = v;
    db_.exec("SELECT pgtrickle.set_relay_outbox('contract', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
  }

  void insert(int from, int to, int per_tx, const std::string& note = "ok") {
    for (int i = from; i <= to; i += per_tx) {
      int last = std::min(to, i + per_tx - 1);
      db_.exec("INSERT INTO items SELECT g, g, " + relay::pg::quote_literal(note) + " FROM generate_series(" +
               std::to_string(i) + ", " + std::to_string(last) + ") g");
    }
  }

  void set_reachable(bool up) {
    if (proxy_) proxy_->set_reachable(up);
    else harness_->set_reachable(up);
  }

  double delivered(RelayProcess& relay) {
    return metric(relay.admin_port(), "pgtrickle_relay_messages_delivered_total{pipeline=\"contract\"}");
  }

  // The envelope's own identity and the row id of a delivered message.
  static int row_id(const Delivered& d) { return d.body.at("payload").at("id").get<int>(); }

  TestDb db_;
  std::unique_ptr<SinkHarness> harness_;
  std::unique_ptr<TcpProxy> proxy_;
  std::string unique_;
};

TEST_P(SinkContract, EveryRowArrivesInOrderWithAStableIdentityThatSurvivesAReplay) {
  create_pipeline(false, {{"batch_size", 64}});
  insert(1, 300, 10);
  db_.exec("UPDATE items SET note = 'changed' WHERE id = 1");
  db_.exec("DELETE FROM items WHERE id = 2");
  const size_t total = 302;
  std::vector<Delivered> first;
  {
    RelayProcess relay(relay_args(db_));
    first = harness_->read(unique_, total, 30s);
    ASSERT_EQ(first.size(), total) << relay.err();
    ASSERT_TRUE(wait_until([&] { return delivered(relay) == total; }, 10s))
        << "messages_delivered_total is " << delivered(relay) << ", expected " << total;
    relay.signal(SIGTERM);
    EXPECT_EQ(relay.wait(15s), 0) << relay.err();
  }
  for (size_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(first[i].body.is_object()) << "message " << i << " is not the JSON envelope";
    EXPECT_EQ(row_id(first[i]), static_cast<int>(i + 1)) << "order at message " << i;
    EXPECT_EQ(first[i].body["op"], "insert");
  }
  EXPECT_EQ(first[300].body["op"], "update");
  EXPECT_EQ(first[301].body["op"], "delete");
  std::map<std::string, json> by_id;
  for (const auto& d : first) {
    EXPECT_EQ(d.dedup_id, d.body["dedup_key"].get<std::string>()) << "the broker-level identity is the envelope's dedup_key";
    by_id[d.dedup_id] = d.body;
  }
  EXPECT_EQ(by_id.size(), total) << "dedup identities are unique";

  // Replay everything from the start: each message comes with the identity it had before (a
  // deduplicating broker drops the copies; the others deliver them with the same identity).
  db_.exec("DELETE FROM pgtrickle.relay_offsets WHERE pipeline = 'contract'");
  RelayProcess replay(relay_args(db_));
  ASSERT_TRUE(wait_until([&] { return delivered(replay) == total; }, 30s)) << replay.err();
  auto after = harness_->read(unique_, total, 10s);
  std::set<std::string> ids;
  for (const auto& d : after) {
    ids.insert(d.dedup_id);
    ASSERT_TRUE(by_id.count(d.dedup_id)) << "new identity after replay: " << d.dedup_id;
    EXPECT_EQ(by_id[d.dedup_id]["payload"], d.body["payload"]) << d.dedup_id;
  }
  EXPECT_EQ(ids.size(), total);
}

TEST_P(SinkContract, TheBrokerUnreachableForTenSecondsLosesNothing) {
  create_pipeline(true, {{"batch_size", 20}});
  RelayProcess relay(relay_args(db_));
  insert(1, 50, 5);
  ASSERT_EQ(harness_->read(unique_, 50, 30s).size(), 50u) << relay.err();

  set_reachable(false);
  insert(51, 100, 5);
  std::this_thread::sleep_for(10s);
  int status = 0;
  std::string health = http_get(relay.admin_port(), "/health", status);
  EXPECT_EQ(status, 503) << "the outage shows in /health: " << health;
  set_reachable(true);

  auto got = harness_->read(unique_, 100, 60s);
  std::vector<int> first_seen;
  std::set<int> seen;
  for (const auto& d : got)
    if (seen.insert(row_id(d)).second) first_seen.push_back(row_id(d));
  ASSERT_EQ(seen.size(), 100u) << "every row arrives after the outage\n" << relay.err();
  for (size_t i = 0; i < first_seen.size(); ++i) EXPECT_EQ(first_seen[i], static_cast<int>(i + 1)) << "order";
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0) << "an outage is not a permanent error";
  ASSERT_TRUE(wait_until([&] { http_get(relay.admin_port(), "/health", status); return status == 200; }, 15s))
      << "the pipeline recovers by itself";
}

TEST_P(SinkContract, APermanentRefusalDeadLettersThatMessageAndThePipelineGoesOn) {
  std::string bad = harness_->rejected_note(unique_);
  create_pipeline(false);
  RelayProcess relay(relay_args(db_));
  insert(1, 1, 1);
  insert(2, 2, 1, bad);
  insert(3, 3, 1);
  auto got = harness_->read(unique_, 2, 30s);
  ASSERT_EQ(got.size(), 2u) << relay.err();
  EXPECT_EQ(row_id(got[0]), 1);
  EXPECT_EQ(row_id(got[1]), 3);
  ASSERT_TRUE(wait_until([&] { return db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; }, 10s));
  EXPECT_NE(db_.value("SELECT error FROM pgtrickle.relay_dead_letters"), "");
  EXPECT_EQ(db_.value("SELECT pipeline FROM pgtrickle.relay_dead_letters"), "contract");
  EXPECT_EQ(metric(relay.admin_port(), "pgtrickle_relay_dead_letters_total{pipeline=\"contract\"}"), 1);
}

TEST_P(SinkContract, StopFlushesInFlightMessagesAndNeverAcknowledgesAheadOfTheBroker) {
  create_pipeline(false, {{"batch_size", 500}});
  insert(1, 5000, 100);
  {
    RelayProcess relay(relay_args(db_));
    ASSERT_TRUE(wait_until([&] { return delivered(relay) > 0; }, 30s)) << relay.err();
    relay.signal(SIGTERM);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(relay.wait(15s), 0) << relay.err();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 12s) << "stop keeps its deadline";
  }
  // Each outbox row holds one transaction of 100 rows; every fully acknowledged one is at the broker.
  long long last_id = db_.number("SELECT coalesce(max(last_id), 0) FROM pgtrickle.relay_offsets WHERE pipeline = 'contract'");
  auto at_broker = harness_->read(unique_, 0, 2s);
  std::set<int> rows;
  for (const auto& d : at_broker) rows.insert(row_id(d));
  EXPECT_GE(static_cast<long long>(rows.size()), 100 * (last_id - 1)) << "acknowledged ahead of the broker";

  RelayProcess again(relay_args(db_));
  auto all = harness_->read(unique_, 5000, 60s);
  rows.clear();
  for (const auto& d : all) rows.insert(row_id(d));
  EXPECT_EQ(rows.size(), 5000u) << again.err();
}

INSTANTIATE_TEST_SUITE_P(Sinks, SinkContract, testing::ValuesIn(compiled_sinks()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SinkContract);

}  // namespace
