// A relay's cost follows its work, not its pipelines: a thousand outbox pipelines, one per table
// (the seeds' model), on a PostgreSQL at its default max_connections of 100, all deliver, each in
// commit order, through a kill -9 of the relay that owns them (a standby of its group takes them
// over) and a restart of PostgreSQL; each relay holds a few connections, whatever the number of
// pipelines.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "fixture.h"
#include "pg/catalog.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kPipelines = 1000;

relay::pg::Connection connect(const std::string& url) {
  auto c = relay::pg::Connection::open(url, "many-pipelines-test");
  if (!c) throw std::runtime_error(c.error().message);
  return std::move(*c);
}

// One row more in every table, in one transaction: row `id` of each.
void insert_everywhere(relay::pg::Connection& c, int id) {
  auto r = c.exec("DO $$ BEGIN FOR i IN 1.." + std::to_string(kPipelines) +
                  " LOOP EXECUTE format('INSERT INTO t%s VALUES (" + std::to_string(id) + ")', i); END LOOP; END $$");
  if (!r) throw std::runtime_error(r.error().message);
}

// The ids a pipeline's file holds, in the order first delivered (a takeover may send a row again).
std::vector<int> first_deliveries(const std::string& path) {
  std::vector<int> out;
  for (const auto& line : read_lines(path)) {
    int id = json::parse(line)["payload"]["id"].get<int>();
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace

TEST(ManyPipelines, AThousandDeliverInOrderThroughATakeoverAndAPostgresRestart) {
  OwnServer server(6, /*max_connections=*/100);
  server.fresh_database("app");
  const std::string dir = work_dir() + "/many";
  std::filesystem::create_directories(dir);
  {
    auto c = connect(server.url("app"));
    ASSERT_TRUE(relay::pg::install_schema(c));
    ASSERT_TRUE(c.exec("DO $$ BEGIN FOR i IN 1.." + std::to_string(kPipelines) + " LOOP "
                       "EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY)', i); "
                       "PERFORM pgtrickle.enable_outbox(format('t%s', i)); "
                       "PERFORM pgtrickle.set_relay_outbox(format('p%s', i), config => jsonb_build_object('stream_table', "
                       "format('t%s', i), 'sink_type', 'file', 'path', format('" + dir + "/p%s.jsonl', i))); "
                       "END LOOP; END $$"));
    insert_everywhere(c, 1);
  }
  const std::string url = relay_login_url(server.url("app"));
  auto owner = std::make_unique<RelayProcess>(std::vector<std::string>{"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  ASSERT_TRUE(wait_until([&] { return owned(*owner) == kPipelines; }, 60s)) << owner->err();
  RelayProcess standby({"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"});
  auto file = [&](int i) { return dir + "/p" + std::to_string(i) + ".jsonl"; };
  auto all_have = [&](int rows) {
    for (int i = 1; i <= kPipelines; ++i)
      if (first_deliveries(file(i)).size() < static_cast<std::size_t>(rows)) return false;
    return true;
  };
  ASSERT_TRUE(wait_until([&] { return all_have(1); }, 60s)) << owner->err();
  auto c = connect(server.url("app"));
  insert_everywhere(c, 2);
  ASSERT_TRUE(wait_until([&] { return all_have(2); }, 60s)) << owner->err();
  {
    // Connections, with every pipeline run by one relay and stood by for by the other.
    auto r = c.exec("SELECT count(*) FILTER (WHERE application_name LIKE 'pgtrickle-relay%'), count(*) "
                    "FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'");
    ASSERT_TRUE(r);
    EXPECT_LE(r->int64(0, 0), 2 * 10) << "two relays hold a few connections each, not one per pipeline";
  }

  // The owner killed: the standby takes every pipeline over; rows written meanwhile are not lost.
  insert_everywhere(c, 3);
  owner->kill9();
  ASSERT_TRUE(wait_until([&] { return owned(standby) == kPipelines; }, 30s)) << standby.err();
  insert_everywhere(c, 4);
  ASSERT_TRUE(wait_until([&] { return all_have(4); }, 90s)) << standby.err();

  // PostgreSQL restarted under the relay: it reconnects and goes on.
  server.stop();
  std::this_thread::sleep_for(1s);
  server.start();
  c = connect(server.url("app"));
  insert_everywhere(c, 5);
  ASSERT_TRUE(wait_until([&] { return all_have(5); }, 90s)) << standby.err();
  for (int i = 1; i <= kPipelines; ++i) EXPECT_EQ(first_deliveries(file(i)), (std::vector<int>{1, 2, 3, 4, 5})) << file(i);
  standby.signal(SIGTERM);
  EXPECT_EQ(standby.wait(30s), 0) << standby.err();
}
