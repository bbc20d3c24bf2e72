// HTTP receiver: POSTed events → the inbox. A request is answered 2xx only once every message it
// carries is committed (its connection is suspended until the ack() of the batches that hold them); 503
// with Retry-After when the pipeline stops or restarts first, 429 with Retry-After when more
// messages wait than max_pending. Authentication is required: a bearer token, the webhook sink's
// HMAC signature, or both.
#include <fmt/format.h>

#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "core/event_fd.h"
#include "http/server.h"
#include "backends/http/http_receive.h"
#include "util/strings.h"

namespace relay::http {
namespace {

using namespace std::chrono;

constexpr seconds kCommitWait{30};   // a request waits this long for its commit, then gets 503
constexpr microseconds kFillWait{1000};  // how long poll() waits for more requests to fill a batch

struct Settings {
  std::string listen, host, path, bearer_token, hmac_secret;
  int port = 8080;
  size_t max_body_bytes = 1048576;
  std::int64_t tolerance_s = 300;
  size_t max_pending = 10000;
  size_t max_connections = 256, max_connections_per_client = 64;
  seconds request_timeout{30};
  size_t batch_size = 1000;
  double max_requests_per_s = 0;
};

// One accepted request: its messages, how many were handed to batches and committed, and how it
// is answered (its connection waits, holding no thread, until then).
struct Pending {
  std::vector<Message> messages;
  size_t taken = 0, committed = 0;
  bool answered = false;  // once answered (200, or 503 on a stop or after kCommitWait), what was not handed out is dropped
  Clock::time_point arrived;
  http::Reply reply;
};

struct Token {
  std::vector<std::pair<std::shared_ptr<Pending>, size_t>> parts;
};

http::Response unavailable(std::string_view why) {
  auto r = http::error_response(503, why);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

class HttpSource final : public Source {
 public:
  HttpSource(Settings s, const BuildContext& ctx) : s_(std::move(s)), ctx_(ctx), rate_(s_.max_requests_per_s) {}
  ~HttpSource() override { stop(); }

  Status start() override {
    if (!event_fd_.ok()) return retriable("http source: cannot create an eventfd");
    http::Limits limits;
    limits.max_connections = s_.max_connections;
    limits.max_connections_per_peer = s_.max_connections_per_client;
    limits.max_body_bytes = s_.max_body_bytes;
    limits.request_timeout = s_.request_timeout;
    auto started = server_.start(
        s_.host, s_.port, limits, [this](const http::Request& req) { return on_headers(req); },
        [this](http::Request& req, http::Reply reply) { on_request(req, std::move(reply)); }, [this] { give_up_waiting(); });
    if (!started)
      return retriable(fmt::format("http source: cannot listen on {}: {} (address in use, or not an address of this host)", s_.listen,
                                   started.error().message));
    ctx_.log->info("Receiving HTTP requests.", {{"listen", s_.listen}, {"path", s_.path}});
    return {};
  }

  Result<Batch> poll(Deadline) override {
    Batch batch;
    std::unique_lock lock(mutex_);
    if (queued_ == 0) return batch;
    // A few more requests usually arrive right after the last answers: take them in the same commit.
    if (queued_ < s_.batch_size) {
      auto until = std::min(queue_.front()->arrived + kFillWait, Clock::now() + kFillWait);
      arrived_.wait_until(lock, until, [&] { return queued_ >= s_.batch_size || closed_; });
    }
    auto token = std::make_shared<Token>();
    while (batch.messages.size() < s_.batch_size && !queue_.empty()) {
      auto& p = queue_.front();
      size_t left = p->messages.size() - p->taken;
      if (p->answered) {  // given up on (503): its sender sends again
        queued_ -= left;
        pending_ -= left;
        queue_.pop_front();
        continue;
      }
      size_t k = std::min(left, s_.batch_size - batch.messages.size());
      for (size_t i = 0; i < k; ++i) batch.messages.push_back(std::move(p->messages[p->taken + i]));
      p->taken += k;
      queued_ -= k;
      token->parts.emplace_back(p, k);
      if (p->taken == p->messages.size()) queue_.pop_front();
    }
    if (!batch.messages.empty()) batch.token = std::move(token);
    return batch;
  }

  void wait(Deadline deadline) override {
    {
      std::lock_guard lock(mutex_);
      if (queued_ > 0) return;
    }
    event_fd_.wait(deadline, ctx_.wake_fd);
  }

  Status ack(const Batch& batch) override {
    auto* token = static_cast<Token*>(batch.token.get());
    if (!token) return {};
    std::lock_guard lock(mutex_);
    for (auto& [p, k] : token->parts) {
      p->committed += k;
      pending_ -= k;
      if (p->committed == p->messages.size() && !p->answered) {
        p->answered = true;
        http::Response ok;
        ok.body = fmt::format("{{\"accepted\":{}}}", p->messages.size());
        p->reply(std::move(ok));
      }
    }
    return {};
  }

  SourceStatus status() override {
    SourceStatus s;
    lag(s.lag_rows, s.lag_seconds);
    return s;
  }

  void lag(std::int64_t& rows, double& seconds) {
    std::lock_guard lock(mutex_);
    rows = static_cast<std::int64_t>(queued_);
    seconds = queue_.empty() ? 0 : duration<double>(Clock::now() - queue_.front()->arrived).count();
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
      // Every waiting request is answered 503 now: what it carried was not committed.
      for (auto& p : waiting_)
        if (!p->answered) {
          p->answered = true;
          p->reply(unavailable("the receiver stopped before the commit; send again"));
        }
      waiting_.clear();
    }
    arrived_.notify_all();
    server_.stop();
  }

 private:
  // What the headers alone decide, before the body is read: the path, the method, the rate and
  // the bearer token.
  std::optional<http::Response> on_headers(const http::Request& req) {
    if (req.path != s_.path) return http::error_response(404, fmt::format("nothing here; events are POSTed to {}", s_.path));
    if (req.method == "GET") return std::nullopt;
    if (req.method != "POST") {
      auto r = http::error_response(405, "only POST (events) and GET (a probe) are accepted");
      r.headers.emplace_back("Allow", "POST, GET");
      return r;
    }
    {
      // Checked before the credentials, so guessing them is slowed down too.
      std::lock_guard lock(mutex_);
      double wait_s = 0;
      if (!rate_.take(duration<double>(steady_clock::now().time_since_epoch()).count(), &wait_s)) {
        auto r = http::error_response(429, fmt::format("more than max_requests_per_s ({}) requests a second; send again later", s_.max_requests_per_s));
        r.headers.emplace_back("Retry-After", std::to_string(static_cast<long long>(std::ceil(wait_s))));
        return r;
      }
    }
    if (!s_.bearer_token.empty()) {
      const std::string& auth = req.header("Authorization");
      if (auth.empty() || !http::bearer_matches(auth, s_.bearer_token)) {
        auto r = http::error_response(401, auth.empty() ? "missing Authorization: Bearer <token>" : "the bearer token is not the receiver's");
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pgtrickle-relay\"");
        return r;
      }
    }
    return std::nullopt;
  }

  void on_request(const http::Request& req, http::Reply reply) {
    if (req.method == "GET") {
      std::lock_guard lock(mutex_);
      http::Response r;
      r.status = closed_ ? 503 : 200;
      r.body = closed_ ? R"({"status":"stopping"})" : R"({"status":"ok"})";
      return reply(std::move(r));
    }
    bool signed_body = !s_.hmac_secret.empty();
    if (signed_body) {
      std::int64_t now = duration_cast<seconds>(system_clock::now().time_since_epoch()).count(), age = 0;
      const std::string& sig = req.header(http::kSignatureHeader);
      switch (http::verify_signature(sig, s_.hmac_secret, req.body, now, s_.tolerance_s, &age)) {
        case http::SignatureCheck::ok:
          break;
        case http::SignatureCheck::missing:
          return reply(http::error_response(401, "missing X-Pgtrickle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">"));
        case http::SignatureCheck::malformed:
          return reply(http::error_response(401, "malformed X-Pgtrickle-Signature; expected t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">"));
        case http::SignatureCheck::mismatch:
          return reply(http::error_response(401, "the signature does not match the body (wrong secret, or the body was changed)"));
        case http::SignatureCheck::stale:
          return reply(http::error_response(403, fmt::format("the signature's timestamp is {} s off the receiver's clock; at most {} s are accepted "
                                                             "(replay protection): sign again", age, s_.tolerance_s)));
      }
    }
    http::RequestInfo info;
    info.path = s_.path;
    info.signed_body = signed_body;
    info.idempotency_key = req.header("Idempotency-Key");
    info.received_at = duration<double>(system_clock::now().time_since_epoch()).count();
    for (const auto& [name, value] : req.headers)
      if (http::keep_header(name)) info.headers.emplace_back(http::lower(name), value);
    auto p = std::make_shared<Pending>(Pending{.reply = std::move(reply)});
    std::string error;
    if (!http::parse_body(req.body, info, p->messages, error)) return p->reply(http::error_response(400, error));
    size_t n = p->messages.size();

    std::lock_guard lock(mutex_);
    if (closed_) return p->reply(unavailable("the receiver is stopping or restarting; send again"));
    if (pending_ > 0 && pending_ + n > s_.max_pending) {
      auto r = http::error_response(429, fmt::format("{} messages are waiting for their commit (max_pending {}); send again later", pending_, s_.max_pending));
      r.headers.emplace_back("Retry-After", "1");
      return p->reply(std::move(r));
    }
    p->arrived = Clock::now();
    bool was_empty = queued_ == 0;
    queue_.push_back(p);
    waiting_.push_back(p);
    queued_ += n;
    pending_ += n;
    if (was_empty) event_fd_.signal();
    arrived_.notify_one();
  }

  // A request not committed within kCommitWait is answered 503 (its sender sends again); what of it
  // was not yet handed to a batch is dropped. Runs four times a second on the server's thread.
  void give_up_waiting() {
    std::lock_guard lock(mutex_);
    auto now = Clock::now();
    std::erase_if(waiting_, [&](const std::shared_ptr<Pending>& p) {
      if (p->answered) return true;
      if (now - p->arrived < kCommitWait) return false;
      p->answered = true;
      p->reply(unavailable(fmt::format("not committed within {} s (the inbox is slow or unreachable); send again", kCommitWait.count())));
      return true;
    });
  }

  Settings s_;
  BuildContext ctx_;
  http::Server server_;
  EventFd event_fd_;  // readable when the queue went from empty to not empty

  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<std::shared_ptr<Pending>> queue_;     // requests with messages not yet handed out
  std::vector<std::shared_ptr<Pending>> waiting_;  // requests not yet answered, oldest first
  size_t queued_ = 0;   // messages in queue_ not yet handed out
  size_t pending_ = 0;  // messages accepted and not yet committed
  bool closed_ = false;
  http::RateLimit rate_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_receiver_source(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection c = config.source_section();
  Settings s;
  s.listen = c.text("listen");
  if (auto problem = util::parse_host_port(s.listen, s.host, s.port); !problem.empty() || s.listen.find(':') == std::string::npos)
    return fatal(fmt::format("http source: listen \"{}\": {}; expected host:port, e.g. 0.0.0.0:8080", s.listen,
                             problem.empty() ? "the port is missing" : problem));
  s.path = c.text("path");
  if (s.path.empty() || s.path.front() != '/' || s.path.find_first_of("?# ") != std::string::npos)
    return fatal(fmt::format("http source: path \"{}\" must be a URL path starting with /, e.g. /events", s.path));
  s.bearer_token = c.text("bearer_token");
  s.hmac_secret = c.text("hmac_secret");
  if (s.bearer_token.empty() && s.hmac_secret.empty())
    return fatal("http source: set bearer_token and/or hmac_secret: the receiver does not accept unauthenticated requests");
  // Ranges: the spec.
  s.max_body_bytes = c.integer("max_body_bytes");
  s.tolerance_s = c.integer("signature_tolerance_s");
  s.max_pending = c.integer("max_pending");
  s.max_connections = c.integer("max_connections");
  s.max_connections_per_client = c.integer("max_connections_per_client");
  s.request_timeout = seconds(c.integer("request_timeout_s"));
  s.max_requests_per_s = c.number("max_requests_per_s");
  s.batch_size = static_cast<size_t>(std::max(1, config.batch_size));
  return std::unique_ptr<Source>(std::make_unique<HttpSource>(std::move(s), ctx));
}

}  // namespace relay::http
