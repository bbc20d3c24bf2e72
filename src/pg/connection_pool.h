// A few connections to the relay's database shared by all its pipelines, for short statements that
// need no session of their own (a lag count, a look for a requested backfill): borrowed for the
// statement and given back, so that such work costs the server a bounded number of connections
// whatever the number of pipelines.
#pragma once

#include <cstddef>
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
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();
    explicit operator bool() const { return conn_ != nullptr; }
    Connection* get() const { return conn_.get(); }
    Connection* operator->() const { return conn_.get(); }
    Connection& operator*() const { return *conn_; }

   private:
    void give_back();
    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<Connection> conn_;
  };

  // A free connection, or a new one while fewer than `size` are open; an empty lease when every one
  // is lent out (the caller tries again later: nothing here waits). An error when opening one failed.
  Result<Lease> try_borrow();
  std::size_t size() const { return size_; }
  std::size_t open() const;  // connections open now, lent out or idle

 private:
  void give_back(std::unique_ptr<Connection> conn);

  const std::string conninfo_, application_name_, setup_;
  const std::size_t size_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

}  // namespace relay::pg
