// Redis Streams sink: the whole batch is pipelined as XADD commands in one write, then every reply
// is read; an entry is delivered once the server answered its XADD with the entry id.
#include <hiredis/hiredis.h>

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "backends/redis/redis_connection.h"
#include "backends/redis/redis_encode.h"

namespace relay::redis {
namespace {

using redis::ContextPtr;
using redis::ReplyPtr;
using redis::to_timeval;

constexpr auto kMaxReplyWait = std::chrono::seconds(10);

class RedisSink final : public Sink {
 public:
  RedisSink(redis::Url url, long long maxlen, const BuildContext& ctx)
      : url_(std::move(url)), maxlen_(maxlen), ctx_(ctx) {}

  Status start() override {
    conn_.reset();
    if (!fatal_.empty()) return fatal(fatal_);
    auto c = redis::connect(url_, "sink.url");
    if (!c) return c.error();
    conn_ = std::move(*c);
    ctx_.log->info("Connected to Redis.", {{"host", url_.host}, {"port", std::to_string(url_.port)}, {"db", std::to_string(url_.db)}});
    return {};
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    if (!conn_) {
      if (auto s = start(); !s) return fail_from(outcomes, 0, s.error().message);
    }
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
    redisSetTimeout(conn_.get(), to_timeval(std::min<std::chrono::microseconds>(left, kMaxReplyWait)));

    // One buffer for the whole batch, appended to hiredis's output buffer once.
    buf_.clear();
    for (const auto& m : batch) redis::append_xadd(buf_, m, maxlen_);
    if (redisAppendFormattedCommand(conn_.get(), buf_.data(), buf_.size()) != REDIS_OK)
      return lost_connection(outcomes, 0);

    for (size_t i = 0; i < batch.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(conn_.get(), &raw) != REDIS_OK || !raw) return lost_connection(outcomes, i);
      ReplyPtr r(static_cast<redisReply*>(raw));
      if (r->type != REDIS_REPLY_ERROR) {
        outcomes[i] = {Outcome::delivered, {}};
        continue;
      }
      std::string_view text(r->str, r->len);
      std::string error = fmt::format("Redis refused XADD to \"{}\": {}", batch[i].routes[0], text);
      switch (redis::classify_reply(text)) {
        case ErrorKind::permanent:
          outcomes[i] = {Outcome::rejected, std::move(error)};
          break;
        case ErrorKind::retriable:
          outcomes[i] = {Outcome::retriable, std::move(error)};
          break;
        case ErrorKind::fatal:
          // send() cannot stop the pipeline: report unhealthy so the core's start() returns this.
          if (fatal_.empty()) fatal_ = error;
          outcomes[i] = {Outcome::retriable, std::move(error)};
          break;
      }
    }
  }

  bool healthy() override { return conn_ && conn_->err == 0 && fatal_.empty(); }

  void stop(Deadline) override { conn_.reset(); }

 private:
  void fail_from(std::span<Outcome> outcomes, size_t from, const std::string& error) {
    for (size_t i = from; i < outcomes.size(); ++i) outcomes[i] = {Outcome::retriable, error};
  }

  // The connection broke mid-batch: what was not answered may or may not be stored; it is sent
  // again on a new connection (a duplicate with the same dedup_key, never a loss).
  void lost_connection(std::span<Outcome> outcomes, size_t from) {
    std::string error = fmt::format("Redis connection to {}:{} lost: {}", url_.host, url_.port,
                                    conn_->errstr[0] ? conn_->errstr : "no reply");
    conn_.reset();
    fail_from(outcomes, from, error);
  }

  redis::Url url_;
  long long maxlen_ = 0;
  BuildContext ctx_;
  ContextPtr conn_;
  std::string buf_;
  std::string fatal_;  // a configuration problem met while sending; start() reports it
};

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.sink_section();
  auto url = redis::parse_url(s.text("url"));
  if (!url) return url.error();
  long long maxlen = s.integer("maxlen");
  return std::unique_ptr<Sink>(std::make_unique<RedisSink>(std::move(*url), maxlen, ctx));
}

}  // namespace relay::redis
