// Amazon SQS source. One I/O thread owns the libcurl multi handle: it keeps several ReceiveMessage
// long polls in flight, parses what comes back into a bounded buffer and records a visibility lease
// per message; it runs the DeleteMessageBatch requests of acknowledged batches, extends the
// visibility of messages held longer than half of it (a slow commit, an inbox retried for long),
// reads the queue depth for lag(), and on stop makes every message not deleted visible again.
// The pipeline thread only takes batches from the buffer (poll) and hands their receipt handles
// back (ack, after the inbox commit).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <unordered_map>

#include "config/pipeline_config.h"
#include "backends/registry.h"
#include "core/build_context.h"
#include "core/event_fd.h"
#include "http/curl_client.h"
#include "backends/sqs/sqs_common.h"
#include "backends/sqs/sqs_encode.h"
#include "backends/sqs/sqs_receive.h"

namespace relay::sqs {
namespace {

using namespace std::chrono;

constexpr int kDeleteTries = 3;             // tries of one DeleteMessageBatch
constexpr int kReceiveFailures = 3;         // consecutive failed receives before the pipeline reconnects
constexpr milliseconds kFillWait{5};        // how long poll() waits to fill a batch once messages came
constexpr milliseconds kSlice{10};          // the I/O thread looks at new work at least this often
constexpr milliseconds kDepthEvery{5000};   // how often the queue depth is read for lag()
constexpr milliseconds kStopBudget{1500};   // stop(): finishing deletes, then releasing the rest

struct SourceSettings {
  sqs::Endpoint queue;
  int wait_seconds = 20;
  int visibility = 0;  // 0: the queue's own (read at start)
  int max_messages = 10;
  int in_flight = 8;
  size_t batch_size = 1000;
};

// What ack() needs: the receipt handles of exactly this batch.
struct Token {
  std::vector<std::string> handles;
};

std::int64_t attribute_number(const std::string& body, const char* name, std::int64_t fallback) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("Attributes") || !j["Attributes"].is_object()) return fallback;
  const auto& a = j["Attributes"];
  if (!a.contains(name) || !a[name].is_string()) return fallback;
  return std::atoll(a[name].get<std::string>().c_str());
}

class SqsSource final : public Source {
 public:
  SqsSource(SourceSettings s, const BuildContext& ctx) : s_(std::move(s)), ctx_(ctx), client_(s_.in_flight + 16) {
    client_.restrict_to(ctx.host_access);
    want_ = s_.batch_size + static_cast<size_t>(s_.in_flight * s_.max_messages);
  }

  ~SqsSource() override { stop(); }

  // Checks the queue and the credentials (GetQueueAttributes) and reads its visibility timeout.
  Status start() override {
    if (!event_fd_.ok()) return retriable("sqs source: cannot create an eventfd");
    std::string body = sqs::get_queue_attributes_body(s_.queue, R"(["VisibilityTimeout","ApproximateNumberOfMessages"])");
    http::ClientResponse answer;
    if (!call(sqs::request(s_.queue, "GetQueueAttributes", body, 10000), answer))
      return retriable(fmt::format("SQS: cannot reach {}: {}", s_.queue.endpoint, answer.error.empty() ? "timed out" : answer.error));
    if (answer.status != 200) return sqs::start_error(s_.queue, answer);
    visibility_ = s_.visibility > 0 ? s_.visibility : static_cast<int>(attribute_number(answer.body, "VisibilityTimeout", 30));
    if (visibility_ <= 0) visibility_ = 30;
    lag_ = attribute_number(answer.body, "ApproximateNumberOfMessages", -1);
    sqs::encode_receive(s_.queue.queue_url, s_.max_messages, s_.wait_seconds, s_.visibility, receive_body_);
    sqs::encode_receive(s_.queue.queue_url, s_.max_messages, 0, s_.visibility, short_receive_body_);
    io_ = std::thread([this] { run(); });
    return {};
  }

  Result<Batch> poll(Deadline) override {
    Batch batch;
    std::unique_lock lock(mutex_);
    if (error_) return *error_;
    if (ready_.empty()) return batch;
    if (ready_.size() < s_.batch_size && receives_ > 0)
      ready_cv_.wait_for(lock, kFillWait, [&] { return ready_.size() >= s_.batch_size || error_; });
    size_t n = std::min(ready_.size(), s_.batch_size);
    auto token = std::make_shared<Token>();
    batch.messages.reserve(n);
    token->handles.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.messages.push_back(std::move(ready_.front().message));
      token->handles.push_back(std::move(ready_.front().receipt_handle));
      ready_.pop_front();
    }
    batch.token = std::move(token);
    lock.unlock();
    io_cv_.notify_one();  // room in the buffer: receive more
    return batch;
  }

  void wait(Deadline deadline) override {
    {
      std::lock_guard lock(mutex_);
      if (!ready_.empty() || error_) return;
    }
    event_fd_.wait(deadline, ctx_.wake_fd);
  }

  Status ack(const Batch& batch) override {
    auto* token = static_cast<Token*>(batch.token.get());
    if (!token || token->handles.empty()) return {};
    leases_.remove(token->handles);
    std::unique_lock lock(mutex_);
    deleting_ += token->handles.size();
    deletes_.push_back(std::move(token->handles));
    io_cv_.notify_one();
    // The deletes run while the next batches are received; only a long backlog of them waits here.
    room_cv_.wait(lock, [&] { return deleting_ <= 4 * s_.batch_size + 100 || error_ || io_done_; });
    if (error_) return *error_;
    return {};
  }

  SourceTrouble trouble() override {
    std::lock_guard lock(mutex_);
    return {.degraded = problem_};
  }

  SourceStatus status() override {
    SourceStatus s;
    lag(s.lag_rows, s.lag_seconds);
    return s;
  }

  void lag(std::int64_t& rows, double& seconds) {
    rows = lag_.load();
    seconds = -1;
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    io_cv_.notify_one();
    if (io_.joinable()) io_.join();
  }

 private:
  struct Job {
    enum Kind { receive, remove, extend, release, depth } kind = receive;
    bool long_poll = false;
    std::vector<std::string> handles;
    std::string body;
    int tries = 0;
    Clock::time_point sent;
  };

  // One request, run to its end (the start-up check, before the I/O thread runs).
  bool call(http::ClientRequest req, http::ClientResponse& out) {
    bool got = false;
    http::Unit unit{0, std::move(req)};
    http::run_lanes(client_, std::span<http::Unit>(&unit, 1), [&](size_t, const http::ClientResponse& r, milliseconds&) {
      out = r;
      got = true;
      return http::Verdict::next;
    }, Clock::now() + milliseconds(unit.request.timeout_ms));
    return got && out.answered();
  }

  // ---- the I/O thread ----------------------------------------------------------------------------

  void run() {
    auto tick = std::clamp(milliseconds(visibility_ * 1000 / 4), milliseconds(100), milliseconds(1000));
    auto next_tick = Clock::now() + tick;
    auto next_depth = Clock::now() + kDepthEvery;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      auto deletes = std::move(deletes_);
      deletes_.clear();
      size_t ready = ready_.size();
      bool failed = error_.has_value();
      lock.unlock();

      for (auto& handles : deletes)
        for (size_t i = 0; i < handles.size(); i += sqs::kMaxReceive) {
          Job job;
          job.kind = Job::remove;
          size_t n = std::min(sqs::kMaxReceive, handles.size() - i);
          job.handles.assign(std::make_move_iterator(handles.begin() + i), std::make_move_iterator(handles.begin() + i + n));
          sqs::encode_delete_batch(s_.queue.queue_url, job.handles, job.body);
          start(std::move(job), "DeleteMessageBatch", 10000);
        }
      if (!failed) top_up(ready);
      auto now = Clock::now();
      if (now >= next_tick) {
        next_tick = now + tick;
        extend(now);
        if (now >= next_depth) {
          next_depth = now + kDepthEvery;
          Job job;
          job.kind = Job::depth;
          job.body = sqs::get_queue_attributes_body(s_.queue, R"(["ApproximateNumberOfMessages"])");
          start(std::move(job), "GetQueueAttributes", 5000);
        }
      }
      if (jobs_.empty()) {
        // Nothing in flight: sleep until there is work (a batch taken, deletes, the next tick).
        lock.lock();
        auto until = pause_until_ > Clock::now() ? std::min(next_tick, pause_until_) : next_tick;
        io_cv_.wait_until(lock, until, [&] {
          return stopping_ || !deletes_.empty() || (!error_ && ready_.size() < want_ && Clock::now() >= pause_until_);
        });
        continue;
      }
      drive(kSlice);
      lock.lock();
    }
    lock.unlock();
    shutdown();
    lock.lock();
    io_done_ = true;
    room_cv_.notify_all();
  }

  // One long poll always (it waits for the queue to have something); short polls beside it while
  // the queue has a backlog (they answer at once). Only the long poll can be left waiting at the
  // server when the relay stops, so at most one receive's worth of messages can go to a request
  // nobody reads (they come back after their visibility timeout).
  void top_up(size_t ready) {
    if (Clock::now() < pause_until_) return;
    auto room = [&] { return ready + static_cast<size_t>(receives_count() * s_.max_messages) < want_; };
    if (!long_in_flight_ && room()) {
      Job job;
      job.kind = Job::receive;
      job.long_poll = true;
      job.sent = Clock::now();
      if (!start(std::move(job), "ReceiveMessage", (s_.wait_seconds + 10) * 1000L)) return;
      long_in_flight_ = true;
    }
    while (backlog_ && receives_count() < s_.in_flight && room()) {
      Job job;
      job.kind = Job::receive;
      job.sent = Clock::now();
      if (!start(std::move(job), "ReceiveMessage", 10000)) return;
    }
  }

  int receives_count() {
    std::lock_guard lock(mutex_);
    return receives_;
  }

  bool start(Job job, const char* action, long timeout_ms) {
    std::uint64_t tag = next_tag_++;
    ++job.tries;
    Job::Kind kind = job.kind;
    auto it = jobs_.emplace(tag, std::move(job)).first;
    // The body lives in the job (receives share one); it stays put while the request runs.
    std::string_view body = kind != Job::receive ? std::string_view(it->second.body)
                            : it->second.long_poll ? std::string_view(receive_body_) : std::string_view(short_receive_body_);
    if (auto st = client_.start(sqs::request(s_.queue, action, body, timeout_ms), tag); !st) {
      jobs_.erase(it);
      fail(st.error());
      return false;
    }
    if (kind == Job::receive) {
      std::lock_guard lock(mutex_);
      ++receives_;
    }
    return true;
  }

  void drive(milliseconds wait) {
    done_.clear();
    client_.poll(wait, done_);
    for (auto& [tag, r] : done_) {
      auto it = jobs_.find(tag);
      if (it == jobs_.end()) continue;
      Job job = std::move(it->second);
      jobs_.erase(it);
      switch (job.kind) {
        case Job::receive: on_receive(job, r); break;
        case Job::remove: on_delete(std::move(job), r); break;
        case Job::depth:
          if (r.answered() && r.status == 200) lag_ = attribute_number(r.body, "ApproximateNumberOfMessages", lag_.load());
          break;
        case Job::extend:
        case Job::release:
          if (!r.answered() || r.status != 200)
            ctx_.log->debug("A visibility change failed; those messages follow their visibility timeout.",
                            {{"error", r.answered() ? sqs::error_code(r.body) : r.error}});
          break;
      }
    }
  }

  void on_receive(const Job& job, const http::ClientResponse& r) {
    {
      std::lock_guard lock(mutex_);
      --receives_;
    }
    if (job.long_poll) long_in_flight_ = false;
    if (!r.answered() || r.status != 200) {
      std::string code = r.answered() ? sqs::error_code(r.body) : "";
      std::string text = r.answered() ? fmt::format("SQS: ReceiveMessage from {} failed: HTTP {} {} {}", s_.queue.queue_url, r.status,
                                                    code, sqs::error_message(r.body))
                                      : fmt::format("SQS: ReceiveMessage from {}: {}", s_.queue.endpoint, r.error);
      if (r.answered() && sqs::classify_request_error(r.status, code) == sqs::Fault::setup)
        return fail(fatal(text + " (check the queue, the credentials, region and the queue's permissions)"));
      {
        std::lock_guard lock(mutex_);
        problem_ = text;
      }
      if (++receive_failures_ >= kReceiveFailures) return fail(retriable(text));
      pause_until_ = Clock::now() + milliseconds(100 << receive_failures_);
      ctx_.log->debug("A receive failed; trying again.", {{"error", text}});
      return;
    }
    receive_failures_ = 0;
    {
      std::lock_guard lock(mutex_);
      problem_.clear();
    }
    auto msgs = sqs::parse_receive_answer(r.body, s_.queue.queue_name);
    if (!msgs) return fail(msgs.error());
    if (msgs->empty()) {
      backlog_ = false;  // drained: the long poll alone watches the queue
      // Short polling only (wait_time_seconds 0) on an empty queue: do not ask again at once.
      if (s_.wait_seconds == 0) pause_until_ = Clock::now() + milliseconds(200);
      return;
    }
    backlog_ = true;
    handles_.clear();
    for (auto& m : *msgs) handles_.push_back(m.receipt_handle);
    // The lease runs from when the receive was sent: SQS hid the messages at some point after.
    leases_.add(handles_, job.sent, seconds(visibility_));
    bool was_empty;
    {
      std::lock_guard lock(mutex_);
      was_empty = ready_.empty();
      for (auto& m : *msgs) ready_.push_back(std::move(m));
    }
    ready_cv_.notify_one();
    if (was_empty) event_fd_.signal();
  }

  void on_delete(Job job, const http::ClientResponse& r) {
    auto settle = [&] {
      std::lock_guard lock(mutex_);
      deleting_ -= std::min(deleting_, job.handles.size());
      room_cv_.notify_all();
    };
    if (r.answered() && r.status == 200) {
      settle();
      auto entries = sqs::parse_batch_answer(r.body, job.handles.size());
      size_t refused = 0;
      std::string why;
      if (entries)
        for (const auto& e : *entries)
          if (e && !e->ok) {
            ++refused;
            why = e->code;
          }
      // A refused handle (ReceiptHandleIsInvalid: the visibility timeout passed and the message was
      // received again): the message comes back and the inbox skips it as a duplicate.
      if (refused)
        ctx_.log->warn("SQS refused to delete committed messages; they will be delivered again and skipped as duplicates.",
                       {{"messages", std::to_string(refused)}, {"code", why}});
      return;
    }
    std::string code = r.answered() ? sqs::error_code(r.body) : "";
    std::string text = r.answered() ? fmt::format("SQS: DeleteMessageBatch failed: HTTP {} {} {}", r.status, code, sqs::error_message(r.body))
                                    : fmt::format("SQS: DeleteMessageBatch: {}", r.error);
    if (r.answered() && sqs::classify_request_error(r.status, code) == sqs::Fault::setup) {
      settle();
      return fail(fatal(text + " (the relay needs sqs:DeleteMessage on the queue)"));
    }
    if (job.tries < kDeleteTries) {
      start(std::move(job), "DeleteMessageBatch", 10000);
      return;
    }
    settle();
    ctx_.log->warn("Committed messages could not be deleted from SQS; they will be delivered again and skipped as duplicates.",
                   {{"messages", std::to_string(job.handles.size())}, {"error", text}});
  }

  // Messages held for half their visibility or more get another full visibility timeout.
  void extend(Clock::time_point now) {
    auto due = leases_.due(now, seconds(visibility_));
    for (size_t i = 0; i < due.size(); i += sqs::kMaxReceive) {
      Job job;
      job.kind = Job::extend;
      size_t n = std::min(sqs::kMaxReceive, due.size() - i);
      job.handles.assign(due.begin() + i, due.begin() + i + n);
      sqs::encode_visibility_batch(s_.queue.queue_url, job.handles, visibility_, job.body);
      start(std::move(job), "ChangeMessageVisibilityBatch", 5000);
    }
    if (!due.empty()) ctx_.log->debug("Extended the visibility of messages held long.", {{"messages", std::to_string(due.size())}});
  }

  void fail(Error e) {
    {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::move(e);
    }
    ready_cv_.notify_all();
    room_cv_.notify_all();
    event_fd_.signal();
  }

  // Deletes of committed batches first (so they are not delivered again), then every message not
  // deleted is made visible again at once instead of after its visibility timeout.
  void shutdown() {
    auto until = Clock::now() + kStopBudget;
    std::vector<std::vector<std::string>> deletes;
    {
      std::lock_guard lock(mutex_);
      deletes = std::move(deletes_);
      ready_.clear();  // still leased: released below
    }
    for (auto& handles : deletes)
      for (size_t i = 0; i < handles.size(); i += sqs::kMaxReceive) {
        Job job;
        job.kind = Job::remove;
        size_t n = std::min(sqs::kMaxReceive, handles.size() - i);
        job.handles.assign(handles.begin() + i, handles.begin() + i + n);
        sqs::encode_delete_batch(s_.queue.queue_url, job.handles, job.body);
        start(std::move(job), "DeleteMessageBatch", 1000);
      }
    auto deleting = [&] {
      return std::any_of(jobs_.begin(), jobs_.end(), [](const auto& j) { return j.second.kind == Job::remove; });
    };
    while (deleting() && Clock::now() < until - milliseconds(500)) drive(milliseconds(20));
    client_.abort_all();  // long polls too: they would hold the stop up to wait_time_seconds
    jobs_.clear();
    {
      std::lock_guard lock(mutex_);
      receives_ = 0;
    }
    long_in_flight_ = false;
    std::vector<std::string> rest = leases_.take_all();
    if (rest.empty()) return;
    std::vector<std::string> bodies;
    for (size_t i = 0; i < rest.size(); i += sqs::kMaxReceive) {
      bodies.emplace_back();
      size_t n = std::min(sqs::kMaxReceive, rest.size() - i);
      sqs::encode_visibility_batch(s_.queue.queue_url, std::span<const std::string>(rest.data() + i, n), 0, bodies.back());
    }
    std::vector<http::Unit> units;
    for (size_t i = 0; i < bodies.size(); ++i) units.push_back({i, sqs::request(s_.queue, "ChangeMessageVisibilityBatch", bodies[i], 1000)});
    size_t failed = 0;
    http::run_lanes(client_, units, [&](size_t, const http::ClientResponse& r, milliseconds&) {
      if (!r.answered() || r.status != 200) ++failed;
      return http::Verdict::next;
    }, until);
    ctx_.log->debug("Made the messages not committed visible again.",
                    {{"messages", std::to_string(rest.size())}, {"failed_requests", std::to_string(failed)}});
  }

  SourceSettings s_;
  BuildContext ctx_;
  http::Client client_;  // the I/O thread's (and start()'s, before that thread runs)
  std::string receive_body_, short_receive_body_;  // ReceiveMessage: the long poll, the short polls
  int visibility_ = 30;
  size_t want_ = 0;      // buffer size the receives aim for
  EventFd event_fd_;    // readable when the buffer went from empty to not empty (or on an error)
  std::thread io_;

  // Shared between the pipeline thread and the I/O thread.
  std::mutex mutex_;
  std::condition_variable io_cv_, ready_cv_, room_cv_;
  std::deque<sqs::Received> ready_;
  std::vector<std::vector<std::string>> deletes_;  // handles of acknowledged batches, not yet sent
  size_t deleting_ = 0;  // handles acknowledged and not yet deleted
  int receives_ = 0;     // ReceiveMessage requests in flight
  std::optional<Error> error_;
  bool stopping_ = false, io_done_ = false;
  sqs::Leases leases_;
  std::atomic<std::int64_t> lag_{-1};

  // The I/O thread's own.
  std::unordered_map<std::uint64_t, Job> jobs_;
  std::uint64_t next_tag_ = 1;
  int receive_failures_ = 0;
  std::string problem_;  // the last failed receive, until one succeeds (trouble(); under mutex_)
  bool long_in_flight_ = false;
  bool backlog_ = false;  // the last receive brought messages: short polls run beside the long poll
  Clock::time_point pause_until_{};
  std::vector<std::string> handles_;
  std::vector<std::pair<std::uint64_t, http::ClientResponse>> done_;
};

}  // namespace

Result<std::unique_ptr<Source>> make_source(const PipelineConfig& config, const BuildContext& ctx) {
  const ConfigSection c = config.source_section();
  SourceSettings s;
  auto queue = sqs::read_endpoint(c, "sqs source", ctx.host_access == nullptr);
  if (!queue) return queue.error();
  s.queue = std::move(*queue);
  // Ranges: the spec.
  s.wait_seconds = c.integer("wait_time_seconds");
  s.visibility = c.integer("visibility_timeout");
  s.max_messages = c.integer("max_messages");
  s.in_flight = c.integer("max_in_flight");
  s.batch_size = static_cast<size_t>(std::max(1, config.batch_size));
  return std::unique_ptr<Source>(std::make_unique<SqsSource>(std::move(s), ctx));
}

}  // namespace relay::sqs
