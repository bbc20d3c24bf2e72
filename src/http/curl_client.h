// The libcurl client of the HTTP-based sinks (webhook, SQS): one multi handle per sink, so several
// requests can be in flight and connections are kept alive and reused between batches; easy handles
// are pooled. Not thread-safe: one pipeline thread drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/host_access.h"
#include "relay/message.h"
#include "relay/result.h"

namespace relay::http {

struct ClientRequest {
  std::string url;
  std::string method = "POST";
  std::vector<std::string> headers;  // "Name: value" lines
  std::string_view body;             // not copied: must stay alive until the response came back
  long timeout_ms = 10000;
  // SigV4 signing (CURLOPT_AWS_SIGV4), e.g. "aws:amz:eu-west-1:sqs"; empty = unsigned.
  std::string aws_sigv4;
  std::string username, password;  // the access key pair when signing; else HTTP basic auth when set
  // TLS: the CA file that verifies the server (empty: the system's store), a client certificate
  // and its key (PEM files).
  std::string ca_file, cert_file, key_file;
};

struct ClientResponse {
  int curl_code = 0;    // CURLcode; 0 when an HTTP answer came back
  std::string error;    // libcurl's text when curl_code != 0
  long status = 0;      // HTTP status
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
  bool answered() const { return curl_code == 0; }
};

// What a transport-level libcurl failure means: retriable (network, timeout, TLS handshake with a
// server that may come back) or permanent (a URL that can never work).
ErrorKind classify_curl_error(int curl_code);

// Retry-After as a wait: delta-seconds or an HTTP-date (relative to `now_unix`); -1 when absent or unreadable.
std::int64_t retry_after_ms(std::string_view value, std::int64_t now_unix);

class Client {
 public:
  // `max_host_connections`: connections per host, i.e. requests in flight at once to one server.
  explicit Client(int max_host_connections = 8);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts `req` (its body must outlive the transfer); the response comes back from poll() with `tag`.
  Status start(const ClientRequest& req, std::uint64_t tag);
  // Drives the transfers and waits up to `wait` for one to finish (sleeps `wait` when none is in
  // flight); appends the finished ones to `done`.
  void poll(std::chrono::milliseconds wait, std::vector<std::pair<std::uint64_t, ClientResponse>>& done);
  size_t in_flight() const;
  // Abandons every transfer in flight (their fate at the server is unknown).
  void abort_all();
  // Closes the kept-alive connections too (after an outage, a fresh start).
  void reset();
  // Checks every connection against `access` (pipelines defined in SQL): the address it really
  // goes to, after DNS, is refused when denied or not allowed. Redirects are never followed.
  void restrict_to(const HostAccess* access);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs ordered sequences of requests ("lanes"): at most one request of a lane in flight, lanes in
// parallel, so order holds within a lane. The judge reads each response, records what it means for
// the messages of that request, and says what the lane does next.
enum class Verdict { next, retry, stop };
struct Unit {
  size_t lane = 0;
  ClientRequest request;
};
using Judge = std::function<Verdict(size_t unit, const ClientResponse& response, std::chrono::milliseconds& retry_in)>;
// Units of one lane run in index order. Returns when every lane is done or stopped, or at `deadline`
// (then in-flight requests are abandoned and their judges never called).
void run_lanes(Client& client, std::span<Unit> units, const Judge& judge, Deadline deadline);

}  // namespace relay::http
