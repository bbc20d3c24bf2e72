// The relay's numbering rounds (pgtrickle.outbox_watermarks(), sql/install/08_commit_order.sql),
// run for all its outbox readers on one session: a reader asks for the watermark of its outbox, and
// gets the one of a round that began after it asked, run for the outboxes of every reader that
// asked meanwhile. A round costs the server what those outboxes hold, so many readers woken
// together cost one statement, not one each.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "pg/connection.h"
#include "relay/result.h"

namespace relay::postgres {

class CommitNumbering {
 public:
  CommitNumbering(std::string postgres_url, std::string application_name)
      : url_(std::move(postgres_url)), app_(std::move(application_name)) {}
  CommitNumbering(const CommitNumbering&) = delete;
  CommitNumbering& operator=(const CommitNumbering&) = delete;

  // Who asked for a round (a reader's subscription, say): told apart when rows are announced.
  using Asker = const void*;
  // Called after each round for each outbox it gave new numbers, with those who asked for it: the
  // others reading it learn of the rows so (the round's own notification is not for this relay).
  using OnNumbered = std::function<void(const std::string& outbox, const std::set<Asker>& askers)>;
  void on_numbered(OnNumbered f) { on_numbered_ = std::move(f); }

  // The watermark of `outbox` from a numbering round that began after this call: every row of it
  // committed before the call has a number up to it. Read rows up to it in a later statement
  // (READ COMMITTED).
  Result<std::int64_t> watermark(const std::string& outbox, Asker asker);
  // Numbers what committed to these outboxes (a round that began after this call).
  Status number(const std::vector<std::string>& outboxes);
  // The server process the rounds run in (0 before the first): its notifications are this relay's.
  int session_pid() const { return session_pid_.load(); }
  // The relay's listening session, which rounds do not notify (on_numbered tells its readers).
  void set_listener_pid(int pid) { listener_pid_ = pid; }

 private:
  // Waits for a round that began after the outboxes were asked for.
  void await_round(std::unique_lock<std::mutex>& lock);
  // On conn_ (opened, or opened again, as needed).
  Status run_round(const std::map<std::string, std::set<Asker>>& asked);

  const std::string url_, app_;
  pg::Connection conn_;  // used by the thread running the round only
  std::mutex mu_;
  std::condition_variable finished_cv_;
  OnNumbered on_numbered_;
  std::atomic<int> session_pid_{0}, listener_pid_{0};
  std::map<std::string, std::set<Asker>> asked_;  // for the next round
  std::map<std::string, Result<std::int64_t>> latest_;  // each outbox's result from the last round that had it
  std::uint64_t started_ = 0, finished_ = 0;  // rounds begun and ended
  bool running_ = false;
};

}  // namespace relay::postgres
