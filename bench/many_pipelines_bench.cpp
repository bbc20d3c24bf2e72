// Many pipelines in one relay ("many_pipelines"): for N = 10, 100, 300 and 1,000 tables, each
// captured by trigger (enable_outbox) with a pipeline of its own to a file, one relay runs them all,
// logging in as a member of pgtrickle_relay. For each N: how many pipelines run, the connections the
// relay holds, the time until every pipeline runs, the relay's resident memory and threads, the
// relay's and the server's CPU over 30 s with nothing written (beside the server's own, idle, before
// the relay started), commit → acknowledged latency (p50, p99) while each table gets a row a second
// for 20 s, the time until a row waiting in every table at start is delivered, and the time until a
// standby of the same group owns every pipeline after the owner's SIGKILL. PGTRICKLE_BENCH_MANY_SIZES (e.g. "10,100") runs other sizes.
#include <dirent.h>
#include <signal.h>
#include <fmt/format.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>
#include <thread>

#include "bench_support.h"

namespace bench {
namespace {

int threads_of(pid_t pid) {
  int n = 0;
  if (DIR* d = opendir(fmt::format("/proc/{}/task", pid).c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

// Pipelines /health says are running (owned, and neither retrying nor failed).
int running_pipelines(int port) {
  httplib::Client c("127.0.0.1", port);
  auto res = c.Get("/health");
  if (!res) return -1;
  auto health = nlohmann::json::parse(res->body, nullptr, false);
  int n = 0;
  if (!health.is_discarded())
    for (const auto& p : health.value("pipelines", nlohmann::json::array()))
      if (p.value("state", "") == "running") ++n;
  return n;
}

std::vector<int> sizes() {
  std::vector<int> out;
  const char* env = std::getenv("PGTRICKLE_BENCH_MANY_SIZES");
  std::stringstream list(env && *env ? env : "10,100,300,1000");
  for (std::string n; std::getline(list, n, ',');) out.push_back(std::stoi(n));
  return out;
}

}  // namespace

std::string make_many_pipelines(relay::pg::Connection& c, const std::string& url, int n, const std::string& unique) {
  for (int first = 1; first <= n; first += 100) {
    std::string sql = "BEGIN;";
    for (int i = first; i < first + 100 && i <= n; ++i)
      sql += fmt::format("CREATE TABLE t{0} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v float8);"
                         "SELECT pgtrickle.enable_outbox('t{0}');"
                         "SELECT pgtrickle.set_relay_outbox('p{0}', config => '{{\"stream_table\": \"t{0}\", \"sink_type\": \"file\", "
                         "\"path\": \"/tmp/{1}_{0}.jsonl\"}}');",
                         i, unique);
    exec(c, sql + "COMMIT");
  }
  // What autovacuum would do to the catalogs and the new tables is done now, not in the idle window.
  exec(c, "VACUUM ANALYZE");
  exec(c, "DO $$ BEGIN CREATE ROLE relay_bench_login LOGIN IN ROLE pgtrickle_relay; "
          "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
  auto scheme = url.find("://"), at = url.find('@', scheme);
  return url.substr(0, scheme + 3) + "relay_bench_login" + url.substr(at);
}

namespace {

void run_size(int n, const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = fmt::format("relay_bench_many_{}", n);
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  const pid_t postmaster = postmaster_pid(c);
  const std::string unique = fmt::format("relay_bench_many_{}_{}", n, getpid());
  const std::string relay_url = make_many_pipelines(c, url, n, unique);
  auto connections = [&] {
    auto r = c.exec("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = 'relay_bench_login'");
    return r ? r->int64(0, 0) : -1;
  };

  // A row waits in every table before the relay starts: the time until each is delivered is the start-up.
  {
    std::string sql = "BEGIN;";
    for (int i = 1; i <= n; ++i) sql += fmt::format("INSERT INTO t{} (v) VALUES (0);", i);
    exec(c, sql + "COMMIT");
  }
  double server_idle_before = server_cpu(postmaster);
  std::this_thread::sleep_for(std::chrono::seconds(10));
  double server_alone = (server_cpu(postmaster) - server_idle_before) * 3;  // per 30 s

  auto t0 = std::chrono::steady_clock::now();
  Relay relay({"--postgres-url", relay_url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"},
              fmt::format("/tmp/relay_bench_many_{}.err", n));
  int port = relay.port();
  while (running_pipelines(port) < n && seconds_since(t0) < 120) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  double startup = seconds_since(t0);  // 120 when not every pipeline ran
  while (metric(port, "pgtrickle_relay_messages_delivered_total") < n && seconds_since(t0) < 120)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  double first_rows = seconds_since(t0);  // every table's waiting row delivered
  std::this_thread::sleep_for(std::chrono::seconds(10));  // settled: first lag counts, status, looks done
  double running = running_pipelines(port);
  long held = connections();

  double relay_before = process_cpu(relay.pid, false), server_before = server_cpu(postmaster);
  std::this_thread::sleep_for(std::chrono::seconds(30));
  double relay_idle = process_cpu(relay.pid, false) - relay_before, server_idle = server_cpu(postmaster) - server_before;
  long rss = relay.status_kb("VmRSS");
  int threads = threads_of(relay.pid);

  // A row a second into each table, spread at random, for 20 s (the latencies of these rows alone).
  const LatencyBuckets before = latency_buckets(port);
  const double delivered_before = metric(port, "pgtrickle_relay_messages_delivered_total");
  const double relay_busy_before = process_cpu(relay.pid, false), server_busy_before = server_cpu(postmaster);
  // The writers keep up when they commit the N rows a second asked of them.
  const double writes =
      tps_of(pgbench(url, fmt::format("\\set t random(1, {})\nINSERT INTO t:t (v) VALUES (random());", n), 2, 20, 0, n));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // CPU per delivered row: the relay's, and the server's (its writers' sessions included).
  const double delivered = metric(port, "pgtrickle_relay_messages_delivered_total") - delivered_before;
  const double relay_us = (process_cpu(relay.pid, false) - relay_busy_before) / delivered * 1e6;
  const double server_us = (server_cpu(postmaster) - server_busy_before) / delivered * 1e6;
  LatencyBuckets window = latency_buckets(port);
  for (auto& [bound, count] : window) count -= before.count(bound) ? before.at(bound) : 0;
  double p50 = latency_quantile(window, 0.5) * 1000, p99 = latency_quantile(window, 0.99) * 1000;

  // A standby of the same group takes over every pipeline of the owner, killed with SIGKILL.
  Relay standby({"--postgres-url", relay_url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"},
                fmt::format("/tmp/relay_bench_many_{}_standby.err", n));
  int standby_port = standby.port();
  std::this_thread::sleep_for(std::chrono::seconds(5));  // standing by
  kill(relay.pid, SIGKILL);
  auto killed = std::chrono::steady_clock::now();
  while (metric(standby_port, "pgtrickle_relay_pipelines_owned") < n && seconds_since(killed) < 120)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  double takeover = seconds_since(killed);

  std::cout << fmt::format("  {} pipelines: {:.0f} running, {} connections, all running after {:.1f} s, every waiting row delivered after "
                           "{:.1f} s; relay {:.1f} MB, {} threads; idle 30 s: relay CPU {:.2f} s, server CPU {:.2f} s (alone {:.2f} s); "
                           "1 row/s per table: {:.0f} of {} commits/s written, CPU per row: relay {:.0f} µs, server {:.0f} µs, p50 {:.1f} ms, p99 {:.1f} ms; a standby owned all {:.1f} s after the owner's SIGKILL\n",
                           n, running, held, startup, first_rows, rss / 1024.0, threads, relay_idle, server_idle, server_alone, writes, n, relay_us, server_us, p50, p99,
                           takeover);
  const std::string k = fmt::format("many_pipelines_{}_", n);
  report(k + "running", running, "");
  report(k + "connections", static_cast<double>(held), "");
  report(k + "startup_s", startup, "s");
  report(k + "first_rows_s", first_rows, "s");
  report(k + "takeover_s", takeover, "s");
  report(k + "relay_rss_mb", rss / 1024.0, "MB");
  report(k + "relay_threads", threads, "");
  report(k + "idle_relay_cpu_s_per_30s", relay_idle, "s");
  report(k + "idle_server_cpu_s_per_30s", server_idle, "s");
  report(k + "idle_server_alone_cpu_s_per_30s", server_alone, "s");
  report(k + "writes_per_s", writes, "");
  report(k + "relay_cpu_us_per_row", relay_us, "µs");
  report(k + "server_cpu_us_per_row", server_us, "µs");
  report(k + "latency_p50_ms", p50, "ms");
  report(k + "latency_p99_ms", p99, "ms");
  for (int i = 1; i <= n; ++i) std::remove(fmt::format("/tmp/{}_{}.jsonl", unique, i).c_str());
}

}  // namespace

void many_pipeline_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  auto c = connect(g_url);
  auto max = c.exec("SHOW max_connections");
  std::cout << fmt::format("many_pipelines: N tables captured by trigger, a pipeline each to a file, one relay "
                           "(server max_connections = {})\n", max ? max->str(0, 0) : "?");
  for (int n : sizes()) run_size(n, report);
}

}  // namespace bench
