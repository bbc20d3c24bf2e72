// Redis Streams source: one consumer of a consumer group. A reading thread, on a connection of its
// own, keeps one batch ready ahead of the pipeline: first this consumer's own pending entries (left
// un-acked by an earlier run under the same consumer name), then new ones (`>`, blocking when there
// are none); every claim_idle_ms/2 it claims with XAUTOCLAIM the entries another consumer of the
// group left pending longer than claim_idle_ms (a dead relay). A batch's ids are acknowledged with
// one XACK on the main connection, in ack(), after the inbox commit.
#include <hiredis/hiredis.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/batch_queue.h"
#include "core/build_context.h"
#include "backends/redis/redis_connection.h"
#include "backends/redis/redis_decode.h"

namespace relay::redis {
namespace {

using redis::ContextPtr;
using redis::ReplyPtr;

constexpr auto kReplyTimeout = std::chrono::seconds(10);
// Longest XREADGROUP BLOCK, so the reading thread looks at its claim schedule now and then.
constexpr long long kMaxBlockMs = 5000;

// The ids of a batch, acknowledged together.
struct Delivered {
  std::vector<std::string> ids;
};

std::string_view text_of(const redisReply* r) { return {r->str, r->len}; }

class RedisSource final : public Source {
 public:
  RedisSource(redis::Url url, const PipelineConfig& config, std::string consumer, const BuildContext& ctx)
      : url_(std::move(url)), ctx_(ctx) {
    const ConfigSection s = config.source_section();
    key_ = s.text("stream_key");
    group_ = s.text("group");
    consumer_ = std::move(consumer);
    long long claim_idle_ms = s.integer("claim_idle_ms");
    claim_interval_ = std::chrono::milliseconds(std::max<long long>(100, claim_idle_ms / 2));
    batch_size_ = std::to_string(std::max(1, config.batch_size));
    claim_idle_ = std::to_string(claim_idle_ms);
  }

  ~RedisSource() override { stop(); }

  Status start() override {
    stop();
    auto c = connect();
    if (!c) return c.error();
    conn_ = std::move(*c);
    // A group the relay creates starts at the beginning of the stream ("0"), not at "$": entries
    // written before the relay first ran are part of the backlog, not skipped.
    ReplyPtr r = redis::command(conn_.get(), {"XGROUP", "CREATE", key_, group_, "0", "MKSTREAM"});
    if (!r) return lost(conn_, "XGROUP CREATE");
    if (r->type == REDIS_REPLY_ERROR && !text_of(r.get()).starts_with("BUSYGROUP")) return refused("XGROUP CREATE", text_of(r.get()));
    if (r->type != REDIS_REPLY_ERROR)
      ctx_.log->info("Created the consumer group.", {{"stream_key", key_}, {"group", group_}, {"start", "0"}});
    auto reader = connect();
    if (!reader) return reader.error();
    reader_ = std::move(*reader);
    queue_.reopen();
    stop_fd_.drain();
    thread_ = std::thread([this] { read_loop(); });
    ctx_.log->info("Consuming the Redis stream.", {{"stream_key", key_}, {"group", group_}, {"consumer", consumer_}});
    return {};
  }

  Result<Batch> poll(Deadline) override {
    if (!conn_) return retriable(fmt::format("Redis: not connected to {}:{}", url_.host, url_.port));
    return queue_.take();
  }

  void wait(Deadline deadline) override {
    if (conn_) queue_.wait(deadline, ctx_.wake_fd);
  }

  Status ack(const Batch& batch) override {
    auto* d = static_cast<Delivered*>(batch.token.get());
    if (!d || d->ids.empty()) return {};
    if (!conn_) return retriable(fmt::format("Redis: not connected to {}:{}; the entries stay pending and are read again", url_.host, url_.port));
    argv_.clear();
    lens_.clear();
    auto add = [&](std::string_view s) {
      argv_.push_back(s.data());
      lens_.push_back(s.size());
    };
    add("XACK");
    add(key_);
    add(group_);
    for (const auto& id : d->ids) add(id);
    ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(conn_.get(), static_cast<int>(argv_.size()), argv_.data(), lens_.data())));
    if (!r) return lost(conn_, "XACK");
    if (r->type == REDIS_REPLY_ERROR) return refused("XACK", text_of(r.get()));
    return {};
  }

  SourceStatus status() override {
    SourceStatus s;
    lag(s.lag_rows, s.lag_seconds);
    return s;
  }

  void lag(std::int64_t& rows, double& seconds) {
    rows = -1;
    seconds = -1;
    if (!conn_) return;
    // XINFO GROUPS: "lag" (entries not yet delivered to the group, Redis 7; nil when unknown)
    // plus "pending" (delivered, not acked: this includes what the reading thread holds).
    ReplyPtr r = redis::command(conn_.get(), {"XINFO", "GROUPS", key_});
    if (!r) {
      conn_.reset();  // poll() reports it
      return;
    }
    if (r->type != REDIS_REPLY_ARRAY) return;
    for (size_t g = 0; g < r->elements; ++g) {
      const redisReply* info = r->element[g];
      if (info->type != REDIS_REPLY_ARRAY) continue;
      std::optional<long long> pending, lag;
      bool ours = false;
      for (size_t i = 0; i + 1 < info->elements; i += 2) {
        std::string_view name = text_of(info->element[i]);
        const redisReply* v = info->element[i + 1];
        if (name == "name" && v->type == REDIS_REPLY_STRING) ours = text_of(v) == group_;
        else if (name == "pending" && v->type == REDIS_REPLY_INTEGER) pending = v->integer;
        else if (name == "lag" && v->type == REDIS_REPLY_INTEGER) lag = v->integer;
      }
      if (!ours || !pending || !lag) continue;
      rows = *pending + *lag;
      double last = last_entry_time_.load();
      if (rows == 0) seconds = 0;
      else if (last > 0)  // everything waiting came after the last entry read: at most this old
        seconds = std::max(0.0, static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count()) / 1000.0 - last);
    }
  }

  void stop() override {
    // Nothing to give back: un-acked entries stay pending for this consumer (read again first
    // thing on the next start) or are claimed by another consumer after claim_idle_ms.
    queue_.close();
    stop_fd_.signal();
    if (thread_.joinable()) thread_.join();
    reader_.reset();
    conn_.reset();
  }

 private:
  Result<ContextPtr> connect() {
    auto c = redis::connect(url_, "source.url");
    if (c) redisSetTimeout(c->get(), redis::to_timeval(kReplyTimeout));
    return c;
  }

  // ---- the reading thread (uses reader_ only) ---------------------------------------------------

  void read_loop() {
    bool own_pending = true;         // reading this consumer's own pending entries still
    std::string own_cursor = "0";
    std::string claim_cursor = "0-0";
    Deadline next_claim = Clock::now();
    while (true) {
      if (!queue_.wait_for_room()) return;
      Result<Batch> b = Batch{};
      if (Clock::now() >= next_claim) {
        b = claim(claim_cursor);
        if (b && claim_cursor == "0-0") next_claim = Clock::now() + claim_interval_;
      }
      if (b && b->empty() && own_pending) {
        std::string last;
        b = read(own_cursor, 0, &last);
        if (b && b->empty()) own_pending = false;
        else if (b) own_cursor = last;
      }
      if (b && b->empty()) {
        auto until_claim = std::chrono::duration_cast<std::chrono::milliseconds>(next_claim - Clock::now()).count();
        long long block = std::clamp<long long>(until_claim, 1, kMaxBlockMs);
        b = read(">", block, nullptr);
      }
      if (!b) {
        queue_.fail(b.error());
        return;  // poll() reports it; the pipeline restarts the source
      }
      if (b->empty()) continue;
      queue_.push(std::move(*b));
    }
  }

  // XREADGROUP from `id` ("0"-style cursor: own pending entries; ">": new ones), blocking up to
  // block_ms when > 0. The blocking wait also ends when stop() is called (then: an empty batch).
  Result<Batch> read(const std::string& id, long long block_ms, std::string* last_id) {
    std::string block = std::to_string(block_ms);
    std::vector<const char*> argv = {"XREADGROUP", "GROUP", group_.c_str(), consumer_.c_str(), "COUNT", batch_size_.c_str()};
    if (block_ms > 0) {
      argv.push_back("BLOCK");
      argv.push_back(block.c_str());
    }
    for (const char* a : {"STREAMS", key_.c_str(), id.c_str()}) argv.push_back(a);
    std::vector<size_t> lens;
    for (const char* a : argv) lens.push_back(strlen(a));
    redisContext* c = reader_.get();
    if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) return lost(reader_, "XREADGROUP");
    if (block_ms > 0) {
      int done = 0;
      while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) return lost(reader_, "XREADGROUP");
      pollfd fds[2] = {{c->fd, POLLIN, 0}, {stop_fd_.fd(), POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(block_ms) + 10000);
      // Stopping: the reply is still owed on this connection, which stop() closes. Whatever the
      // server hands this consumer meanwhile stays pending for it and is read again first thing.
      if (fds[1].revents & POLLIN) return Batch{};
      if (n <= 0) return lost(reader_, "XREADGROUP");
    }
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || !raw) return lost(reader_, "XREADGROUP");
    ReplyPtr r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) return refused("XREADGROUP", text_of(r.get()));
    // nil (nothing) or [[key, [[id, fields|nil], ...]]]
    Batch batch;
    if (r->type != REDIS_REPLY_ARRAY) return batch;
    for (size_t s = 0; s < r->elements; ++s) {
      const redisReply* stream = r->element[s];
      if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2) add_entries(stream->element[1], batch, last_id);
    }
    return batch;
  }

  // XAUTOCLAIM: entries of other consumers idle for claim_idle_ms become this consumer's. One call
  // at a time; the scan goes on from its cursor until it wraps ("0-0").
  Result<Batch> claim(std::string& cursor) {
    ReplyPtr r = redis::command(reader_.get(), {"XAUTOCLAIM", key_, group_, consumer_, claim_idle_, cursor, "COUNT", batch_size_});
    if (!r) return lost(reader_, "XAUTOCLAIM");
    if (r->type == REDIS_REPLY_ERROR) return refused("XAUTOCLAIM", text_of(r.get()));
    Batch batch;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) return batch;
    cursor = r->element[0]->type == REDIS_REPLY_STRING ? std::string(text_of(r->element[0])) : "0-0";
    add_entries(r->element[1], batch, nullptr);
    if (!batch.messages.empty())
      ctx_.log->info("Claimed entries another consumer left pending.",
                     {{"entries", std::to_string(batch.messages.size())}, {"min_idle_ms", claim_idle_}});
    return batch;
  }

  void add_entries(const redisReply* entries, Batch& batch, std::string* last_id) {
    if (entries->type != REDIS_REPLY_ARRAY || entries->elements == 0) return;
    auto token = std::make_shared<Delivered>();
    token->ids.reserve(entries->elements);
    batch.messages.reserve(entries->elements);
    std::vector<redis::Field> fields;
    for (size_t i = 0; i < entries->elements; ++i) {
      const redisReply* e = entries->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING) continue;
      std::string_view id = text_of(e->element[0]);
      token->ids.emplace_back(id);
      if (last_id) *last_id = id;
      // A pending entry deleted from the stream since (XDEL, MAXLEN) comes without fields: there is
      // nothing to deliver, only its id to acknowledge.
      if (e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY) continue;
      const redisReply* f = e->element[1];
      fields.clear();
      for (size_t j = 0; j + 1 < f->elements; j += 2) fields.emplace_back(text_of(f->element[j]), text_of(f->element[j + 1]));
      batch.messages.push_back(redis::to_message(key_, id, fields));
    }
    if (!batch.messages.empty()) last_entry_time_ = std::max(last_entry_time_.load(), batch.messages.back().committed_at);
    if (!token->ids.empty()) batch.token = std::move(token);
  }

  // ---- errors -------------------------------------------------------------------------------------

  Error lost(ContextPtr& c, const char* what) {
    std::string error = fmt::format("Redis: {} on {}:{} failed: {}", what, url_.host, url_.port,
                                    c && c->errstr[0] ? c->errstr : "connection lost");
    if (&c == &conn_) c.reset();  // the reading thread's connection is closed by stop()
    return retriable(std::move(error));
  }

  Error refused(const char* what, std::string_view text) {
    auto kind = redis::classify_source_reply(text);
    std::string hint;
    if (text.starts_with("WRONGTYPE")) hint = fmt::format(" (source.stream_key \"{}\" holds a value that is not a stream)", key_);
    else if (text.starts_with("ERR unknown command")) hint = " (the source needs Redis 6.2 or later)";
    else if (text.starts_with("NOGROUP")) hint = " (the stream or group was deleted; it is created again)";
    return Error{kind, fmt::format("Redis refused {} on \"{}\": {}{}", what, key_, text, hint)};
  }

  redis::Url url_;
  BuildContext ctx_;
  std::string key_, group_, consumer_, batch_size_, claim_idle_;
  std::chrono::milliseconds claim_interval_{15000};
  ContextPtr conn_;    // XGROUP, XACK, XINFO: the pipeline's thread
  ContextPtr reader_;  // XREADGROUP, XAUTOCLAIM: the reading thread

  std::thread thread_;
  BatchQueue queue_;  // read and decoded, not yet handed out by poll()
  EventFd stop_fd_;               // readable when stop() wants the reading thread to end
  std::atomic<double> last_entry_time_{0};
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "pgtrickle-relay";
  return buf;
}

}  // namespace

Result<std::unique_ptr<Source>> make_source(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.source_section();
  auto url = redis::parse_url(s.text("url"));
  if (!url) return url.error();
  for (const char* key : {"stream_key", "group"})
    if (s.text(key).empty()) return fatal(fmt::format("source.{} is empty; expected a name", key));
  std::string consumer = s.text("consumer");
  if (consumer.empty()) consumer = host_name();
  return std::unique_ptr<Source>(std::make_unique<RedisSource>(std::move(*url), config, std::move(consumer), ctx));
}

}  // namespace relay::redis
