// What a relay costs the database in connections: a few, whatever the number of its outbox
// pipelines (its catalog, lease, numbering and listening sessions, and a small pool the pipelines
// share for their reads, positions, status, lag counts and backfill lookups); a backfill's own
// connection only while it runs. A relay standing by for another's pipelines holds none for them.
#include <thread>

#include "fixture.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

long long relay_connections(TestDb& db) {
  return db.number("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND application_name LIKE 'pgtrickle-relay%' AND backend_type = 'client backend'");
}


}  // namespace

TEST(Connections, ARelayHoldsAFewWhateverTheNumberOfItsPipelines) {
  constexpr int kPipelines = 40;
  TestDb db;
  std::vector<std::string> files;
  for (int i = 1; i <= kPipelines; ++i) {
    std::string t = "t" + std::to_string(i);
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    db.exec("SELECT pgtrickle.enable_outbox('" + t + "')");
    files.push_back(work_dir() + "/conn-" + t + "-" + db.name());
    set_outbox_pipeline(db, "p" + std::to_string(i), {{"stream_table", t}, {"sink_type", "file"}, {"path", files.back()}});
  }
  db.exec("UPDATE pgtrickle.outbox_tables SET inline_threshold_rows = 10");  // bigger statements: claim checks
  RelayProcess a(relay_args(db, "conn"));
  ASSERT_TRUE(wait_until([&] { return owned(a) == kPipelines; }, 30s)) << a.err();
  for (int i = 1; i <= kPipelines; ++i) db.exec("INSERT INTO t" + std::to_string(i) + " VALUES (1, 'one')");
  for (const auto& f : files) ASSERT_TRUE(wait_until([&] { return read_lines(f).size() == 1; }, 30s)) << f << a.err();
  // Lag counts and backfill lookups have run meanwhile (every 5 s and every second).
  std::this_thread::sleep_for(6s);
  EXPECT_LE(relay_connections(db), 8) << "the catalog, lease, numbering and listening sessions and a pool of four";

  // A claim-check statement is read on pooled connections; a backfill on one of its own.
  db.exec("INSERT INTO t1 SELECT g, 'many' FROM generate_series(2, 200) g");
  ASSERT_TRUE(wait_until([&] { return read_lines(files[0]).size() == 200; }, 30s)) << a.err();
  db.exec("SELECT pgtrickle.backfill_relay('p2')");
  ASSERT_TRUE(wait_until([&] { return read_lines(files[1]).size() == 2; }, 30s)) << a.err();
  EXPECT_EQ(json::parse(read_lines(files[1])[1])["op"], "read");
}

TEST(Connections, ARelayStandingByForAnotherRelaysPipelineHoldsNoConnectionForIt) {
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  std::string file = work_dir() + "/conn-standby-" + db.name();
  set_outbox_pipeline(db, "p", {{"stream_table", "t"}, {"sink_type", "file"}, {"path", file}});
  RelayProcess a(relay_args(db, "standby"));
  ASSERT_TRUE(wait_until([&] { return owned(a) == 1; }, 15s)) << a.err();
  std::this_thread::sleep_for(6s);  // lag counts and backfill lookups have run
  long long before = relay_connections(db);
  RelayProcess b(relay_args(db, "standby"));
  ASSERT_TRUE(wait_until([&] { return b.err().find("standing by") != std::string::npos; }, 15s)) << b.err();
  std::this_thread::sleep_for(6s);
  EXPECT_EQ(owned(b), 0);
  EXPECT_LE(relay_connections(db), before + 2) << "the standby's catalog and lease sessions, nothing for the pipeline\n" << b.err();
  db.exec("INSERT INTO t VALUES (1)");
  ASSERT_TRUE(wait_until([&] { return read_lines(file).size() == 1; }, 15s)) << a.err();
}

// Many pipelines finding a backlog at once (a start, a takeover, a database back after a restart)
// all read it over a pool of two: a reader waiting for a pooled connection holds no thread, so
// the readers holding the connections always get one to finish their stretch and give them back.
TEST(Connections, ManyBacklogsAtOnceAreReadOverASmallPool) {
  // More rows than a page, so each backlog is read as a COPY stream, and than the batches a reader
  // keeps ready: it waits for the sink with its stream open.
  constexpr int kPipelines = 400, kRows = 300;
  TestDb db;
  std::string sql = "BEGIN;";
  auto file_of = [&](int i) { return work_dir() + "/backlog-" + db.name() + "-" + std::to_string(i); };
  for (int i = 1; i <= kPipelines; ++i) {
    std::string t = "t" + std::to_string(i);
    json config = {{"stream_table", t}, {"sink_type", "file"}, {"path", file_of(i)}, {"batch_size", 10}};
    sql += "CREATE TABLE " + t + " (id int PRIMARY KEY); SELECT pgtrickle.enable_outbox('" + t + "');"
           "SELECT pgtrickle.set_relay_outbox('p" + std::to_string(i) + "', config => '" + config.dump() + "');"
           "INSERT INTO " + t + " SELECT generate_series(1, " + std::to_string(kRows) + ");";
  }
  db.exec(sql + "COMMIT");
  auto args = relay_args(db, "backlogs");
  args.insert(args.end(), {"--database-pool-size", "2"});
  RelayProcess relay(args);
  auto done = [&] {
    for (int i = 1; i <= kPipelines; ++i)
      if (read_lines(file_of(i)).size() < static_cast<size_t>(kRows)) return false;
    return true;
  };
  ASSERT_TRUE(wait_until([&] {
    std::this_thread::sleep_for(500ms);
    return done();
  }, 180s)) << relay.err();
  for (int i = 1; i <= kPipelines; ++i) {
    auto lines = read_lines(file_of(i));
    for (size_t n = 0; n < lines.size(); ++n)
      ASSERT_EQ(json::parse(lines[n])["payload"]["id"], static_cast<int>(n) + 1) << "t" << i << " in commit order";
  }
}
