// One query's answer shared by every pipeline of the relay and asked again at most once per
// interval, on a pooled connection: what each pipeline would otherwise ask for itself, once a
// second (is a backfill requested for me?), costs the server one statement a second in all.
#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "pg/connection_pool.h"
#include "relay/result.h"

namespace relay::pg {

class SharedLookup {
 public:
  // `sql` returns one text column: the values looked up.
  SharedLookup(ConnectionPool& pool, std::string sql, std::chrono::milliseconds max_age)
      : pool_(pool), sql_(std::move(sql)), max_age_(max_age) {}

  // Whether `value` was in the answer, as of an answer at most max_age old (asked now when older;
  // when every pooled connection is busy, the older answer serves).
  Result<bool> contains(const std::string& value);

 private:
  ConnectionPool& pool_;
  const std::string sql_;
  const std::chrono::milliseconds max_age_;
  std::mutex mu_;
  std::set<std::string> values_;
  std::chrono::steady_clock::time_point asked_{};
  bool answered_ = false;
};

}  // namespace relay::pg
