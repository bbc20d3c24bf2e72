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
