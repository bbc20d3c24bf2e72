#include "console/sessions.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace relay::console {

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a session token");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 0xf];
  }
  return out;
}

std::shared_ptr<Session> SessionStore::open(std::string role, pg::Connection db, std::string& token) {
  auto s = std::make_shared<Session>();
  s->role = std::move(role);
  s->csrf = random_token();
  s->created = s->last_used = Clock::now();
  s->db = std::move(db);
  token = random_token();
  std::lock_guard lock(mu_);
  if (sessions_.size() >= limits_.most) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(),
                                   [](const auto& a, const auto& b) { return a.second->last_used < b.second->last_used; });
    sessions_.erase(oldest);
  }
  sessions_.emplace(token, s);
  return s;
}

bool SessionStore::expired(const Session& s, Clock::time_point now) const {
  return now - s.last_used > limits_.idle || now - s.created > limits_.lifetime;
}

std::shared_ptr<Session> SessionStore::find(const std::string& token) {
  if (token.empty()) return nullptr;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token);
  if (it == sessions_.end()) return nullptr;
  const auto now = Clock::now();
  if (expired(*it->second, now)) {
    sessions_.erase(it);
    return nullptr;
  }
  it->second->last_used = now;
  return it->second;
}

void SessionStore::close(const std::string& token) {
  std::lock_guard lock(mu_);
  sessions_.erase(token);
}

void SessionStore::sweep() {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  std::erase_if(sessions_, [&](const auto& kv) { return expired(*kv.second, now); });
}

std::size_t SessionStore::size() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void LoginLimiter::forget_old(Clock::time_point now) {
  while (!failures_.empty() && now - failures_.front().first > std::chrono::minutes(1)) failures_.pop_front();
}

int LoginLimiter::wait_seconds(const std::string& peer, Clock::time_point now) {
  std::lock_guard lock(mu_);
  forget_old(now);
  // Waits until the oldest failure that counts leaves the minute.
  auto until_free = [&](auto first) {
    return static_cast<int>(std::chrono::ceil<std::chrono::seconds>(first->first + std::chrono::minutes(1) - now).count());
  };
  if (failures_.size() >= overall_) return std::max(1, until_free(failures_.begin()));
  std::size_t mine = 0;
  auto first = failures_.end();
  for (auto it = failures_.begin(); it != failures_.end(); ++it)
    if (it->second == peer && mine++ == 0) first = it;
  return mine >= per_peer_ ? std::max(1, until_free(first)) : 0;
}

void LoginLimiter::failed(const std::string& peer, Clock::time_point now) {
  std::lock_guard lock(mu_);
  forget_old(now);
  failures_.emplace_back(now, peer);
}

}  // namespace relay::console
