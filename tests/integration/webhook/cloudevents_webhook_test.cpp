// "format": "cloudevents" through the webhook sink, in both content modes: the requests the receiver
// got go through the CloudEvents SDK's own HTTP receiver (HTTP.toEvent of the npm `cloudevents`
// package, tests/node/cloudevents.js).
#include <fstream>
#include <thread>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "receiver.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The events the SDK makes of the requests `receiver` accepted on `path`.
std::vector<json> sdk_events(Receiver& receiver, const std::string& path) {
  std::string file = work_dir() + "/cloudevents-requests-" + std::to_string(receiver.port()) + ".jsonl";
  {
    std::ofstream f(file);
    for (const auto& r : receiver.accepted(path)) {
      json headers = json::object();
      for (const auto& [k, v] : r.headers) headers[k] = v;
      f << json({{"headers", headers}, {"body", r.body}}).dump() << "\n";
    }
  }
  return parse_json_lines(run_node("cloudevents.js", {"http", file}));
}

std::vector<json> run_changes(const std::string& mode, std::vector<ReceivedRequest>* requests = nullptr) {
  Receiver receiver;
  TestDb db;
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, note text)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  set_outbox_pipeline(db, "orders-out",
                      {{"source", {{"type", "outbox"}, {"stream_table", "orders"}}},
                       {"sink", {{"type", "webhook"}, {"url", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/ce"}}},
                       {"format", "cloudevents"}, {"cloudevents_mode", mode}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO orders VALUES (1, 'one'), (2, 'naïve \"quoted\"')");
  db.exec("DELETE FROM orders WHERE id = 1");
  EXPECT_TRUE(wait_until([&] { return receiver.count_accepted("/ce") >= 3; }, 15s)) << relay.err();
  if (requests) *requests = receiver.accepted("/ce");
  return sdk_events(receiver, "/ce");
}

void expect_changes(const std::vector<json>& events) {
  ASSERT_EQ(events.size(), 3u);
  for (const auto& e : events) ASSERT_TRUE(e.contains("event")) << "the SDK refused the request: " << e.dump();
  const json& insert = events[0]["event"];
  EXPECT_EQ(insert["specversion"], "1.0");
  EXPECT_EQ(insert["type"], "pgtrickle.orders.insert");
  EXPECT_EQ(insert["source"], "/pgtrickle/orders");
  EXPECT_EQ(insert["subject"], "1");
  EXPECT_EQ(insert["datacontenttype"], "application/json");
  EXPECT_TRUE(insert["id"].get<std::string>().starts_with("outbox_orders:"));
  EXPECT_EQ(insert["data"]["after"], json({{"id", 1}, {"note", "one"}}));
  EXPECT_EQ(events[1]["event"]["data"]["after"]["note"], "naïve \"quoted\"");
  EXPECT_EQ(events[2]["event"]["type"], "pgtrickle.orders.delete");
  EXPECT_EQ(events[2]["event"]["data"]["before"]["id"], 1);
}

}  // namespace

TEST(CloudEventsWebhook, BinaryModeAttributesAreCeHeadersTheSdkReads) {
  std::vector<ReceivedRequest> requests;
  expect_changes(run_changes("binary", &requests));
  ASSERT_FALSE(requests.empty());
  // The HTTP binding: data as the body, attributes as ce- headers, datacontenttype as Content-Type.
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  EXPECT_EQ(requests[0].header("ce-specversion"), "1.0");
  EXPECT_EQ(requests[0].header("ce-type"), "pgtrickle.orders.insert");
  EXPECT_EQ(json::parse(requests[0].body)["after"]["id"], 1);
}

TEST(CloudEventsWebhook, StructuredModeIsACloudEventsJsonBody) {
  std::vector<ReceivedRequest> requests;
  expect_changes(run_changes("structured", &requests));
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].header("Content-Type"), "application/cloudevents+json");
  EXPECT_EQ(requests[0].header("ce-specversion"), "");
}

// "format": "debezium" through the webhook: each request's body is Debezium's value, its
// Idempotency-Key the message's identity; HTTP has no null body, so no tombstone.
TEST(DebeziumWebhook, EachRequestIsDebeziumsValue) {
  Receiver receiver;
  TestDb db;
  db.exec("CREATE TABLE customers (id int PRIMARY KEY, email text)");
  db.exec("SELECT pgtrickle.enable_outbox('customers')");
  set_outbox_pipeline(db, "customers-out",
                      {{"stream_table", "customers"}, {"sink_type", "webhook"},
                       {"url", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/cdc/{table}"}, {"format", "debezium"}});
  RelayProcess relay(relay_args(db));
  db.exec("INSERT INTO customers VALUES (7, 'a@example.com')");
  db.exec("DELETE FROM customers");
  ASSERT_TRUE(wait_until([&] { return receiver.count_accepted("/cdc/customers") >= 2; }, 15s)) << relay.err();
  std::this_thread::sleep_for(300ms);
  auto got = receiver.accepted("/cdc/customers");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(json::parse(got[0].body)["op"], "c");
  EXPECT_EQ(json::parse(got[0].body)["after"], json({{"id", 7}, {"email", "a@example.com"}}));
  EXPECT_EQ(json::parse(got[1].body)["op"], "d");
  EXPECT_FALSE(got[1].header("Idempotency-Key").empty());
}
