// Redis Streams source beyond the contract: the group created with MKSTREAM from the first entry (a
// backlog written before the first start is read), entries of a dead consumer claimed by another
// consumer and landing once, how an entry's fields become an inbox row.
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "redis_test_util.h"
#include "util/digest.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// XADDs with ioredis: each item is {"id", "body"} (fields event_id, payload) or {"fields": {...}}.
void publish(const std::string& key, const std::vector<json>& entries) {
  static int n = 0;
  std::string file = work_dir() + "/redis-src-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".jsonl";
  {
    std::ofstream out(file);
    for (const auto& e : entries) out << e.dump() << "\n";
  }
  run_node("redis.js", {"publish", redis_url(), key, file});
}

std::vector<json> numbered(const std::string& prefix, int from, int to) {
  std::vector<json> out;
  for (int i = from; i <= to; ++i) out.push_back({{"id", prefix + std::to_string(i)}, {"body", json{{"n", i}}.dump()}});
  return out;
}

// The stream's groups as ioredis sees them (XINFO GROUPS and CONSUMERS).
json groups(const std::string& key) { return json::parse(run_node("redis.js", {"info", redis_url(), key})); }

long long pending_of(const json& groups, const std::string& group, const std::string& consumer = "") {
  for (const auto& g : groups) {
    if (g["name"] != group) continue;
    if (consumer.empty()) return g["pending"].get<long long>();
    for (const auto& c : g["consumers"])
      if (c["name"] == consumer) return c["pending"].get<long long>();
    return 0;
  }
  return -1;
}

std::string write_toml(const TestDb& db, const std::string& tag, const std::string& key, const std::string& consumer, int claim_idle_ms) {
  std::string path = work_dir() + "/redis-src-" + db.name() + "-" + tag + ".toml";
  std::ofstream(path) << "[global]\npostgres_url = \"" << db.relay_url() << "\"\nmetrics_bind = \"127.0.0.1:0\"\n\n"
                      << "[[pipeline]]\nname = \"from-redis\"\nbatch_size = 50\n"
                      << "source = { type = \"redis\", url = \"" << redis_url() << "\", stream_key = \"" << key
                      << "\", group = \"relay\", consumer = \"" << consumer << "\", claim_idle_ms = " << claim_idle_ms << " }\n"
                      << "sink = { type = \"inbox\", inbox_name = \"claims\" }\n";
  return path;
}

long long rows(TestDb& db, const std::string& table) {
  if (db.value("SELECT to_regclass('pgtrickle." + table + "') IS NOT NULL") != "t") return 0;
  return db.number("SELECT count(*) FROM pgtrickle." + table);
}

}  // namespace

TEST(RedisSource, TheGroupIsCreatedFromTheFirstEntrySoABacklogWrittenBeforeTheFirstStartIsRead) {
  TestDb db;
  std::string key = "backlog:" + db.name();
  publish(key, numbered("b-", 1, 5));  // the stream exists, the group does not yet
  db.exec("SELECT pgtrickle.set_relay_inbox('from-redis', config => " +
          relay::pg::quote_literal(json{{"source_type", "redis"}, {"redis_url", redis_url()}, {"redis_stream_key", key},
                                        {"redis_group", "relay"}, {"inbox_name", "backlog"}}.dump()) + "::jsonb)");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_backlog") == 5; }, 30s)) << relay.err();
  EXPECT_NE(relay.err().find("Created the consumer group."), std::string::npos) << relay.err();
  publish(key, numbered("b-", 6, 7));
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_backlog") == 7; }, 30s)) << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',' ORDER BY (payload->>'n')::int) FROM pgtrickle.inbox_backlog"),
            "b-1,b-2,b-3,b-4,b-5,b-6,b-7");
  EXPECT_TRUE(wait_until([&] { return pending_of(groups(key), "relay") == 0; }, 10s)) << "every entry acknowledged";
}

TEST(RedisSource, AMissingStreamIsCreatedWithItsGroupAndAnExistingGroupIsReused) {
  TestDb db;
  std::string key = "mk:" + db.name();
  ASSERT_EQ(redis_command({"EXISTS", key}), "0");
  db.exec("SELECT pgtrickle.set_relay_inbox('from-redis', config => " +
          relay::pg::quote_literal(json{{"source_type", "redis"}, {"redis_url", redis_url()}, {"redis_stream_key", key},
                                        {"redis_group", "relay"}, {"redis_consumer", "relay-1"}, {"inbox_name", "mk"}}.dump()) + "::jsonb)");
  {
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] { return redis_command({"TYPE", key}) == "stream"; }, 20s)) << relay.err();
    auto g = groups(key);
    ASSERT_EQ(g.size(), 1u) << g.dump();
    EXPECT_EQ(g[0]["name"], "relay");
    publish(key, numbered("m-", 1, 3));
    ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_mk") == 3; }, 30s)) << relay.err();
    relay.signal(SIGTERM);
    EXPECT_EQ(relay.wait(20s), 0) << relay.err();
  }
  publish(key, numbered("m-", 4, 6));
  RelayProcess relay(relay_args(db));
  // The lag shows the three waiting at the start (XINFO GROUPS), then nothing once they are in.
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_consumer_lag", "from-redis") == 3; }, 5s)) << relay.err();
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_mk") == 6; }, 30s)) << relay.err();
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_consumer_lag", "from-redis") == 0; }, 15s));
  EXPECT_EQ(relay.err().find("Created the consumer group."), std::string::npos) << "the group is reused";
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_messages_consumed_total", "from-redis") == 3; }, 10s))
      << "it went on where the group stood: the first three were not read again";
}

TEST(RedisSource, EntriesADeadConsumerLeftPendingAreClaimedByAnotherAndLandOnce) {
  TestDb db;
  std::string key = "claim:" + db.name();
  ASSERT_EQ(redis_command({"XGROUP", "CREATE", key, "relay", "0", "MKSTREAM"}), "OK");
  publish(key, numbered("c-", 1, 40));
  // A consumer reads 25 entries and dies without acknowledging them (nor committing anything).
  auto taken = json::parse(run_node("redis.js", {"read-group", redis_url(), key, "relay", "dead-relay", "25"}));
  ASSERT_EQ(taken.size(), 25u);
  RelayProcess relay({"--config", write_toml(db, "survivor", key, "survivor", 1000)});
  // The 15 it never read come at once; the 25 it held after they were idle for claim_idle_ms.
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_claims") == 40; }, 30s)) << rows(db, "inbox_claims") << "\n" << relay.err();
  EXPECT_NE(relay.err().find("Claimed entries another consumer left pending."), std::string::npos) << relay.err();
  EXPECT_EQ(db.number("SELECT count(DISTINCT event_id) FROM pgtrickle.inbox_claims"), 40);
  EXPECT_TRUE(wait_until([&] { return pending_of(groups(key), "relay") == 0; }, 10s)) << groups(key).dump();
  EXPECT_EQ(pending_of(groups(key), "relay", "dead-relay"), 0);
  EXPECT_EQ(pipeline_metric(relay, "pgtrickle_relay_dedup_skipped_total", "from-redis"), 0) << "each landed once";
}

TEST(RedisSource, ARelayKilledBeforeItsAckIsReplacedByAnotherConsumerThatClaimsItsEntries) {
  TestDb db;
  std::string key = "kill:" + db.name();
  publish(key, numbered("k-", 1, 120));
  {
    // Consumer "relay-a" commits its first batch of 50 to the inbox and is killed before XACK.
    RelayProcess crashing({"--config", write_toml(db, "a", key, "relay-a", 1000)}, {"PGTRICKLE_RELAY_CRASH_AT=after_delivery"});
    EXPECT_EQ(crashing.wait(30s), 128 + 9) << crashing.err();
  }
  EXPECT_EQ(rows(db, "inbox_claims"), 50);
  // Pending for it: the committed batch and the one it had read ahead.
  long long held = pending_of(groups(key), "relay", "relay-a");
  EXPECT_GE(held, 50);
  // Its replacement runs under another consumer name (another host): it claims relay-a's entries.
  RelayProcess relay({"--config", write_toml(db, "b", key, "relay-b", 1000)});
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_claims") == 120; }, 30s)) << relay.err();
  EXPECT_TRUE(wait_until([&] { return pipeline_metric(relay, "pgtrickle_relay_dedup_skipped_total", "from-redis") == 50; }, 30s))
      << "of the " << held << " claimed, the 50 committed already are skipped as duplicates\n" << relay.err();
  EXPECT_EQ(db.number("SELECT count(DISTINCT event_id) FROM pgtrickle.inbox_claims"), 120);
  EXPECT_TRUE(wait_until([&] { return pending_of(groups(key), "relay") == 0; }, 10s)) << groups(key).dump();
}

TEST(RedisSource, FieldsBecomeTheInboxRow) {
  TestDb db;
  std::string key = "fields:" + db.name();
  publish(key, {
      // As the relay's own Redis sink writes it: dedup_key, payload and header.<name>.
      {{"fields", {{"dedup_key", "orders:7:0"}, {"stream_table", "orders"}, {"op", "insert"},
                   {"payload", R"({"id": 7})"}, {"header.traceparent", "00-ab-01"}}}},
      // No identity and no payload: the entry id is the identity, the fields the payload.
      {{"fields", {{"order", "8"}, {"status", "new"}}}},
  });
  db.exec("SELECT pgtrickle.set_relay_inbox('from-redis', config => " +
          relay::pg::quote_literal(json{{"source_type", "redis"}, {"redis_url", redis_url()}, {"redis_stream_key", key},
                                        {"redis_group", "relay"}, {"inbox_name", "fields"}}.dump()) + "::jsonb)");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_fields") == 2; }, 30s)) << relay.err();
  EXPECT_EQ(db.value("SELECT payload->>'id' || ' ' || source || ' ' || event_type || ' ' || (headers->>'traceparent') "
                     "FROM pgtrickle.inbox_fields WHERE event_id = 'orders:7:0'"),
            "7 redis:" + key + " " + key + " 00-ab-01");
  std::string entry_row = db.value("SELECT event_id || ' ' || payload::text FROM pgtrickle.inbox_fields WHERE event_id <> 'orders:7:0'");
  EXPECT_EQ(entry_row.rfind(key + ":", 0), 0u) << entry_row;
  EXPECT_NE(entry_row.find(R"({"order": "8", "status": "new"})"), std::string::npos) << entry_row;
}

// What a producer may put in an entry and the inbox cannot index: a 10 kB event_id is stored as
// its digest (the id as sent in the headers) and its redelivery deduplicated; a 10 kB value of a
// column the inbox's owner indexed fails its batch with SQLSTATE 54000, and only that entry is
// dead-lettered, with the reason. The entries after each are stored: nothing stalls the stream.
TEST(RedisSource, AnEntryTooLargeForTheInboxsIndexesIsBoundedOrDeadLetteredAndTheStreamGoesOn) {
  TestDb db;
  std::string key = "long:" + db.name();
  db.exec("SELECT pgtrickle.create_inbox('long')");
  db.exec("CREATE INDEX ON pgtrickle.inbox_long (aggregate_id)");
  std::string long_id = incompressible_text(10000, "id"), long_aggregate = incompressible_text(10000, "agg");
  publish(key, {{{"id", long_id}, {"body", R"({"n": 1})"}},
                {{"fields", {{"event_id", "too-large"}, {"payload", R"({"n": 2})"}, {"header.agg", long_aggregate}}}},
                {{"id", "after"}, {"body", R"({"n": 3})"}},
                {{"id", long_id}, {"body", R"({"n": 4})"}}});  // the producer sends the first one again
  db.exec("SELECT pgtrickle.set_relay_inbox('from-redis', config => " +
          relay::pg::quote_literal(json{{"source_type", "redis"}, {"redis_url", redis_url()}, {"redis_stream_key", key},
                                        {"redis_group", "relay"}, {"inbox_name", "long"}, {"aggregate_id", "header:agg"},
                                        {"batch_size", 10}}.dump()) + "::jsonb)");
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(wait_until([&] { return rows(db, "inbox_long") == 2 && db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters") == 1; },
                         30s))
      << relay.err();
  EXPECT_EQ(db.value("SELECT string_agg(event_id || ' ' || (payload->>'n'), ',' ORDER BY payload->>'n') FROM pgtrickle.inbox_long"),
            "sha256:" + relay::util::sha256_hex(long_id) + " 1,after 3");
  EXPECT_EQ(db.value("SELECT headers->>'pgtrickle-event-id' = " + relay::pg::quote_literal(long_id) +
                     " FROM pgtrickle.inbox_long WHERE payload->>'n' = '1'"),
            "t");
  std::string dead = db.value("SELECT dedup_key || ' ' || error FROM pgtrickle.relay_dead_letters WHERE pipeline = 'from-redis'");
  EXPECT_EQ(dead.rfind("too-large ", 0), 0u) << dead;
  EXPECT_NE(dead.find("54000"), std::string::npos) << dead;
  EXPECT_TRUE(wait_until([&] { return pending_of(groups(key), "relay") == 0; }, 10s)) << groups(key).dump();
}
