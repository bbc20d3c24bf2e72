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

#include "bench_support.h"
#include "pg/connection.h"

using namespace std::chrono;
using relay::pg::Connection;
using namespace bench;

namespace {

// A fresh database with the relay's schema and an outbox-enabled table `items`; returns its URL.
std::string items_database(const std::string& name) {
  auto c = fresh_database(name);
  exec(c, "CREATE TABLE items (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric NOT NULL)");
  exec(c, "SELECT pgtrickle.enable_outbox('items')");
  return db_url(name);
}

std::vector<std::string> relay_args(const std::string& url) { return {"--postgres-url", url, "--metrics-addr", "127.0.0.1:0"}; }

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
  std::string url = items_database("memory_bench_stuck");
  auto c = connect(url);
  // 2,000 transactions of 100 rows: inline deltas, as an application writes them.
  exec(c, "DO $$ BEGIN FOR t IN 0..1999 LOOP "
          "INSERT INTO items SELECT g, 'customer-' || (g % 100), 1.5 FROM generate_series(t * 100 + 1, t * 100 + 100) g; "
          "COMMIT; END LOOP; END $$");
  SilentServer silent;
  exec(c, fmt::format("SELECT pgtrickle.set_relay_outbox('stuck', config => '{{\"stream_table\":\"items\",\"sink_type\":\"webhook\","
                      "\"url\":\"http://127.0.0.1:{}/hook\"}}'::jsonb)", silent.port()));
  Relay relay(relay_args(url), work + "/relay-stuck.log");
  int port = relay.port();
  std::vector<long> rss;
  for (int s = 1; s <= seconds; ++s) {
    std::this_thread::sleep_for(1s);
    rss.push_back(relay.status_kb("VmRSS"));
    if (s % 10 == 0)
      std::cout << fmt::format("  t={:>3} s  VmRSS {:>7} kB  VmHWM {:>7} kB  delivered {}\n", s, rss.back(), relay.status_kb("VmHWM"),
                               metric(port, "pgtrickle_relay_messages_delivered_total{pipeline=\"stuck\"}"));
  }
  long hwm = relay.status_kb("VmHWM");
  long at10 = rss.size() >= 10 ? rss[9] : rss.front();
  std::cout << fmt::format("  peak RSS (VmHWM) {} kB; RSS after 10 s {} kB, at the end {} kB ({:+} kB over the last {} s); "
                           "requests the sink received: {}\n",
                           hwm, at10, rss.back(), rss.back() - at10, seconds - 10, silent.requests_seen());
}

void one_big_delta(long rows, const std::string& work) {
  std::cout << "(b) one statement inserting " << rows << " rows (a claim-check delta), file sink\n";
  std::string url = items_database("memory_bench_big");
  auto c = connect(url);
  std::string out = work + "/big.jsonl";
  ::unlink(out.c_str());
  exec(c, fmt::format("SELECT pgtrickle.set_relay_outbox('big', config => '{{\"stream_table\":\"items\",\"sink_type\":\"file\","
                      "\"path\":\"{}\"}}'::jsonb)", out));
  auto t0 = steady_clock::now();
  exec(c, fmt::format("INSERT INTO items SELECT g, 'customer-' || (g % 100), 1.5 FROM generate_series(1, {}) g", rows));
  double insert_s = duration<double>(steady_clock::now() - t0).count();
  auto t1 = steady_clock::now();
  Relay relay(relay_args(url), work + "/relay-big.log");
  int port = relay.port();
  std::string series = "pgtrickle_relay_messages_delivered_total{pipeline=\"big\"}";
  long last_hwm = 0;
  for (int s = 0;; ++s) {
    double delivered = metric(port, series);
    last_hwm = relay.status_kb("VmHWM");
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
  ::unlink(out.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  g_program = "memory_bench";
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
