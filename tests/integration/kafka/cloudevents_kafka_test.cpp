// "format": "cloudevents" through Kafka, in both content modes, read back by the CloudEvents SDK's
// own Kafka receiver (Kafka.toEvent of the npm `cloudevents` package, tests/node/cloudevents.js).
#include <algorithm>
#include <set>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The events the SDK makes of the topic's first `count` records, in offset order.
std::vector<json> sdk_events(const std::string& topic, size_t count) {
  return parse_json_lines(run_node("cloudevents.js", {"kafka", kafka_brokers(), topic, std::to_string(count), "30000"}));
}

// Two rows inserted, one updated, one deleted, sent to `topic` with `mode`.
std::vector<json> run_changes(TestDb& db, const std::string& topic, const std::string& mode) {
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  set_outbox_pipeline(db, "orders-out", {{"source", {{"type", "outbox"}, {"stream_table", "orders"}}},
                                         {"sink", {{"type", "kafka"}, {"brokers", kafka_brokers()}, {"topic", topic}}},
                                         {"format", "cloudevents"}, {"cloudevents_mode", mode}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO orders VALUES (1, 'one'), (2, 'två')");
  db.exec("UPDATE orders SET note = 'ONE' WHERE id = 1");
  db.exec("DELETE FROM orders WHERE id = 2");
  auto events = sdk_events(topic, 4);
  EXPECT_EQ(events.size(), 4u) << relay.err();
  return events;
}

void expect_changes(std::vector<json> events) {
  ASSERT_EQ(events.size(), 4u);
  for (const auto& e : events) ASSERT_TRUE(e.contains("event")) << "the SDK refused the record: " << e.dump();
  // Keys go to different partitions: commit order is by identity (the outbox row, then the change).
  std::sort(events.begin(), events.end(), [](const json& a, const json& b) {
    return a["event"]["outboxid"].get<std::string>().size() != b["event"]["outboxid"].get<std::string>().size()
               ? a["event"]["outboxid"].get<std::string>().size() < b["event"]["outboxid"].get<std::string>().size()
               : a["event"]["id"].get<std::string>() < b["event"]["id"].get<std::string>();
  });
  const json& insert = events[0]["event"];
  EXPECT_EQ(insert["specversion"], "1.0");
  EXPECT_EQ(insert["type"], "pgtrickle.orders.insert");
  EXPECT_EQ(insert["source"], "/pgtrickle/orders");
  EXPECT_EQ(insert["subject"], "1");
  EXPECT_EQ(insert["datacontenttype"], "application/json");
  EXPECT_EQ(insert["partitionkey"], "1") << "the record key is the event's partitionkey";
  EXPECT_TRUE(insert["id"].get<std::string>().starts_with("outbox_orders:"));
  EXPECT_TRUE(insert.contains("time"));
  EXPECT_EQ(insert["data"], json({{"before", nullptr}, {"after", {{"id", 1}, {"note", "one"}}}}));
  EXPECT_EQ(events[1]["event"]["data"]["after"]["note"], "två");
  EXPECT_EQ(events[2]["event"]["type"], "pgtrickle.orders.update");
  EXPECT_EQ(events[2]["event"]["data"]["before"]["note"], "one");
  EXPECT_EQ(events[3]["event"]["type"], "pgtrickle.orders.delete");
  EXPECT_EQ(events[3]["event"]["data"]["before"]["id"], 2);
  std::set<std::string> ids;
  for (const auto& e : events) ids.insert(e["event"]["id"].get<std::string>());
  EXPECT_EQ(ids.size(), 4u);
}

}  // namespace

TEST(CloudEventsKafka, BinaryModeAttributesAreHeadersTheSdkReads) {
  TestDb db;
  expect_changes(run_changes(db, "ce-binary-" + db.name(), "binary"));
}

TEST(CloudEventsKafka, StructuredModeIsAnEventTheSdkReads) {
  TestDb db;
  expect_changes(run_changes(db, "ce-structured-" + db.name(), "structured"));
}
