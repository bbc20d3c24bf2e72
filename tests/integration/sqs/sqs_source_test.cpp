// The SQS source against the fauxqs emulator, published to and inspected with the AWS SDK: the
// identity of standard and FIFO messages, attributes as headers; a message the relay never deleted
// (killed after the commit) comes back after its visibility timeout and lands once; a batch held
// longer than the visibility timeout is extended, not delivered twice; a stop makes what was not
// committed visible again at once; long polling does not hold a stop up.
#include <fstream>
#include <thread>

#include "../fixture.h"
#include "sqs_client.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json sqs_source(const std::string& queue_url) {
  return {{"source_type", "sqs"}, {"queue_url", queue_url}, {"endpoint_url", sqs_endpoint()}, {"region", "us-east-1"},
          {"access_key_id", "test"}, {"secret_access_key", "test"}, {"inbox_name", "sqs"}};
}

// Sends JSON lines {"id", "body", "group"?, "attributes"?} with the AWS SDK.
void sqs_publish(const std::string& queue_url, const std::vector<json>& messages) {
  static int n = 0;
  std::string path = work_dir() + "/sqs-source-" + std::to_string(n++) + ".jsonl";
  {
    std::ofstream f(path);
    for (const auto& m : messages) f << m.dump() << "\n";
  }
  run_node("sqs.js", {"publish", sqs_endpoint(), queue_url, path});
}

std::vector<json> numbered(int from, int to, const std::string& prefix = "m-") {
  std::vector<json> out;
  for (int i = from; i <= to; ++i) out.push_back({{"id", prefix + std::to_string(i)}, {"body", json{{"n", i}}.dump()}});
  return out;
}

struct Depth {
  long long visible = -1, in_flight = -1;
};
Depth depth(const std::string& queue_url) {
  auto lines = parse_json_lines(run_node("sqs.js", {"depth", sqs_endpoint(), queue_url}));
  if (lines.empty()) return {};
  return {lines[0].value("visible", -1LL), lines[0].value("in_flight", -1LL)};
}

long long rows(TestDb& db) {
  return db.value("SELECT to_regclass('pgtrickle.inbox_sqs') IS NOT NULL") == "t" ? db.number("SELECT count(*) FROM pgtrickle.inbox_sqs") : -1;
}

}  // namespace

TEST(SqsSource, MessagesLandUnderTheirIdentityWithTheirAttributesAsHeaders) {
  TestDb db;
  std::string name = "s" + db.name();
  std::string queue = sqs_create_queue(name);
  set_inbox_pipeline(db, "from-sqs", sqs_source(queue));
  RelayProcess relay(relay_args(db));
  sqs_publish(queue, {{{"id", "order-1"}, {"body", R"({"order_id": 1})"}, {"attributes", {{"traceparent", "00-abc-01"}}}},
                      {{"id", ""}, {"body", R"({"order_id": 2})"}}});
  ASSERT_TRUE(wait_until([&] { return rows(db) == 2; }, 20s)) << relay.err();
  // With the relay's dedup_key attribute, that is the identity; without, SQS's MessageId.
  EXPECT_EQ(db.value("SELECT event_id FROM pgtrickle.inbox_sqs WHERE payload->>'order_id' = '1'"), "order-1");
  EXPECT_EQ(db.value("SELECT event_id ~ '^[0-9a-f-]{36}$' FROM pgtrickle.inbox_sqs WHERE payload->>'order_id' = '2'"), "t");
  EXPECT_EQ(db.value("SELECT headers->>'traceparent' FROM pgtrickle.inbox_sqs WHERE event_id = 'order-1'"), "00-abc-01");
  EXPECT_EQ(db.value("SELECT string_agg(DISTINCT event_type || ' ' || source, ',') FROM pgtrickle.inbox_sqs"), name + " sqs:" + name);
  // Deleted once committed.
  EXPECT_TRUE(wait_until([&] { Depth d = depth(queue); return d.visible == 0 && d.in_flight == 0; }, 10s));
}

TEST(SqsSource, AFifoQueueIdentityIsTheMessageDeduplicationId) {
  TestDb db;
  std::string queue = sqs_create_queue("f" + db.name() + ".fifo", R"({"FifoQueue":"true"})");
  set_inbox_pipeline(db, "from-fifo", sqs_source(queue));
  auto msgs = numbered(1, 5, "fifo-");
  msgs[0]["attributes"] = {{"dedup_key", "not-this"}};  // the FIFO id wins over the attribute
  for (auto& m : msgs) m["group"] = "customer-7";
  sqs_publish(queue, msgs);
  sqs_publish(queue, numbered(1, 2, "fifo-"));  // SQS drops these within its deduplication window
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return rows(db) == 5; }, 20s)) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(event_id || '=' || (payload->>'n'), ',' ORDER BY event_id) FROM pgtrickle.inbox_sqs"),
            "fifo-1=1,fifo-2=2,fifo-3=3,fifo-4=4,fifo-5=5");
  EXPECT_TRUE(wait_until([&] { Depth d = depth(queue); return d.visible == 0 && d.in_flight == 0; }, 10s));
  EXPECT_EQ(dedup_skipped(relay, "from-fifo"), 0);
}

TEST(SqsSource, AMessageNeverDeletedReappearsAfterTheVisibilityTimeoutAndLandsOnce) {
  TestDb db;
  std::string queue = sqs_create_queue("v" + db.name());
  json cfg = sqs_source(queue);
  cfg["visibility_timeout"] = 2;
  set_inbox_pipeline(db, "from-sqs", cfg);
  sqs_publish(queue, numbered(1, 30));
  {
    // Killed (kill -9) right after its first inbox commit: nothing was deleted.
    RelayProcess crashing(relay_args(db), {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    EXPECT_EQ(crashing.wait(30s), 128 + 9) << crashing.err();
  }
  long long committed = rows(db);
  ASSERT_GT(committed, 0);
  EXPECT_EQ(depth(queue).visible + depth(queue).in_flight, 30) << "nothing was deleted";
  auto restarted = std::chrono::steady_clock::now();
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return rows(db) == 30; }, 30s)) << relay.err();
  // The committed batch came back once its visibility timeout passed, and was skipped.
  EXPECT_TRUE(wait_until([&] { return dedup_skipped(relay, "from-sqs") == static_cast<double>(committed); }, 15s))
      << dedup_skipped(relay, "from-sqs") << " skipped of " << committed;
  EXPECT_LT(std::chrono::steady_clock::now() - restarted, 15s);
  EXPECT_TRUE(wait_until([&] { Depth d = depth(queue); return d.visible == 0 && d.in_flight == 0; }, 10s));
  EXPECT_EQ(db.number("SELECT count(DISTINCT payload->>'n') FROM pgtrickle.inbox_sqs"), 30);
}

TEST(SqsSource, ABatchHeldLongerThanTheVisibilityTimeoutIsExtendedNotDeliveredTwice) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('sqs')");
  std::string queue = sqs_create_queue("x" + db.name());
  json cfg = sqs_source(queue);
  cfg["visibility_timeout"] = 2;
  set_inbox_pipeline(db, "from-sqs", cfg);
  RelayProcess relay(relay_args(db));
  sqs_publish(queue, numbered(0, 0));
  ASSERT_TRUE(wait_until([&] { return rows(db) == 1; }, 20s)) << relay.err();

  TableLock lock(db, "pgtrickle.inbox_sqs");
  sqs_publish(queue, numbered(1, 40));
  ASSERT_TRUE(insert_blocked(db, 15s));
  // Three visibility timeouts later every message is still hidden: their visibility was extended.
  std::this_thread::sleep_for(6s);
  Depth held = depth(queue);
  EXPECT_EQ(held.visible, 0);
  EXPECT_EQ(held.in_flight, 40);
  lock.release();
  ASSERT_TRUE(wait_until([&] { return rows(db) == 41; }, 20s)) << relay.err();
  EXPECT_TRUE(wait_until([&] { Depth d = depth(queue); return d.visible == 0 && d.in_flight == 0; }, 10s));
  EXPECT_EQ(dedup_skipped(relay, "from-sqs"), 0) << "no message was received twice";
}

TEST(SqsSource, AStopMakesWhatWasNotCommittedVisibleAgainAtOnce) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('sqs')");
  std::string queue = sqs_create_queue("r" + db.name());
  json cfg = sqs_source(queue);
  cfg["visibility_timeout"] = 8;
  cfg["max_messages"] = 5;
  set_inbox_pipeline(db, "from-sqs", cfg);
  RelayProcess relay(relay_args(db));
  sqs_publish(queue, numbered(0, 0));
  ASSERT_TRUE(wait_until([&] { return rows(db) == 1; }, 20s)) << relay.err();

  TableLock lock(db, "pgtrickle.inbox_sqs");
  sqs_publish(queue, numbered(1, 10));
  ASSERT_TRUE(insert_blocked(db, 15s));
  sqs_publish(queue, numbered(11, 30));  // received while the first batch waits
  ASSERT_TRUE(wait_until([&] { return depth(queue).in_flight == 30; }, 10s)) << relay.err();
  relay.signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  lock.release();  // the batch in delivery commits and is deleted; the rest is released
  EXPECT_EQ(relay.wait(10s), 0) << relay.err();
  long long committed = rows(db) - 1;
  EXPECT_GT(committed, 0);
  Depth after = depth(queue);
  EXPECT_EQ(after.visible + after.in_flight, 30 - committed);
  // Visible again at once, not after the 8 s visibility timeout. The one long poll the stop
  // abandoned may still take up to max_messages of them at the server: those follow their timeout.
  EXPECT_LE(after.in_flight, 5) << relay.err();
  EXPECT_GE(after.visible, 30 - committed - 5);
  auto restarted = std::chrono::steady_clock::now();
  RelayProcess again(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return rows(db) == 31; }, 20s)) << again.err();
  EXPECT_LT(std::chrono::steady_clock::now() - restarted, 20s);
  EXPECT_EQ(dedup_skipped(again, "from-sqs"), 0);
}

TEST(SqsSource, LongPollingDoesNotHoldAStopUp) {
  TestDb db;
  std::string queue = sqs_create_queue("p" + db.name());
  json cfg = sqs_source(queue);
  cfg["wait_time_seconds"] = 20;
  set_inbox_pipeline(db, "from-sqs", cfg);
  RelayProcess relay(relay_args(db));
  sqs_publish(queue, numbered(1, 1));
  ASSERT_TRUE(wait_until([&] { return rows(db) == 1; }, 20s)) << relay.err();
  std::this_thread::sleep_for(500ms);  // every receive is now a long poll on an empty queue
  auto asked = std::chrono::steady_clock::now();
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(5s), 0) << relay.err();
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s) << "the long polls are abandoned at once";
}

TEST(SqsSource, AQueueThatDoesNotExistStopsThePipelineWithWhatToCheck) {
  TestDb db;
  set_inbox_pipeline(db, "from-sqs", sqs_source(sqs_endpoint() + "/000000000000/no-such-queue-" + db.name()));
  RelayProcess relay(relay_args(db));
  std::string error = wait_for_pipeline_error(relay, "from-sqs");
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
}
