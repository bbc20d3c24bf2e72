// A pgstream stream to Kafka: the seed's events are the records, keyed by a payload extension.
#include <algorithm>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "../pgstream_seed.h"

using namespace relay::test;
using namespace relay::test::pgstream_seed;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {
}  // namespace

TEST(Pgstream, KafkaRecordsAreTheEventsKeyedByAPayloadExtension) {
  TestDb db;
  seed_subscriptions(db);
  std::string brokers = test_server_env("PGTRICKLE_TEST_KAFKA_BROKERS");
  std::string topic = "pgstream-" + db.name();
  set_outbox_pipeline(db, "events-to-kafka", {{"source", {{"type", "pgstream"}, {"stream_id", 1}}},
                                              {"sink", {{"type", "kafka"}, {"brokers", brokers}, {"topic", topic}}},
                                              {"key", "{{ group_id }}"}});
  RelayProcess relay(relay_args(db));
  seed_writes(db);
  ASSERT_TRUE(wait_until([&] { return delivered(relay, "events-to-kafka") == 2; }, 30s)) << relay.err();
  auto records = parse_json_lines(run_node("kafka.js", {brokers, topic, "2", "30000"}));
  ASSERT_EQ(records.size(), 2u);
  std::vector<json> events;
  for (auto& r : records) events.push_back(json::parse(r["body"].get<std::string>()));
  // One partition per key: the signup has no group_id, so its key is empty; order by tg_name.
  std::sort(events.begin(), events.end(), [](const json& a, const json& b) { return a["tg_name"] > b["tg_name"]; });
  expect_seed_events(events);
  for (auto& r : records) {
    if (json::parse(r["body"].get<std::string>())["tg_name"] == "order-notification") {
      EXPECT_EQ(r["key"], "123") << r.dump();
    }
  }
}
