// The HTTP receiver's tests talk to it as any client would: cpp-httplib's client, plain requests,
// the signature computed here with OpenSSL (independently of the relay's own code).
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <sys/file.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace relay::test {

// A port of 55632-55647 (the HTTP receiver tests' range) that nothing listens on now and no other
// test process holds: tests run in parallel, each in its own process, and a port that is only free
// now may be taken by another test's relay before ours listens. A lock file per port, held until
// the process exits, keeps the others off it. The probe binds with SO_REUSEADDR, as the relay
// does: the connections an earlier test's receiver closed linger in TIME_WAIT on its port for a
// minute, and that must not make the port look taken. -1 when none is free (the test then fails
// plainly rather than sharing a port).
inline int free_receiver_port() {
  static std::atomic<int> next{static_cast<int>(::getpid())};
  for (int tries = 0; tries < 200; ++tries) {
    int port = 55632 + (next++ % 16);
    int lock = ::open(fmt::format("/tmp/pgtrickle-relay-test-port-{}.lock", port).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock >= 0 && ::flock(lock, LOCK_EX | LOCK_NB) == 0) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (free) return port;  // the lock stays held (its descriptor open) until the process exits
    }
    if (lock >= 0) ::close(lock);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

inline std::string to_hex(const unsigned char* p, unsigned n) {
  static const char* hex = "0123456789abcdef";
  std::string v;
  for (unsigned i = 0; i < n; ++i) {
    v += hex[p[i] >> 4];
    v += hex[p[i] & 15];
  }
  return v;
}

inline std::string sha256_hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return to_hex(md, SHA256_DIGEST_LENGTH);
}

// X-Pgtrickle-Signature for `body` signed at `unix_time`.
inline std::string sign(const std::string& secret, long long unix_time, const std::string& body) {
  std::string text = std::to_string(unix_time) + "." + body;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(text.data()), text.size(), md, &len);
  return "t=" + std::to_string(unix_time) + ",v1=" + to_hex(md, len);
}

inline long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Answer {
  int status = 0;  // 0: no answer (connection refused, reset, timed out)
  std::string body, retry_after;
};

inline Answer post(int port, const std::string& path, const std::string& body, const httplib::Headers& headers,
                   std::chrono::seconds timeout = std::chrono::seconds(40)) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(static_cast<time_t>(timeout.count()));
  c.set_tcp_nodelay(true);
  auto r = c.Post(path.c_str(), headers, body, "application/json");
  Answer a;
  if (!r) return a;
  a.status = r->status;
  a.body = r->body;
  a.retry_after = r->get_header_value("Retry-After");
  return a;
}

// The receiver answers its probe (GET on its path) once it listens; false after 15 s.
inline bool receiver_listening(int port, const std::string& path) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  do {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1);
    if (auto r = c.Get(path.c_str()); r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

// The receiver's credentials in these tests: its bearer token and its HMAC key.
inline const std::string kToken = "receiver-token";
inline const std::string kSecret = "receiver-hmac-key";

// A request's headers with the bearer token, and an Idempotency-Key when `key` is given.
inline httplib::Headers bearer(const std::string& key = "") {
  httplib::Headers h = {{"Authorization", "Bearer " + kToken}};
  if (!key.empty()) h.emplace("Idempotency-Key", key);
  return h;
}

}  // namespace relay::test
