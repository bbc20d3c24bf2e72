// A few connections to the relay's database shared by all its pipelines, for the statements that
// need no session of their own (storing a position or a status, a lag count, a look for a requested
// backfill): borrowed for the statement and given back, so that such work costs the server a
// bounded number of connections whatever the number of pipelines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pg/connection.h"
#include "relay/result.h"

namespace relay::pg {

class ConnectionPool {
 public:
  // At most `size` connections, opened when first needed; `setup` runs once on each.
  ConnectionPool(std::string conninfo, std::string application_name, std::size_t size, std::string setup = "");
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A borrowed connection, given back when the lease goes (dropped instead when it broke or is left
  // in a transaction or with a result unread).
  class Lease {
   public:
    Lease() = default;
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn, bool long_read = false, std::size_t slot = 0,
          bool home = false)
        : pool_(pool), conn_(std::move(conn)), long_read_(long_read), slot_(slot), home_(home) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();
    explicit operator bool() const { return conn_ != nullptr; }
    Connection* get() const { return conn_.get(); }
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }
    // Closes the connection instead of giving it back (its session's state is not known).
    void discard();
    // Whether this is the home connection of the statement the borrower preferred (try_borrow).
    bool home() const { return home_; }

   private:
    void give_back();
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
    bool long_read_ = false;
    std::size_t slot_ = 0;
    bool home_ = false;
  };

  // A free connection, or a new one while fewer than `size` are open; an empty lease when every one
  // is lent out (the caller tries again later: nothing here waits). An error when opening one failed.
  Result<Lease> try_borrow();
  // The same, waiting up to `wait` for one to be given back; an empty lease when none was.
  Result<Lease> borrow_within(std::chrono::milliseconds wait);
  // borrow_within, with an error naming the pool when none was given back in time.
  Result<Lease> borrow(std::chrono::milliseconds wait);

  // A borrower that must not block its thread (a reader run as a coroutine among many) waits for
  // its turn instead: try_borrow(turn, ...) gives a connection now, or queues `turn`, whose notify
  // is called (under the pool's lock: it only signals) once a connection it may take is given
  // back; the borrower then tries again, and may find it taken and be queued anew. A `long_read`
  // lease may be held across the borrower's waits (a COPY stream): at most size - 1 of those are
  // lent at once, so that short statements always find a connection soon; waiting short borrowers
  // go first, since they give the connection back at once.
  struct Turn {
    std::function<void()> notify;
    bool queued = false;
    bool woken = false;  // notified and not served yet: keeps its place when beaten to it
  };
  // Waits up to `wait` on the thread first (a connection usually comes back within moments).
  // `prefer`: a statement the borrower would run prepared. Each statement has one home connection
  // (by its text), lent when idle (Lease::home); a borrower given another runs it unprepared, so
  // that a thousand pipelines' statements are each planned once, on one connection, rather than
  // on every connection of the pool in turn.
  Result<Lease> try_borrow(Turn& turn, bool long_read, std::chrono::milliseconds wait,
                           const std::string* prefer = nullptr);
  // Takes `turn` out of the queue (before it goes).
  void forget(Turn& turn);

 private:
  void give_back(std::unique_ptr<Connection> conn, bool long_read, std::size_t slot);
  void wake_next_locked();
  void dequeue_locked(Turn& turn);
  Result<Lease> try_borrow_locked(std::unique_lock<std::mutex>& lock, bool long_read, const std::string* prefer = nullptr);

  const std::string conninfo_, application_name_, setup_;
  const std::size_t size_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  struct Idle {
    std::size_t slot;  // which of the pool's `size_` places the connection holds
    std::unique_ptr<Connection> conn;
  };
  std::vector<Idle> idle_;
  std::vector<bool> slot_open_;
  std::size_t open_ = 0;
  std::size_t long_reads_ = 0;  // long_read leases lent out
  std::deque<Turn*> short_turns_, long_turns_;  // borrowers waiting, first come first served
};

// What a pipeline runs its own statements on (its position, status and dead letters, its set-up):
// each statement borrows a pooled connection, so a pipeline holds none between statements. Safe to
// use from several threads at once.
class PooledSession {
 public:
  explicit PooledSession(ConnectionPool& pool) : pool_(pool) {}

  Result<PgResult> exec(const std::string& sql);
  Result<PgResult> exec(const std::string& sql, const Params& params);
  // Prepared on each pooled connection the first time it runs there (Connection::exec_cached).
  Result<PgResult> exec_cached(const std::string& sql, const Params& params);
  // A connection for several statements in a row (a set-up reading a table's shape): held until the
  // lease goes.
  Result<ConnectionPool::Lease> borrow();

  // How long a statement waits for a pooled connection before it fails (and the pipeline retries).
  static constexpr std::chrono::seconds kWait{30};

 private:
  ConnectionPool& pool_;
};

}  // namespace relay::pg
