#include "backends/postgres/commit_numbering.h"

namespace relay::postgres {

Result<std::int64_t> CommitNumbering::watermark() {
  std::unique_lock lock(mu_);
  // A round under way began before this call; the next one to begin serves it.
  const std::uint64_t wanted = started_ + 1;
  while (finished_ < wanted) {
    if (running_) {
      finished_cv_.wait(lock);
      continue;
    }
    running_ = true;
    const std::uint64_t mine = ++started_;
    lock.unlock();
    auto result = run_round();
    lock.lock();
    running_ = false;
    finished_ = mine;
    last_ = std::move(result);
    finished_cv_.notify_all();
  }
  return last_;
}

Result<std::int64_t> CommitNumbering::run_round() {
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
    if (auto p = conn_.prepare("ob_watermark", "SELECT pgtrickle.outbox_watermark()"); !p) {
      conn_ = pg::Connection();
      return p.error();
    }
  }
  auto w = conn_.exec_prepared("ob_watermark", {});
  if (!w) return w.error();
  return static_cast<std::int64_t>(w->int64(0, 0));
}

}  // namespace relay::postgres
