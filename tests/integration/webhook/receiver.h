// A webhook receiver for the tests: records every request and answers 2xx, or what the test asks
// for (a status for the next N requests, or for bodies containing a marker).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace relay::test {

struct ReceivedRequest {
  std::string method, path, body;
  httplib::Headers headers;  // names compared ignoring case, whichever way the library's version does it
  int status = 200;  // what the receiver answered
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class Receiver {
 public:
  Receiver() {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
    server_.Post(".*", handler);
    server_.Put(".*", handler);
    server_.Patch(".*", handler);
    server_.set_keep_alive_max_count(100000);
    server_.set_tcp_nodelay(true);  // else Nagle and delayed ACKs make every answer wait 40 ms
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

  // The next `n` requests are answered `status` (with Retry-After when given).
  void fail_next(int n, int status, std::string retry_after = "") {
    std::lock_guard lock(mu_);
    fail_count_ = n;
    fail_status_ = status;
    retry_after_ = std::move(retry_after);
  }
  // The body of the refusals (what a hostile or chatty server sends back).
  void set_error_body(std::string body) {
    std::lock_guard lock(mu_);
    error_body_ = std::move(body);
  }
  // Requests whose body contains `marker` are answered `status`.
  void refuse_bodies_with(std::string marker, int status) {
    std::lock_guard lock(mu_);
    refuse_marker_ = std::move(marker);
    refuse_status_ = status;
  }
  std::vector<ReceivedRequest> all() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // The requests on `path` answered 2xx.
  std::vector<ReceivedRequest> accepted(const std::string& path) {
    std::lock_guard lock(mu_);
    std::vector<ReceivedRequest> out;
    for (const auto& r : requests_)
      if (r.path == path && r.status < 300) out.push_back(r);
    return out;
  }
  size_t count_accepted(const std::string& path) { return accepted(path).size(); }
  // Distinct Idempotency-Keys accepted on `path` (a message sent twice counts once).
  size_t distinct_accepted(const std::string& path) {
    std::set<std::string> keys;
    for (const auto& r : accepted(path)) keys.insert(r.header("Idempotency-Key"));
    return keys.size();
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    ReceivedRequest r;
    r.method = req.method;
    r.path = req.path;
    r.body = req.body;
    for (const auto& [k, v] : req.headers) r.headers.emplace(k, v);
    if (fail_count_ > 0) {
      --fail_count_;
      r.status = fail_status_;
      if (!retry_after_.empty()) res.set_header("Retry-After", retry_after_);
    } else if (!refuse_marker_.empty() && req.body.find(refuse_marker_) != std::string::npos) {
      r.status = refuse_status_;
    }
    res.status = r.status;
    res.set_content(r.status < 300 ? "{\"ok\":true}" : !error_body_.empty() ? error_body_ : "{\"error\":\"refused by the test\"}",
                    "application/json");
    requests_.push_back(std::move(r));
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<ReceivedRequest> requests_;
  int fail_count_ = 0, fail_status_ = 503;
  std::string retry_after_;
  std::string refuse_marker_, error_body_;
  int refuse_status_ = 422;
};

}  // namespace relay::test
