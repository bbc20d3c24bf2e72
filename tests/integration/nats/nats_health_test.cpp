// What the relay reports while a NATS pipeline cannot deliver: the backlog while the server has
// been unreachable since the start, and a degraded state while every message is dead-lettered.
#include <thread>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "nats_servers.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json pipeline_health(RelayProcess& relay, const std::string& name, int& status) {
  auto doc = json::parse(http_get(relay.admin_port(), "/health", status));
  for (const auto& p : doc["pipelines"])
    if (p["name"] == name) return p;
  return json();
}

}  // namespace

TEST(NatsHealth, TheBacklogIsReportedWhileTheServerHasBeenDownSinceTheStart) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  for (int i = 1; i <= 51; ++i) db.exec("INSERT INTO t VALUES (" + std::to_string(i) + ")");
  // Nothing listens on port 1.
  set_outbox_pipeline(db, "down", {{"stream_table", "t"}, {"sink_type", "nats"}, {"nats_url", "nats://127.0.0.1:1"},
                                   {"subject", "down.rows"}});
  RelayProcess relay(relay_args(db));
  const int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_consumer_lag{pipeline=\"down\"}") == 51; }, 20s))
      << "the lag gauge counts the rows waiting\n" << relay.err();
  EXPECT_GT(metric(port, "pgtrickle_relay_consumer_lag_seconds{pipeline=\"down\"}"), 0);
  EXPECT_GT(metric(port, "pgtrickle_relay_delivery_errors_total{pipeline=\"down\",kind=\"retriable\"}"), 0) << "a down target is retriable";
  EXPECT_EQ(metric(port, "pgtrickle_relay_delivery_errors_total{pipeline=\"down\",kind=\"rejected\"}"), 0);
  int status = 0;
  json h = pipeline_health(relay, "down", status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(h["state"], "retrying");
  EXPECT_EQ(h["lag"], 51) << h.dump();
  EXPECT_TRUE(h["last_error"].is_string()) << h.dump();
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT coalesce(lag::text, 'null') FROM pgtrickle.list_relay_configs() WHERE name = 'down'") == "51"; }, 15s))
      << "list_relay_configs() shows the lag too";
}

// The example: {refresh_id} is always empty on a plain table, so every subject has an
// empty token and every message is dead-lettered. That must not look healthy.
TEST(NatsHealth, APipelineThatDeadLettersEveryMessageIsDegraded) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "tpl", {{"stream_table", "t"}, {"sink_type", "nats"}, {"nats_url", nats_url()},
                                  {"subject_template", "tpl.{stream_table}.{op}.{outbox_id}.{refresh_id}"}});
  // validate says why before anything runs (a warning: the pipeline is valid, exit status 0).
  std::string out;
  EXPECT_EQ(run_command(shell_quote(relay_binary()) + " validate --postgres-url '" + db.relay_url() + "'", out), 0) << out;
  EXPECT_NE(out.find("warning: pipeline \"tpl\": sink key \"subject\" uses {refresh_id}, which is always empty"), std::string::npos) << out;
  RelayProcess relay(relay_args(db));
  const int port = relay.admin_port();
  db.exec("INSERT INTO t SELECT g FROM generate_series(1, 3) g");
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_dead_letters_total{pipeline=\"tpl\"}") >= 3; }, 20s)) << relay.err();
  EXPECT_NE(relay.err().find("A template uses a variable that is always empty for this outbox."), std::string::npos) << relay.err();
  EXPECT_GE(metric(port, "pgtrickle_relay_delivery_errors_total{pipeline=\"tpl\",kind=\"rejected\"}"), 3) << "refused messages are rejections";
  EXPECT_EQ(metric(port, "pgtrickle_relay_delivery_errors_total{pipeline=\"tpl\",kind=\"retriable\"}"), 0);
  int status = 0;
  json h = pipeline_health(relay, "tpl", status);
  EXPECT_EQ(status, 503) << "/health is not healthy while messages are set aside";
  EXPECT_EQ(h["state"], "degraded") << h.dump();
  ASSERT_TRUE(h["last_error"].is_string()) << h.dump();
  EXPECT_NE(h["last_error"].get<std::string>().find("dead-lettering"), std::string::npos) << h.dump();
  EXPECT_NE(h["last_error"].get<std::string>().find("subject"), std::string::npos) << "with the last reason: " << h.dump();
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT coalesce(state, '') FROM pgtrickle.list_relay_configs() WHERE name = 'tpl'") == "degraded"; }, 15s));

  // Fixed: healthy again.
  set_outbox_pipeline(db, "tpl", {{"stream_table", "t"}, {"sink_type", "nats"}, {"nats_url", nats_url()},
                                  {"subject_template", "tpl.{stream_table}.{op}"}});
  // The row after the pipeline restarted with the fix (before, the old one would set it aside too).
  auto readings = [&] {
    size_t n = 0;
    for (size_t at = relay.err().find("Reading the outbox."); at != std::string::npos; at = relay.err().find("Reading the outbox.", at + 1)) ++n;
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return readings() >= 2; }, 15s)) << relay.err();
  db.exec("INSERT INTO t VALUES (4)");
  ASSERT_TRUE(wait_until([&] { return metric(port, "pgtrickle_relay_messages_delivered_total{pipeline=\"tpl\"}") >= 1; }, 20s)) << relay.err();
  EXPECT_TRUE(wait_until([&] { return pipeline_health(relay, "tpl", status)["state"] == "running" && status == 200; }, 10s));
}
