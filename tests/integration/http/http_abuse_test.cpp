// Unauthenticated clients against the relay's two HTTP servers (the receiver and /metrics,
// /health), as an attacker would try it on loopback: floods of header lines and bodies, slow
// senders, piles of idle connections, ambiguous framing, a signed request replayed under new
// Idempotency-Keys. Each attack is bounded (in bytes, connections and seconds); what is checked is
// what a user sees: the relay's memory (/proc/<pid>/status) and descriptors, and that legitimate
// requests and monitoring are still answered.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "../fixture.h"
#include "http_post.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAttacker = "127.0.0.2";  // another address of loopback: a peer of its own

json guarded_receiver(int port, const std::string& path) {
  return {{"source_type", "http"}, {"listen", "127.0.0.1:" + std::to_string(port)}, {"path", path}, {"inbox_name", "hooks"},
          {"bearer_token", kToken}};
}

// The relay this test process started (its only child of that name).
int relay_pid() {
  DIR* d = ::opendir("/proc");
  int found = -1;
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close == std::string::npos || line.find("(pgtrickle-relay)") == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == ::getpid()) found = pid;
  }
  if (d) ::closedir(d);
  return found;
}

// A /proc/<pid>/status field in kB (VmRSS: now; VmHWM: the peak so far).
long status_kb(int pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return -1;
}

int open_descriptors(int pid) {
  int n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  while (dirent* e = d ? ::readdir(d) : nullptr) n += e->d_name[0] != '.';
  if (d) ::closedir(d);
  return n;
}

// A TCP connection from `from` (an address of loopback) to 127.0.0.1:port; -1 if refused.
// Non-blocking: the connect is not waited for.
int connect_from(const char* from, int port, bool blocking = true) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The status of the answer read from `fd` (0: closed, or none within the socket's timeout).
int read_status(int fd) {
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  if (n < 12) return 0;
  buf[n] = 0;
  return std::strncmp(buf, "HTTP/1.", 7) == 0 ? std::atoi(buf + 9) : 0;
}

// Sends `head` then up to `bytes` of `filler` (repeated) until the server stops reading; the
// status it answered (0 if none).
int flood(const char* from, int port, const std::string& head, const std::string& filler, size_t bytes) {
  int fd = connect_from(from, port);
  if (fd < 0) return 0;
  std::string chunk;
  while (chunk.size() < 64 * 1024) chunk += filler;
  bool open = send_all(fd, head);
  for (size_t sent = 0; open && sent < bytes; sent += chunk.size()) open = send_all(fd, chunk);
  int status = read_status(fd);
  ::close(fd);
  return status;
}

// A raw request on a fresh connection; the status of the answer (0 if none).
int raw_request(int port, const std::string& request) {
  int fd = connect_from("127.0.0.1", port);
  if (fd < 0) return 0;
  int status = send_all(fd, request) ? read_status(fd) : 0;
  ::close(fd);
  return status;
}

int health_status(int admin_port, std::chrono::seconds timeout = 5s) {
  httplib::Client c("127.0.0.1", admin_port);
  c.set_connection_timeout(timeout);
  c.set_read_timeout(timeout);
  auto r = c.Get("/health/live");
  return r ? r->status : 0;
}

// Slow senders: each connection sends a request line and then one header line a second, from
// `from`, until `stop` is set; `closed` counts the connections the server ended after accepting
// them, `refused` those it did not let in.
struct Trickle {
  std::atomic<bool> stop{false};
  std::atomic<int> closed{0}, refused{0};
  std::vector<std::thread> threads;

  void start(const char* from, int port, int connections, const std::string& request_line) {
    for (int i = 0; i < connections; ++i)
      threads.emplace_back([this, from, port, request_line] {
        int fd = connect_from(from, port);
        if (fd < 0) {
          ++refused;
          return;
        }
        bool open = send_all(fd, request_line + "Host: relay\r\n");
        for (int n = 0; open && !stop; ++n) {
          for (int t = 0; t < 10 && !stop; ++t) std::this_thread::sleep_for(100ms);
          open = send_all(fd, "X-Slow-" + std::to_string(n) + ": 1\r\n");
          char c;
          if (open && ::recv(fd, &c, 1, MSG_DONTWAIT) == 0) open = false;  // the server closed its side
        }
        if (!open) ++closed;
        ::close(fd);
      });
  }
  ~Trickle() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

}  // namespace

// Eight connections flooding header lines into the receiver (no credentials), four flooding a body
// into GET /metrics and four header lines into /health: each is refused early, and the relay's
// peak memory stays within a few MB of what it was.
TEST(HttpAbuse, FloodsOfHeadersAndBodiesAreRefusedWithoutGrowingTheRelaysMemory) {
  TestDb db;
  int port = free_receiver_port();
  set_inbox_pipeline(db, "in", guarded_receiver(port, "/hooks"));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  int admin = relay.admin_port();
  int pid = relay_pid();
  ASSERT_GT(pid, 0);
  long before = status_kb(pid, "VmHWM");

  std::string line = "X-Fill: " + std::string(100, 'a') + "\r\n";
  std::vector<std::future<int>> attacks;
  for (int i = 0; i < 8; ++i)
    attacks.push_back(std::async(std::launch::async, [&] {
      return flood(kAttacker, port, "POST /hooks HTTP/1.1\r\nHost: relay\r\nContent-Length: 2\r\n", line, 20 << 20);
    }));
  for (int i = 0; i < 4; ++i)
    attacks.push_back(std::async(std::launch::async, [&] {
      return flood(kAttacker, admin, "GET /metrics HTTP/1.1\r\nHost: relay\r\nContent-Length: 52428800\r\n\r\n", std::string(1024, 'b'), 50 << 20);
    }));
  for (int i = 0; i < 4; ++i)
    attacks.push_back(std::async(std::launch::async, [&] { return flood(kAttacker, admin, "GET /health HTTP/1.1\r\nHost: relay\r\n", line, 20 << 20); }));
  for (auto& a : attacks) {
    int status = a.get();
    EXPECT_TRUE(status == 0 || (status >= 400 && status < 500)) << "refused (or cut), not served: " << status;
  }
  long grown_mb = (status_kb(pid, "VmHWM") - before) / 1024;
  EXPECT_LT(grown_mb, 48) << "360 MB of headers and bodies sent; the relay's peak memory grew by " << grown_mb << " MB";
  EXPECT_EQ(post(port, "/hooks", R"({"n": 1})", bearer("after")).status, 200);
  EXPECT_EQ(health_status(admin), 200);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks"), 1);
}

// 70 slow senders on the receiver and 20 on the metrics server, from one address: the receiver
// still answers a legitimate sender and /health still answers, while the slow ones hold on.
TEST(HttpAbuse, SlowSendersDoNotBlockTheReceiverNorMonitoring) {
  TestDb db;
  int port = free_receiver_port();
  set_inbox_pipeline(db, "in", guarded_receiver(port, "/hooks"));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  int admin = relay.admin_port();
  {
    Trickle slow;
    slow.start(kAttacker, port, 70, "POST /hooks HTTP/1.1\r\n");
    slow.start(kAttacker, admin, 20, "GET /health HTTP/1.1\r\n");
    std::this_thread::sleep_for(2s);  // every slow connection is open and has sent a line or two
    Answer a = post(port, "/hooks", R"({"n": 1})", bearer("legit"), 5s);
    EXPECT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(health_status(admin), 200);
  }
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks"), 1);
}

// A request to /metrics or /health has 10 s to arrive whole: a sender adding a header line every
// second is cut off then, however long it would go on; monitoring is answered meanwhile.
TEST(HttpAbuse, TheMetricsServerCutsOffARequestArrivingTooSlowly) {
  TestDb db;
  RelayProcess relay(relay_args(db));
  int admin = relay.admin_port();
  Trickle slow;
  slow.start(kAttacker, admin, 4, "GET /metrics HTTP/1.1\r\n");
  EXPECT_TRUE(wait_until([&] { return slow.closed == 4; }, 20s)) << slow.closed << " of 4 cut off, " << slow.refused << " refused";
  EXPECT_EQ(slow.refused, 0);
  EXPECT_EQ(health_status(admin), 200);
}

// The receiver gives a request request_timeout_s (here 2) to arrive whole, headers and body.
TEST(HttpAbuse, TheReceiverCutsOffARequestArrivingTooSlowlyAfterRequestTimeout) {
  TestDb db;
  db.exec("SELECT pgtrickle.create_inbox('hooks')");
  int port = free_receiver_port();
  std::string toml = write_toml(db, "[[pipeline]]\nname = \"in\"\nsource = { type = \"http\", listen = \"127.0.0.1:" + std::to_string(port) +
                                        "\", path = \"/hooks\", bearer_token = \"" + kToken + "\", request_timeout_s = 2 }\n"
                                        "sink = { type = \"inbox\", inbox_name = \"hooks\" }\n");
  RelayProcess relay({"--config", toml});
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  Trickle headers;
  headers.start(kAttacker, port, 4, "POST /hooks HTTP/1.1\r\n");
  // A body trickled byte by byte after complete headers is cut off too.
  int body = connect_from(kAttacker, port);
  ASSERT_GE(body, 0);
  bool open = send_all(body, "POST /hooks HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer " + kToken + "\r\nContent-Length: 100\r\n\r\n{");
  for (int i = 0; open && i < 15; ++i) {
    std::this_thread::sleep_for(1s);
    char c;
    open = send_all(body, " ") && ::recv(body, &c, 1, MSG_DONTWAIT) != 0;
  }
  ::close(body);
  EXPECT_FALSE(open) << "a body sent a byte a second for 15 s was not cut off";
  EXPECT_TRUE(wait_until([&] { return headers.closed == 4; }, 10s)) << headers.closed << " of 4 cut off, " << headers.refused << " refused";
  EXPECT_EQ(post(port, "/hooks", R"({"n": 1})", bearer("legit"), 5s).status, 200);
}

// Thousands of idle connections from one address: the relay holds a bounded number of them
// (the others are closed at once), so its descriptors are not used up, and legitimate requests
// and monitoring are still served.
TEST(HttpAbuse, PilesOfIdleConnectionsDoNotUseUpTheRelaysDescriptors) {
  TestDb db;
  int port = free_receiver_port();
  set_inbox_pipeline(db, "in", guarded_receiver(port, "/hooks"));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  int admin = relay.admin_port();
  int pid = relay_pid();
  ASSERT_GT(pid, 0);
  int before = open_descriptors(pid);
  std::vector<int> idle;
  for (int i = 0; i < 3000; ++i)
    if (int fd = connect_from(kAttacker, i % 4 ? port : admin, /*blocking=*/false); fd >= 0) idle.push_back(fd);
  std::this_thread::sleep_for(3s);  // the relay accepted what it would
  int during = open_descriptors(pid);
  Answer a = post(port, "/hooks", R"({"n": 1})", bearer("legit"), 5s);
  int health = health_status(admin);
  for (int fd : idle) ::close(fd);
  EXPECT_GT(idle.size(), 2900u);
  EXPECT_LT(during - before, 400) << "3000 idle connections opened; the relay holds " << during - before << " more descriptors";
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(health, 200);
}

// Framing a proxy in front may read differently (request smuggling), and too many header lines.
TEST(HttpAbuse, AmbiguousFramingAndTooManyHeaderLinesAreRefused) {
  TestDb db;
  int port = free_receiver_port();
  set_inbox_pipeline(db, "in", guarded_receiver(port, "/hooks"));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  std::string head = "POST /hooks HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer " + kToken + "\r\n";
  EXPECT_EQ(raw_request(port, head + "Content-Length: 8\r\nContent-Length: 30\r\n\r\n{\"n\": 1}"), 400) << "two Content-Length";
  EXPECT_EQ(raw_request(port, head + "Content-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{\"n\": 2}\r\n0\r\n\r\n"), 400)
      << "Content-Length and Transfer-Encoding";
  std::string many;
  for (int i = 0; i < 150; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(raw_request(port, head + many + "Content-Length: 8\r\n\r\n{\"n\": 3}"), 431) << "150 header lines";
  EXPECT_EQ(raw_request(port, head + "Content-Length: 8\r\n\r\n{\"n\": 4}"), 200) << "a well-framed request";
  EXPECT_EQ(db.value("SELECT string_agg(payload->>'n', ',') FROM pgtrickle.inbox_hooks"), "4");
}

// Framings libmicrohttpd reads one way and a proxy may read another: a space before the colon of
// Transfer-Encoding (no header to libmicrohttpd, chunked to some proxies) and a list of codings it
// would read to the end of the connection. Each gets 400 at once, not an answer after a timeout.
TEST(HttpAbuse, TransferEncodingAProxyCouldReadDifferentlyGets400AtOnce) {
  TestDb db;
  int port = free_receiver_port();
  set_inbox_pipeline(db, "in", guarded_receiver(port, "/hooks"));
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  std::string head = "POST /hooks HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer " + kToken + "\r\n";
  std::string chunked_body = "8\r\n{\"n\": 1}\r\n0\r\n\r\n";
  const std::pair<std::string, std::string> cases[] = {
      {"space before the colon, with Content-Length", "Transfer-Encoding : chunked\r\nContent-Length: 8\r\n\r\n{\"n\": 1}"},
      {"space before the colon, alone", "Transfer-Encoding : chunked\r\n\r\n" + chunked_body},
      {"chunked twice in one header", "Transfer-Encoding: chunked, chunked\r\n\r\n" + chunked_body},
      {"another coding before chunked", "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked_body},
      {"two Transfer-Encoding headers", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_body},
      {"a Content-Length that is no number", "Content-Length: +8\r\n\r\n{\"n\": 1}"},
  };
  for (const auto& [what, rest] : cases) {
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(raw_request(port, head + rest), 400) << what;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << what << ": answered only after a timeout";
  }
  EXPECT_EQ(raw_request(port, head + "Transfer-Encoding: chunked\r\n\r\n" + chunked_body), 200) << "a well-framed chunked request";
  EXPECT_EQ(db.value("SELECT string_agg(payload->>'n', ',') FROM pgtrickle.inbox_hooks"), "1");
}

// A signed request replayed inside the signature's window under new Idempotency-Keys is one event:
// the identity comes from what the signature covers, not from the unsigned header.
TEST(HttpAbuse, ASignedRequestReplayedUnderNewIdempotencyKeysLandsOnce) {
  TestDb db;
  int port = free_receiver_port();
  json cfg = guarded_receiver(port, "/hooks");
  cfg.erase("bearer_token");
  cfg["hmac_secret"] = kSecret;
  set_inbox_pipeline(db, "in", cfg);
  RelayProcess relay(relay_args(db));
  ASSERT_TRUE(receiver_listening(port, "/hooks")) << relay.err();
  std::string body = R"({"transfer": 1, "amount": 100})";
  std::string signature = sign(kSecret, unix_now(), body);
  for (std::string key : {"k1", "k2", "k3"}) {
    Answer a = post(port, "/hooks", body, {{"X-Pgtrickle-Signature", signature}, {"Idempotency-Key", key}});
    EXPECT_EQ(a.status, 200) << a.body;
  }
  EXPECT_EQ(db.value("SELECT string_agg(event_id, ',') FROM pgtrickle.inbox_hooks"), "sha256:" + sha256_hex(body));
  // The webhook sink's envelope names its own identity, which the signature covers.
  std::string envelope = R"({"dedup_key": "orders:7:1", "op": "insert"})";
  std::string signed_envelope = sign(kSecret, unix_now(), envelope);
  for (std::string key : {"x1", "x2"})
    EXPECT_EQ(post(port, "/hooks", envelope, {{"X-Pgtrickle-Signature", signed_envelope}, {"Idempotency-Key", key}}).status, 200);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks WHERE event_id = 'orders:7:1'"), 1);
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_hooks"), 2);
}
