// Any login may NOTIFY pgtrickle_relay_config: a flood of notifications costs a few catalog reads,
// not one per notification, and a real change still applies.
#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

bool listed(RelayProcess& relay, const std::string& pipeline) {
  int status = 0;
  auto body = json::parse(http_get(relay.admin_port(), "/health", status), nullptr, false);
  if (body.is_discarded()) return false;
  for (const auto& p : body.value("pipelines", json::array()))
    if (p.value("name", "") == pipeline) return true;
  return false;
}

TEST(Reload, AFloodOfNotificationsFromALoginWithoutPrivilegesCoalesces) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_outbox('order_events')");
  RelayProcess relay(relay_args(db));
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_config_reloads_total") >= 1; }, 15s)) << relay.err();
  double before = metric(port, "pgtrickle_relay_config_reloads_total");

  // 20,000 notifications, each its own statement, from a role with no privileges at all.
  std::string role = "nobody_" + db.name();
  db.exec("CREATE ROLE " + role);
  db.exec("SET ROLE " + role);
  for (int i = 0; i < 20000; ++i) db.exec("NOTIFY pgtrickle_relay_config");
  db.exec("RESET ROLE");

  // A real change after the flood still applies.
  set_outbox_pipeline(db, "after-flood", {{"outbox", "order_events"}, {"sink_type", "stdout"}});
  ASSERT_TRUE(wait_until([&] { return listed(relay, "after-flood"); }, 15s)) << relay.err();
  double reloads = metric(port, "pgtrickle_relay_config_reloads_total") - before;
  std::cerr << "catalog reloads for 20,000 notifications: " << reloads << "\n";
  EXPECT_LT(reloads, 500) << "a reload per burst of notifications, not per notification";
  db.exec("DROP ROLE " + role);
}

}  // namespace
