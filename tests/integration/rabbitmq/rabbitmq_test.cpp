// The RabbitMQ sink against a real rabbitmq-server: properties and headers on the wire, routing
// keys from templates, declaring the exchange, the default exchange, publisher confirms (a nack
// is retried, never dead-lettered), and clear errors for a missing exchange or a wrong password.
#include <fmt/format.h>

#include <set>

#include "../fixture.h"
#include "rabbitmq_test_util.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

class RabbitmqSink : public testing::Test {
 protected:
  void SetUp() override { unique_ = "q" + db_.name(); }

  void pipeline(const std::string& name, const json& config) {
    set_outbox_pipeline(db_, name, config);
  }

  std::string url_as(const std::string& user, const std::string& password) {
    return fmt::format("amqp://{}:{}@{}:{}/", user, password, rabbitmq_server().host, rabbitmq_server().port);
  }

  TestDb db_;
  std::string unique_;
};

TEST_F(RabbitmqSink, EventsCarryMessageIdPersistenceAndHeaders) {
  db_.exec("SELECT pgtrickle.create_outbox('order_events')");
  rabbitmq_setup_queue(unique_, "amq.topic", unique_ + ".#");
  db_.exec("BEGIN; SELECT pgtrickle.outbox_publish('order_events', '{\"order_id\": 17, \"total\": 99.90}', "
           "'{\"type\": \"OrderPaid\", \"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}'); COMMIT;");
  // The flat form with the amqp_ prefix; the routing key template renders {stream_table} and {op}.
  pipeline("events", {{"outbox", "order_events"}, {"sink_type", "rabbitmq"}, {"amqp_url", rabbitmq_url()},
                      {"amqp_exchange", "amq.topic"}, {"amqp_routing_key", unique_ + ".{stream_table}.{op}"}});
  RelayProcess relay(relay_args(db_));
  auto got = rabbitmq_read_messages(unique_, 1, 15s);
  ASSERT_EQ(got.size(), 1u) << relay.err();
  const json& m = got[0];
  auto body = json::parse(m["body"].get<std::string>());
  EXPECT_EQ(m["routingKey"], unique_ + ".order_events.event");
  EXPECT_EQ(m["id"], body["dedup_key"]) << "message-id is the dedup key";
  EXPECT_EQ(body["payload"]["order_id"], 17);
  const json& p = m["properties"];
  EXPECT_EQ(p["contentType"], "application/json");
  EXPECT_EQ(p["deliveryMode"], 2) << "persistent";
  EXPECT_EQ(p["appId"], "pgtrickle-relay");
  EXPECT_GT(p["timestamp"].get<double>(), 1.6e9) << "the commit time, in seconds";
  EXPECT_EQ(p["headers"]["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(p["headers"]["type"], "OrderPaid");
  EXPECT_EQ(p["headers"]["pgtrickle-op"], "event");
  EXPECT_EQ(p["headers"]["pgtrickle-stream-table"], "order_events");
}

TEST_F(RabbitmqSink, TheRelayDeclaresItsExchangeAndRoutesRowsByTemplate) {
  db_.exec("CREATE TABLE orders (id int PRIMARY KEY, region text)");
  db_.exec("SELECT pgtrickle.enable_outbox('orders')");
  std::string exchange = unique_ + "-x";
  pipeline("orders", {{"stream_table", "orders"}, {"sink", {{"type", "rabbitmq"}, {"url", rabbitmq_url()},
            {"exchange", exchange}, {"exchange_type", "direct"}, {"declare", true}, {"routing_key", "{{ region }}"}}}});
  RelayProcess relay(relay_args(db_));
  ASSERT_TRUE(wait_until([&] { return relay.err().find("Connected to RabbitMQ.") != std::string::npos; }, 15s)) << relay.err();
  // The exchange exists now: bind one queue per region (a direct exchange routes by exact key).
  rabbitmq_setup_queue(unique_ + "-eu", exchange, "eu");
  rabbitmq_setup_queue(unique_ + "-us", exchange, "us");
  db_.exec("INSERT INTO orders VALUES (1, 'eu'), (2, 'us'), (3, 'eu')");
  auto eu = rabbitmq_read(unique_ + "-eu", 2, 15s);
  auto us = rabbitmq_read(unique_ + "-us", 1, 15s);
  ASSERT_EQ(eu.size(), 2u) << relay.err();
  ASSERT_EQ(us.size(), 1u) << relay.err();
  EXPECT_EQ(eu[0].body["payload"]["id"], 1);
  EXPECT_EQ(eu[1].body["payload"]["id"], 3);
  EXPECT_EQ(us[0].body["payload"]["id"], 2);
}

TEST_F(RabbitmqSink, ANackIsRetriedInOrderAndNeverDeadLettered) {
  db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db_.exec("SELECT pgtrickle.enable_outbox('t')");
  // A queue that holds two messages and refuses more (x-overflow reject-publish → basic.nack),
  // reached through the default exchange by its name.
  rabbitmq_setup_queue(unique_, "", "", 2);
  pipeline("t", {{"stream_table", "t"}, {"sink_type", "rabbitmq"}, {"url", rabbitmq_url()}, {"exchange", ""},
                 {"routing_key", unique_}, {"batch_size", 10}});
  db_.exec("INSERT INTO t SELECT g FROM generate_series(1, 6) g");
  RelayProcess relay(relay_args(db_));
  ASSERT_TRUE(wait_until([&] {
    return metric(relay.admin_port(), "pgtrickle_relay_delivery_errors_total{pipeline=\"t\"}") > 0;
  }, 15s)) << relay.err();
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0) << "a full queue is backpressure";

  // A consumer drains the queue: the rest arrive, in order after the first copies.
  std::vector<int> ids;
  ASSERT_TRUE(wait_until([&] {
    for (const auto& d : rabbitmq_take(unique_)) ids.push_back(d.body["payload"]["id"].get<int>());
    return std::set<int>(ids.begin(), ids.end()).size() == 6;
  }, 60s)) << relay.err();
  std::vector<int> first_seen;
  std::set<int> seen;
  for (int id : ids)
    if (seen.insert(id).second) first_seen.push_back(id);
  EXPECT_EQ(first_seen, (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);
}

TEST_F(RabbitmqSink, UnroutableMessagesAreDeadLetteredUnlessMandatoryIsOff) {
  db_.exec("CREATE TABLE t (id int PRIMARY KEY, kind text)");
  db_.exec("SELECT pgtrickle.enable_outbox('t')");
  rabbitmq_setup_queue(unique_, "amq.direct", unique_ + ".kept");
  json sink = {{"type", "rabbitmq"}, {"url", rabbitmq_url()}, {"exchange", "amq.direct"}, {"routing_key", unique_ + ".{{ kind }}"}};
  pipeline("strict", {{"stream_table", "t"}, {"sink", sink}});
  sink["mandatory"] = false;
  pipeline("lenient", {{"stream_table", "t"}, {"sink", sink}});
  db_.exec("INSERT INTO t VALUES (1, 'kept'), (2, 'nobody'), (3, 'kept')");
  RelayProcess relay(relay_args(db_));
  // Both pipelines deliver rows 1 and 3; only the strict one sets row 2 aside.
  auto got = rabbitmq_read(unique_, 4, 15s);
  ASSERT_EQ(got.size(), 4u) << relay.err();
  ASSERT_TRUE(wait_until([&] { return db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; }, 10s));
  EXPECT_EQ(db_.value("SELECT pipeline FROM pgtrickle.relay_dead_letters"), "strict");
  EXPECT_NE(db_.value("SELECT error FROM pgtrickle.relay_dead_letters").find("NO_ROUTE"), std::string::npos);
  EXPECT_EQ(db_.value("SELECT payload->>'id' FROM pgtrickle.relay_dead_letters"), "2");
  ASSERT_TRUE(wait_until([&] {
    return metric(relay.admin_port(), "pgtrickle_relay_messages_delivered_total{pipeline=\"lenient\"}") == 3;
  }, 10s)) << "without the mandatory flag the broker drops it and the relay counts it delivered";
}

TEST_F(RabbitmqSink, AMissingExchangeStopsThePipelineWithAnErrorThatSaysWhatToDo) {
  db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db_.exec("SELECT pgtrickle.enable_outbox('t')");
  pipeline("t", {{"stream_table", "t"}, {"sink_type", "rabbitmq"}, {"url", rabbitmq_url()},
                 {"exchange", unique_ + "-missing"}});
  db_.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_pipeline_error(relay, "t");
  EXPECT_NE(error.find("404"), std::string::npos) << error;
  EXPECT_NE(error.find(unique_ + "-missing"), std::string::npos) << error;
  EXPECT_NE(error.find("declare"), std::string::npos) << error;
  EXPECT_EQ(db_.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0);
}

TEST_F(RabbitmqSink, AWrongPasswordIsReportedWithoutTheSecret) {
  db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db_.exec("SELECT pgtrickle.enable_outbox('t')");
  pipeline("t", {{"stream_table", "t"}, {"sink_type", "rabbitmq"}, {"url", url_as("guest", "notthepassword")},
                 {"exchange", "amq.topic"}});
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_pipeline_error(relay, "t");
  EXPECT_NE(error.find("ACCESS_REFUSED"), std::string::npos) << error;
  EXPECT_EQ(relay.err().find("notthepassword"), std::string::npos) << "the password is never logged";
}

TEST_F(RabbitmqSink, DeclaringTheDefaultExchangeIsABadConfigNamingTheKey) {
  db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db_.exec("SELECT pgtrickle.enable_outbox('t')");
  pipeline("t", {{"stream_table", "t"}, {"sink_type", "rabbitmq"}, {"url", rabbitmq_url()}, {"declare", true}});
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_pipeline_error(relay, "t");
  EXPECT_NE(error.find("sink.declare"), std::string::npos) << error;
  EXPECT_TRUE(relay.alive());
}

TEST_F(RabbitmqSink, AnExchangeTypeOutsideTheListIsRefusedWhenThePipelineIsSet) {
  std::string e = db_.error_of("SELECT pgtrickle.set_relay_outbox('p', config => '{\"stream_table\": \"t\", \"sink_type\": \"rabbitmq\", "
                               "\"url\": \"amqp://h/\", \"exchange_type\": \"topik\"}'::jsonb)");
  EXPECT_NE(e.find("exchange_type"), std::string::npos) << e;
  EXPECT_NE(e.find("topic"), std::string::npos) << e;
}

}  // namespace
