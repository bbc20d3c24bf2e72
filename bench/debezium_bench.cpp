// The relay beside Debezium ("debezium"): the same backlog in the WAL drained by each alone, each
// through a slot of its own made before the backlog was written, each writing Debezium's change
// events (the relay: "format": "debezium" to a file; Debezium 3.6.1's PostgreSQL connector in its
// embedded engine with the Json format, counting the records, tests/java/debezium-run). Two
// backlogs: 200,000 single-row transactions (PGTRICKLE_BENCH_DEBEZIUM_ROWS) and one transaction
// of 1,000,000 rows (PGTRICKLE_BENCH_BIG_ROWS). For each: rows/s from the first record to the
// last, peak resident memory and CPU of the program, and the server's CPU meanwhile.
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

long env_rows(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && std::atol(v) > 0 ? std::atol(v) : fallback;
}

struct Drain {
  double rows_per_s = 0, seconds = 0, program_cpu = 0, server_cpu = 0;
  long peak_kb = -1;
};

const char* kTable = "CREATE TABLE t (id bigint PRIMARY KEY, name text, note text, amount numeric(12,2), at timestamptz)";
const char* kRow = "'customer ' || g || ' ' || md5(g::text), repeat(md5((g + 1)::text), 2) || ' note', g * 1.25, "
                   "'2026-01-01 00:00+00'::timestamptz + g * interval '1 second'";

// The backlog: `rows` rows, each in a transaction of its own or all in one.
void write_backlog(relay::pg::Connection& c, long rows, bool one_transaction) {
  if (one_transaction) exec(c, fmt::format("INSERT INTO t SELECT g, {} FROM generate_series(1, {}) AS g", kRow, rows));
  else exec(c, fmt::format("DO $$ BEGIN FOR g IN 1..{} LOOP INSERT INTO t SELECT g, {}; COMMIT; END LOOP; END $$", rows, kRow));
}

Drain relay_drain(long rows, bool one_transaction, bool streaming = true) {
  const std::string db = "relay_bench_dbz";
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  const pid_t postmaster = postmaster_pid(c);
  exec(c, kTable);
  const std::string out = "/tmp/relay_bench_dbz_" + std::to_string(getpid()) + ".jsonl";
  exec(c, "SELECT pgtrickle.set_relay_outbox('dbz', config => '{\"source\": {\"type\": \"wal\", \"tables\": [\"public.t\"], \"streaming\": " +
              std::string(streaming ? "true" : "false") + "}, \"sink\": {\"type\": \"file\", \"path\": \"" + out +
              "\"}, \"format\": \"debezium\"}'::jsonb)");
  const std::vector<std::string> args = {"--postgres-url", url, "--metrics-addr", "127.0.0.1:0", "--sql-file-dir", "/tmp"};
  {
    // Its slot made (and streamed), then the relay stopped while the backlog is written.
    Relay first(args, "/tmp/relay_bench_dbz_first.err");
    for (int i = 0; i < 600; ++i) {
      // A walsender of this database's slot: another run's walsender, still ending, does not count.
      auto r = c.exec("SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND active");
      if (r && r->int64(0, 0) >= 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  write_backlog(c, rows, one_transaction);
  exec(c, "CHECKPOINT");
  const double cpu0 = server_cpu(postmaster);
  Relay relay(args, "/tmp/relay_bench_dbz.err");
  const int port = relay.port();
  std::optional<std::chrono::steady_clock::time_point> first;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (seconds_since(start) > 900) die("the relay did not drain the backlog in 900 s");
    const double delivered = metric(port, "pgtrickle_relay_messages_delivered_total");
    if (!first && delivered > 0) first = std::chrono::steady_clock::now();
    if (delivered >= rows) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Drain d;
  d.seconds = seconds_since(*first);
  d.rows_per_s = rows / std::max(d.seconds, 1e-3);
  d.server_cpu = server_cpu(postmaster) - cpu0;
  d.program_cpu = process_cpu(relay.pid, false);
  d.peak_kb = relay.rss_peak_kb();
  std::remove(out.c_str());
  return d;
}

Drain debezium_drain(long rows, bool one_transaction) {
  const std::string db = "relay_bench_dbz";
  auto c = fresh_database(db);
  const pid_t postmaster = postmaster_pid(c);
  exec(c, kTable);
  exec(c, "CREATE PUBLICATION dbz FOR TABLE t");
  exec(c, "SELECT pg_create_logical_replication_slot('dbz_bench', 'pgoutput')");
  write_backlog(c, rows, one_transaction);
  exec(c, "CHECKPOINT");
  // The connector's properties: the slot and publication made above, no snapshot.
  const std::string props = "/tmp/relay_bench_dbz_" + std::to_string(getpid()) + ".properties";
  {
    std::ofstream f(props);
    f << "database.hostname=" << PQhost(c.raw()) << "\ndatabase.port=" << PQport(c.raw()) << "\ndatabase.user=" << PQuser(c.raw())
      << "\ndatabase.password=" << (PQpass(c.raw()) && *PQpass(c.raw()) ? PQpass(c.raw()) : "unused") << "\ndatabase.dbname=" << db
      << "\ntopic.prefix=bench\nslot.name=dbz_bench\npublication.name=dbz\npublication.autocreate.mode=disabled\n"
         "table.include.list=public.t\nsnapshot.mode=no_data\nmax.batch.size=2048\nmax.queue.size=8192\n";
  }
  int pipe_fd[2];
  if (pipe(pipe_fd) != 0) die("pipe");
  const double cpu0 = server_cpu(postmaster);
  pid_t java = fork();
  if (java == 0) {
    dup2(pipe_fd[1], 1);
    close(pipe_fd[0]);
    const std::string script = std::string(RELAY_SOURCE_DIR) + "/scripts/java-tools.sh";
    execlp("bash", "bash", script.c_str(), "debezium-run", props.c_str(), std::to_string(rows).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fd[1]);
  // Its peak memory, sampled until it exits (VmHWM goes with the process).
  long peak = -1;
  std::string output;
  std::thread reader([&] {
    char buf[4096];
    for (ssize_t n; (n = read(pipe_fd[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
  });
  double cpu = 0;
  int status = 0;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (seconds_since(start) > 900) {
      kill(java, SIGKILL);
      die("Debezium did not drain the backlog in 900 s");
    }
    peak = std::max(peak, status_kb(java, "VmHWM"));
    cpu = std::max(cpu, process_cpu(java, false));
    if (waitpid(java, &status, WNOHANG) == java) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double server = server_cpu(postmaster) - cpu0;
  reader.join();
  close(pipe_fd[0]);
  std::remove(props.c_str());
  // {"records": n, "first_ms": …, "last_ms": …}
  auto at = output.find("{\"records\"");
  if (at == std::string::npos || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("Debezium did not finish: " + output.substr(0, 2000));
  long records = 0, first_ms = 0, last_ms = 0;
  if (std::sscanf(output.c_str() + at, "{\"records\": %ld, \"first_ms\": %ld, \"last_ms\": %ld}", &records, &first_ms, &last_ms) != 3)
    die("cannot read Debezium's count: " + output.substr(at, 200));
  Drain d;
  d.seconds = (last_ms - first_ms) / 1000.0;
  d.rows_per_s = rows / std::max(d.seconds, 1e-3);
  d.server_cpu = server;
  d.program_cpu = cpu;
  d.peak_kb = peak;
  exec(c, "SELECT pg_drop_replication_slot('dbz_bench')");
  return d;
}

}  // namespace

WalDrain relay_wal_drain(long rows, bool one_transaction, bool streaming) {
  const Drain d = relay_drain(rows, one_transaction, streaming);
  return {d.rows_per_s, d.program_cpu, d.server_cpu};
}

void debezium_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const long small = env_rows("PGTRICKLE_BENCH_DEBEZIUM_ROWS", 200000), big = env_rows("PGTRICKLE_BENCH_BIG_ROWS", 1000000);
  struct Backlog {
    std::string key, title;
    long rows;
    bool one_transaction;
  };
  for (const Backlog& b : {Backlog{"transactions", fmt::format("{} single-row transactions", small), small, false},
                           Backlog{"big_transaction", fmt::format("one transaction of {} rows", big), big, true}}) {
    const Drain ours = relay_drain(b.rows, b.one_transaction);
    const Drain theirs = debezium_drain(b.rows, b.one_transaction);
    std::cout << fmt::format("debezium: {} in the WAL, drained to Debezium's change events\n", b.title);
    std::cout << fmt::format("  {:<22} {:>14} {:>14}\n", "", "the relay", "Debezium 3.6.1");
    std::cout << fmt::format("  {:<22} {:>14.0f} {:>14.0f}   ({:.2f}x)\n", "rows/s", ours.rows_per_s, theirs.rows_per_s,
                             ours.rows_per_s / std::max(theirs.rows_per_s, 1.0));
    std::cout << fmt::format("  {:<22} {:>14.1f} {:>14.1f}   (1/{:.0f})\n", "peak RSS, MB", ours.peak_kb / 1024.0,
                             theirs.peak_kb / 1024.0, static_cast<double>(theirs.peak_kb) / std::max(ours.peak_kb, 1L));
    std::cout << fmt::format("  {:<22} {:>14.1f} {:>14.1f}\n", "program CPU, s", ours.program_cpu, theirs.program_cpu);
    std::cout << fmt::format("  {:<22} {:>14.1f} {:>14.1f}   ({:.2f}x)\n", "server CPU, s", ours.server_cpu, theirs.server_cpu,
                             ours.server_cpu / std::max(theirs.server_cpu, 1e-3));
    const std::string k = "debezium_" + b.key + "_";
    report(k + "relay_rows_per_s", ours.rows_per_s, "rows/s");
    report(k + "debezium_rows_per_s", theirs.rows_per_s, "rows/s");
    report(k + "relay_peak_rss_mb", ours.peak_kb / 1024.0, "MB");
    report(k + "debezium_peak_rss_mb", theirs.peak_kb / 1024.0, "MB");
    report(k + "relay_server_cpu_s", ours.server_cpu, "s");
    report(k + "debezium_server_cpu_s", theirs.server_cpu, "s");
  }
}

}  // namespace bench
