// The upkeep of pgstream.events for a pipeline reading a pgstream stream: its daily partitions are
// created ahead and dropped after their retention by pgstream.maintain_partitions(), run when the
// pipeline starts and then every hour (a run under way elsewhere is not waited for: one run at a
// time serves every stream), and the partitions kept past their retention because this pipeline
// has not consumed their events are looked up every minute, for /health. On a thread and a
// connection of its own: a run may wait for a partition's lock, never holding up delivery.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "log/log.h"

namespace relay::postgres {

class StreamPartitions {
 public:
  StreamPartitions(std::string postgres_url, std::string pipeline, const log::Logger* log);
  ~StreamPartitions();
  StreamPartitions(const StreamPartitions&) = delete;
  StreamPartitions& operator=(const StreamPartitions&) = delete;

  // What the stream keeps past its retention for this pipeline ("" when nothing): a sentence.
  std::string kept_past_retention() const;

 private:
  void run();
  // Waits `d` or until stopped; false when stopped.
  bool sleep_for(std::chrono::steady_clock::duration d);

  std::string url_, pipeline_;
  const log::Logger* log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string kept_;
  std::thread thread_;
};

}  // namespace relay::postgres
