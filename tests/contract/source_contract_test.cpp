// The source contract (PRODUCT §4, §6-7), the same for every reverse source: every message lands in
// the inbox once under the broker's identity; the same message twice gives one row; the relay
// killed between the inbox commit and the broker ack loses nothing and duplicates nothing; a poison
// message (not JSON, too large) is kept visibly and the pipeline goes on.
#include <map>
#include <set>
#include <thread>

#include "../integration/fixture.h"
#include "source_contract.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> compiled_sources() {
  std::vector<std::string> out;
  for (const char* s : {"nats", "kafka", "redis", "rabbitmq", "sqs", "http"})
    if (make_source_harness(s)) out.emplace_back(s);
  return out;
}

class SourceContract : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    harness_ = make_source_harness(GetParam());
    ASSERT_TRUE(harness_);
    unique_ = "r" + db_.name();
    harness_->prepare(unique_);
  }

  void create_pipeline(const json& extra = json::object()) {
    json config = harness_->source_config(unique_, 2000);
    config["inbox_name"] = "contract";
    for (auto& [k, v] : extra.items()) config[k] = v;
    db_.exec("SELECT pgtrickle.set_relay_inbox('contract', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
  }

  // Messages e-<from>..e-<to> with JSON bodies {"n": i, "kind": "contract"}.
  static std::vector<Outgoing> messages(int from, int to) {
    std::vector<Outgoing> out;
    for (int i = from; i <= to; ++i) out.push_back({"e-" + std::to_string(i), json{{"n", i}, {"kind", "contract"}}.dump()});
    return out;
  }

  void publish(const std::vector<Outgoing>& msgs) { harness_->publish(unique_, msgs, 60s); }

  long long rows() { return db_.number("SELECT count(*) FROM pgtrickle.inbox_contract"); }
  bool wait_rows(long long n, std::chrono::milliseconds timeout = 60s) {
    return wait_until([&] { return db_.value("SELECT to_regclass('pgtrickle.inbox_contract') IS NOT NULL") == "t" && rows() >= n; }, timeout);
  }
  double consumed(RelayProcess& relay) {
    return metric(relay.admin_port(), "pgtrickle_relay_messages_consumed_total{pipeline=\"contract\"}");
  }
  double dedup_skipped(RelayProcess& relay) {
    return metric(relay.admin_port(), "pgtrickle_relay_dedup_skipped_total{pipeline=\"contract\"}");
  }
  // event_id → payload's n, for every inbox row.
  std::map<std::string, int> landed() {
    std::map<std::string, int> out;
    auto r = db_.conn().exec("SELECT event_id, coalesce((payload->>'n')::int, -1) FROM pgtrickle.inbox_contract");
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (r)
      for (int i = 0; i < r->rows(); ++i) out[std::string(r->text(i, 0))] = std::stoi(std::string(r->text(i, 1)));
    return out;
  }
  void expect_exactly(int from, int to) {
    auto got = landed();
    EXPECT_EQ(got.size(), static_cast<size_t>(to - from + 1));
    for (int i = from; i <= to; ++i) {
      auto it = got.find("e-" + std::to_string(i));
      if (it == got.end()) {
        ADD_FAILURE() << "message e-" << i << " did not land";
        break;
      }
      EXPECT_EQ(it->second, i);
    }
  }

  TestDb db_;
  std::unique_ptr<SourceHarness> harness_;
  std::string unique_;
};

TEST_P(SourceContract, EveryMessageLandsOnceAndTheSameMessageTwiceGivesOneRow) {
  create_pipeline({{"batch_size", 64}});
  RelayProcess relay(relay_args(db_));
  publish(messages(1, 300));
  ASSERT_TRUE(wait_rows(300)) << rows() << " rows\n" << relay.err();
  // The first 20 again, same identity and body: the inbox keeps one row each.
  publish(messages(1, 20));
  size_t expected_consumed = harness_->broker_deduplicates() ? 300 : 320;
  EXPECT_TRUE(wait_until([&] { return consumed(relay) >= static_cast<double>(expected_consumed); }, 30s))
      << consumed(relay) << " consumed\n" << relay.err();
  if (!harness_->broker_deduplicates()) {
    // Consumed counts a batch when it is read; the skipped ones are counted at its commit, just after.
    EXPECT_TRUE(wait_until([&] { return dedup_skipped(relay) >= 20; }, 30s)) << dedup_skipped(relay) << " skipped\n" << relay.err();
    EXPECT_EQ(dedup_skipped(relay), 20);
  }
  expect_exactly(1, 300);
  // The broker's identity is the row's identity; the inbox row says where it came from.
  EXPECT_EQ(db_.value("SELECT count(*) FROM pgtrickle.inbox_contract WHERE source IS NULL OR event_type IS NULL "
                      "OR processed OR error IS NOT NULL"),
            "0");
}

TEST_P(SourceContract, KillDashNineBetweenInboxCommitAndAckLosesNothingAndDuplicatesNothing) {
  create_pipeline({{"batch_size", 50}});
  std::thread publisher;
  {
    // This relay kills itself (kill -9) right after its first inbox commit, before acknowledging.
    RelayProcess crashing(relay_args(db_), {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    crashing.admin_port();
    publisher = std::thread([&] { publish(messages(1, 200)); });
    EXPECT_EQ(crashing.wait(60s), 128 + 9) << crashing.err();
  }
  long long committed = rows();
  EXPECT_GT(committed, 0) << "the first batch was committed before the crash";
  EXPECT_LT(committed, 200);
  RelayProcess relay(relay_args(db_));
  ASSERT_TRUE(wait_rows(200, 90s)) << rows() << " rows\n" << relay.err();
  publisher.join();
  // The committed batch comes again (it was never acknowledged) and is skipped as a duplicate.
  EXPECT_TRUE(wait_until([&] { return dedup_skipped(relay) >= 1; }, 30s)) << relay.err();
  expect_exactly(1, 200);
}

TEST_P(SourceContract, APoisonMessageIsKeptVisiblyAndThePipelineGoesOn) {
  const size_t limit = 4096;
  ASSERT_GT(harness_->max_body_bytes(), 2 * limit);
  create_pipeline({{"max_payload_bytes", static_cast<int>(limit)}});
  RelayProcess relay(relay_args(db_));
  auto msgs = messages(1, 1);
  msgs.push_back({"e-2", "this is not JSON"});
  msgs.push_back({"e-3", json{{"n", 3}, {"blob", std::string(2 * limit, 'x')}}.dump()});
  for (auto& m : messages(4, 5)) msgs.push_back(m);
  publish(msgs);
  ASSERT_TRUE(wait_rows(harness_->refuses_invalid_json() ? 3 : 4)) << rows() << " rows\n" << relay.err();
  EXPECT_TRUE(wait_until([&] { return landed().count("e-5") == 1; }, 30s));
  if (harness_->refuses_invalid_json()) {
    EXPECT_EQ(landed().count("e-2"), 0u) << "refused at the door, so the sender keeps it";
  } else {
    // Not JSON: stored as a JSON string, the error column says why.
    EXPECT_EQ(db_.value("SELECT payload #>> '{}' FROM pgtrickle.inbox_contract WHERE event_id = 'e-2'"), "this is not JSON");
    EXPECT_NE(db_.value("SELECT error FROM pgtrickle.inbox_contract WHERE event_id = 'e-2'").find("not valid JSON"),
              std::string::npos);
  }
  // Too large for the inbox: set aside in the dead-letter table, whole.
  ASSERT_TRUE(wait_until([&] { return db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters WHERE dedup_key = 'e-3'") == 1; }, 30s))
      << relay.err();
  EXPECT_EQ(db_.value("SELECT direction FROM pgtrickle.relay_dead_letters"), "reverse");
  EXPECT_GT(db_.number("SELECT length(coalesce(payload::text, raw_payload)) FROM pgtrickle.relay_dead_letters"), 8192);
  EXPECT_NE(db_.value("SELECT error FROM pgtrickle.relay_dead_letters").find("max_payload_bytes"), std::string::npos);
  EXPECT_EQ(landed().count("e-3"), 0u);
  EXPECT_EQ(landed().count("e-4"), 1u);
}

INSTANTIATE_TEST_SUITE_P(Sources, SourceContract, testing::ValuesIn(compiled_sources()),
                         [](const testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
