// Connecting to Redis the same way for the sink and the source (src/backends/redis/): TCP with a
// timeout and keep-alive, AUTH (default user or ACL user), SELECT of the url's database; RAII
// handles for hiredis objects.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "relay/result.h"
#include "backends/redis/redis_encode.h"

namespace relay::redis {

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// At least 1 ms (hiredis treats a zero timeout as "none").
timeval to_timeval(std::chrono::microseconds d);

// Connects (within 5 s) and authenticates. A refused AUTH or SELECT is fatal (configuration: retrying cannot
// help) and names `url_key` (e.g. "sink.url"); a failed connection is retriable.
Result<ContextPtr> connect(const redis::Url& url, std::string_view url_key);

// Runs one command given as argv (binary-safe). Null when the connection failed (see c->errstr).
ReplyPtr command(redisContext* c, std::initializer_list<std::string_view> argv);

}  // namespace relay::redis
