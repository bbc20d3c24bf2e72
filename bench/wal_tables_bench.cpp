// Capturing many tables from the WAL ("wal_tables"), in one run:
// - a backlog of 200,000 single-row transactions spread over 30 tables, drained to a file by one
//   pipeline of source type "wal", beside the same backlog in one table drained by a single-table
//   WAL pipeline, and beside pg_recvlogical reading the 30 tables' publication (the decode floor);
// - the server's CPU seconds (every PostgreSQL process, those that ended meanwhile too) while
//   1,000 single-row transactions a second are spread over the 30 tables for 20 s, read by one
//   30-table pipeline, by 30 single-table pipelines, and (the same load on one table) by one
//   single-table pipeline;
// - 1,000 tables captured by one pipeline through one slot: a row into each, all delivered, and
//   the relay's resident memory.
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "bench_support.h"

namespace bench {
namespace {

constexpr int kTables = 30;
constexpr long kBacklog = 200000;

// pgbench's transaction: one single-row INSERT into a table t1..t<tables> picked at random.
std::string insert_spread(int tables) {
  return fmt::format("\\set t random(1, {})\nINSERT INTO t:t (v) VALUES (random());", tables);
}

// Waits until at least `active` slots of the database stream, and every streaming one has
// confirmed the server's whole WAL.
void wait_slots_caught_up(relay::pg::Connection& c, int active) {
  for (int i = 0; i < 1200; ++i) {
    auto r = c.exec("SELECT count(*) FILTER (WHERE pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) >= 65536), count(*) "
                    "FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.database = current_database()");
    if (r && r->int64(0, 1) >= active && r->int64(0, 0) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  die("the slots did not catch up within 120 s");
}

std::vector<std::string> relay_args(const std::string& url) {
  return {"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"};
}

// Tables t1..t<n>, each with a key and a value.
void make_tables(relay::pg::Connection& c, int n) {
  for (int first = 1; first <= n; first += 100) {
    std::string sql = "BEGIN;";
    for (int i = first; i < first + 100 && i <= n; ++i)
      sql += fmt::format("CREATE TABLE t{} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v float8, at timestamptz DEFAULT now());", i);
    exec(c, sql + "COMMIT");
  }
}

// Only the named pipelines enabled.
void enable_only(relay::pg::Connection& c, const std::vector<std::string>& pipelines) {
  exec(c, "SELECT pgtrickle.disable_relay(name) FROM pgtrickle.relay_outbox_config");
  for (const auto& p : pipelines) exec(c, fmt::format("SELECT pgtrickle.enable_relay('{}')", p));
}

// A relay running the enabled pipelines until every slot streams and has caught up.
std::unique_ptr<Relay> start_relay(relay::pg::Connection& c, const std::string& url, const std::string& label, int slots) {
  auto relay = std::make_unique<Relay>(relay_args(url), "/tmp/relay_bench_wal_tables_" + label + ".err");
  for (int i = 0; i < 1500; ++i) {
    auto r = c.exec("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid "
                    "WHERE s.database = current_database()");
    if (r && r->int64(0, 0) >= slots) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  wait_slots_caught_up(c, slots);
  return relay;
}

// Rows per second one relay drains a backlog of kBacklog single-row transactions written by
// `script` while it was down.
double drain(relay::pg::Connection& c, const std::string& url, const std::string& pipeline, const std::string& script,
             const std::string& label) {
  enable_only(c, {pipeline});
  start_relay(c, url, label, 1).reset();  // the slot exists and streams before the backlog
  pgbench(url, script, 2, 0, kBacklog / 2);
  auto t0 = std::chrono::steady_clock::now();
  Relay relay(relay_args(url), "/tmp/relay_bench_wal_tables_" + label + "_drain.err");
  int port = relay.port();
  while (metric(port, "pgtrickle_relay_messages_delivered_total") < kBacklog) {
    if (seconds_since(t0) > 300) die("the relay did not drain the backlog in 300 s: see " + relay.err_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return kBacklog / seconds_since(t0);
}

}  // namespace

void wal_table_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_wal_tables";
  std::cout << fmt::format("wal_tables: {} tables through one slot; backlog of {} single-row transactions; server CPU at 1,000 tx/s\n",
                           kTables, kBacklog);
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  const pid_t postmaster = postmaster_pid(c);
  make_tables(c, kTables);
  const std::string unique = fmt::format("relay_bench_wal_tables_{}", getpid());
  exec(c, fmt::format(R"(SELECT pgtrickle.set_relay_outbox('all-tables', config => '{{"source": {{"type": "wal", "tables": ["public.t*"]}},
                         "sink": {{"type": "file", "path": "/tmp/{}_all.jsonl"}}}}'))", unique));
  for (int i = 1; i <= kTables; ++i) {
    exec(c, fmt::format("SELECT pgtrickle.enable_outbox('t{}', capture => 'wal')", i));
    exec(c, fmt::format(R"(SELECT pgtrickle.set_relay_outbox('t{0}-out', config => '{{"stream_table": "t{0}", "sink_type": "file",
                           "path": "/tmp/{1}_t{0}.jsonl"}}'))", i, unique));
  }

  // The backlog, drained.
  double spread = drain(c, url, "all-tables", insert_spread(kTables), "all");
  double single = drain(c, url, "t1-out", insert_spread(1), "single");
  enable_only(c, {});
  // pg_recvlogical on a slot of its own over the 30 tables' publication, from before the backlog.
  exec(c, "CREATE PUBLICATION bench_wal_tables FOR TABLES IN SCHEMA public");
  exec(c, "SELECT pg_create_logical_replication_slot('relay_bench_wal_tables', 'pgoutput')");
  pgbench(url, insert_spread(kTables), 2, 0, kBacklog / 2);
  double recv = 0;
  {
    auto t0 = std::chrono::steady_clock::now();
    std::string end = c.exec("SELECT pg_current_wal_lsn()::text")->str(0, 0);
    pid_t pid = fork();
    if (pid == 0) {
      std::string bin = postgres_bin() + "/pg_recvlogical";
      execl(bin.c_str(), bin.c_str(), "-d", url.c_str(), "--slot", "relay_bench_wal_tables", "--start", "-E", end.c_str(), "-o",
            "proto_version=1", "-o", "publication_names=bench_wal_tables", "-f", "/dev/null", static_cast<char*>(nullptr));
      _exit(127);
    }
    waitpid(pid, nullptr, 0);
    recv = kBacklog / seconds_since(t0);
  }
  exec(c, "SELECT pg_drop_replication_slot('relay_bench_wal_tables')");
  exec(c, "DROP PUBLICATION bench_wal_tables");
  std::cout << fmt::format("  drain: {} tables, one pipeline {:.0f} rows/s; one table, one pipeline {:.0f} rows/s; "
                           "pg_recvlogical over the {} tables {:.0f} rows/s\n", kTables, spread, single, kTables, recv);
  report("wal_tables_drain_30_tables_rows_per_s", spread, "rows/s");
  report("wal_tables_drain_1_table_rows_per_s", single, "rows/s");
  report("wal_tables_drain_pg_recvlogical_rows_per_s", recv, "rows/s");

  // The server's CPU under a steady load, by the way the tables are read.
  struct Case {
    std::string name;
    std::vector<std::string> pipelines;
    int tables_written;
  };
  std::vector<std::string> singles;
  for (int i = 1; i <= kTables; ++i) singles.push_back(fmt::format("t{}-out", i));
  const std::vector<Case> cases = {{"one_30_table_pipeline", {"all-tables"}, kTables},
                                   {"30_single_table_pipelines", singles, kTables},
                                   {"one_single_table_pipeline_one_table", {"t1-out"}, 1}};
  std::map<std::string, double> cpu;
  for (const auto& k : cases) {
    enable_only(c, k.pipelines);
    auto relay = start_relay(c, url, k.name, static_cast<int>(k.pipelines.size()));
    double before = server_cpu(postmaster);
    pgbench(url, insert_spread(k.tables_written), 2, 20, 0, 1000);
    wait_slots_caught_up(c, static_cast<int>(k.pipelines.size()));
    cpu[k.name] = server_cpu(postmaster) - before;
    std::cout << fmt::format("  server CPU, 1,000 tx/s for 20 s over {} table(s), {}: {:.1f} s\n", k.tables_written, k.name, cpu[k.name]);
    report("wal_tables_server_cpu_s_" + k.name, cpu[k.name], "s");
  }
  report("wal_tables_cpu_ratio_30_tables_to_1_table", cpu["one_30_table_pipeline"] / cpu["one_single_table_pipeline_one_table"], "x");
  enable_only(c, {});
  for (const auto& p : singles) exec(c, fmt::format("SELECT pgtrickle.delete_relay('{}')", p));
  exec(c, "SELECT pgtrickle.delete_relay('all-tables')");

  // 1,000 tables, one pipeline, one slot.
  const std::string big_db = db + "_1000";
  auto big = fresh_database(big_db);
  const std::string big_url = db_url(big_db);
  make_tables(big, 1000);
  exec(big, fmt::format(R"(SELECT pgtrickle.set_relay_outbox('thousand', config => '{{"source": {{"type": "wal", "tables": ["public.*"]}},
                           "sink": {{"type": "file", "path": "/tmp/{}_thousand.jsonl"}}}}'))", unique));
  {
    auto relay = start_relay(big, big_url, "thousand", 1);
    int port = relay->port();
    auto t0 = std::chrono::steady_clock::now();
    for (int first = 1; first <= 1000; first += 100) {
      std::string sql = "BEGIN;";
      for (int i = first; i < first + 100; ++i) sql += fmt::format("INSERT INTO t{} (v) VALUES ({});", i, i);
      exec(big, sql + "COMMIT");
    }
    while (metric(port, "pgtrickle_relay_messages_delivered_total") < 1000) {
      if (seconds_since(t0) > 120) die("the 1,000-table pipeline did not deliver a row of each table in 120 s: see " + relay->err_path);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    double first_rows = seconds_since(t0);
    // Steady: rows keep coming into every table for a while.
    pgbench(big_url, insert_spread(1000), 2, 10, 0, 1000);
    wait_slots_caught_up(big, 1);
    long rss = relay->status_kb("VmRSS"), peak = relay->rss_peak_kb();
    long slots = big.exec("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()")->int64(0, 0);
    std::cout << fmt::format("  1,000 tables, one pipeline: {} slot(s); a row into each delivered in {:.1f} s (first sight of each table); "
                             "relay RSS {:.1f} MB after 10 s at 1,000 tx/s (peak {:.1f} MB)\n",
                             slots, first_rows, rss / 1024.0, peak / 1024.0);
    report("wal_tables_1000_tables_slots", static_cast<double>(slots), "slots");
    report("wal_tables_1000_tables_first_rows_s", first_rows, "s");
    report("wal_tables_1000_tables_relay_rss_mb", rss / 1024.0, "MB");
    report("wal_tables_1000_tables_relay_peak_rss_mb", peak / 1024.0, "MB");
  }
  exec(big, "SELECT pgtrickle.delete_relay('thousand')");
  for (const char* suffix : {"all", "thousand"}) std::remove(fmt::format("/tmp/{}_{}.jsonl", unique, suffix).c_str());
  for (int i = 1; i <= kTables; ++i) std::remove(fmt::format("/tmp/{}_t{}.jsonl", unique, i).c_str());
}

}  // namespace bench
