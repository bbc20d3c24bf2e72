#include "backends/redis/redis_connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace relay::redis {

timeval to_timeval(std::chrono::microseconds d) {
  d = std::max(d, std::chrono::microseconds(1000));
  return {static_cast<time_t>(d.count() / 1000000), static_cast<suseconds_t>(d.count() % 1000000)};
}

ReplyPtr command(redisContext* c, std::initializer_list<std::string_view> argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (auto a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return ReplyPtr(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
}

namespace {

Status check_setup_reply(redisContext* c, const redisReply* r, const std::string& what, std::string_view url_key) {
  if (!r) return retriable(fmt::format("Redis: {} failed: {}", what, c->errstr));
  if (r->type != REDIS_REPLY_ERROR) return {};
  std::string_view text(r->str, r->len);
  // A wrong password or database is configuration: retrying cannot help.
  auto kind = redis::classify_reply(text);
  if (kind == ErrorKind::permanent) kind = ErrorKind::fatal;
  return Error{kind, fmt::format("Redis: {} was refused: {} (check {})", what, text, url_key)};
}

}  // namespace

Result<ContextPtr> connect(const redis::Url& url, std::string_view url_key) {
  constexpr auto kConnectTimeout = std::chrono::seconds(5);
  ContextPtr c(redisConnectWithTimeout(url.host.c_str(), url.port, to_timeval(kConnectTimeout)));
  if (!c) return retriable("Redis: cannot allocate a connection");
  if (c->err) return retriable(fmt::format("Redis: cannot connect to {}:{}: {}", url.host, url.port, c->errstr));
  redisEnableKeepAlive(c.get());
  if (url.has_password) {
    ReplyPtr r = url.user.empty() ? command(c.get(), {"AUTH", url.password}) : command(c.get(), {"AUTH", url.user, url.password});
    if (auto s = check_setup_reply(c.get(), r.get(), "AUTH", url_key); !s) return s.error();
  }
  if (url.db != 0) {
    std::string db = std::to_string(url.db);
    ReplyPtr r = command(c.get(), {"SELECT", db});
    if (auto s = check_setup_reply(c.get(), r.get(), "SELECT " + db, url_key); !s) return s.error();
  }
  return c;
}

}  // namespace relay::redis
