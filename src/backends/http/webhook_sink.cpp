// HTTP webhook sink: one request per message (in order, or in parallel lanes by message key when
// max_in_flight > 1) or one request per batch (a JSON array). A message is delivered only once the
// receiver answered 2xx. 408/429/5xx and network errors are retried in the request (retry_max,
// backoff from retry_backoff_ms, Retry-After honoured), then handed back to the core as retriable.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "http/curl_client.h"
#include "backends/http/webhook_encode.h"
#include "util/strings.h"

namespace relay::http {
namespace {

using namespace std::chrono;

std::int64_t unix_now() { return duration_cast<seconds>(system_clock::now().time_since_epoch()).count(); }

// The URL without its query string, for error messages (a query may carry a token).
std::string printable_url(const std::string& url) {
  auto q = url.find_first_of("?#");
  return q == std::string::npos ? url : url.substr(0, q) + "?…";
}

std::string answer_text(const http::ClientResponse& r) {
  if (!r.answered()) return r.error;
  std::string body = util::safe_excerpt(r.body);  // the receiver's words: short, one line, no secrets
  return body.empty() ? fmt::format("HTTP {}", r.status) : fmt::format("HTTP {}: {}", r.status, body);
}

class WebhookSink final : public Sink {
 public:
  WebhookSink(const PipelineConfig& config, const BuildContext& ctx, std::vector<Header> headers)
      : log_(ctx.log), client_(static_cast<int>(config.sink_section().integer("max_in_flight"))) {
    const ConfigSection s = config.sink_section();
    method_ = s.text("method");
    timeout_ms_ = s.integer("timeout_ms");
    batch_ = s.flag("batch");
    retry_max_ = s.integer("retry_max");
    retry_backoff_ms_ = s.integer("retry_backoff_ms");
    max_in_flight_ = s.integer("max_in_flight");
    options_.headers = std::move(headers);
    options_.signing_secret = s.text("signing_secret");
    tls_ca_ = s.text("tls_ca");
    tls_cert_ = s.text("tls_cert");
    tls_key_ = s.text("tls_key");
    client_.restrict_to(ctx.host_access);
  }

  Status start() override {
    if (!healthy_) client_.reset();  // after an outage: fresh connections
    healthy_ = true;
    return {};
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    for (auto& o : outcomes) o = {Outcome::retriable, "not sent: an earlier message of the batch was not delivered"};
    if (!batch_) {
      send_events(batch, outcomes, deadline);
      return;
    }
    // One request per run of messages going to the same URL, runs in order.
    size_t from = 0;
    while (from < batch.size()) {
      size_t to = from + 1;
      while (to < batch.size() && batch[to].routes[0] == batch[from].routes[0]) ++to;
      if (!send_batched(batch.subspan(from, to - from), outcomes.subspan(from, to - from), deadline)) return;
      from = to;
    }
  }

  bool healthy() override { return healthy_; }

  void stop(Deadline) override { client_.abort_all(); }

 private:
  // The wait before in-request retry `attempt` (1-based): doubling from retry_backoff_ms, jittered,
  // or what Retry-After asked for.
  milliseconds retry_wait(int attempt, const http::ClientResponse& r) {
    if (!r.retry_after.empty()) {
      auto ms = http::retry_after_ms(r.retry_after, unix_now());
      if (ms >= 0) return milliseconds(ms);
    }
    std::int64_t cap = std::min<std::int64_t>(30000, static_cast<std::int64_t>(retry_backoff_ms_) << std::min(attempt - 1, 20));
    std::uniform_int_distribution<std::int64_t> d(cap / 2, cap);
    return milliseconds(d(rng_));
  }

  // Judges one response for the messages `outs` of a request; `attempts` counts its tries.
  http::Verdict judge(const http::ClientRequest& req, const http::ClientResponse& r, int& attempts, std::span<Outcome> outs,
                      milliseconds& retry_in) {
    ++attempts;
    healthy_ = r.answered() || http::classify_curl_error(r.curl_code) == ErrorKind::permanent;
    std::string error = fmt::format("{} {}: {}", req.method, printable_url(req.url), answer_text(r));
    http::Answer a = r.answered() ? http::classify_status(r.status)
                                     : (http::classify_curl_error(r.curl_code) == ErrorKind::permanent ? http::Answer::permanent
                                                                                                       : http::Answer::retriable);
    if (a == http::Answer::delivered) {
      for (auto& o : outs) o = {Outcome::delivered, {}};
      return http::Verdict::next;
    }
    if (a == http::Answer::permanent) {
      for (auto& o : outs) o = {Outcome::rejected, error};
      return http::Verdict::next;
    }
    for (auto& o : outs) o = {Outcome::retriable, error};
    if (attempts > retry_max_) return http::Verdict::stop;
    retry_in = retry_wait(attempts, r);
    if (log_) log_->debug("The webhook will be retried.", {{"error", error}, {"attempt", std::to_string(attempts)}});
    return http::Verdict::retry;
  }

  http::ClientRequest request(const std::string& url, std::string_view idempotency_key, std::span<const Header> app_headers,
                        std::string_view body, std::int64_t now, std::string_view content_type = {}) {
    http::ClientRequest req;
    req.url = url;
    req.method = method_;
    req.body = body;
    req.timeout_ms = timeout_ms_;
    req.ca_file = tls_ca_;
    req.cert_file = tls_cert_;
    req.key_file = tls_key_;
    http::encode_headers(idempotency_key, app_headers, body, options_, now, req.headers, content_type);
    return req;
  }

  void send_events(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) {
    std::int64_t now = unix_now();
    units_.clear();
    units_.reserve(batch.size());
    for (const auto& m : batch) {
      // Lanes by key: messages with the same key keep their order; one lane keeps the pipeline's.
      size_t lane = max_in_flight_ > 1 ? std::hash<std::string>{}(m.key) % static_cast<size_t>(max_in_flight_) : 0;
      units_.push_back({lane, request(m.routes[0], m.dedup_key, m.headers, m.body, now, m.content_type)});
    }
    attempts_.assign(batch.size(), 0);
    http::run_lanes(client_, units_, [&](size_t u, const http::ClientResponse& r, milliseconds& retry_in) {
      return judge(units_[u].request, r, attempts_[u], outcomes.subspan(u, 1), retry_in);
    }, deadline);
  }

  // Sends `batch` as one JSON array; a permanent refusal of several messages is narrowed down by
  // halves to the message(s) at fault. False when a retriable failure ends the send.
  bool send_batched(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) {
    std::string body;
    http::encode_batch_body(batch, body);
    std::string key = http::batch_idempotency_key(batch);
    http::Unit unit{0, request(batch.front().routes[0], key, {}, body, unix_now())};
    int attempts = 0;
    bool refused = false;
    http::run_lanes(client_, std::span<http::Unit>(&unit, 1), [&](size_t, const http::ClientResponse& r, milliseconds& retry_in) {
      auto v = judge(unit.request, r, attempts, outcomes, retry_in);
      refused = outcomes.front().kind == Outcome::rejected;
      return v;
    }, deadline);
    if (outcomes.front().kind == Outcome::delivered) return true;
    if (!refused) return false;
    if (batch.size() == 1) return true;
    size_t half = batch.size() / 2;
    for (auto& o : outcomes) o = {Outcome::retriable, "not sent: an earlier message of the batch was not delivered"};
    if (!send_batched(batch.first(half), outcomes.first(half), deadline)) return false;
    return send_batched(batch.subspan(half), outcomes.subspan(half), deadline);
  }

  const log::Logger* log_;
  std::string tls_ca_, tls_cert_, tls_key_;
  http::Client client_;
  std::string method_;
  long timeout_ms_ = 10000;
  bool batch_ = false;
  int retry_max_ = 3;
  int retry_backoff_ms_ = 200;
  int max_in_flight_ = 1;
  http::EncodeOptions options_;
  bool healthy_ = true;
  std::vector<http::Unit> units_;
  std::vector<int> attempts_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

Result<std::unique_ptr<Sink>> make_webhook_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection s = config.sink_section();
  // A URL whose fixed part is not http(s) can never work; one built from a column is checked per message.
  std::string_view prefix = !ctx.sink_routes.empty() && ctx.sink_routes[0] ? ctx.sink_routes[0]->literal_prefix() : "";
  std::string lower(prefix.substr(0, 8));
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  bool ok = lower.empty() || std::string_view("https://").starts_with(lower) || std::string_view("http://").starts_with(lower) ||
            lower.starts_with("https://") || lower.starts_with("http://");
  if (!ok)
    return fatal(fmt::format("webhook sink: url \"{}\" must start with http:// or https://", printable_url(s.text("url"))));
  // TLS files are read per connection by libcurl: one that is missing would fail every request.
  if (s.text("tls_cert").empty() != s.text("tls_key").empty())
    return fatal("webhook sink: tls_cert and tls_key go together: set both or neither");
  for (const char* key : {"tls_ca", "tls_cert", "tls_key"})
    if (auto path = s.text(key); !path.empty() && ::access(path.c_str(), R_OK) != 0)
      return fatal(fmt::format("webhook sink: {}: cannot read {}", key, path));
  auto headers = http::parse_headers(s.value("headers"));
  if (!headers) return headers.error();
  return std::unique_ptr<Sink>(std::make_unique<WebhookSink>(config, ctx, std::move(*headers)));
}

}  // namespace relay::http
