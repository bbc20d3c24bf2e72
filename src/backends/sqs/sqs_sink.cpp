// Amazon SQS sink: SendMessageBatch (JSON protocol, SigV4-signed by libcurl) of up to 10 messages
// and 1 MiB per request. A message is delivered only once SQS listed it as Successful. Requests run
// one at a time (the pipeline's order) or, with max_in_flight > 1, in parallel lanes keyed by the
// message key — by MessageGroupId on FIFO queues — so order holds per key / per group.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <random>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "http/curl_client.h"
#include "backends/sqs/sqs_common.h"
#include "backends/sqs/sqs_encode.h"

namespace relay::sqs {
namespace {

using namespace std::chrono;

constexpr int kRetries = 2;  // in-request retries of a throttled or failed request, then the core's backoff
const char* const kNotSent = "not sent: an earlier message of the batch was not delivered";

struct SinkSettings {
  sqs::Endpoint queue;
  int max_in_flight = 1;
  long timeout_ms = 30000;
};

class SqsSink final : public Sink {
 public:
  SqsSink(SinkSettings s, const BuildContext& ctx) : s_(std::move(s)), log_(ctx.log), client_(s_.max_in_flight) { client_.restrict_to(ctx.host_access); }

  // Checks the queue and the credentials once (GetQueueAttributes): a wrong setup stops the
  // pipeline with a clear error instead of retrying forever; an unreachable endpoint is retried.
  Status start() override {
    if (!healthy_) client_.reset();
    std::string body = sqs::get_queue_attributes_body(s_.queue, "[\"QueueArn\"]");
    http::Unit unit{0, sqs::request(s_.queue, "GetQueueAttributes", body, s_.timeout_ms)};
    http::ClientResponse answer;
    bool got = false;
    http::run_lanes(client_, std::span<http::Unit>(&unit, 1), [&](size_t, const http::ClientResponse& r, milliseconds&) {
      answer = r;
      got = true;
      return http::Verdict::next;
    }, Clock::now() + milliseconds(s_.timeout_ms));
    if (!got || !answer.answered()) {
      healthy_ = false;
      return retriable(fmt::format("SQS: cannot reach {}: {}", s_.queue.endpoint, got ? answer.error : "timed out"));
    }
    healthy_ = true;
    if (answer.status == 200) return {};
    return sqs::start_error(s_.queue, answer);
  }

  void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) override {
    for (auto& o : outcomes) o = {Outcome::retriable, kNotSent};
    plan(batch, outcomes);
    std::vector<size_t> split;  // units refused as a whole for a message's sake: sent again one by one
    run(batch, outcomes, deadline, &split);
    if (split.empty()) return;
    std::vector<size_t> singles;
    for (size_t u : split) singles.insert(singles.end(), unit_msgs_[u].begin(), unit_msgs_[u].end());
    std::sort(singles.begin(), singles.end());
    build_units(batch, {singles}, /*per_request=*/1);
    run(batch, outcomes, deadline, nullptr);
  }

  bool healthy() override { return healthy_; }
  void stop(Deadline) override { client_.abort_all(); }

 private:
  // Lanes (by key, or by group on FIFO queues), then requests of ≤10 messages and ≤1 MiB each. No
  // more lanes than the batch fills requests: a few messages go in one request, not one each.
  void plan(std::span<const Message> batch, std::span<Outcome> outcomes) {
    size_t lanes = std::clamp<size_t>((batch.size() + sqs::kMaxEntries - 1) / sqs::kMaxEntries, 1, static_cast<size_t>(s_.max_in_flight));
    std::vector<std::vector<size_t>> by_lane(lanes);
    for (size_t i = 0; i < batch.size(); ++i) {
      const Message& m = batch[i];
      if (size_t size = sqs::message_size(m); size > sqs::kMaxMessageBytes) {
        outcomes[i] = {Outcome::rejected, fmt::format("SQS: the message is {} bytes with its attributes; SQS takes at most {}", size,
                                                      sqs::kMaxMessageBytes)};
        continue;
      }
      size_t lane = lanes > 1 ? std::hash<std::string>{}(s_.queue.fifo ? m.routes[0] : m.key) % lanes : 0;
      by_lane[lane].push_back(i);
    }
    build_units(batch, by_lane, sqs::kMaxEntries);
  }

  void build_units(std::span<const Message> batch, const std::vector<std::vector<size_t>>& by_lane, size_t per_request) {
    unit_msgs_.clear();
    std::vector<size_t> lane_of;
    for (size_t lane = 0; lane < by_lane.size(); ++lane) {
      const auto& idx = by_lane[lane];
      size_t k = 0;
      while (k < idx.size()) {
        std::vector<size_t> unit;
        size_t bytes = 0;
        while (k < idx.size() && unit.size() < per_request) {
          size_t size = sqs::message_size(batch[idx[k]]);
          if (!unit.empty() && bytes + size > sqs::kMaxRequestBytes) break;
          bytes += size;
          unit.push_back(idx[k++]);
        }
        unit_msgs_.push_back(std::move(unit));
        lane_of.push_back(lane);
      }
    }
    // Bodies first, then the requests that point into them (no reallocation after this).
    bodies_.assign(unit_msgs_.size(), std::string());
    std::vector<const Message*> ptrs;
    for (size_t u = 0; u < unit_msgs_.size(); ++u) {
      ptrs.clear();
      for (size_t i : unit_msgs_[u]) ptrs.push_back(&batch[i]);
      sqs::encode_batch(s_.queue.queue_url, s_.queue.fifo, ptrs, bodies_[u]);
    }
    units_.clear();
    for (size_t u = 0; u < unit_msgs_.size(); ++u) units_.push_back({lane_of[u], sqs::request(s_.queue, "SendMessageBatch", bodies_[u], s_.timeout_ms)});
  }

  void run(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline, std::vector<size_t>* split) {
    (void)batch;
    attempts_.assign(units_.size(), 0);
    http::run_lanes(client_, units_, [&](size_t u, const http::ClientResponse& r, milliseconds& retry_in) {
      return judge(u, r, outcomes, split, retry_in);
    }, deadline);
  }

  http::Verdict judge(size_t u, const http::ClientResponse& r, std::span<Outcome> outcomes, std::vector<size_t>* split, milliseconds& retry_in) {
    const auto& msgs = unit_msgs_[u];
    int attempt = ++attempts_[u];
    auto set_all = [&](Outcome::Kind k, const std::string& e) {
      for (size_t i : msgs) outcomes[i] = {k, e};
    };
    auto again = [&](const std::string& error) {
      set_all(Outcome::retriable, error);
      if (attempt > kRetries) return http::Verdict::stop;
      std::int64_t cap = 100LL << (attempt - 1);
      retry_in = milliseconds(std::uniform_int_distribution<std::int64_t>(cap / 2, cap)(rng_));
      if (!r.retry_after.empty())
        if (auto ms = http::retry_after_ms(r.retry_after, duration_cast<seconds>(system_clock::now().time_since_epoch()).count()); ms >= 0 && ms < 60000) retry_in = milliseconds(ms);
      return http::Verdict::retry;
    };
    if (!r.answered()) {
      // No answer (refused, reset, timed out): the core's backoff retries it, so /health shows an
      // endpoint that stopped answering after one timeout_ms rather than three.
      healthy_ = false;
      set_all(Outcome::retriable, fmt::format("SQS: {}: {}", s_.queue.endpoint, r.error));
      return http::Verdict::stop;
    }
    healthy_ = true;
    if (r.status != 200) {
      std::string code = sqs::error_code(r.body);
      std::string error = fmt::format("SQS: HTTP {} {}: {}", r.status, code, sqs::error_message(r.body));
      switch (sqs::classify_request_error(r.status, code)) {
        case sqs::Fault::transient:
          return again(error);
        case sqs::Fault::setup:
          set_all(Outcome::retriable, error);
          return http::Verdict::stop;
        case sqs::Fault::message:
          if (msgs.size() == 1) {
            set_all(Outcome::rejected, error);
            return http::Verdict::next;
          }
          set_all(Outcome::retriable, error);
          if (split) split->push_back(u);
          return http::Verdict::stop;
      }
    }
    auto entries = sqs::parse_batch_answer(r.body, msgs.size());
    if (!entries) return again(entries.error().message);
    bool any_retriable = false;
    for (size_t e = 0; e < msgs.size(); ++e) {
      Outcome& o = outcomes[msgs[e]];
      const auto& res = (*entries)[e];
      if (!res) {
        o = {Outcome::retriable, "SQS: the answer does not mention this message"};
        any_retriable = true;
      } else if (res->ok) {
        o = {Outcome::delivered, {}};
      } else {
        std::string error = fmt::format("SQS: {}: {}", res->code, res->message);
        bool permanent = sqs::classify_entry_error(res->code, res->sender_fault) == sqs::Fault::message;
        o = {permanent ? Outcome::rejected : Outcome::retriable, error};
        any_retriable |= !permanent;
      }
    }
    // The core sends again from the first retriable message on, so this lane stops here.
    return any_retriable ? http::Verdict::stop : http::Verdict::next;
  }

  SinkSettings s_;
  const log::Logger* log_;
  http::Client client_;
  bool healthy_ = true;
  std::vector<std::vector<size_t>> unit_msgs_;
  std::vector<std::string> bodies_;
  std::vector<http::Unit> units_;
  std::vector<int> attempts_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection c = config.sink_section();
  SinkSettings s;
  auto queue = sqs::read_endpoint(c, "sqs sink", ctx.host_access == nullptr);
  if (!queue) return queue.error();
  s.queue = std::move(*queue);
  s.max_in_flight = c.integer("max_in_flight");  // ranges: the spec
  s.timeout_ms = c.integer("timeout_ms");
  return std::unique_ptr<Sink>(std::make_unique<SqsSink>(std::move(s), ctx));
}

}  // namespace relay::sqs
