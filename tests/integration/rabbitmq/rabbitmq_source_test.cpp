// The RabbitMQ source against a real rabbitmq-server: messages published with amqplib
// (tests/node/rabbitmq.js) to a durable queue per test, the inbox read in SQL.
#include <signal.h>

#include <fstream>

#include "../fixture.h"
#include "rabbitmq_test_util.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

class RabbitmqSource : public testing::Test {
 protected:
  void SetUp() override {
    queue_ = "src" + db_.name();
    rabbitmq_setup_queue(queue_, "", "");
  }

  void pipeline(const std::string& name, const json& extra) {
    json config = {{"source_type", "rabbitmq"}, {"url", rabbitmq_url()}, {"queue", queue_}, {"inbox_name", name}};
    for (auto& [k, v] : extra.items()) config[k] = v;
    set_inbox_pipeline(db_, name, config);
  }

  // Publishes (persistent, confirmed) kafka.js-style lines: body, id (message-id), type, headers.
  void publish(const std::vector<json>& messages) {
    std::string file = work_dir() + "/rabbitmq-src-" + queue_ + ".jsonl";
    {
      std::ofstream f(file, std::ios::trunc);
      for (const auto& m : messages) f << m.dump() << '\n';
    }
    run_node("rabbitmq.js", {"publish", rabbitmq_url(), queue_, file});
  }

  long long rows(const std::string& inbox) { return db_.number("SELECT count(*) FROM pgtrickle.inbox_" + inbox); }
  bool wait_rows(const std::string& inbox, long long n, std::chrono::milliseconds timeout = 60s) {
    return wait_until([&] {
      return db_.value("SELECT to_regclass('pgtrickle.inbox_" + inbox + "') IS NOT NULL") == "t" && rows(inbox) >= n;
    }, timeout);
  }
  std::string digest_id(const std::string& body) {
    return db_.value("SELECT 'sha256:' || encode(sha256(convert_to(" + relay::pg::quote_literal(body) + ", 'UTF8')), 'hex')");
  }

  TestDb db_;
  std::string queue_;
};

TEST_F(RabbitmqSource, UnacknowledgedMessagesComeBackAfterAKillAndLandOnceAndPrefetchBoundsABatch) {
  std::vector<json> messages;
  for (int i = 1; i <= 50; ++i) messages.push_back({{"id", "m-" + std::to_string(i)}, {"body", json{{"n", i}}.dump()}});
  publish(messages);
  pipeline("r", {{"prefetch", 7}});  // batch_size stays 1000: only the prefetch bounds the batch
  {
    // Killed (kill -9) right after its first inbox commit, before acknowledging the batch.
    RelayProcess crashing(relay_args(db_), {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    ASSERT_EQ(crashing.wait(60s), 128 + 9) << crashing.err();
  }
  long long landed = rows("r");
  EXPECT_GE(landed, 1);
  EXPECT_LE(landed, 7) << "the broker sends at most `prefetch` unacknowledged messages, so no batch is larger";
  // Nothing was acknowledged: every message is back in the queue, those in the inbox too.
  EXPECT_EQ(rabbitmq_read_messages(queue_, 50, 15s).size(), 50u);

  RelayProcess relay(relay_args(db_));
  ASSERT_TRUE(wait_rows("r", 50)) << rows("r") << " rows\n" << relay.err();
  EXPECT_TRUE(wait_until([&] {
    return metric(relay.admin_port(), "pgtrickle_relay_dedup_skipped_total{pipeline=\"r\"}") >= static_cast<double>(landed);
  }, 30s)) << relay.err();
  EXPECT_EQ(rows("r"), 50);
  EXPECT_EQ(db_.value("SELECT count(*) FROM pgtrickle.inbox_r WHERE event_id = 'm-' || (payload->>'n')"), "50");
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(30s), 0) << relay.err();
  EXPECT_EQ(rabbitmq_read_messages(queue_, 0, 1s).size(), 0u) << "every message was acknowledged after its commit";
}

TEST_F(RabbitmqSource, AMessageWithoutMessageIdIsIdentifiedByItsBodyAndCarriesItsProperties) {
  std::string paid = json{{"payment", "p-1"}, {"amount", 10}}.dump();
  std::string refunded = json{{"payment", "p-1"}, {"refund", 10}}.dump();
  publish({{{"body", paid}, {"type", "PaymentReceived"}, {"headers", {{"x-request-id", "r-1"}, {"attempt", 3}}}},
           {{"body", paid}},  // the same body again without message-id: the same event
           {{"body", refunded}},
           {{"body", paid}, {"id", "explicit-1"}}});
  pipeline("p", json::object());
  RelayProcess relay(relay_args(db_));
  ASSERT_TRUE(wait_until([&] {
    return metric(relay.admin_port(), "pgtrickle_relay_messages_consumed_total{pipeline=\"p\"}") >= 4;
  }, 60s)) << relay.err();
  ASSERT_TRUE(wait_rows("p", 3)) << relay.err();
  EXPECT_EQ(rows("p"), 3);
  EXPECT_EQ(db_.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.inbox_p"),
            "explicit-1," + std::min(digest_id(paid), digest_id(refunded)) + "," + std::max(digest_id(paid), digest_id(refunded)));
  // The routing key (the queue's name through the default exchange) is the event type; the
  // properties and the headers table are the headers.
  std::string first = "event_id = " + relay::pg::quote_literal(digest_id(paid));
  EXPECT_EQ(db_.value("SELECT event_type || ' ' || source FROM pgtrickle.inbox_p WHERE " + first), queue_ + " rabbitmq:" + queue_);
  EXPECT_EQ(db_.value("SELECT headers->>'type' || ' ' || (headers->>'x-request-id') || ' ' || (headers->>'attempt') || ' ' || "
                      "(headers->>'content-type') FROM pgtrickle.inbox_p WHERE " + first),
            "PaymentReceived r-1 3 application/json");
  EXPECT_EQ(db_.value("SELECT headers->>'message-id' FROM pgtrickle.inbox_p WHERE event_id = 'explicit-1'"), "explicit-1");
}

TEST_F(RabbitmqSource, TheEventIdMappingKeepsIdenticalBodiesApart) {
  std::string body = json{{"ping", true}}.dump();
  publish({{{"body", body}, {"headers", {{"x-request-id", "r-1"}}}},
           {{"body", body}, {"headers", {{"x-request-id", "r-2"}}}}});
  pipeline("q", {{"event_id", "header:x-request-id"}});
  RelayProcess relay(relay_args(db_));
  ASSERT_TRUE(wait_rows("q", 2)) << relay.err();
  EXPECT_EQ(db_.value("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM pgtrickle.inbox_q"), "r-1,r-2");
}

TEST_F(RabbitmqSource, TheLagIsWhatWaitsInTheQueue) {
  std::vector<json> messages;
  for (int i = 1; i <= 3000; ++i) messages.push_back({{"id", "m-" + std::to_string(i)}, {"body", json{{"n", i}}.dump()}});
  publish(messages);
  // One message per inbox transaction: the backlog lasts long enough to be seen.
  pipeline("l", {{"batch_size", 1}, {"prefetch", 1}});
  RelayProcess relay(relay_args(db_));
  auto lag = [&] { return metric(relay.admin_port(), "pgtrickle_relay_consumer_lag{pipeline=\"l\"}"); };
  double seen = 0;
  ASSERT_TRUE(wait_until([&] {
    seen = lag();
    return seen > 0 || (db_.value("SELECT to_regclass('pgtrickle.inbox_l') IS NOT NULL") == "t" && rows("l") >= 3000);
  }, 60s)) << relay.err();
  EXPECT_GT(seen, 0) << "a backlog shows as lag";
  EXPECT_LE(seen, 3000);
  ASSERT_TRUE(wait_rows("l", 3000, 120s)) << rows("l") << " rows\n" << relay.err();
  EXPECT_TRUE(wait_until([&] { return lag() == 0; }, 30s)) << lag();
}

TEST_F(RabbitmqSource, AMissingQueueIsReportedWithWhatToDo) {
  json config = {{"source_type", "rabbitmq"}, {"url", rabbitmq_url()}, {"queue", "absent" + db_.name()}, {"inbox_name", "m"}};
  db_.exec("SELECT pgtrickle.set_relay_inbox('m', config => " + relay::pg::quote_literal(config.dump()) + "::jsonb)");
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_pipeline_error(relay, "m");
  EXPECT_NE(error.find("absent" + db_.name()), std::string::npos) << error;
  EXPECT_NE(error.find("404"), std::string::npos) << error;
  EXPECT_NE(error.find("the relay does not declare queues"), std::string::npos) << error;
}

}  // namespace
