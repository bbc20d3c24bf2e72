// Memory under backpressure (PRODUCT §7): the relay's peak resident memory (VmHWM of the relay
// process) while
//   (a) a backlog of 200,000 rows (2,000 transactions of 100) meets a sink that never answers:
//       a webhook to a local server that accepts connections and reads requests but never
//       responds, for 60 s; resident memory is sampled every second and must stay flat;
//   (b) one statement inserts 1,000,000 rows into an outbox-enabled table (a single claim-check
//       delta), relayed to the file sink: peak memory and the time until every row was written.
//
//   memory_bench --postgres-url URL [--stuck-seconds S] [--big-rows N]
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "pg/catalog.h"
#include "pg/connection.h"

using namespace std::chrono;
using relay::pg::Connection;

namespace {

std::string g_url;
pid_t g_relay = -1;  // killed on any exit

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "memory_bench: " << msg << "\n";
  if (g_relay > 0) ::kill(g_relay, SIGKILL);
  std::exit(1);
}

Connection connect(const std::string& url) {
  auto c = Connection::open(url, "memory_bench");
  if (!c) die(c.error().message);
  return std::move(*c);
}

void exec(Connection& c, const std::string& sql) {
  auto r = c.exec(sql);
  if (!r) die(r.error().message + " in: " + sql.substr(0, 200));
}

std::string db_url(const std::string& db) {
  auto q = g_url.find('?');
  std::string base = g_url.substr(0, q);
  return base.substr(0, base.rfind('/') + 1) + db + (q == std::string::npos ? "" : g_url.substr(q));
}

// A fresh database with the relay's schema and an outbox-enabled table `items`.
std::string fresh_database(const std::string& name) {
  auto admin = connect(g_url);
  exec(admin, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  exec(admin, "CREATE DATABASE " + name);
  std::string url = db_url(name);
  auto c = connect(url);
  if (auto s = relay::pg::install_schema(c); !s) die(s.error().message);
  exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric NOT NULL)");
  exec(c, "SELECT pgtrickle.enable_outbox('items')");
  return url;
}

// kB of a field (VmRSS, VmHWM) of /proc/<pid>/status.
long status_kb(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

// The relay on `url`, its logs in `log`; returns the port of /metrics once it serves it.
int start_relay(const std::string& url, const std::string& log) {
  ::unlink(log.c_str());
  g_relay = ::fork();
  if (g_relay == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execl(RELAY_BINARY, RELAY_BINARY, "--postgres-url", url.c_str(), "--metrics-addr", "127.0.0.1:0", nullptr);
    ::_exit(127);
  }
  std::regex re("Serving /metrics and /health\\..*port[=\":]+([0-9]+)");
  for (int i = 0; i < 200; ++i) {
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    std::smatch m;
    if (std::regex_search(text, m, re)) return std::stoi(m[1]);
    std::this_thread::sleep_for(50ms);
  }
  die("the relay did not start; see " + log);
}

void stop_relay() {
  if (g_relay <= 0) return;
  ::kill(g_relay, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(g_relay, nullptr, WNOHANG) == g_relay) {
      g_relay = -1;
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  ::kill(g_relay, SIGKILL);
  ::waitpid(g_relay, nullptr, 0);
  g_relay = -1;
}

double metric(int port, const std::string& series) {
  httplib::Client c("127.0.0.1", port);
  auto res = c.Get("/metrics");
  if (!res) return -1;
  auto p = res->body.find("\n" + series + " ");
  return p == std::string::npos ? -1 : std::stod(res->body.substr(p + series.size() + 2));
}

// Accepts connections and reads whatever comes, never answering: a sink that is stuck.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) die("cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        readers_.emplace_back([this, c] {
          char buf[65536];
          while (!stop_ && ::recv(c, buf, sizeof buf, 0) > 0) received_ += 1;
          ::close(c);
        });
      }
    });
  }
  ~SilentServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& r : readers_) r.detach();  // blocked in recv until the relay closes its side
  }
  int port() const { return port_; }
  long requests_seen() const { return received_; }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long> received_{0};
  std::thread thread_;
  std::vector<std::thread> readers_;
};

void stuck_sink(int seconds, const std::string& work) {
  std::cout << "(a) 200,000-row backlog, webhook sink that never answers, " << seconds << " s\n";
  std::string url = fresh_database("memory_bench_stuck");
  auto c = connect(url);
  // 2,000 transactions of 100 rows: inline deltas, as an application writes them.
  exec(c, "DO $$ BEGIN FOR t IN 0..1999 LOOP "
          "INSERT INTO items SELECT g, 'customer-' || (g % 100), 1.5 FROM generate_series(t * 100 + 1, t * 100 + 100) g; "
          "COMMIT; END LOOP; END $$");
  SilentServer silent;
  exec(c, fmt::format("SELECT pgtrickle.set_relay_outbox('stuck', config => '{{\"stream_table\":\"items\",\"sink_type\":\"webhook\","
                      "\"url\":\"http://127.0.0.1:{}/hook\"}}'::jsonb)", silent.port()));
  int port = start_relay(url, work + "/relay-stuck.log");
  std::vector<long> rss;
  for (int s = 1; s <= seconds; ++s) {
    std::this_thread::sleep_for(1s);
    rss.push_back(status_kb(g_relay, "VmRSS"));
    if (s % 10 == 0)
      std::cout << fmt::format("  t={:>3} s  VmRSS {:>7} kB  VmHWM {:>7} kB  delivered {}\n", s, rss.back(), status_kb(g_relay, "VmHWM"),
                               metric(port, "pgtrickle_relay_messages_delivered_total{pipeline=\"stuck\"}"));
  }
  long hwm = status_kb(g_relay, "VmHWM");
  long at10 = rss.size() >= 10 ? rss[9] : rss.front();
  std::cout << fmt::format("  peak RSS (VmHWM) {} kB; RSS after 10 s {} kB, at the end {} kB ({:+} kB over the last {} s); "
                           "requests the sink received: {}\n",
                           hwm, at10, rss.back(), rss.back() - at10, seconds - 10, silent.requests_seen());
  stop_relay();
}

void one_big_delta(long rows, const std::string& work) {
  std::cout << "(b) one statement inserting " << rows << " rows (a claim-check delta), file sink\n";
  std::string url = fresh_database("memory_bench_big");
  auto c = connect(url);
  std::string out = work + "/big.jsonl";
  ::unlink(out.c_str());
  exec(c, fmt::format("SELECT pgtrickle.set_relay_outbox('big', config => '{{\"stream_table\":\"items\",\"sink_type\":\"file\","
                      "\"path\":\"{}\"}}'::jsonb)", out));
  auto t0 = steady_clock::now();
  exec(c, fmt::format("INSERT INTO items SELECT g, 'customer-' || (g % 100), 1.5 FROM generate_series(1, {}) g", rows));
  double insert_s = duration<double>(steady_clock::now() - t0).count();
  auto t1 = steady_clock::now();
  int port = start_relay(url, work + "/relay-big.log");
  std::string series = "pgtrickle_relay_messages_delivered_total{pipeline=\"big\"}";
  long last_hwm = 0;
  for (int s = 0;; ++s) {
    double delivered = metric(port, series);
    last_hwm = status_kb(g_relay, "VmHWM");
    if (delivered >= static_cast<double>(rows)) break;
    if (duration<double>(steady_clock::now() - t1).count() > 1800) die("not relayed within 30 minutes");
    if (s % 50 == 0) std::cout << fmt::format("  {:>8.0f} rows written, VmHWM {} kB\n", std::max(0.0, delivered), last_hwm);
    std::this_thread::sleep_for(200ms);
  }
  double relay_s = duration<double>(steady_clock::now() - t1).count();
  struct stat st {};
  ::stat(out.c_str(), &st);
  std::cout << fmt::format("  insert {:.1f} s; relayed in {:.1f} s ({:.0f} rows/s); file {} MB; peak RSS (VmHWM) {} kB\n", insert_s,
                           relay_s, rows / relay_s, st.st_size / 1000000, last_hwm);
  stop_relay();
  ::unlink(out.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::cout << std::unitbuf;  // progress shows as it comes, also through a pipe
  int stuck_seconds = 60;
  long big_rows = 1000000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--postgres-url") g_url = next();
    else if (a == "--stuck-seconds") stuck_seconds = std::stoi(next());
    else if (a == "--big-rows") big_rows = std::stol(next());
    else die("unknown argument " + a + " (usage: memory_bench --postgres-url URL [--stuck-seconds S] [--big-rows N])");
  }
  if (g_url.empty()) die("--postgres-url is required");
  char tmpl[] = "/tmp/memory-bench.XXXXXX";
  std::string work = ::mkdtemp(tmpl);
  ::chmod(work.c_str(), 0755);
  stuck_sink(stuck_seconds, work);
  one_big_delta(big_rows, work);
  ::unlink((work + "/relay-stuck.log").c_str());
  ::unlink((work + "/relay-big.log").c_str());
  ::rmdir(work.c_str());
}
