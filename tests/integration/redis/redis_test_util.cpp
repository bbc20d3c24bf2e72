#include "redis_test_util.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>

namespace relay::test {

std::string redis_url() { return test_server_env("PGTRICKLE_TEST_REDIS_URL"); }

const redis::Url& redis_server() {
  static redis::Url url = [] {
    auto u = redis::parse_url(redis_url());
    if (!u) {
      ADD_FAILURE() << u.error().message;
      return redis::Url{};
    }
    return *u;
  }();
  return url;
}

std::string redis_command(const std::vector<std::string>& argv) {
  const auto& s = redis_server();
  std::unique_ptr<redisContext, decltype(&redisFree)> c(redisConnect(s.host.c_str(), s.port), &redisFree);
  if (!c || c->err) {
    ADD_FAILURE() << "cannot connect to the test Redis " << s.host << ":" << s.port;
    return "ERROR: no connection";
  }
  if (s.db != 0) freeReplyObject(redisCommand(c.get(), "SELECT %d", s.db));
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c.get(), static_cast<int>(args.size()), args.data(), lens.data()));
  if (!r) return "ERROR: " + std::string(c->errstr);
  std::string out;
  if (r->type == REDIS_REPLY_ERROR) out = "ERROR: " + std::string(r->str, r->len);
  else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) out.assign(r->str, r->len);
  else if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
  freeReplyObject(r);
  return out;
}

std::vector<nlohmann::json> read_stream_entries(const std::string& stream, size_t at_least, std::chrono::milliseconds timeout) {
  return parse_json_lines(run_node("redis.js", {redis_url(), stream, std::to_string(at_least), std::to_string(timeout.count())}));
}

std::vector<Delivered> read_stream(const std::string& stream, size_t at_least, std::chrono::milliseconds timeout) {
  return parse_delivered(run_node("redis.js", {redis_url(), stream, std::to_string(at_least), std::to_string(timeout.count())}));
}

}  // namespace relay::test
