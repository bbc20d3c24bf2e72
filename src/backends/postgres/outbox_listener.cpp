#include "backends/postgres/outbox_listener.h"

#include "core/executor.h"

#include <poll.h>

#include <algorithm>
#include <set>

#include "backends/postgres/commit_numbering.h"
#include "util/json_escape.h"
#include "util/thread_name.h"

namespace relay::postgres {
namespace {

constexpr auto kRoundEvery = std::chrono::seconds(1);  // the numbering round for waiting readers
constexpr auto kRetryEvery = std::chrono::seconds(1);  // opening the session again

}  // namespace

OutboxListener::OutboxListener(std::string postgres_url, std::string application_name, CommitNumbering* numbering,
                               Executor* executor)
    : url_(std::move(postgres_url)), app_(std::move(application_name)), numbering_(numbering), executor_(executor) {
  // A round of this relay's wakes this relay's other readers of the outboxes it numbered: the
  // round's notification is ignored here, lest it wake the reader that asked for it.
  if (numbering_)
    numbering_->on_numbered([this](const std::string& outbox, const std::set<CommitNumbering::Asker>& askers) {
      std::lock_guard lock(mu_);
      auto it = outboxes_.find(outbox);
      if (it == outboxes_.end()) return;
      for (Subscription* s : it->second.readers)
        if (!askers.count(s)) s->ring(s->woken_);
    });
}

OutboxListener::~OutboxListener() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  tell_recorded();
  stop_fd_.signal();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<OutboxListener::Subscription> OutboxListener::subscribe(const std::string& outbox) {
  std::unique_ptr<Subscription> s(new Subscription(*this, outbox));
  std::lock_guard lock(mu_);
  outboxes_[outbox].readers.push_back(s.get());
  // The session opens with the first reader: a relay without outbox pipelines holds none.
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  return s;
}

OutboxListener::Subscription::~Subscription() {
  owner_.set_waiting(*this, false);
  std::lock_guard lock(owner_.mu_);
  auto& readers = owner_.outboxes_[outbox_].readers;
  readers.erase(std::remove(readers.begin(), readers.end(), this), readers.end());
}

int OutboxListener::Subscription::ask_to_wait() {
  owner_.set_waiting(*this, true);
  std::lock_guard lock(owner_.mu_);
  recorded_.drain();
  wants_round_ = owner_.requested_;
  if (owner_.recorded_round_ >= wants_round_ || owner_.stopping_) recorded_.signal();  // not awaited yet
  return recorded_.fd();
}

std::optional<bool> OutboxListener::Subscription::waiting_recorded() {
  std::lock_guard lock(owner_.mu_);
  if (!wants_round_ || (owner_.recorded_round_ < wants_round_ && !owner_.stopping_)) return std::nullopt;
  wants_round_ = 0;
  recorded_.drain();
  return owner_.session_ok_ && owner_.outboxes_[outbox_].recorded;
}

void OutboxListener::tell_recorded() {
  std::lock_guard lock(mu_);
  for (auto& [name, o] : outboxes_)
    for (Subscription* s : o.readers)
      if (s->wants_round_ && (recorded_round_ >= s->wants_round_ || stopping_)) s->ring(s->recorded_);
}

void OutboxListener::Subscription::ring(EventFd& fd) {
  fd.signal();
  if (owner_.executor_) owner_.executor_->signalled(fd.fd());
}

void OutboxListener::Subscription::stop_waiting() { owner_.set_waiting(*this, false); }

void OutboxListener::set_waiting(Subscription& s, bool waiting) {
  {
    std::lock_guard lock(mu_);
    if (s.waiting_ == waiting) return;
    s.waiting_ = waiting;
    Outbox& o = outboxes_[s.outbox_];
    o.waiting += waiting ? 1 : -1;
    if ((o.waiting > 0) == o.recorded) return;  // the session says so already
    ++requested_;
  }
  requested_fd_.signal();
}

void OutboxListener::wake(const std::string& outbox) {
  std::lock_guard lock(mu_);
  auto it = outboxes_.find(outbox);
  if (it == outboxes_.end()) return;
  for (Subscription* s : it->second.readers) s->ring(s->woken_);
}

void OutboxListener::wake_all() {
  std::lock_guard lock(mu_);
  for (auto& [name, o] : outboxes_)
    for (Subscription* s : o.readers) s->ring(s->woken_);
}

bool OutboxListener::connect() {
  auto c = pg::Connection::open(url_, app_);
  if (!c) return false;
  // Its writes (the waiting) need not wait for the disk: outbox_waiters is unlogged.
  if (!c->exec("SET synchronous_commit = off; LISTEN pgtrickle_outbox_new")) return false;
  conn_ = std::move(*c);
  if (numbering_) numbering_->set_listener_pid(conn_.backend_pid());
  std::lock_guard lock(mu_);
  // A new session has said nothing yet: what readers wait for is recorded again.
  for (auto& [name, o] : outboxes_) o.recorded = false;
  ++requested_;
  session_ok_ = true;
  return true;
}

void OutboxListener::record_waiting(bool stopping) {
  std::string changes = "{";
  std::vector<std::pair<std::string, bool>> wanted;
  std::uint64_t round;
  {
    std::lock_guard lock(mu_);
    round = requested_;
    if (recorded_round_ >= round && !stopping) return;
    for (auto& [name, o] : outboxes_) {
      bool waits = o.waiting > 0 && !stopping;
      if (waits == o.recorded) continue;
      if (wanted.size()) changes += ',';
      util::append_json_string(changes, name);
      changes += waits ? ":true" : ":false";
      wanted.emplace_back(name, waits);
    }
  }
  changes += '}';
  bool ok = wanted.empty() ||
            conn_.exec("SELECT pgtrickle._outbox_waiting(w.key, w.value::boolean) FROM jsonb_each_text($1::jsonb) AS w",
                       {changes}).has_value();
  // A transaction that wrote before the waiting committed, and commits after it, did not notify:
  // the outbox is numbered once a second until every transaction running then has ended, that is
  // until the oldest one running is past the next transaction id of now.
  std::uint64_t horizon = 0;
  if (ok && std::any_of(wanted.begin(), wanted.end(), [](const auto& w) { return w.second; })) {
    auto r = conn_.exec("SELECT pg_snapshot_xmax(pg_current_snapshot())::text");
    ok = r.has_value();
    if (ok) horizon = std::stoull(r->str(0, 0));
  }
  {
    std::lock_guard lock(mu_);
    if (ok)
      for (auto& [name, waiting] : wanted) {
        outboxes_[name].recorded = waiting;
        outboxes_[name].unnotified_until = waiting ? horizon : 0;
      }
    session_ok_ = ok && conn_.ok();
    recorded_round_ = round;
  }
  tell_recorded();
}

void OutboxListener::give_up_recording() {
  {
    std::lock_guard lock(mu_);
    recorded_round_ = requested_;
  }
  tell_recorded();
}

void OutboxListener::number_unnotified() {
  std::vector<std::string> outboxes;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, o] : outboxes_)
      if (o.recorded && o.unnotified_until) outboxes.push_back(name);
  }
  if (outboxes.empty()) return;
  // The oldest transaction running before the round: those before it have ended, and the round
  // numbers what they committed (and notifies the readers of those outboxes).
  auto r = conn_.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text");
  if (!r) return;
  const std::uint64_t oldest = std::stoull(r->str(0, 0));
  if (!numbering_->number(outboxes)) return;
  std::lock_guard lock(mu_);
  for (const auto& name : outboxes)
    if (auto& o = outboxes_[name]; o.unnotified_until && o.unnotified_until <= oldest) o.unnotified_until = 0;
}

void OutboxListener::run() {
  util::name_this_thread("outbox-listener");
  auto next_round = Clock::now() + kRoundEvery;
  while (true) {
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stopping_;
    }
    if (stopping) {
      // A relay that stops waits no more: writers stop notifying now, not when the next relay to
      // wait clears the rows of sessions gone.
      if (conn_.ok()) record_waiting(true);
      return;
    }
    if (!conn_.ok()) {
      bool was_ok;
      {
        std::lock_guard lock(mu_);
        was_ok = session_ok_;
        session_ok_ = false;
      }
      if (was_ok) {
        give_up_recording();  // the session was lost: readers asking to wait are told at once
        wake_all();           // notifications may be lost: the readers look, then poll meanwhile
      }
      if (!connect()) {
        give_up_recording();  // (readers asking before the first session are told once it failed)
        pollfd fd{stop_fd_.fd(), POLLIN, 0};
        ::poll(&fd, 1, static_cast<int>(std::chrono::milliseconds(kRetryEvery).count()));
        continue;
      }
      wake_all();  // rows that came while no session listened
    }
    record_waiting();
    if (numbering_ && Clock::now() >= next_round) {
      next_round = Clock::now() + kRoundEvery;
      number_unnotified();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_round - Clock::now()).count();
    pollfd fds[3] = {{conn_.socket(), POLLIN, 0}, {requested_fd_.fd(), POLLIN, 0}, {stop_fd_.fd(), POLLIN, 0}};
    ::poll(fds, 3, static_cast<int>(std::clamp<long long>(ms, 0, 1000)));
    if (fds[1].revents & POLLIN) requested_fd_.drain();
    if (fds[0].revents) {
      // Any login may NOTIFY the channel: everything is read, each outbox's readers woken once.
      std::set<std::string> named;
      const int own_rounds = numbering_ ? numbering_->session_pid() : 0;
      for (auto& n : conn_.notifications())
        if (n.sender_pid != own_rounds) named.insert(std::move(n.payload));
      for (const auto& outbox : named) wake(outbox);
    }
  }
}

}  // namespace relay::postgres
