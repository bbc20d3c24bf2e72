// The relay's HTTP servers (/metrics and /health; the HTTP receiver), built to face hostile clients:
// libmicrohttpd's event loop (epoll: a slow or idle connection holds no thread), bounded memory
// per connection (the headers included), a deadline for each whole request, a cap on the
// connections open at once and on those of one peer address (more are closed at once), and the
// refusal of ambiguous framing (two Content-Length headers, Content-Length with Transfer-Encoding,
// a Transfer-Encoding other than "chunked", a header name with a space before its colon: what a
// proxy in front may read differently, request smuggling).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/result.h"

struct MHD_Daemon;

namespace relay::http {

struct Request {
  std::string method, path, peer;  // path without the query string; peer = the client's address
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
  // The first header of that name (case-insensitive), "" if none.
  const std::string& header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": <why>} with that status.
Response error_response(int status, std::string_view why);

struct Exchange;

// Answers one request, once (later calls do nothing), from any thread. Until it is called the
// connection waits (suspended: no thread, no read); the request deadline does not run meanwhile.
class Reply {
 public:
  explicit Reply(std::shared_ptr<Exchange> x) : x_(std::move(x)) {}
  void operator()(Response response) const;

 private:
  std::shared_ptr<Exchange> x_;
};

struct Limits {
  size_t max_connections = 256;          // open at once; more are closed as soon as accepted
  size_t max_connections_per_peer = 64;  // from one client address
  size_t max_header_bytes = 64 * 1024;   // request line and headers (the connection's memory)
  size_t max_header_lines = 100;
  size_t max_body_bytes = 0;             // larger bodies get 413 (0: no body accepted)
  std::chrono::seconds request_timeout{30};  // from the connection (or its previous answer) to the last byte of the request
  std::string body_limit_name = "max_body_bytes";  // named in the 413 answer
  // HTTPS: the server's certificate chain and private key, PEM; both empty: plain HTTP.
  std::string tls_cert_pem, tls_key_pem;
};

class Server {
 public:
  // Called once the headers are in, before the body is read: an answer here ends the request
  // (its body is never read, the connection is closed after the answer).
  using HeadersHandler = std::function<std::optional<Response>(const Request&)>;
  // The whole request (its body read); answer through the Reply, now or later.
  using RequestHandler = std::function<void(Request&, Reply)>;

  Server();
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on host:port (port 0: any free port) and serves on a thread of its own. The port is
  // the server's alone (SO_REUSEADDR, never SO_REUSEPORT): if another process listens, this fails.
  Status start(const std::string& host, int port, const Limits& limits, HeadersHandler on_headers, RequestHandler on_request,
               std::function<void()> every_quarter_second = {});
  int port() const { return port_; }
  // Stops accepting, answers 503 to requests still waiting for their Reply, lets the answers
  // already given go out (at most 2 s), then closes every connection.
  void stop();

  struct State;

 private:
  std::unique_ptr<State> state_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace relay::http
