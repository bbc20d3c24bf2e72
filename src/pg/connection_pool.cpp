#include "pg/connection_pool.h"

#include <libpq-fe.h>

#include <optional>

#include <fmt/format.h>

namespace relay::pg {

ConnectionPool::ConnectionPool(std::string conninfo, std::string application_name, std::size_t size, std::string setup)
    : conninfo_(std::move(conninfo)), application_name_(std::move(application_name)), setup_(std::move(setup)),
      size_(size == 0 ? 1 : size) {}

Result<ConnectionPool::Lease> ConnectionPool::try_borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    if (open_ >= size_) return Lease();
    ++open_;  // taken before connecting, so that concurrent borrowers never open more than size_
  }
  auto c = Connection::open(conninfo_, application_name_);
  std::optional<Error> failed;
  if (!c)
    failed = c.error();
  else if (!setup_.empty())
    if (auto s = c->exec(setup_); !s) failed = s.error();
  if (failed) {
    std::lock_guard lock(mu_);
    --open_;
    return *failed;
  }
  return Lease(this, std::make_unique<Connection>(std::move(*c)));
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

void ConnectionPool::give_back(std::unique_ptr<Connection> conn) {
  bool reusable = conn && conn->ok() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE;
  {
    std::lock_guard lock(mu_);
    if (reusable)
      idle_.push_back(std::move(conn));
    else
      --open_;
  }
  returned_.notify_one();
}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    give_back();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
  }
  return *this;
}

ConnectionPool::Lease::~Lease() { give_back(); }

void ConnectionPool::Lease::discard() {
  if (conn_) conn_ = std::make_unique<Connection>();  // closed: not reusable, so the pool counts it gone
  give_back();
}

void ConnectionPool::Lease::give_back() {
  if (pool_ && conn_) pool_->give_back(std::move(conn_));
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
