// A pgstream stream to a webhook that is down for a while, across a relay killed meanwhile: every
// event arrives, in order, each with its stable identity.
#include <memory>
#include <set>

#include "../fixture.h"
#include "../pgstream_seed.h"
#include "receiver.h"

using namespace relay::test;
using namespace relay::test::pgstream_seed;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(Pgstream, EventsWaitOutASinkOutageAndARestartAndComeInOrderWithStableIdentities) {
  TestDb db;
  seed_subscriptions(db);
  Receiver receiver;
  receiver.fail_next(1000000, 503);  // down until told otherwise
  set_outbox_pipeline(db, "events-hook", {{"source", {{"type", "pgstream"}, {"stream_id", 1}}},
                                          {"sink", {{"type", "webhook"}, {"url", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/events"}}},
                                          {"retry_max_ms", 200}});
  auto relay = std::make_unique<RelayProcess>(relay_args(db));
  for (int i = 1; i <= 20; ++i)
    db.exec("insert into orders (id, user_id, total) values (" + std::to_string(1000 + i) + ", " + std::to_string(i) + ", 1)");
  ASSERT_TRUE(wait_until([&] { return receiver.all().size() >= 3; }, 20s)) << relay->err();
  // The relay dies while the sink is down; another starts; the sink comes back.
  relay->kill9();
  relay = std::make_unique<RelayProcess>(relay_args(db));
  std::this_thread::sleep_for(1s);
  receiver.fail_next(0, 200);
  ASSERT_TRUE(wait_until([&] { return receiver.distinct_accepted("/events") >= 20; }, 30s)) << relay->err();
  std::vector<long long> ids;
  std::set<std::string> identities;
  for (const auto& r : receiver.accepted("/events")) {
    json e = json::parse(r.body);
    ids.push_back(e["new"]["id"].get<long long>());
    identities.insert(r.header("Idempotency-Key"));
  }
  ASSERT_EQ(ids.size(), 20u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<long long>(1001 + i));
  EXPECT_EQ(identities.size(), 20u);
  // Each identity names the stream's outbox and the event's id.
  EXPECT_EQ(receiver.accepted("/events")[0].header("Idempotency-Key").rfind("pgstream_1:", 0), 0u);
}

TEST(Pgstream, APartitionPastItsRetentionIsKeptWhileThePipelineHasNotConsumedItAndHealthSaysSo) {
  TestDb db;
  seed_subscriptions(db);
  // Three events of ten days ago, in that day's partition (the relay was gone meanwhile).
  db.exec("CREATE TABLE pgstream.events_old PARTITION OF pgstream.events FOR VALUES "
          "FROM (date_trunc('day', now() - interval '10 days', 'UTC')) TO (date_trunc('day', now() - interval '9 days', 'UTC'))");
  // Owned as the relay's upkeep makes them: by the role maintain_partitions runs as.
  db.exec("DO $$ BEGIN EXECUTE format('ALTER TABLE pgstream.events_old OWNER TO %s', "
          "(SELECT p.proowner::regrole FROM pg_proc AS p WHERE p.oid = 'pgstream.maintain_partitions()'::regprocedure)); END $$");
  db.exec("INSERT INTO pgstream.events (stream_id, payload, created_at) SELECT 1, jsonb_build_object('tg_name', 'old', 'n', g), "
          "now() - interval '10 days' FROM generate_series(1, 3) AS g");
  Receiver receiver;
  receiver.fail_next(1000000, 503);
  set_outbox_pipeline(db, "events-hook", {{"source", {{"type", "pgstream"}, {"stream_id", 1}}},
                                          {"sink", {{"type", "webhook"}, {"url", "http://127.0.0.1:" + std::to_string(receiver.port()) + "/events"}}},
                                          {"retry_max_ms", 200}});
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  json pipeline;
  ASSERT_TRUE(wait_until([&] {
    int status = 0;
    auto health = json::parse(http_get(port, "/health", status), nullptr, false);
    if (health.is_discarded() || health["pipelines"].empty()) return false;
    pipeline = health["pipelines"][0];
    return pipeline.contains("kept_past_retention");
  }, 20s)) << relay.err();
  EXPECT_NE(pipeline["kept_past_retention"].get<std::string>().find("1 partition(s) of pgstream.events past their retention"),
            std::string::npos) << pipeline.dump();
  // The relay's upkeep made today's partition and those ahead, and kept the old one.
  EXPECT_GE(db.number("SELECT count(*) FROM pgstream.partition_status() WHERE range_from >= date_trunc('day', now(), 'UTC')"), 4);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgstream.events"), 3);

  // The sink comes back: the old events go out first, then the partition may go.
  receiver.fail_next(0, 200);
  db.exec("insert into orders (id, user_id, total) values (1, 2, 3)");
  ASSERT_TRUE(wait_until([&] { return receiver.distinct_accepted("/events") >= 4; }, 30s)) << relay.err();
  auto accepted = receiver.accepted("/events");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(json::parse(accepted[i].body)["n"], i + 1);
  EXPECT_EQ(json::parse(accepted[3].body)["tg_name"], "order-notification");
  ASSERT_TRUE(wait_until([&] {
    return db.value("SELECT string_agg(action, ',') FROM pgstream.maintain_partitions() WHERE partition LIKE '%events_old%'") == "dropped";
  }, 20s));
  EXPECT_EQ(db.number("SELECT count(*) FROM pgstream.events"), 1);
}
