// The last hour of every pipeline's lag and delivered count, for the console's plots: read every 30 s
// from pgtrickle.relay_pipeline_status (what the owning relays write, whichever relay that is) on
// the relay's own pool, one statement for all pipelines, whether or not anyone looks. A page gets a
// pipeline's history only after its own role's statement showed it the pipeline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "log/log.h"
#include "pg/connection_pool.h"

namespace relay::console {

class History {
 public:
  static constexpr std::chrono::seconds kEvery{30};
  static constexpr std::size_t kKept = 120;  // an hour of samples

  struct Sample {
    std::int64_t at = 0;          // Unix seconds
    std::int64_t lag = -1;        // messages waiting; -1 unknown
    float lag_seconds = -1;       // -1 unknown
    std::int64_t delivered = -1;  // the owner's count since it started; -1 unknown
  };

  explicit History(pg::ConnectionPool& pool);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // A JSON array of the pipeline's samples, oldest first: {"at", "lag", "lag_seconds", "rate"}, the
  // rate in messages a second since the sample before (null across a change of owner).
  std::string json(const std::string& pipeline);
  // Adds a round of samples read now (the thread's work; tests call it directly).
  void add(const std::string& pipeline, const Sample& s);

 private:
  void loop();
  void sample();

  pg::ConnectionPool& pool_;
  log::Logger log_{"console"};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, std::deque<Sample>> samples_;
  std::thread thread_;
};

}  // namespace relay::console
