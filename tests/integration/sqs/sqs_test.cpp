// The SQS sink against the fauxqs emulator, checked with the AWS SDK: FIFO group and deduplication
// ids (a replay is dropped by SQS), attributes on the wire, SigV4 signing with credentials from the
// environment, and bad configuration.
#include <map>
#include <thread>

#include "../fixture.h"
#include "../webhook/receiver.h"
#include "sqs_client.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json sqs_sink(const std::string& queue_url) {
  return {{"sink_type", "sqs"}, {"queue_url", queue_url}, {"endpoint_url", sqs_endpoint()}, {"region", "us-east-1"},
          {"access_key_id", "test"}, {"secret_access_key", "test"}};
}

TEST(Sqs, AFifoQueueGetsGroupAndDeduplicationIdsAndDropsAReplay) {
  TestDb db;
  std::string queue = sqs_create_queue("f" + db.name() + ".fifo", R"({"FifoQueue":"true"})");
  db.exec("CREATE TABLE orders (id int PRIMARY KEY, customer text)");
  db.exec("SELECT pgtrickle.enable_outbox('orders')");
  json cfg = sqs_sink(queue);
  cfg["stream_table"] = "orders";
  cfg["message_group_id"] = "customer-{{ customer }}";
  cfg["max_in_flight"] = 4;  // parallel across groups, in order within each
  set_outbox_pipeline(db, "fifo", cfg);
  db.exec("INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'ann' ELSE 'bob' END FROM generate_series(1, 40) g");
  std::vector<SqsMessage> got;
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return delivered(relay, "fifo") == 40; }, 20s)) << relay.err();
    got = sqs_receive(queue, 40, 10s);
  }
  ASSERT_EQ(got.size(), 40u);
  std::map<std::string, std::vector<int>> by_group;
  for (const auto& m : got) {
    auto body = json::parse(m.body);
    EXPECT_EQ(m.id, body["dedup_key"].get<std::string>()) << "MessageDeduplicationId is the dedup key";
    EXPECT_EQ(m.group, "customer-" + body["payload"]["customer"].get<std::string>());
    by_group[m.group].push_back(body["payload"]["id"].get<int>());
  }
  ASSERT_EQ(by_group.size(), 2u);
  for (auto& [group, ids] : by_group) EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "order within " << group;

  // A replay sends the same ids again: SQS drops them within its 5-minute deduplication window.
  db.exec("DELETE FROM pgtrickle.relay_offsets WHERE pipeline = 'fifo'");
  RelayProcess replay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return delivered(replay, "fifo") == 40; }, 20s)) << replay.err();
  EXPECT_EQ(sqs_receive(queue, 0, 1s).size(), 0u) << "the replayed copies were deduplicated";
}

TEST(Sqs, AttributesCarryTheIdentityTheOperationAndApplicationHeaders) {
  TestDb db;
  std::string queue = sqs_create_queue("a" + db.name());
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  json cfg = sqs_sink(queue);
  cfg["outbox"] = "order_events";
  set_outbox_pipeline(db, "events", cfg);
  db.exec("SELECT pgtrickle.outbox_publish('order_events', '{\"order_id\": 17}', '{\"traceparent\": \"00-abc-01\", \"AWS.Bad\": \"x\"}')");
  RelayProcess relay(relay_args(db));
  auto got = sqs_receive(queue, 1, 15s);
  ASSERT_EQ(got.size(), 1u) << relay.err();
  auto body = json::parse(got[0].body);
  EXPECT_EQ(got[0].attributes["dedup_key"], body["dedup_key"].get<std::string>());
  EXPECT_EQ(got[0].attributes["op"], "event");
  EXPECT_EQ(got[0].attributes["traceparent"], "00-abc-01");
  EXPECT_EQ(got[0].attributes.count("AWS.Bad"), 0u) << "a name SQS reserves is left out, not refused";
  EXPECT_EQ(body["payload"]["order_id"], 17);
}

TEST(Sqs, RequestsAreSignedWithSigV4UsingTheAwsEnvironmentVariables) {
  // The operator's TOML pipeline signs with the relay's AWS_* variables; a pipeline defined in SQL
  // never does: its admin would otherwise send requests under the relay's identity.
  Receiver fake;  // stands in for the endpoint and records what the relay sends
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string endpoint = "http://127.0.0.1:" + std::to_string(fake.port());
  set_outbox_pipeline(db, "borrowed", {{"stream_table", "t"}, {"sink_type", "sqs"},
                                       {"queue_url", "https://sqs.eu-west-1.amazonaws.com/123456789012/borrowed"},
                                       {"endpoint_url", endpoint}});
  std::string toml = write_toml(db, std::string("[[pipeline]]\nname = \"signed\"\nsource = { type = \"outbox\", stream_table = \"t\" }\n"
                                    "sink = { type = \"sqs\", queue_url = \"https://sqs.eu-west-1.amazonaws.com/123456789012/orders\", "
                                    "endpoint_url = \"" + endpoint + "\" }\n"));
  db.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay({"--config", toml}, {"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI", "AWS_SESSION_TOKEN=tok123",
                                          "AWS_REGION=", "AWS_DEFAULT_REGION=", "PGTRICKLE_RELAY_POSTGRES_URL=" + db.relay_url()});
  ASSERT_TRUE(wait_until([&] {
    for (const auto& r : fake.all())
      if (r.header("X-Amz-Target") == "AmazonSQS.SendMessageBatch") return true;
    return false;
  }, 15s)) << relay.err();
  EXPECT_NE(wait_for_pipeline_error(relay, "borrowed").find("does not sign with the relay's own AWS_* credentials"), std::string::npos)
      << relay.err();
  for (const auto& r : fake.all()) {
    EXPECT_EQ(r.body.find("borrowed"), std::string::npos) << "the SQL pipeline sent a request: " << r.body;
    std::string auth = r.header("Authorization");
    EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0), 0u) << auth;
    EXPECT_NE(auth.find("/eu-west-1/sqs/aws4_request"), std::string::npos) << "the region comes from the queue URL: " << auth;
    EXPECT_NE(auth.find("Signature="), std::string::npos);
    EXPECT_EQ(r.header("X-Amz-Security-Token"), "tok123");
    EXPECT_FALSE(r.header("X-Amz-Date").empty());
    EXPECT_EQ(r.header("Content-Type"), "application/x-amz-json-1.0");
  }
  EXPECT_EQ(relay.err().find("wJalrXUtnFEMI"), std::string::npos) << "secrets never reach the log";
}

TEST(Sqs, BadConfigurationIsRefusedNamingTheKey) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string e = db.error_of("SELECT pgtrickle.set_relay_outbox('p', config => '{\"stream_table\": \"t\", \"sink_type\": \"sqs\"}'::jsonb)");
  EXPECT_NE(e.find("queue_url"), std::string::npos) << e;
  json missing = sqs_sink(sqs_create_queue("m" + db.name()) + "-missing");
  missing["stream_table"] = "t";
  set_outbox_pipeline(db, "missing", missing);
  json nocreds = {{"stream_table", "t"}, {"sink_type", "sqs"}, {"queue_url", "https://sqs.eu-west-1.amazonaws.com/1/q"}};
  set_outbox_pipeline(db, "nocreds", nocreds);
  RelayProcess relay(relay_args(db), {"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="});
  ASSERT_TRUE(wait_until([&] {
    return relay.err().find("-missing does not exist") != std::string::npos &&
           relay.err().find("no credentials: a pipeline defined in SQL does not sign with the relay") != std::string::npos;
  }, 15s)) << relay.err();
  EXPECT_TRUE(relay.alive());
}

}  // namespace
