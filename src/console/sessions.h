// The console's logins: a session per successful login, holding the database connection made as
// the logged-in role (every read and action runs on it, so the console can do no more than that
// role in psql), a CSRF token its actions must carry, and its expiry; and the limiter that slows
// password guessing.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "pg/connection.h"

namespace relay::console {

using Clock = std::chrono::steady_clock;

struct Session {
  std::string role;
  std::string csrf;  // sent with the page, asked back in a header on every action
  Clock::time_point created, last_used;
  std::mutex db_mu;  // one statement at a time on the role's connection
  pg::Connection db;
};

class SessionStore {
 public:
  struct Limits {
    std::chrono::seconds idle{30 * 60};         // unused this long: logged out
    std::chrono::seconds lifetime{8 * 60 * 60};  // whatever the use: logged out
    std::size_t most = 64;                     // open at once (each holds a database connection)
  };
  explicit SessionStore(Limits limits) : limits_(limits) {}

  // A new session for `role` on its connection; its token (the cookie's value) in `token`. The
  // oldest session goes when `most` are open.
  std::shared_ptr<Session> open(std::string role, pg::Connection db, std::string& token);
  // The session of a cookie's token, none when unknown or expired (an expired one is closed); a
  // found one counts as used now.
  std::shared_ptr<Session> find(const std::string& token);
  void close(const std::string& token);
  // Closes the sessions that expired (their connections with them).
  void sweep();
  std::size_t size();

 private:
  bool expired(const Session& s, Clock::time_point now) const;

  Limits limits_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
};

// Failed logins allowed per client address and for all together, in a sliding minute. A login
// asked past them is refused before any password is tried.
class LoginLimiter {
 public:
  LoginLimiter(std::size_t per_peer, std::size_t overall) : per_peer_(per_peer), overall_(overall) {}
  // Seconds to wait before `peer` may try again; 0: it may now.
  int wait_seconds(const std::string& peer, Clock::time_point now = Clock::now());
  void failed(const std::string& peer, Clock::time_point now = Clock::now());

 private:
  void forget_old(Clock::time_point now);

  std::size_t per_peer_, overall_;
  std::mutex mu_;
  std::deque<std::pair<Clock::time_point, std::string>> failures_;  // oldest first
};

// 32 random bytes as 64 hex digits (tokens of sessions and forms).
std::string random_token();

}  // namespace relay::console
