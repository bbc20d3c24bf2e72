// A pipeline capturing 30 tables from the WAL through one slot, fed by concurrent writers whose
// transactions touch several tables and commit out of order, through a kill -9 of the relay that
// owns it (its standby takes over) and a restart of PostgreSQL: every row arrives, a copy carries
// the identity of the first, and first arrivals come in commit order. PostgreSQL is the test's
// own (port 55740), so that restarting it disturbs no other test.
#include <signal.h>

#include <map>
#include <regex>
#include <set>

#include "fault_fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kWalTables = 30;

// Rows 2k - 1 + `even` for k = from..to, row n into table t<n % 30 + 1>, in one transaction: each
// transaction touches several tables. On a fresh connection each time (the server may have
// restarted since); ON CONFLICT makes a retried chunk harmless.
void insert_spread(const std::string& url, int from, int to, int even) {
  std::string sql = "BEGIN;";
  for (int k = from; k <= to; ++k) {
    const int n = 2 * k - 1 + even;
    sql += "INSERT INTO t" + std::to_string(n % kWalTables + 1) + " VALUES (" + std::to_string(n) + ") ON CONFLICT DO NOTHING;";
  }
  exec_until_done(url, sql + "COMMIT", "insert rows " + std::to_string(from) + ".." + std::to_string(to));
}

}  // namespace

TEST(FaultWalTables, ThirtyTablesThroughOneSlotSurviveATakeoverAndAPostgresRestart) {
  PrivateServer pg("pg", 55740);
  pg.export_to_harnesses();
  TestDb db;
  replication_login_url(db);
  for (int i = 1; i <= kWalTables; ++i) db.exec("CREATE TABLE t" + std::to_string(i) + " (id int PRIMARY KEY)");
  std::string out = work_dir() + "/wal-tables-fault-" + db.name() + ".jsonl";
  set_outbox_pipeline(db, "all", {{"source", {{"type", "wal"}, {"tables", {"public.t*"}}}},
                                  {"sink", {{"type", "file"}, {"path", out}}}, {"batch_size", 50}});
  std::unique_ptr<RelayProcess> a = std::make_unique<RelayProcess>(relay_args(db)), b = std::make_unique<RelayProcess>(relay_args(db));
  auto streaming = [&] {
    return query_value(db.url(), "SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                                 "WHERE s.database = current_database()") == "1";
  };
  ASSERT_TRUE(wait_until(streaming, 30s)) << a->err() << b->err();

  // Two writers, each its own rows, transactions of ten rows over ten tables, committing in
  // whatever order they finish.
  constexpr int kRows = 6000;
  std::string writer_url = db.url();
  Feeder odd(kRows / 2, 10, 40ms, [&](int from, int to) { insert_spread(writer_url, from, to, 0); });
  Feeder even(kRows / 2, 10, 40ms, [&](int from, int to) { insert_spread(writer_url, from, to, 1); });
  auto delivered = [&] { return read_lines(out).size(); };
  ASSERT_TRUE(wait_until([&] { return delivered() >= 1000; }, 60s)) << a->err() << b->err();

  // The owner killed: the standby takes the pipeline and its slot over.
  RelayProcess& owner = metric(a->admin_port(), "pgtrickle_relay_pipelines_owned") >= 1 ? *a : *b;
  RelayProcess& standby = &owner == a.get() ? *b : *a;
  owner.kill9();
  owner.wait(5s);
  size_t at_kill = delivered();
  ASSERT_TRUE(wait_until([&] { return delivered() > at_kill + 500; }, 60s)) << "the standby delivers\n" << standby.err();

  // PostgreSQL restarted mid-stream (the writers wait for it).
  odd.pause();
  even.pause();
  pg.stop();
  std::this_thread::sleep_for(2s);
  pg.start();
  odd.resume();
  even.resume();
  odd.wait_done();
  even.wait_done();
  ASSERT_TRUE(wait_until([&] { return delivered() >= static_cast<size_t>(kRows); }, 120s)) << standby.err();
  ASSERT_TRUE(wait_until([&] {
    std::set<std::string> ids;
    for (const auto& m : json_lines(out)) ids.insert(m["dedup_key"].get<std::string>());
    return ids.size() >= static_cast<size_t>(kRows);
  }, 120s)) << standby.err();

  // Every row once by identity; a copy is the same message; first arrivals in commit order.
  std::map<std::string, json> first;
  std::set<int> rows;
  long long previous_lsn = 0;
  bool in_order = true;
  static const std::regex shape("t([0-9]+):([0-9]+):([0-9]+)");
  for (const auto& m : json_lines(out)) {
    auto [it, fresh] = first.emplace(m["dedup_key"].get<std::string>(), m);
    if (!fresh) {
      EXPECT_EQ(it->second, m) << "a copy is the same message";
      continue;
    }
    std::smatch parts;
    std::string key = m["dedup_key"];
    ASSERT_TRUE(std::regex_match(key, parts, shape)) << key;
    int id = m["payload"]["id"];
    EXPECT_EQ(m["stream_table"], "t" + std::to_string(id % kWalTables + 1)) << "each row named by its table";
    long long lsn = std::stoll(parts[2]);
    in_order = in_order && lsn >= previous_lsn;
    previous_lsn = lsn;
    rows.insert(id);
  }
  EXPECT_EQ(rows.size(), static_cast<size_t>(kRows)) << "every row arrived";
  EXPECT_EQ(first.size(), static_cast<size_t>(kRows)) << "one identity per row";
  EXPECT_TRUE(in_order) << "first arrivals in commit order";
  EXPECT_EQ(query_value(db.url(), "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"), "1") << "one slot";
  standby.signal(SIGTERM);
  EXPECT_EQ(standby.wait(20s), 0) << standby.err();
}
