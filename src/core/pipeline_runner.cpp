#include "core/pipeline_runner.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>

#include <nlohmann/json.hpp>

#include "config/destinations.h"
#include "core/backoff.h"
#include "core/build_context.h"
#include "core/dead_letters.h"
#include "core/executor.h"
#include "core/registry.h"
#include "relay/config_spec.h"
#include "util/crash_point.h"
#include "util/digest.h"
#include "util/strings.h"

namespace relay {

namespace {

enum class Flow { ok, restart, failed, stopped, handed_over };

}  // namespace

class PipelineRunner::Impl {
 public:
  Impl(const PipelineConfig& config, const RelayContext& relay)
      : config_(config),
        relay_(relay),
        group_(config.owning_group(relay.relay_group_id)),
        log_(log::Logger::for_pipeline(config.name)),
        metrics_(relay.metrics->pipeline(config.name)) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    nudge_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  ~Impl() {
    for (int fd : {wake_fd_, nudge_fd_})
      if (fd >= 0) ::close(fd);
  }

  // Ends a wait before reconnecting early: the database is back, no need to sit out the backoff.
  void nudge() { wake(nudge_fd_); }

  void hand_over() {
    hand_over_ = true;
    wake(wake_fd_);
  }

  // Someone asked for dead letters of this pipeline to be sent again.
  void replay() {
    replay_requested_ = true;
    wake(wake_fd_);
  }

  void request_stop(bool retry_failed) {
    if (!retry_failed) retry_while_stopping_ = false;
    if (!stop_.exchange(true)) drain_deadline_ = Clock::now() + relay_.drain_timeout;
    wake(wake_fd_);
  }

  Task<void> run() {
    set_state("starting", "");
    Backoff backoff(std::chrono::milliseconds(config_.retry_initial_ms), std::chrono::milliseconds(config_.retry_max_ms));
    while (!stop_) {
      relay_.ownership->advertise(group_, config_.name);
      Flow f = co_await run_once(backoff);
      co_await release();
      if (f == Flow::stopped || stop_) break;
      if (f == Flow::handed_over) {
        // Leave the pipeline to a relay with fewer pipelines; stand by again after a while.
        set_state("standby", "");
        co_await sleep_for(3 * relay_.standby_retry);
        continue;
      }
      if (f == Flow::failed) {
        // The environment may be fixed meanwhile (an outbox enabled, a privilege granted): look again
        // later; a config change replaces this runner at once. Meanwhile no pipeline is handed to
        // this relay on the belief that it can run it.
        relay_.ownership->withdraw(config_.name);
        co_await sleep_for(std::chrono::seconds(10));
        continue;
      }
      if (f == Flow::restart) {
        metrics_->reconnects.inc();
        co_await sleep_for(backoff.next(), /*ignore_stop_until_drain=*/false, /*nudgeable=*/true);
      }
    }
    relay_.ownership->withdraw(config_.name);
    set_state("stopped", "");
    metrics_->owned.set(0);
    metrics_->lag_rows.set(0);  // a stopped pipeline's backlog is no longer this relay's to report
    metrics_->lag_seconds.set(0);
  }

 private:
  // ---- lifecycle -------------------------------------------------------------------------------

  void wake(int fd) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    relay_.executor->signalled(fd);
  }

  Task<Flow> run_once(Backoff& backoff) {
    // Ownership: one relay runs the pipeline; the others stand by and retry. A free pipeline goes
    // to the relay able to run it that owns the fewest; the others take it only if it stays free.
    bool announced_standby = false;
    int passed = 0;
    hand_over_ = false;
    while (!stop_) {
      if (relay_.ownership->first_in_line(config_.name) || ++passed % 5 == 0) {
        if (auto fence = relay_.ownership->try_take(group_, config_.name)) {
          fence_ = std::move(*fence);
          break;
        }
      }
      if (!announced_standby) {
        log_.info("Another relay owns this pipeline; standing by.", {{"relay_group_id", group_}});
        announced_standby = true;
      }
      set_state("standby", relay_.ownership->held_by_stranger(config_.name));
      co_await sleep_for(relay_.standby_retry);
    }
    if (stop_) co_return Flow::stopped;
    // The pipeline's own statements (positions, status, dead letters) borrow the relay's pooled
    // connections: it holds none of its own, and a standby nothing at all.
    db_.emplace(*relay_.pool);
    owner_since_ = std::time(nullptr);
    metrics_->owned.set(1);
    log_.info("Took ownership of the pipeline.", {{"relay_group_id", group_},
                                                  {"source", config_.source_type}, {"sink", config_.sink_type}});
    // A failed pipeline looking again stays failed until it runs: /health does not flap.
    if (state_ != "failed") set_state("running", "");
    // Dead letters asked to be sent again while no relay of this group ran it are sent now.
    replay_requested_ = true;

    if (auto s = build(); !s) co_return s.error().kind == ErrorKind::fatal ? fail(s.error()) : retry_later(s.error());
    next_status_ = Clock::now();
    if (config_.exactly_once) {
      // The sink first: its transactions settled, the position it committed last tells the source
      // where to carry on from.
      if (Flow f = co_await start_sink(backoff); f != Flow::ok) co_return f;
      source_->resume_after(sink_->committed_position());
    }
    if (auto s = source_->start(); !s) co_return s.error().kind == ErrorKind::fatal ? fail(s.error()) : retry_later(s.error());
    source_started_ = true;
    if (!config_.exactly_once) {
      if (Flow f = co_await start_sink(backoff); f != Flow::ok) co_return f;
    }
    backoff.reset();
    settle_state();
    co_return co_await loop(backoff);
  }

  // The sink may be down for a while: keep ownership and retry it, reporting the backlog that
  // builds up meanwhile.
  Task<Flow> start_sink(Backoff& backoff) {
    while (true) {
      auto s = sink_->start();
      if (s) break;
      if (s.error().kind == ErrorKind::fatal) co_return fail(s.error());
      metrics_->errors_retriable.inc();
      set_state("retrying", s.error().message);
      if (backoff.attempts() == 0 || backoff.attempts() % 10 == 0)
        log_.warn("The sink is not reachable; retrying.", {{"error", s.error().message}});
      if (Flow f = status_due(); f != Flow::ok) co_return f;
      co_await sleep_for(std::min<std::chrono::milliseconds>(backoff.next(), relay_.status_interval));
      if (stop_) co_return Flow::stopped;
      if (handing_over()) co_return Flow::handed_over;
    }
    // A sink that fences the pipeline's earlier writers (a transactional producer) did so only now:
    // this relay must still own the pipeline, or it just fenced the relay that does.
    if (config_.exactly_once) co_return confirm_ownership();
    co_return Flow::ok;
  }

  Status build() {
    BuildContext ctx;
    ctx.relay_group_id = group_;
    ctx.worker_id = relay_.worker_id;
    ctx.postgres_url = relay_.postgres_url;
    ctx.db = &*db_;
    ctx.pool = relay_.pool;
    ctx.backfills = relay_.backfills;
    ctx.shared = relay_.shared;
    ctx.executor = relay_.executor;
    ctx.fence_epoch = fence_->epoch;
    ctx.wake_fd = wake_fd_;
    ctx.metrics = metrics_;
    ctx.log = &log_;
    ctx.state_dir = relay_.state_dir;
    if (config_.origin == "sql") ctx.host_access = &relay_.sql_host_access;
    const auto* sink_entry = find_backend(relay_.backends, Role::sink, config_.sink_type);
    const auto* source_entry = find_backend(relay_.backends, Role::source, config_.source_type);
    if (!sink_entry || !sink_entry->make_sink)
      return fatal(fmt::format("sink type \"{}\" is not available in this build (see pgtrickle-relay --version)", config_.sink_type));
    if (!source_entry || !source_entry->make_source)
      return fatal(fmt::format("source type \"{}\" is not available in this build (see pgtrickle-relay --version)", config_.source_type));
    auto resolved = resolve_secrets(config_.canonical, ctx.host_access);
    if (!resolved) return resolved.error();
    resolved_ = config_;
    resolved_.canonical = std::move(*resolved);
    // A pipeline defined in SQL reaches only the destinations the operator allows.
    if (ctx.host_access) {
      if (auto s = check_section_destinations(*ctx.host_access, *source_entry->spec, resolved_.source(), "source"); !s) return s.error();
      if (auto s = check_section_destinations(*ctx.host_access, *sink_entry->spec, resolved_.sink(), "sink"); !s) return s.error();
    }
    routes_.clear();
    for (const auto& k : sink_entry->spec->keys) {
      if (!k.template_) continue;
      // An absent optional template keeps its slot so Message::routes[i] always means the same key.
      if (!resolved_.sink().contains(k.key)) { routes_.push_back(nullptr); continue; }
      const auto& text = resolved_.sink()[std::string(k.key)].get_ref<const std::string&>();
      auto t = k.destination == Destination::url ? Template::compile_url(text) : Template::compile(text);
      if (!t) return t.error();
      routes_.push_back(std::make_unique<Template>(std::move(*t)));
    }
    for (const auto& t : routes_) ctx.sink_routes.push_back(t.get());
    auto src = source_entry->make_source(resolved_, ctx);
    if (!src) return src.error();
    source_ = std::move(*src);
    auto snk = sink_entry->make_sink(resolved_, ctx);
    if (!snk) return snk.error();
    sink_ = std::move(*snk);
    return {};
  }

  Task<void> release() {
    // Whoever lists the pipelines sees at once that this relay no longer runs it.
    relay_.status->forget(group_, config_.name);
    if (fence_ && db_) {
      auto r = db_->exec("UPDATE pgtrickle.relay_pipeline_status SET owner = NULL, owner_since = NULL, state = 'stopped', "
                         "heartbeat_at = now() WHERE relay_group_id = $1 AND pipeline = $2 AND owner = $3",
                         {group_, config_.name, relay_.worker_id});
      if (!r) log_.debug("Could not record the pipeline status.", {{"error", r.error().message}});
    }
    if (sink_) sink_->stop(Clock::now() + std::chrono::seconds(5));
    if (source_) {
      // A source whose reader runs on the relay's workers is waited for without holding one.
      if (int stopped = source_->begin_stop(); stopped >= 0) co_await relay_.executor->readable(Clock::now() + std::chrono::hours(1), stopped);
      source_->stop();
    }
    sink_.reset();
    source_.reset();
    source_started_ = false;
    db_.reset();
    if (fence_) relay_.ownership->release(config_.name);
    fence_.reset();
    metrics_->owned.set(0);
  }

  // ---- the relay loop --------------------------------------------------------------------------

  // A batch published to a pipelining sink and not yet acknowledged by it.
  struct InFlight {
    Batch batch;
    std::vector<Outcome> outcomes;
    size_t bytes = 0;  // its messages' bodies and payloads
  };

  // Batches in flight are held twice (here, and by the target's client until acknowledged): beyond
  // this many bytes of them (big messages: Debezium's schemas, claim checks), the next batch waits.
  static constexpr size_t kMaxBytesInFlight = 8 << 20;

  bool room_in_flight(size_t depth) const {
    if (in_flight_.size() >= depth) return false;
    size_t bytes = 0;
    for (const auto& f : in_flight_) bytes += f.bytes;
    return in_flight_.empty() || bytes < kMaxBytesInFlight;
  }

  // poll → deliver → ack, batch after batch. With a sink that pipelines, the next batches are
  // published while the earlier ones wait for the target's acks (up to batches_in_flight()); acks
  // are still stored one batch at a time, in order.
  Task<Flow> loop(Backoff& backoff) {
    next_status_ = Clock::now();
    in_flight_.clear();
    // Exactly once commits one batch at a time: each transaction's position is where the one
    // before it left the pipeline.
    const size_t depth = config_.exactly_once ? 1 : std::max<size_t>(1, sink_->batches_in_flight());
    while (true) {
      if (stop_) co_return co_await finish_in_flight(backoff, Flow::stopped);
      if (handing_over()) co_return co_await finish_in_flight(backoff, Flow::handed_over);
      if (Flow f = status_due(); f != Flow::ok) co_return f;
      if (replay_requested_.exchange(false)) {
        std::uint64_t woken;
        [[maybe_unused]] auto r = ::read(wake_fd_, &woken, sizeof woken);
        if (Flow f = co_await finish_in_flight(backoff, Flow::ok); f != Flow::ok) co_return f;
        if (Flow f = replay_dead_letters(); f != Flow::ok) co_return f;
      }
      // A source riding out an outage by itself keeps running, and /health says so meanwhile.
      if (SourceTrouble t = source_->trouble(); !t.degraded.empty()) {
        if (state_ != "retrying" || last_error_ != t.degraded) set_state("retrying", t.degraded);
      } else if (!t.at_risk.empty()) {
        if (state_ != "degraded" || last_error_ != t.at_risk) set_state("degraded", t.at_risk);
        at_risk_ = true;
      } else if (state_ == "retrying" || at_risk_) {
        at_risk_ = false;
        settle_state();
      }
      if (room_in_flight(depth)) {
        auto batch = source_->poll(Clock::now() + std::chrono::seconds(30));
        if (!batch) co_return source_error(batch.error());
        if (!batch->empty()) {
          metrics_->consumed.inc(batch->messages.size());
          if (depth > 1 && !has_poison(*batch)) {
            publish(std::move(*batch));
            continue;
          }
          // Sent on its own, after whatever is in flight.
          if (Flow f = co_await finish_in_flight(backoff, Flow::ok); f != Flow::ok) co_return f;
          if (config_.exactly_once) {
            if (Flow f = co_await deliver_transaction(*batch, backoff); f != Flow::ok) co_return f;
          } else if (Flow f = co_await deliver(*batch, backoff); f != Flow::ok) {
            co_return f;
          }
          if (Flow f = acknowledge(*batch); f != Flow::ok) co_return f;
          continue;
        }
        if (in_flight_.empty()) {
          co_await wait_for_source();
          continue;
        }
      }
      // Wait for the oldest batch's acks; while there is room for another batch, new rows end the
      // wait too (a source without a ready fd is looked at again every millisecond).
      const int ready = source_->ready_fd();
      const bool room = room_in_flight(depth);
      const int fds[2] = {wake_fd_, ready};
      Deadline until = room && ready < 0 ? Clock::now() + std::chrono::milliseconds(1) : std::min(next_status_, Clock::now() + std::chrono::seconds(1));
      if (!sink_->collect(in_flight_.front().outcomes, until, std::span<const int>(fds, room && ready >= 0 ? 2 : 1))) continue;
      if (Flow f = co_await settle_oldest(backoff); f != Flow::ok) co_return f;
    }
  }

  // Whether the supervisor asked to hand the pipeline over (the request is taken, and its wake-up
  // cleared so that waits block again).
  bool handing_over() {
    if (!hand_over_.exchange(false)) return false;
    std::uint64_t woken;
    [[maybe_unused]] auto r = ::read(wake_fd_, &woken, sizeof woken);
    log_.info("Handing the pipeline over to a relay that owns fewer pipelines.");
    return true;
  }

  static bool has_poison(const Batch& batch) {
    return std::any_of(batch.messages.begin(), batch.messages.end(), [](const Message& m) { return !m.poison.empty(); });
  }

  void publish(Batch batch) {
    InFlight& f = in_flight_.emplace_back();
    f.batch = std::move(batch);
    f.outcomes.assign(f.batch.messages.size(), Outcome{});
    for (const auto& m : f.batch.messages) f.bytes += m.body.size() + m.data.size();
    sink_->publish(f.batch.messages);
  }

  // The oldest batch in flight has all its outcomes: account for them and store its position. A
  // retriable failure sends it again from there, and every batch published after it again too.
  Task<Flow> settle_oldest(Backoff& backoff) {
    InFlight& f = in_flight_.front();
    const auto& msgs = f.batch.messages;
    std::vector<bool> done(msgs.size(), false);
    std::string retry_error;
    size_t first_retry = msgs.size();
    if (Flow r = account(msgs, f.outcomes, 0, done, first_retry, retry_error); r != Flow::ok) co_return r;
    if (first_retry < msgs.size()) {
      sink_->forget();
      backoff.reset();
      if (Flow r = co_await retry_wait(retry_error, msgs.size() - first_retry, backoff); r != Flow::ok) co_return r;
      for (size_t i = first_retry; i < msgs.size(); ++i) done[i] = f.outcomes[i].kind == Outcome::rejected;
      if (Flow r = co_await deliver_rest(msgs, f.outcomes, done, backoff); r != Flow::ok) co_return r;
      if (Flow r = acknowledge(f.batch); r != Flow::ok) co_return r;
      in_flight_.pop_front();
      // The batches published after it are sent again one by one, then pipelining resumes.
      while (!in_flight_.empty()) {
        if (Flow r = co_await deliver(in_flight_.front().batch, backoff); r != Flow::ok) co_return r;
        if (Flow r = acknowledge(in_flight_.front().batch); r != Flow::ok) co_return r;
        in_flight_.pop_front();
      }
      co_return Flow::ok;
    }
    if (Flow r = acknowledge(f.batch); r != Flow::ok) co_return r;
    in_flight_.pop_front();
    co_return Flow::ok;
  }

  // Before stopping or sending a batch on its own: wait for the batches in flight and store their
  // positions. Returns `then` once none is left.
  Task<Flow> finish_in_flight(Backoff& backoff, Flow then) {
    while (!in_flight_.empty()) {
      Deadline until = stop_ ? drain_deadline_ : Clock::now() + std::chrono::seconds(1);
      if (!sink_->collect(in_flight_.front().outcomes, until, {})) {
        if (stop_ && Clock::now() >= drain_deadline_) {
          size_t left = 0;
          for (const auto& f : in_flight_) left += f.batch.messages.size();
          log_.warn("Stopping with messages not confirmed by the target; they will be sent again by the next owner.",
                    {{"messages", std::to_string(left)}});
          co_return Flow::stopped;
        }
        continue;
      }
      if (Flow f = co_await settle_oldest(backoff); f != Flow::ok) co_return f;
    }
    co_return then;
  }

  // The target has the batch (or its dead letters have it): store the position past it.
  Flow acknowledge(const Batch& batch) {
    crash_point("after_delivery");
    const bool fenced = source_->ack_is_fenced();
    if (!fenced) {
      if (Flow f = confirm_ownership(); f != Flow::ok) return f;
    }
    if (auto s = source_->ack(batch); !s) {
      // A fenced ack that failed may have failed on the fence: say so as a lost ownership.
      if (fenced) {
        if (Flow f = confirm_ownership(); f != Flow::ok) return f;
      }
      return source_error(s.error());
    }
    if (state_ != "running") settle_state();
    return Flow::ok;
  }

  // Sends one batch and waits for its outcomes (stop-and-wait), retrying until every message is
  // delivered or dead-lettered.
  Task<Flow> deliver(const Batch& batch, Backoff& backoff) {
    const auto& msgs = batch.messages;
    outcomes_.assign(msgs.size(), Outcome{});
    std::vector<bool> done(msgs.size(), false);
    if (Flow f = set_aside_poison(msgs, done); f != Flow::ok) co_return f;
    backoff.reset();
    co_return co_await deliver_rest(msgs, outcomes_, done, backoff);
  }

  // Messages that can never be delivered go straight to the dead letters (and are done).
  Flow set_aside_poison(const std::vector<Message>& msgs, std::vector<bool>& done) {
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (msgs[i].poison.empty()) continue;
      if (Flow f = dead_letter(msgs[i], msgs[i].poison); f != Flow::ok) return f;
      done[i] = true;
    }
    return Flow::ok;
  }

  // Exactly once: the batch and its position record in one transaction of the sink, again until it
  // commits. Messages set aside go to the dead letters before the transaction that leaves them out
  // commits, so that none is lost if the relay stops in between.
  Task<Flow> deliver_transaction(const Batch& batch, Backoff& backoff) {
    const auto& msgs = batch.messages;
    outcomes_.assign(msgs.size(), Outcome{});
    std::vector<bool> done(msgs.size(), false);
    if (Flow f = set_aside_poison(msgs, done); f != Flow::ok) co_return f;
    const std::string record = source_->position_record(batch);
    backoff.reset();
    while (true) {
      // A transaction whose outcome was not known when the sink's producer was replaced: the
      // position the new producer read says whether it committed.
      if (sink_->committed_position() == record) {
        for (size_t i = 0; i < msgs.size(); ++i)
          if (!done[i]) outcomes_[i] = {Outcome::delivered, {}};
      } else {
        sink_->send_transaction(msgs, done, record, outcomes_, Clock::now() + std::chrono::seconds(30));
      }
      bool set_aside = false;  // this round
      for (size_t i = 0; i < msgs.size(); ++i) set_aside = set_aside || (!done[i] && outcomes_[i].kind == Outcome::rejected);
      size_t first_retry = msgs.size();
      std::string retry_error;
      if (Flow f = account(msgs, outcomes_, 0, done, first_retry, retry_error); f != Flow::ok) co_return f;
      if (first_retry == msgs.size()) co_return Flow::ok;
      for (size_t i = 0; i < msgs.size(); ++i)
        if (!done[i]) outcomes_[i] = Outcome{};
      // Only messages set aside kept it from committing: the rest go again at once.
      if (set_aside) continue;
      if (Flow f = co_await retry_wait(retry_error, msgs.size() - first_retry, backoff); f != Flow::ok) co_return f;
    }
  }

  // Sends the messages not done yet, in order, until all are.
  Task<Flow> deliver_rest(const std::vector<Message>& msgs, std::vector<Outcome>& outcomes, std::vector<bool>& done, Backoff& backoff) {
    size_t from = 0;
    while (true) {
      while (from < msgs.size() && done[from]) ++from;
      if (from >= msgs.size()) co_return Flow::ok;
      // Send the longest run of not-yet-done messages from `from`.
      size_t to = from;
      while (to < msgs.size() && !done[to]) ++to;
      std::span<const Message> part(msgs.data() + from, to - from);
      std::span<Outcome> outs(outcomes.data() + from, to - from);
      for (auto& o : outs) o = Outcome{};
      sink_->send(part, outs, Clock::now() + std::chrono::seconds(30));
      size_t first_retry = to;
      std::string retry_error;
      if (Flow f = account(msgs, outcomes, from, done, first_retry, retry_error, to); f != Flow::ok) co_return f;
      if (first_retry == to) continue;
      if (Flow f = co_await retry_wait(retry_error, msgs.size() - first_retry, backoff); f != Flow::ok) co_return f;
      // Retry from the first failure on, in order: messages after it that did arrive are sent again
      // (a duplicate, never a reordering); dead-lettered ones stay set aside.
      for (size_t i = first_retry; i < to; ++i) done[i] = outcomes[i].kind == Outcome::rejected;
      from = first_retry;
    }
  }

  // Reads the outcomes of msgs[from, to): delivered ones are counted, rejected ones dead-lettered
  // (both marked done); `first_retry` is the first retriable one (unchanged when none).
  Flow account(const std::vector<Message>& msgs, const std::vector<Outcome>& outcomes, size_t from, std::vector<bool>& done,
               size_t& first_retry, std::string& retry_error, size_t to = SIZE_MAX) {
    to = std::min(to, msgs.size());
    const double now = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::system_clock::now().time_since_epoch()).count()) / 1e6;
    for (size_t i = from; i < to; ++i) {
      if (done[i]) continue;  // dead-lettered before it was sent
      const auto& o = outcomes[i];
      if (o.kind == Outcome::delivered) {
        done[i] = true;
        metrics_->delivered.inc();
        if (msgs[i].committed_at > 0) metrics_->delivery_seconds.observe(std::max(0.0, now - msgs[i].committed_at));
      } else if (o.kind == Outcome::rejected) {
        metrics_->errors_rejected.inc();
        if (Flow f = dead_letter(msgs[i], o.error); f != Flow::ok) return f;
        done[i] = true;
      } else if (o.kind == Outcome::halted) {
        return fail(fatal(fmt::format("message {} cannot be delivered until this is resolved: {}", msgs[i].dedup_key, o.error)));
      } else if (first_retry == to) {
        first_retry = i;
        retry_error = o.error;
      }
    }
    return Flow::ok;
  }

  // After a retriable failure: say so, then wait out the backoff (a stop past the drain deadline
  // leaves the rest to the next owner).
  Task<Flow> retry_wait(const std::string& error, size_t undelivered, Backoff& backoff) {
    metrics_->errors_retriable.inc();
    set_state("retrying", error);
    if (backoff.attempts() == 0 || backoff.attempts() % 10 == 0)
      log_.warn("Delivery failed; retrying.", {{"error", error}, {"attempt", std::to_string(backoff.attempts() + 1)}});
    if (stop_ && (Clock::now() >= drain_deadline_ || !retry_while_stopping_)) {
      log_.warn("Stopping with a batch not delivered; it will be sent again by the next owner.", {{"messages", std::to_string(undelivered)}});
      co_return Flow::stopped;
    }
    // The backoff is sat out a status interval at a time: a long outage still refreshes lag and
    // status, and still notices a lost lease. A wait ended early (a stop, a hand-over) ends it.
    const Deadline until = Clock::now() + backoff.next();
    while (true) {
      const Deadline slice = std::min<Deadline>(until, Clock::now() + relay_.status_interval);
      co_await sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(slice - Clock::now()), /*ignore_stop_until_drain=*/true);
      if (Flow f = status_due(); f != Flow::ok) co_return f;
      if (Clock::now() < slice || Clock::now() >= until || stop_) break;
    }
    if (!sink_->healthy()) {
      auto s = sink_->start();
      if (!s && s.error().kind == ErrorKind::fatal) co_return fail(s.error());
      // A new transactional producer fenced whoever wrote before it: that must still be this relay.
      if (s && config_.exactly_once) co_return confirm_ownership();
    }
    co_return Flow::ok;
  }

  Flow dead_letter(const Message& m, const std::string& error) {
    if (!config_.dead_letter) return fail(fatal(fmt::format("message {} cannot be delivered and dead_letter is off: {}", m.dedup_key, error)));
    bool json_ok = !m.data.empty() && util::valid_utf8(m.data) && nlohmann::json::accept(m.data);
    // A payload PostgreSQL cannot hold as text (binary, NUL bytes) is kept base64-encoded.
    std::string raw = json_ok ? m.data : dead_letters::as_text(m.data);
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [k, v] : m.headers) headers[dead_letters::as_text(k)] = dead_letters::as_text(v);
    headers["op"] = to_string(m.op);
    // The message as the sink got it too, to send again on request (a poison message never reached
    // the sink as it is: it is kept for reading only).
    const bool replayable = m.poison.empty();
    pg::Params params{group_, config_.name, std::string(to_string(config_.direction)),
                      dead_letters::as_text(m.dedup_key), dead_letters::as_text(util::redact_url(error)),  // read by pipeline admins, as the status table is
                      json_ok ? std::optional<std::string>(m.data) : std::nullopt,
                      json_ok ? std::nullopt : std::optional<std::string>(raw), headers.dump(),
                      replayable ? std::optional<std::string>(dead_letters::replay_record(m)) : std::nullopt,
                      replayable ? std::optional<std::string>(util::base64_encode(m.body)) : std::nullopt};
    auto r = db_->exec(dead_letters::kInsertSql, params);
    if (!r && r.error().message.find("column \"replay\"") != std::string::npos) {
      // An install older than this relay: kept for reading, not to send again, until it is run again.
      log_.warn("The dead letter is kept without its message, which replay_dead_letters() needs: run `pgtrickle-relay install` again.");
      params.resize(8);
      r = db_->exec(dead_letters::kInsertBeforeReplaySql, params);
    }
    if (!r) return source_error(r.error());
    metrics_->dead_letters.inc();
    log_.error("A message was set aside in pgtrickle.relay_dead_letters.", {{"dedup_key", m.dedup_key}, {"error", error}});
    last_dead_letter_ = Clock::now();
    last_dead_letter_error_ = error;
    settle_state();
    return Flow::ok;
  }

  // Sends the dead letters asked for (pgtrickle.replay_dead_letters()) through the sink as they
  // were set aside, a batch at a time, while the pipeline's own rows wait: delivered ones are
  // deleted, refused ones keep the new reason and are no longer asked for; a target that cannot
  // take them now leaves them asked for, tried again a status interval later.
  Flow replay_dead_letters() {
    while (true) {
      auto r = db_->exec(dead_letters::kRequestedSql, {config_.name});
      if (!r) return source_error(r.error());
      if (r->rows() == 0) return Flow::ok;
      std::vector<Message> msgs;
      std::vector<std::string> ids;
      bool refused_any = false;
      auto refused = [&](const std::string& id, const std::string& why) -> Flow {
        refused_any = true;
        auto u = db_->exec(dead_letters::kReplayedSql, {config_.name, id, dead_letters::as_text(util::safe_excerpt(util::redact_url(why), 2000))});
        if (!u) return source_error(u.error());
        log_.warn("A dead letter sent again was refused again.", {{"dead_letter", id}, {"error", why}});
        return Flow::ok;
      };
      for (int i = 0; i < r->rows(); ++i) {
        auto body = util::base64_decode(r->text(i, 2));
        auto m = dead_letters::replayed_message(r->text(i, 1), body.value_or(std::string()));
        if (!body || !m) {
          if (Flow f = refused(r->str(i, 0), "it cannot be sent again: " + (m ? std::string("its body is not base64") : m.error().message)); f != Flow::ok) return f;
          continue;
        }
        msgs.push_back(std::move(*m));
        ids.push_back(r->str(i, 0));
      }
      std::vector<Outcome> outcomes(msgs.size());
      if (!msgs.empty()) {
        const Deadline deadline = Clock::now() + std::chrono::seconds(30);
        // Exactly once: in a transaction of their own, with the position the pipeline stands at.
        if (config_.exactly_once) sink_->send_transaction(msgs, std::vector<bool>(msgs.size(), false), sink_->committed_position(), outcomes, deadline);
        else sink_->send(msgs, outcomes, deadline);
      }
      size_t sent = 0;
      std::string retry_error;
      for (size_t i = 0; i < msgs.size(); ++i) {
        const Outcome& o = outcomes[i];
        if (o.kind == Outcome::delivered) {
          if (auto d = db_->exec(dead_letters::kReplayedSql, {config_.name, ids[i], std::nullopt}); !d) return source_error(d.error());
          metrics_->delivered.inc();
          ++sent;
        } else if (o.kind == Outcome::retriable) {
          if (retry_error.empty()) retry_error = o.error.empty() ? "the target did not confirm it" : o.error;
        } else if (Flow f = refused(ids[i], o.error); f != Flow::ok) {
          return f;
        }
      }
      if (sent > 0) log_.info("Dead letters were sent again.", {{"messages", std::to_string(sent)}});
      // Those refused are no longer asked for: the others go again at once (an exactly-once
      // transaction that one of them failed left them all undelivered).
      if (!retry_error.empty() && !refused_any) {
        log_.warn("Dead letters could not be sent again now; trying again later.", {{"error", retry_error}});
        replay_again_at_ = Clock::now() + relay_.status_interval;
        return Flow::ok;
      }
    }
  }

  // Every status_interval (and on a lease lost or an epoch taken meanwhile, which the relay's lease
  // session checks for all its pipelines at once): refresh lag and status.
  Flow status_due() {
    if (!relay_.ownership->holds(config_.name)) return ownership_lost();
    if (replay_again_at_ && Clock::now() >= *replay_again_at_) {
      replay_again_at_.reset();
      replay_requested_ = true;
    }
    if (Clock::now() < next_status_) return Flow::ok;
    next_status_ = Clock::now() + relay_.status_interval;
    if (state_ == "degraded") settle_state();
    report_status();
    return Flow::ok;
  }

  // The fence before an ack: a relay that stalled (kill -STOP, a long pause) may have lost the
  // pipeline to another relay meanwhile; then it must not acknowledge anything.
  Flow confirm_ownership() {
    auto r = db_->exec_cached(Fence::kCheckSql, fence_->params());
    if (!r) return source_error(r.error());
    if (r->boolean(0, 0)) return Flow::ok;
    return ownership_lost();
  }

  Flow ownership_lost() {
    metrics_->ownership_lost.inc();
    set_state("standby", "");
    log_.error("This relay no longer owns the pipeline (it stalled past the lease timeout or lost its database session); "
               "the batch in flight is left unacknowledged for whichever relay owns the pipeline next.",
               {{"relay_group_id", group_}});
    return Flow::restart;
  }

  // ---- state, status, errors -------------------------------------------------------------------

  void report_status() {
    SourceStatus now = source_ && source_started_ ? source_->status() : SourceStatus{};
    const std::int64_t rows = now.lag_rows;
    const double seconds = now.lag_seconds;
    const SlotStatus slot = now.slot.value_or(SlotStatus{});
    std::optional<BackfillStatus>& backfill = now.backfill;
    std::vector<TableStatus>& tables = now.tables;
    const std::string& kept = now.kept_past_retention;
    // The counter follows the backfill's acknowledged rows (a later backfill starts from 0 again).
    if (backfill) {
      std::int64_t counted = backfill->id == backfill_id_ ? backfill_rows_ : 0;
      if (backfill->rows_done_here > counted) metrics_->backfill_rows.inc(static_cast<std::uint64_t>(backfill->rows_done_here - counted));
      backfill_id_ = backfill->id;
      backfill_rows_ = backfill->rows_done_here;
    }
    if (backfill && backfill->finished) backfill.reset();  // counted; no longer under way
    metrics_->backfill_rows_estimated.set(backfill ? static_cast<double>(std::max<std::int64_t>(backfill->rows_estimated, 0)) : -1);
    if (rows >= 0) metrics_->lag_rows.set(static_cast<double>(rows));
    if (seconds >= 0) metrics_->lag_seconds.set(seconds);
    metrics_->slot_lag_bytes.set(static_cast<double>(slot.behind_bytes));
    metrics_->slot_retained_bytes.set(static_cast<double>(slot.retained_bytes));
    int status = -1;
    for (int i = 0; i < static_cast<int>(std::size(metrics::kSlotWalStatuses)); ++i)
      if (slot.wal_status == metrics::kSlotWalStatuses[i]) status = i;
    metrics_->slot_wal_status.store(status);
    if (slot.safe_wal_bytes) metrics_->slot_safe_wal_bytes.set(static_cast<double>(*slot.safe_wal_bytes));
    metrics_->slot_safe_wal_known.store(slot.safe_wal_bytes.has_value());
    const bool reads_slot = !slot.name.empty();
    metrics_->streamed_transactions.set(reads_slot ? static_cast<double>(slot.streamed.transactions) : -1);
    metrics_->streamed_memory_bytes.set(reads_slot ? static_cast<double>(slot.streamed.memory_bytes) : -1);
    metrics_->streamed_spilled_bytes.set(reads_slot ? static_cast<double>(slot.streamed.spilled_bytes) : -1);
    metrics_->streamed_oldest_seconds.set(reads_slot ? slot.streamed.oldest_seconds : -1);
    if (!tables.empty()) {
      std::vector<metrics::PipelineMetrics::Table> now;
      for (const auto& t : tables) now.push_back({t.table, t.changes, !t.problem.empty()});
      metrics_->set_tables(std::move(now));
    }
    relay_.health->modify(config_.name, [&](PipelineHealth& h) {
      h.lag = rows;
      h.lag_seconds = seconds;
      h.slot_lag_bytes = slot.behind_bytes;
      h.slot_retained_bytes = slot.retained_bytes;
      h.slot_name = slot.name;
      h.slot_wal_status = slot.wal_status;
      h.slot_safe_wal_bytes = slot.safe_wal_bytes;
      h.streamed = slot.name.empty() ? std::nullopt : std::optional<StreamedStatus>(slot.streamed);
      h.backfill_id = backfill ? backfill->id : 0;
      h.kept_past_retention = kept;
      h.tables = std::move(tables);
      if (backfill) {
        h.backfill_rows_done = backfill->rows_done;
        h.backfill_rows_sent = backfill->rows_sent;
        h.backfill_rows_estimated = backfill->rows_estimated;
        h.backfill_rows_per_second = backfill->rows_per_second;
      }
    });
    if (!db_) return;
    // Written with every other pipeline's, in the status writer's next round.
    relay_.status->put({group_, config_.name, relay_.worker_id, static_cast<long long>(owner_since_), state_,
                        rows >= 0 ? std::optional<long long>(rows) : std::nullopt,
                        seconds >= 0 ? std::optional<double>(seconds) : std::nullopt,
                        last_error_.empty() ? std::nullopt : std::optional<std::string>(last_error_),
                        std::string(config_.origin == "sql" ? "sql" : "file"), std::string(to_string(config_.direction)),
                        metrics_->delivered.value()});
  }

  // Running, or degraded while messages are being dead-lettered: a pipeline that sets aside every
  // message must not look healthy.
  void settle_state() {
    if (Clock::now() - last_dead_letter_ < kDeadLetterWindow)
      set_state("degraded", "dead-lettering messages (see pgtrickle.relay_dead_letters); last: " + last_dead_letter_error_);
    else
      set_state("running", "");
  }

  void set_state(const std::string& state, const std::string& raw_error) {
    // What /health and the status table show: one line, secrets redacted, bounded.
    std::string error = util::safe_excerpt(raw_error, 2000);
    state_ = state;
    if (!error.empty() || state == "running") last_error_ = error;
    relay_.health->modify(config_.name, [&](PipelineHealth& h) {
      h.direction = to_string(config_.direction);
      h.state = state;
      h.owned = state == "running" || state == "retrying" || state == "degraded";
      if (!error.empty() || state == "running") h.last_error = error;
    });
  }

  Flow retry_later(const Error& e) {
    metrics_->errors_retriable.inc();
    set_state("retrying", e.message);
    log_.warn("The pipeline will retry.", {{"error", e.message}});
    return Flow::restart;
  }

  Flow fail(const Error& e) {
    metrics_->errors_fatal.inc();
    // Said once: looking again every 10 s finds the same, and the log need not repeat it.
    const bool again = state_ == "failed" && last_error_ == util::safe_excerpt(e.message, 2000);
    set_state("failed", e.message);
    if (again) log_.debug("The pipeline still cannot run.", {{"error", e.message}});
    else log_.error("The pipeline cannot run; it will look again every 10 s.", {{"error", e.message}});
    return Flow::failed;
  }

  Flow source_error(const Error& e) { return e.kind == ErrorKind::fatal ? fail(e) : retry_later(e); }

  // Until the source may have a batch, the next status is due, or a wake-up. A source that says
  // when it has one (its ready fd) is waited for without holding a worker, and without looking
  // every poll interval: an idle pipeline wakes only for its status.
  Task<void> wait_for_source() {
    if (int ready = source_->ready_fd(); ready >= 0) co_await relay_.executor->readable(next_status_, ready, wake_fd_);
    else source_->wait(std::min(next_status_, Clock::now() + std::chrono::milliseconds(config_.poll_interval_ms)));
  }

  // Sleeps, waking early on stop (unless draining, when only the drain deadline ends the wait).
  Task<void> sleep_for(std::chrono::milliseconds d, bool ignore_stop_until_drain = false, bool nudgeable = false) {
    auto until = Clock::now() + d;
    std::uint64_t drained;
    [[maybe_unused]] auto stale = ::read(nudge_fd_, &drained, sizeof drained);  // nudges before this wait do not count
    while (Clock::now() < until) {
      if (stop_ && (!ignore_stop_until_drain || Clock::now() >= drain_deadline_)) co_return;
      Deadline wake = std::min(until, Clock::now() + std::chrono::seconds(1));
      if (ignore_stop_until_drain && stop_) wake = std::min(wake, drain_deadline_);
      int woken = co_await relay_.executor->readable(wake, wake_fd_, nudgeable ? nudge_fd_ : -1);
      if (woken == 1) co_return;
      if (woken == 0) {
        // A stop or a hand-over (the wake fd stays readable until the caller takes it): the caller
        // looks at once, but a drain sits out its backoff up to the drain deadline.
        if (!(ignore_stop_until_drain && stop_)) co_return;
        co_await relay_.executor->readable(std::min(until, drain_deadline_));
      }
    }
  }
  template <class Rep, class Period>
  Task<void> sleep_for(std::chrono::duration<Rep, Period> d) {
    return sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(d), false);
  }

  const PipelineConfig& config_;
  PipelineConfig resolved_;
  const RelayContext& relay_;
  const std::string group_;  // the relay group the pipeline is owned and stored under
  log::Logger log_;
  std::shared_ptr<metrics::PipelineMetrics> metrics_;
  std::optional<pg::PooledSession> db_;  // set while the relay owns the pipeline
  std::unique_ptr<Source> source_;
  std::unique_ptr<Sink> sink_;
  std::vector<std::unique_ptr<Template>> routes_;
  std::vector<Outcome> outcomes_;
  std::deque<InFlight> in_flight_;  // published to a pipelining sink, oldest first
  std::atomic<bool> replay_requested_{false};  // dead letters asked to be sent again (replay())
  std::optional<Deadline> replay_again_at_;    // after a retriable failure sending them
  std::atomic<bool> stop_{false};
  std::atomic<bool> hand_over_{false};
  std::optional<Fence> fence_;  // set while this relay owns the pipeline
  Clock::time_point next_status_{};
  Deadline drain_deadline_{};
  std::atomic<bool> retry_while_stopping_{true};  // a stop retries a failed delivery until the drain deadline
  int wake_fd_ = -1;
  int nudge_fd_ = -1;
  std::string state_, last_error_;
  bool source_started_ = false;  // its start() succeeded: status() may be asked
  bool at_risk_ = false;  // the state says the source is at risk (Source::at_risk)
  static constexpr std::chrono::seconds kDeadLetterWindow{60};
  Clock::time_point last_dead_letter_{};
  std::int64_t backfill_id_ = 0, backfill_rows_ = 0;  // the backfill last reported, and its rows counted in the metrics
  std::string last_dead_letter_error_;
  std::time_t owner_since_ = 0;
};

PipelineRunner::PipelineRunner(PipelineConfig config, const RelayContext& relay)
    : config_(std::move(config)), relay_(relay), impl_(std::make_unique<Impl>(config_, relay)) {}

PipelineRunner::~PipelineRunner() {
  request_stop();
  join();
}

void PipelineRunner::start() {
  started_ = true;
  relay_.executor->spawn(impl_->run(), [this] { ended_.signal(); });
}
void PipelineRunner::request_stop(bool retry_failed) { impl_->request_stop(retry_failed); }
void PipelineRunner::hand_over() { impl_->hand_over(); }
void PipelineRunner::nudge() { impl_->nudge(); }
void PipelineRunner::replay() { impl_->replay(); }
void PipelineRunner::join() {
  if (!started_) return;
  pollfd fd{ended_.fd(), POLLIN, 0};
  while (::poll(&fd, 1, -1) <= 0) {
  }
  started_ = false;
}

}  // namespace relay
