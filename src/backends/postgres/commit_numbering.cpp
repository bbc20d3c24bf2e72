#include "backends/postgres/commit_numbering.h"

#include "util/json_escape.h"

namespace relay::postgres {

Result<std::int64_t> CommitNumbering::watermark(const std::string& outbox, Asker asker) {
  std::unique_lock lock(mu_);
  asked_[outbox].insert(asker);
  await_round(lock);
  auto it = latest_.find(outbox);
  if (it == latest_.end()) return retriable("the numbering round returned no watermark for " + outbox);
  return it->second;
}

Status CommitNumbering::number(const std::vector<std::string>& outboxes) {
  if (outboxes.empty()) return {};
  std::unique_lock lock(mu_);
  for (const auto& o : outboxes) asked_[o];
  await_round(lock);
  for (const auto& o : outboxes)
    if (auto it = latest_.find(o); it != latest_.end() && !it->second) return it->second.error();
  return {};
}

void CommitNumbering::await_round(std::unique_lock<std::mutex>& lock) {
  // A round under way began before this call; the next one to begin serves it.
  const std::uint64_t wanted = started_ + 1;
  while (finished_ < wanted) {
    if (running_) {
      finished_cv_.wait(lock);
      continue;
    }
    running_ = true;
    const std::uint64_t mine = ++started_;
    auto outboxes = std::move(asked_);
    asked_.clear();
    lock.unlock();
    auto s = run_round(outboxes);
    lock.lock();
    if (!s)
      for (const auto& [o, askers] : outboxes) latest_.insert_or_assign(o, s.error());
    running_ = false;
    finished_ = mine;
    finished_cv_.notify_all();
  }
}

Status CommitNumbering::run_round(const std::map<std::string, std::set<Asker>>& asked) {
  if (!conn_.ok()) {
    auto c = pg::Connection::open(url_, app_);
    if (!c) return c.error();
    conn_ = std::move(*c);
    // The round numbers new commits, a write that need not wait for the disk: a position stored
    // later can only survive a crash with it (the WAL is replayed in order), and numbers lost with
    // it are given again. READ COMMITTED, whatever the database's default: each statement sees what
    // committed before it.
    auto s = conn_.exec("SET default_transaction_isolation = 'read committed'; SET synchronous_commit = off");
    if (!s) {
      conn_ = pg::Connection();
      return s.error();
    }
    session_pid_ = conn_.backend_pid();
    if (auto p = conn_.prepare("ob_watermarks",
                               "SELECT w.outbox, w.watermark, w.numbered FROM pgtrickle.outbox_watermarks("
                               "ARRAY(SELECT jsonb_array_elements_text($1::jsonb)), nullif($2::int, 0)) AS w");
        !p) {
      conn_ = pg::Connection();
      return p.error();
    }
  }
  std::string names = "[";
  for (const auto& [o, askers] : asked) {
    if (names.size() > 1) names += ',';
    util::append_json_string(names, o);
  }
  names += ']';
  auto w = conn_.exec_prepared("ob_watermarks", {names, std::to_string(listener_pid_.load())});
  if (!w) return w.error();
  {
    std::lock_guard lock(mu_);
    for (int i = 0; i < w->rows(); ++i) latest_.insert_or_assign(w->str(i, 0), static_cast<std::int64_t>(w->int64(i, 1)));
  }
  if (on_numbered_)
    for (int i = 0; i < w->rows(); ++i)
      if (w->boolean(i, 2))
        if (auto it = asked.find(w->str(i, 0)); it != asked.end()) on_numbered_(it->first, it->second);
  return {};
}

}  // namespace relay::postgres
