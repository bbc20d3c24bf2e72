// The relay survives its database restarting: /health shows the outage while it lasts, the
// pipeline reconnects by itself, and nothing is lost.
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fixture.h"
#include "pg/catalog.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

}  // namespace

TEST(Restart, DatabaseRestartMidStreamIsSurvived) {
  OwnServer server(0);
  server.fresh_database("app");
  std::string out = work_dir() + "/restart.jsonl";
  auto setup = [&] {
    auto c = connect_to(server.url("app"), "restart-test");
    return c;
  };
  {
    auto c = setup();
    ASSERT_TRUE(relay::pg::install_schema(c));
    ASSERT_TRUE(c.exec("CREATE TABLE t (id int PRIMARY KEY)"));
    ASSERT_TRUE(c.exec("SELECT pgtrickle.enable_outbox('t')"));
    ASSERT_TRUE(c.exec("SELECT pgtrickle.set_relay_outbox('r', config => '{\"stream_table\":\"t\",\"sink_type\":\"file\",\"path\":\"" + out + "\"}'::jsonb)"));
    ASSERT_TRUE(c.exec("INSERT INTO t SELECT g FROM generate_series(1, 100) g"));
  }
  RelayProcess relay({"--postgres-url", relay_login_url(server.url("app")), "--metrics-addr", "127.0.0.1:0"});
  int port = relay.admin_port();
  ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 100; }, 15s)) << relay.err();

  server.stop();
  int status = 0;
  ASSERT_TRUE(wait_until([&] {
    http_get(port, "/health", status);
    return status == 503;
  }, 15s)) << "health shows the lost database";
  EXPECT_EQ(json::parse(http_get(port, "/health", status))["database"], "unreachable");
  std::this_thread::sleep_for(1s);
  server.start();
  {
    auto c = setup();
    ASSERT_TRUE(c.exec("INSERT INTO t SELECT g FROM generate_series(101, 200) g"));
  }
  EXPECT_EQ(wait_for_distinct_ids(out, 200, 30s).size(), 200u) << relay.err();
  ASSERT_TRUE(wait_until([&] {
    http_get(port, "/health", status);
    return status == 200;
  }, 15s));
  relay.signal(SIGTERM);
  EXPECT_EQ(relay.wait(15s), 0);
}

// The same with the table captured from the WAL: the replication connection is lost with the
// server and the slot resumes where the relay confirmed it.
TEST(Restart, DatabaseRestartMidStreamIsSurvivedByWalCapture) {
  OwnServer server(1);
  server.fresh_database("app_wal");
  std::string out = work_dir() + "/restart-wal.jsonl";
  std::string login = relay_login_url(server.url("app_wal"));
  {
    auto c = connect_to(server.url("app_wal"), "restart-test");
    ASSERT_TRUE(relay::pg::install_schema(c));
    ASSERT_TRUE(c.exec("ALTER ROLE " + login.substr(login.find("://") + 3, login.find('@') - login.find("://") - 3) + " REPLICATION"));
    ASSERT_TRUE(c.exec("CREATE TABLE t (id int PRIMARY KEY)"));
    ASSERT_TRUE(c.exec("SELECT pgtrickle.enable_outbox('t', capture => 'wal')"));
    ASSERT_TRUE(c.exec("SELECT pgtrickle.set_relay_outbox('r', config => '{\"stream_table\":\"t\",\"sink_type\":\"file\",\"path\":\"" + out + "\"}'::jsonb)"));
  }
  auto insert = [&](int from, int to) {
    auto c = connect_to(server.url("app_wal"), "restart-test");
    ASSERT_TRUE(c.exec("INSERT INTO t SELECT g FROM generate_series(" + std::to_string(from) + ", " + std::to_string(to) + ") g"));
  };
  {
    RelayProcess relay({"--postgres-url", login, "--metrics-addr", "127.0.0.1:0"});
    ASSERT_TRUE(wait_until([&] {
      auto c = connect_to(server.url("app_wal"), "restart-test");
      // A walsender streams the slot (a slot being created shows as active before its start is fixed).
      auto r = c.exec("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid");
      return r && r->str(0, 0) == "1";
    }, 15s)) << relay.err();
    insert(1, 100);
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() == 100; }, 15s)) << relay.err();
    server.stop();
    std::this_thread::sleep_for(1s);
    server.start();
    insert(101, 200);
    EXPECT_EQ(wait_for_distinct_ids(out, 200, 30s).size(), 200u) << relay.err();
  }
  // The server's slot goes with the test's database.
  auto admin = connect_to(server.url("postgres"), "restart-test");
  (void)admin.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'app_wal'");
  (void)admin.exec("DROP DATABASE IF EXISTS app_wal WITH (FORCE)");
}
