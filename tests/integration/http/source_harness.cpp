// The HTTP receiver in the reverse contract: the relay listens on a port of the tests' range, a
// path per test, bearer token required; messages are POSTed with cpp-httplib's client, the
// identity as Idempotency-Key, each retried until the receiver answers 2xx (it may not listen yet,
// or be restarting) or 400 (not JSON: refused for good).
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "../../contract/source_contract.h"
#include "http_post.h"

namespace relay::test {
namespace {

constexpr const char* kToken = "contract-token";

class HttpSourceHarness final : public SourceHarness {
 public:
  nlohmann::json source_config(const std::string& unique, int) override {
    return {{"source_type", "http"},
            {"listen", "127.0.0.1:" + std::to_string(port(unique))},
            {"path", "/" + unique},
            {"bearer_token", kToken}};
  }

  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int p = port(unique);
    std::string path = "/" + unique;
    httplib::Client client("127.0.0.1", p);
    client.set_connection_timeout(1);
    client.set_read_timeout(35);
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);  // else Nagle holds each body back for the server's delayed ACK
    for (const auto& m : messages) {
      httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kToken}, {"Idempotency-Key", m.id}};
      int last = 0;
      while (true) {
        auto r = client.Post(path.c_str(), headers, m.body, "application/json");
        last = r ? r->status : 0;
        if (last >= 200 && last < 300) break;
        if (last == 400) break;  // not JSON: refused for good, the sender keeps it (refuses_invalid_json)
        if (std::chrono::steady_clock::now() >= deadline) {
          ADD_FAILURE() << "the receiver did not accept message " << m.id << " in time; last answer: "
                        << (r ? std::to_string(last) + " " + r->body : "none (" + httplib::to_string(r.error()) + ")");
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  bool refuses_invalid_json() override { return true; }
  size_t max_body_bytes() override { return 1024 * 1024; }  // max_body_bytes' default

 private:
  int port(const std::string& unique) {
    auto it = ports_.find(unique);
    if (it != ports_.end()) return it->second;
    return ports_[unique] = free_receiver_port();
  }

  std::map<std::string, int> ports_;
};

}  // namespace

std::unique_ptr<SourceHarness> make_http_source_harness() { return std::make_unique<HttpSourceHarness>(); }

}  // namespace relay::test
