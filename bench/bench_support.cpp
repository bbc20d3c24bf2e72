#include "bench_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <map>
#include <sstream>
#include <thread>

#include "pg/catalog.h"

namespace bench {

std::string g_url;
const char* g_program = "bench";

namespace {
pid_t g_relay_pid = -1;  // killed on any exit, so no relay outlives the benchmark
}

void die(const std::string& msg) {
  std::cerr << g_program << ": " << msg << "\n";
  if (g_relay_pid > 0) kill(g_relay_pid, SIGKILL);
  std::exit(1);
}

relay::pg::Connection connect(const std::string& url) {
  auto c = relay::pg::Connection::open(url, g_program);
  if (!c) die(c.error().message);
  return std::move(*c);
}

void exec(relay::pg::Connection& c, const std::string& sql) {
  auto r = c.exec(sql);
  if (!r) die(r.error().message + " in: " + sql.substr(0, 200));
}

std::string db_url(const std::string& db) {
  auto q = g_url.find('?');
  std::string base = g_url.substr(0, q);
  return base.substr(0, base.rfind('/') + 1) + db + (q == std::string::npos ? "" : g_url.substr(q));
}

relay::pg::Connection fresh_database(const std::string& name) {
  {
    auto admin = connect(g_url);
    exec(admin, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    exec(admin, "CREATE DATABASE " + name);
  }
  auto c = connect(db_url(name));
  if (auto s = relay::pg::install_schema(c); !s) die(s.error().message);
  return c;
}

std::string postgres_bin() {
  FILE* p = popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1", "r");
  char buf[512] = {0};
  std::string dir = p && fgets(buf, sizeof buf, p) ? buf : "";
  if (p) pclose(p);
  while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
  if (dir.empty()) die("PostgreSQL's binaries (pgbench) not found: run scripts/install-deps.sh");
  return dir;
}

std::string pgbench(const std::string& url, const std::string& script, int clients, int seconds, long transactions, int rate) {
  std::string file = fmt::format("/tmp/relay_bench_pgbench_{}.sql", getpid());
  std::ofstream(file) << script << "\n";
  std::string length = seconds > 0 ? fmt::format("-T {}", seconds) : fmt::format("-t {}", transactions);
  std::string paced = rate > 0 ? fmt::format("-R {}", rate) : "";
  // Paced writers (latency) commit as applications do by default: with synchronous_commit off a
  // commit's WAL is flushed, and only then decoded from the WAL, at the WAL writer's next round (200 ms).
  std::string options = rate > 0 ? "" : "PGOPTIONS='-c synchronous_commit=off' ";
  std::string cmd = fmt::format("{}{}/pgbench -n -c {} -j {} {} {} -f {} '{}' 2>&1", options, postgres_bin(), clients,
                                std::min(clients, 2), length, paced, file, url);
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int rc = p ? pclose(p) : -1;
  std::remove(file.c_str());
  if (rc != 0) die("pgbench failed: " + out);
  return out;
}

double tps_of(const std::string& pgbench_output) {
  std::smatch m;
  if (!std::regex_search(pgbench_output, m, std::regex(R"(tps = ([0-9.]+))"))) die("pgbench printed no rate: " + pgbench_output);
  return std::stod(m[1]);
}

double pgbench_tps(const std::string& url, const std::string& script, int clients, int seconds) {
  return tps_of(pgbench(url, script, clients, seconds));
}

Rounds Rounds::from_env(int rounds, int seconds) {
  auto value = [](const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && std::atoi(v) > 0 ? std::atoi(v) : fallback;
  };
  return {value("PGTRICKLE_BENCH_ROUNDS", rounds), value("PGTRICKLE_BENCH_ROUND_SECONDS", seconds)};
}

std::map<std::string, double> best_of_rounds(const std::vector<std::string>& cases, int rounds,
                                             const std::function<double(const std::string&)>& measure) {
  std::map<std::string, double> best;
  for (int round = 0; round < rounds; ++round)
    for (const auto& k : cases) best[k] = std::max(best[k], measure(k));
  return best;
}

double us_added(double tps, double base_tps) { return (1 / tps - 1 / base_tps) * 1e6; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double metric(int port, const std::string& name) {
  httplib::Client c("127.0.0.1", port);
  auto res = c.Get("/metrics");
  if (!res) return -1;
  std::istringstream in(res->body);
  std::string line;
  double sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0 && (line.size() > name.size() && (line[name.size()] == '{' || line[name.size()] == ' '))) {
      sum += std::stod(line.substr(line.rfind(' ') + 1));
      found = true;
    }
  }
  return found ? sum : -1;
}

LatencyBuckets latency_buckets(int port) {
  httplib::Client c("127.0.0.1", port);
  auto res = c.Get("/metrics");
  LatencyBuckets buckets;
  if (!res) return buckets;
  std::istringstream in(res->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("pgtrickle_relay_delivery_duration_seconds_bucket", 0) != 0) continue;
    auto le = line.find("le=\"");
    std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
    buckets[bound == "+Inf" ? 1e9 : std::stod(bound)] += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return buckets;
}

double latency_quantile(const LatencyBuckets& buckets, double q) {
  if (buckets.empty() || buckets.rbegin()->second <= 0) return -1;
  // Within its bucket, the quantile is placed linearly, as Prometheus's histogram_quantile() does.
  const double rank = q * buckets.rbegin()->second;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : buckets) {
    if (count >= rank) return bound >= 1e9 ? lower : lower + (bound - lower) * (rank - below) / std::max(count - below, 1.0);
    lower = bound;
    below = count;
  }
  return -1;
}

double latency_quantile(int port, double q) { return latency_quantile(latency_buckets(port), q); }

Relay::Relay(const std::vector<std::string>& args, const std::string& err) : err_path(err) {
  // Emptied before the fork, so port() can never read an earlier relay's log.
  ::close(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the benchmark, whatever ends it
    int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    // The benchmarks' file sinks, defined in SQL, write under /tmp (--sql-file-dir).
    setenv("PGTRICKLE_RELAY_SQL_FILE_DIR", "/tmp", 0);
    std::vector<char*> argv;
    std::string bin = RELAY_BINARY;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(strdup(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  g_relay_pid = pid;
}

Relay::~Relay() {
  kill(pid, SIGTERM);
  int st;
  waitpid(pid, &st, 0);
  if (g_relay_pid == pid) g_relay_pid = -1;
}

int Relay::port(const std::string& line) {
  const std::string escaped = std::regex_replace(line, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
  std::regex re((line.empty() ? "" : escaped + ".*") + "port[=\":]+([0-9]+)");
  for (int i = 0; i < 500; ++i) {
    std::ifstream f(err_path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::smatch m;
    std::string s = ss.str();
    if (std::regex_search(s, m, re)) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  die("the relay did not start: see " + err_path);
}

long status_kb(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

long Relay::status_kb(const std::string& field) const { return bench::status_kb(pid, field); }

// CPU seconds (user + system) of process `pid` and of its children it has reaped.
double process_cpu(pid_t pid, bool with_reaped) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(f, line)) return 0;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string x; rest >> x;) fields.push_back(x);
  // After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
  double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  if (with_reaped) ticks += std::stod(fields[13]) + std::stod(fields[14]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double threads_cpu(pid_t pid, const std::string& prefix) {
  double ticks = 0;
  const std::string dir = fmt::format("/proc/{}/task", pid);
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(dir + "/" + e->d_name + "/stat");
      std::string line;
      if (!std::getline(f, line)) continue;
      const auto open = line.find('('), close = line.rfind(')');
      if (open == std::string::npos || close == std::string::npos || line.compare(open + 1, prefix.size(), prefix) != 0) continue;
      std::istringstream rest(line.substr(close + 2));
      std::vector<std::string> fields;
      for (std::string x; rest >> x;) fields.push_back(x);
      if (fields.size() > 12) ticks += std::stod(fields[11]) + std::stod(fields[12]);
    }
    closedir(d);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds PostgreSQL used so far: the postmaster with every child it reaped, and the children
// alive now.
double server_cpu(pid_t postmaster) {
  double total = process_cpu(postmaster, true);
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
      if (pid <= 0) continue;
      std::ifstream f(fmt::format("/proc/{}/stat", pid));
      std::string line;
      if (!std::getline(f, line)) continue;
      std::istringstream rest(line.substr(line.rfind(')') + 2));
      std::string state, ppid;
      rest >> state >> ppid;
      if (std::atol(ppid.c_str()) == postmaster) total += process_cpu(pid, false);
    }
    closedir(d);
  }
  return total;
}

pid_t postmaster_pid(relay::pg::Connection& c) {
  auto r = c.exec("SELECT current_setting('data_directory')");
  if (!r) die("cannot read data_directory: " + r.error().message);
  std::ifstream f(r->str(0, 0) + "/postmaster.pid");
  long pid = 0;
  f >> pid;
  if (pid <= 0) die("cannot read the postmaster's pid");
  return static_cast<pid_t>(pid);
}

}  // namespace bench
