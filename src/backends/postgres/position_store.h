// Where the relay's outbox and WAL pipelines store their positions (pgtrickle.relay_offsets): the
// positions asked for meanwhile by every pipeline go in one statement on a pooled connection, each
// fenced by its pipeline's ownership epoch. A thousand pipelines acknowledging a row a second cost
// the server a few statements a second, not a thousand.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pg/connection_pool.h"
#include "relay/result.h"

namespace relay::postgres {

class PositionStore {
 public:
  explicit PositionStore(pg::ConnectionPool& pool) : pool_(pool) {}
  PositionStore(const PositionStore&) = delete;
  PositionStore& operator=(const PositionStore&) = delete;

  struct Entry {
    std::string relay_group_id, pipeline, worker_id, outbox;
    std::int64_t seq = 0, id = 0;
    std::optional<std::int64_t> next_row;
    long long epoch = 0;  // the ownership epoch the relay took the pipeline with (Fence)
  };

  // Stores the position, with the others asked for meanwhile, and returns once it is committed:
  // true when stored, false when another relay owns the pipeline now (nothing was stored).
  Result<bool> store(const Entry& entry);

 private:
  struct Waiting {
    const Entry* entry;
    std::optional<Result<bool>> outcome;
  };
  // Stores `batch` in one statement and gives each its outcome.
  void run_batch(std::vector<Waiting*>& batch);

  pg::ConnectionPool& pool_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<Waiting*> pending_;
  bool running_ = false;
};

}  // namespace relay::postgres
