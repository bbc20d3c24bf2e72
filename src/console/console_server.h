// The console (--console-addr): web pages of the pipelines, served by the relay. A user logs in with
// a PostgreSQL role and its password, checked by connecting as that role; every read and action
// then runs on that connection through the SQL API, so the console never does what the role could
// not do in psql. Static pages (compiled in) talk to a small JSON API under /api/.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "console/history.h"
#include "console/sessions.h"
#include "http/server.h"
#include "log/log.h"
#include "relay/result.h"

namespace relay::console {

struct Options {
  std::string address;             // host:port; a host alone is not enough ("127.0.0.1:9443")
  std::string tls_cert, tls_key;   // PEM files: both, or neither (plain HTTP)
  std::string postgres_url;        // the relay's: logins connect to its database with their own role
  SessionStore::Limits sessions;
  pg::ConnectionPool* pool = nullptr;  // the relay's: the plots' history is read on it (none: no plots)
};

class ConsoleServer {
 public:
  explicit ConsoleServer(Options options);
  ~ConsoleServer();
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  Status start();
  void stop();
  int port() const { return server_.port(); }

 private:
  void answer(http::Request& request, http::Reply reply);
  // Runs `job` on one of the console's own threads (a statement may take a while; the HTTP
  // server's thread never waits for the database).
  void later(std::function<void()> job);
  void work();

  http::Response login(const http::Request& request);
  http::Response logout(const http::Request& request);
  http::Response session_info(const http::Request& request);
  // An API call of a logged-in session: `run` gets the session; actions (not GET) must carry the
  // session's CSRF token.
  http::Response with_session(const http::Request& request, bool action,
                              const std::function<http::Response(Session&)>& run);

  Options options_;
  log::Logger log_{"console"};
  SessionStore sessions_;
  LoginLimiter limiter_{5, 30};
  http::Server server_;
  std::unique_ptr<History> history_;
  bool tls_ = false;

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace relay::console
