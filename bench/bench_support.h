// What both benchmark programs need: the server URL they were given, a fatal exit that takes the
// relay down too, PostgreSQL helpers, the relay as a child process, and /metrics readings.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pg/connection.h"

namespace bench {

extern std::string g_url;         // --postgres-url
extern const char* g_program;     // prefix of error messages

[[noreturn]] void die(const std::string& msg);
double seconds_since(std::chrono::steady_clock::time_point t0);
relay::pg::Connection connect(const std::string& url);
void exec(relay::pg::Connection& c, const std::string& sql);
// `g_url` with its database replaced by `db`.
std::string db_url(const std::string& db);
// A new, empty database `name` with the SQL install applied.
relay::pg::Connection fresh_database(const std::string& name);

// The sum of the series of `name` on the relay's /metrics (`name` may carry labels: then that
// series alone); -1 when absent.
double metric(int port, const std::string& name);

// The bucket bound below which a share `q` of the relay's delivery latencies fall (from its
// histogram), in seconds; -1 when nothing was delivered.
// The relay's delivery latencies (its histogram, summed over every pipeline): bucket bound ->
// cumulative count; and the latency below which a share `q` of them fall, placed within its bucket.
using LatencyBuckets = std::map<double, double>;
LatencyBuckets latency_buckets(int port);
double latency_quantile(const LatencyBuckets& buckets, double q);
double latency_quantile(int port, double q);

// kB of a field (VmRSS, VmHWM) of /proc/<pid>/status, -1 if unknown.
long status_kb(pid_t pid, const std::string& field);
// CPU seconds (user + system) of process `pid`, with (`with_reaped`) its children it has reaped.
double process_cpu(pid_t pid, bool with_reaped);
// CPU seconds used so far by the threads of `pid` whose name starts with `prefix` (the relay names
// its threads: "console", "worker", "lease"...); threads that ended are not counted.
double threads_cpu(pid_t pid, const std::string& prefix);
// CPU seconds PostgreSQL used so far: the postmaster with every child it reaped, and the children
// alive now.
double server_cpu(pid_t postmaster);
pid_t postmaster_pid(relay::pg::Connection& c);

// The directory of PostgreSQL's programs (pgbench, pg_recvlogical).
std::string postgres_bin();
// Runs pgbench with `clients` writers, each transaction the SQL `script`, for `seconds` or
// (seconds = 0) for `transactions` each, paced at `rate` per second if given; its output. Unpaced
// writers commit with synchronous_commit off, so their CPU cost shows rather than the disk's.
std::string pgbench(const std::string& url, const std::string& script, int clients, int seconds, long transactions = 0,
                    int rate = 0);
// The transactions per second pgbench's output reports.
double tps_of(const std::string& pgbench_output);
// Transactions per second pgbench reaches with `clients` writers running `script` for `seconds`.
double pgbench_tps(const std::string& url, const std::string& script, int clients, int seconds);

// Writers' rounds: how many per case and how long each, by default as given, or as the
// environment says (PGTRICKLE_BENCH_ROUNDS, PGTRICKLE_BENCH_ROUND_SECONDS: shorter runs while
// working on a benchmark).
struct Rounds {
  int rounds, seconds;
  static Rounds from_env(int rounds, int seconds);
};
// Cases take turns, round after round, and each keeps its best round (`measure(case)`, a rate): on
// a shared machine a round may lose CPU to a neighbour, which says nothing of the case.
std::map<std::string, double> best_of_rounds(const std::vector<std::string>& cases, int rounds,
                                             const std::function<double(const std::string&)>& measure);
// The time a transaction at rate `tps` adds to one at `base_tps`, in microseconds (1/rate - 1/base).
double us_added(double tps, double base_tps);

// The capture benchmark (capture_bench.cpp): reports each figure through `report(key, value, unit)`.
void capture_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
// The backfill benchmark (backfill_bench.cpp), reporting the same way.
void backfill_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
// The subscriptions benchmark (subscriptions_bench.cpp), reporting the same way.
void subscription_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
// Many tables captured from the WAL through one slot (wal_tables_bench.cpp), reporting the same way.
void wal_table_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
// Many trigger-captured pipelines in one relay (many_pipelines_bench.cpp), reporting the same way.
// N tables t1..tN, each captured by triggers and relayed to a file under /tmp by pipeline pN (the
// files named after `unique`), and the login relay_bench_login in pgtrickle_relay: the relay's URL.
std::string make_many_pipelines(relay::pg::Connection& c, const std::string& url, int n, const std::string& unique);
void many_pipeline_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
// One 1,000,000-row transaction through each capture (big_transaction_bench.cpp), reporting the same way.
// What the console costs at 1,000 pipelines (bench/console_bench.cpp).
void console_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
void big_transaction_costs(const std::function<void(const std::string&, double, const std::string&)>& report);
// The same WAL backlog drained by the relay and by Debezium (debezium_bench.cpp), reporting the same way.
// The relay draining a WAL backlog of `rows` rows (single-row transactions, or one transaction) to
// Debezium's events in a file, its pipeline's "streaming" as given (debezium_bench.cpp).
struct WalDrain {
  double rows_per_s = 0, relay_cpu_s = 0, server_cpu_s = 0;
};
WalDrain relay_wal_drain(long rows, bool one_transaction, bool streaming);
void debezium_costs(const std::function<void(const std::string&, double, const std::string&)>& report);

// The relay binary as a child process (dies with the benchmark), logs in `err`; SIGTERM on destruction.
struct Relay {
  pid_t pid = -1;
  std::string err_path;
  Relay(const std::vector<std::string>& args, const std::string& err);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  // The port of /metrics once the relay logged it; with `line`, the port of the log line starting so
  // (e.g. "Serving the console.").
  int port(const std::string& line = "");
  // kB of a field (VmRSS, VmHWM) of /proc/<pid>/status, -1 if unknown.
  long status_kb(const std::string& field) const;
  long rss_peak_kb() const { return status_kb("VmHWM"); }
};

}  // namespace bench
