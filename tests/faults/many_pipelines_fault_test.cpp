// A thousand outbox pipelines, a table each, on a PostgreSQL at its default max_connections (100),
// served by two relays of one group: every pipeline runs, the relays hold a few connections each,
// and through a kill -9 of the relay that owns the most (the other takes its pipelines over) and a
// restart of PostgreSQL, every row arrives in its table's commit order. PostgreSQL is the test's
// own (port 55742), so that restarting it disturbs no other test.
#include <signal.h>

#include <iostream>
#include <map>
#include <set>

#include "fault_fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kTables = 1000;

// Rows from..to, row n into table t<n % 1000 + 1>, in one transaction (ten tables each). On a
// fresh connection each time (the server may have restarted since); a retried chunk is harmless.
void insert_spread(const std::string& url, int from, int to) {
  std::string sql = "BEGIN;";
  for (int n = from; n <= to; ++n)
    sql += "INSERT INTO t" + std::to_string(n % kTables + 1) + " VALUES (" + std::to_string(n) + ") ON CONFLICT DO NOTHING;";
  exec_until_done(url, sql + "COMMIT", "insert rows " + std::to_string(from) + ".." + std::to_string(to));
}

long long relay_connections(const std::string& url) {
  auto v = query_value(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name LIKE 'pgtrickle-relay%' AND backend_type = 'client backend'");
  return v.empty() ? -1 : std::stoll(v);
}

}  // namespace

TEST(FaultManyPipelines, AThousandPipelinesAtPostgresDefaultsSurviveATakeoverAndAPostgresRestart) {
  PrivateServer pg("pg", 55742, "PGTRICKLE_PG_MAX_CONNECTIONS=100");
  pg.export_to_harnesses();
  TestDb db;
  ASSERT_EQ(query_value(db.url(), "SHOW max_connections"), "100");
  const std::string dir = work_dir() + "/many-" + db.name();
  std::filesystem::create_directories(dir);
  auto file_of = [&](int t) { return dir + "/t" + std::to_string(t) + ".jsonl"; };
  for (int first = 1; first <= kTables; first += 100) {
    std::string sql = "BEGIN;";
    for (int t = first; t < first + 100; ++t) {
      std::string name = "t" + std::to_string(t);
      json config = {{"stream_table", name}, {"sink_type", "file"}, {"path", file_of(t)}};
      sql += "CREATE TABLE " + name + " (id int PRIMARY KEY); SELECT pgtrickle.enable_outbox('" + name + "');"
             "SELECT pgtrickle.set_relay_outbox('p" + std::to_string(t) + "', config => '" + config.dump() + "');";
    }
    db.exec(sql + "COMMIT");
  }

  auto a = std::make_unique<RelayProcess>(relay_args(db, "many"));
  ASSERT_TRUE(wait_until([&] { return owned(*a) == kTables; }, 60s)) << a->err();
  auto b = std::make_unique<RelayProcess>(relay_args(db, "many"));
  ASSERT_TRUE(wait_until([&] { return b->err().find("standing by") != std::string::npos || owned(*b) > 0; }, 30s)) << b->err();
  std::this_thread::sleep_for(6s);  // lag counts, status rows and backfill lookups have run
  EXPECT_LE(relay_connections(db.url()), 8 + 8) << "a few connections per relay, whatever the number of pipelines";

  // One writer: each table's commit order is its id order.
  constexpr int kRows = 4000;
  std::string writer_url = db.url();
  Feeder feed(kRows, 10, 30ms, [&](int from, int to) { insert_spread(writer_url, from, to); });
  // Rows delivered (distinct), over every file; a row's table file holds it.
  auto delivered = [&] {
    std::set<std::string> ids;
    for (int t = 1; t <= kTables; ++t)
      for (const auto& line : read_lines(file_of(t))) ids.insert(json::parse(line)["dedup_key"].get<std::string>());
    return ids.size();
  };
  auto delivered_at_least = [&](size_t n, std::chrono::seconds within) {
    return wait_until([&] {
      std::this_thread::sleep_for(500ms);
      return delivered() >= n;
    }, within);
  };
  ASSERT_TRUE(delivered_at_least(500, 60s)) << a->err() << b->err();

  // The relay owning the most pipelines killed: the other takes them over.
  RelayProcess& owner = owned(*a) >= owned(*b) ? *a : *b;
  RelayProcess& other = &owner == a.get() ? *b : *a;
  owner.kill9();
  const auto killed = SteadyClock::now();
  owner.wait(5s);
  ASSERT_TRUE(wait_until([&] { return owned(other) == kTables; }, 60s)) << other.err();
  std::cout << "the other relay owned all " << kTables << " pipelines " << seconds_since(killed) << " s after the kill\n";
  size_t at_kill = delivered();
  ASSERT_TRUE(delivered_at_least(at_kill + 500, 60s)) << "the other relay delivers\n" << other.err();

  // PostgreSQL restarted mid-stream (the writer waits for it).
  feed.pause();
  pg.stop();
  std::this_thread::sleep_for(2s);
  pg.start();
  feed.resume();
  feed.wait_done();
  ASSERT_TRUE(delivered_at_least(kRows, 180s)) << other.err();

  // Every row once by identity; a copy is the same message; in each table, first arrivals in
  // commit order.
  std::set<int> rows;
  bool in_order = true;
  for (int t = 1; t <= kTables; ++t) {
    std::map<std::string, json> first;
    int previous = -1;
    for (const auto& line : read_lines(file_of(t))) {
      json m = json::parse(line);
      auto [it, fresh] = first.emplace(m["dedup_key"].get<std::string>(), m);
      if (!fresh) {
        EXPECT_EQ(it->second, m) << "a copy is the same message";
        continue;
      }
      int id = m["payload"]["id"];
      EXPECT_EQ(id % kTables + 1, t) << "each row in its table's file";
      in_order = in_order && id > previous;
      previous = id;
      rows.insert(id);
    }
  }
  EXPECT_EQ(rows.size(), static_cast<size_t>(kRows)) << "every row arrived";
  EXPECT_TRUE(in_order) << "first arrivals in each table's commit order";
  EXPECT_LE(relay_connections(db.url()), 8) << "the relay left holds a few connections";
  other.signal(SIGTERM);
  EXPECT_EQ(other.wait(20s), 0) << other.err();
}
