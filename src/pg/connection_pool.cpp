#include "pg/connection_pool.h"

#include <libpq-fe.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

namespace relay::pg {

ConnectionPool::ConnectionPool(std::string conninfo, std::string application_name, std::size_t size, std::string setup)
    : conninfo_(std::move(conninfo)), application_name_(std::move(application_name)), setup_(std::move(setup)),
      size_(size == 0 ? 1 : size), slot_open_(size_, false) {}

Result<ConnectionPool::Lease> ConnectionPool::try_borrow() {
  std::unique_lock lock(mu_);
  return try_borrow_locked(lock, false);
}

// Called with `lock` held; returns with it held (a new connection opens without it).
Result<ConnectionPool::Lease> ConnectionPool::try_borrow_locked(std::unique_lock<std::mutex>& lock, bool long_read,
                                                                const std::string* prefer) {
  if (long_read && long_reads_ + 1 >= size_ && size_ > 1) return Lease();
  const std::size_t home = prefer ? std::hash<std::string>{}(*prefer) % size_ : size_;
  auto at_home = std::find_if(idle_.begin(), idle_.end(), [&](const Idle& i) { return i.slot == home; });
  // The home place when idle, or not yet open and one may open; else any idle connection.
  if (at_home == idle_.end() && !idle_.empty() && (home == size_ || slot_open_[home] || open_ >= size_))
    at_home = idle_.end() - 1;
  if (at_home != idle_.end()) {
    Idle i = std::move(*at_home);
    idle_.erase(at_home);
    if (long_read) ++long_reads_;
    return Lease(this, std::move(i.conn), long_read, i.slot, i.slot == home);
  }
  if (open_ >= size_) return Lease();
  // Taken before connecting, so that concurrent borrowers never open more than size_.
  std::size_t slot = home < size_ && !slot_open_[home] ? home : 0;
  while (slot_open_[slot]) ++slot;
  slot_open_[slot] = true;
  ++open_;
  if (long_read) ++long_reads_;
  lock.unlock();
  auto c = Connection::open(conninfo_, application_name_);
  std::optional<Error> failed;
  if (!c)
    failed = c.error();
  else if (!setup_.empty())
    if (auto s = c->exec(setup_); !s) failed = s.error();
  lock.lock();
  if (failed) {
    --open_;
    slot_open_[slot] = false;
    if (long_read) --long_reads_;
    return *failed;
  }
  return Lease(this, std::make_unique<Connection>(std::move(*c)), long_read, slot, slot == home);
}

Result<ConnectionPool::Lease> ConnectionPool::try_borrow(Turn& turn, bool long_read, std::chrono::milliseconds wait,
                                                        const std::string* prefer) {
  const auto until = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(mu_);
  while (true) {
    auto lease = try_borrow_locked(lock, long_read, prefer);
    if (!lease || *lease) {
      if (lease) dequeue_locked(turn);  // served while queued: its place goes
      turn.woken = false;
      return lease;
    }
    // A connection usually comes back within moments: wait that long on the thread, then queue.
    // The last try and the queueing below hold the lock throughout: a connection given back while
    // the wait released it is taken here, never left idle behind a queued turn no one will wake.
    if (std::chrono::steady_clock::now() >= until) break;
    returned_.wait_until(lock, until);
  }
  if (!turn.queued) {
    auto& q = long_read ? long_turns_ : short_turns_;
    // Woken and beaten to the connection, it keeps its place at the head of the queue.
    if (turn.woken) q.push_front(&turn);
    else q.push_back(&turn);
    turn.queued = true;
  }
  turn.woken = false;
  return Lease();
}

void ConnectionPool::forget(Turn& turn) {
  std::lock_guard lock(mu_);
  dequeue_locked(turn);
}

void ConnectionPool::dequeue_locked(Turn& turn) {
  if (!turn.queued) return;
  for (auto* q : {&short_turns_, &long_turns_}) q->erase(std::remove(q->begin(), q->end(), &turn), q->end());
  turn.queued = false;
}

void ConnectionPool::wake_next_locked() {
  const bool long_allowed = size_ == 1 || long_reads_ + 1 < size_;
  auto& q = !short_turns_.empty() ? short_turns_ : long_turns_;
  if (q.empty() || (&q == &long_turns_ && !long_allowed)) return;
  Turn* next = q.front();
  q.pop_front();
  next->queued = false;
  next->woken = true;
  next->notify();
}

Result<ConnectionPool::Lease> ConnectionPool::borrow_within(std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  while (true) {
    auto lease = try_borrow();
    if (!lease || *lease) return lease;
    std::unique_lock lock(mu_);
    if (!idle_.empty() || open_ < size_) continue;  // given back meanwhile
    if (returned_.wait_until(lock, until) == std::cv_status::timeout && idle_.empty() && open_ >= size_) return Lease();
  }
}

Result<ConnectionPool::Lease> ConnectionPool::borrow(std::chrono::milliseconds wait) {
  auto lease = borrow_within(wait);
  if (lease && !*lease)
    return retriable(fmt::format("all {} connections of the relay's database pool stayed busy for {} s; "
                                 "raise --database-pool-size", size_, wait.count() / 1000));
  return lease;
}

void ConnectionPool::give_back(std::unique_ptr<Connection> conn, bool long_read, std::size_t slot) {
  bool reusable = conn && conn->ok() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE;
  {
    std::lock_guard lock(mu_);
    if (reusable) {
      idle_.push_back({slot, std::move(conn)});
    } else {
      --open_;
      slot_open_[slot] = false;
    }
    if (long_read) --long_reads_;
    wake_next_locked();
  }
  returned_.notify_all();
}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    give_back();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    long_read_ = other.long_read_;
    slot_ = other.slot_;
    home_ = other.home_;
  }
  return *this;
}

ConnectionPool::Lease::~Lease() { give_back(); }

void ConnectionPool::Lease::discard() {
  if (conn_) conn_ = std::make_unique<Connection>();  // closed: not reusable, so the pool counts it gone
  give_back();
}

void ConnectionPool::Lease::give_back() {
  if (pool_ && conn_) pool_->give_back(std::move(conn_), long_read_, slot_);
  conn_.reset();
}

Result<PgResult> PooledSession::exec(const std::string& sql) {
  auto lease = pool_.borrow(kWait);
  if (!lease) return lease.error();
  return (*lease)->exec(sql);
}

Result<PgResult> PooledSession::exec(const std::string& sql, const Params& params) {
  auto lease = pool_.borrow(kWait);
  if (!lease) return lease.error();
  return (*lease)->exec(sql, params);
}

Result<PgResult> PooledSession::exec_cached(const std::string& sql, const Params& params) {
  auto lease = pool_.borrow(kWait);
  if (!lease) return lease.error();
  return (*lease)->exec_cached(sql, params);
}

Result<ConnectionPool::Lease> PooledSession::borrow() { return pool_.borrow(kWait); }

}  // namespace relay::pg
