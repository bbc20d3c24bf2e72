// What capturing a table costs its writers ("capture"): pgbench, one single-row INSERT per
// transaction, synchronous_commit off (so the CPU cost shows, not the disk), 1 and 8 writers, on
// identical tables captured in each way side by side in one run: not captured, a hand-written
// AFTER ... FOR EACH ROW trigger inserting to_jsonb(NEW) into an outbox table, enable_outbox's
// trigger capture, and the table in a publication whose pgoutput slot is being read (what WAL
// capture asks of the server; the reader is pg_recvlogical).
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>

#include "bench_support.h"

namespace bench {
namespace {

std::string postgres_bin() {
  FILE* p = popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1", "r");
  char buf[512] = {0};
  std::string dir = p && fgets(buf, sizeof buf, p) ? buf : "";
  if (p) pclose(p);
  while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
  if (dir.empty()) die("PostgreSQL's binaries (pgbench) not found: run scripts/install-deps.sh");
  return dir;
}

// Transactions per second pgbench reaches with `clients` writers inserting into `table` for `seconds`.
double pgbench_tps(const std::string& url, const std::string& table, int clients, int seconds) {
  std::string script = fmt::format("/tmp/relay_bench_capture_{}.sql", getpid());
  std::ofstream(script) << fmt::format("INSERT INTO {} (v) VALUES (random());\n", table);
  std::string cmd = fmt::format("PGOPTIONS='-c synchronous_commit=off' {}/pgbench -n -c {} -j {} -T {} -f {} '{}' 2>&1",
                                postgres_bin(), clients, std::min(clients, 2), seconds, script, url);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int rc = p ? pclose(p) : -1;
  std::remove(script.c_str());
  std::smatch m;
  if (rc != 0 || !std::regex_search(out, m, std::regex(R"(tps = ([0-9.]+))"))) die("pgbench failed: " + out);
  return std::stod(m[1]);
}

}  // namespace

void capture_costs(const std::function<void(const std::string&, double, const std::string&)>& report) {
  const std::string db = "relay_bench_capture";
  auto c = fresh_database(db);
  const std::string url = db_url(db);
  for (const char* t : {"plain", "handwritten", "captured", "published"})
    exec(c, fmt::format("CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v float8, at timestamptz DEFAULT now())", t));
  exec(c, "CREATE TABLE handwritten_outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL)");
  exec(c, "CREATE FUNCTION handwritten_capture() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "INSERT INTO handwritten_outbox (payload) VALUES (to_jsonb(NEW)); RETURN NULL; END $$");
  exec(c, "CREATE TRIGGER capture AFTER INSERT OR UPDATE OR DELETE ON handwritten FOR EACH ROW EXECUTE FUNCTION handwritten_capture()");
  exec(c, "SELECT pgtrickle.enable_outbox('captured')");
  exec(c, "CREATE PUBLICATION bench_capture FOR TABLE published");
  exec(c, "SELECT pg_create_logical_replication_slot('relay_bench_capture', 'pgoutput')");
  // The slot's reader, as WAL capture would read it.
  pid_t reader = fork();
  if (reader == 0) {
    std::string bin = postgres_bin() + "/pg_recvlogical";
    execl(bin.c_str(), bin.c_str(), "-d", url.c_str(), "--slot", "relay_bench_capture", "--start", "-o", "proto_version=1", "-o",
          "publication_names=bench_capture", "-f", "/dev/null", "-F", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  const int seconds = 10;
  std::cout << fmt::format("capture: writers' cost, pgbench single-row INSERTs, synchronous_commit off, {} s per case\n", seconds);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"plain", "not captured"}, {"handwritten", "hand-written row trigger"}, {"captured", "enable_outbox (trigger)"},
      {"published", "pgoutput slot being read"}};
  for (int clients : {1, 8}) {
    std::map<std::string, double> tps;
    for (const auto& [table, label] : cases) tps[table] = pgbench_tps(url, table, clients, seconds);
    for (const auto& [table, label] : cases) {
      // As the issue measures it: the time each transaction adds to the writers' total, 1/rate.
      double added_us = (1 / tps[table] - 1 / tps["plain"]) * 1e6;
      std::cout << fmt::format("  {:<28} {} writer(s): {:>8.0f} tx/s, {:>6.1f} us added per transaction, {:>3.0f} % of uncaptured\n",
                               label, clients, tps[table], added_us, 100 * tps[table] / tps["plain"]);
      report(fmt::format("capture_{}_{}w_tps", table, clients), tps[table], "tx/s");
    }
  }
  kill(reader, SIGTERM);
  waitpid(reader, nullptr, 0);
  exec(c, "SELECT pg_drop_replication_slot('relay_bench_capture')");
}

}  // namespace bench
