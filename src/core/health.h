// What /health reports: the database connection and each pipeline's state, updated by the threads
// that know it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "relay/source.h"

namespace relay {

struct PipelineHealth {
  std::string name;
  std::string direction;
  std::string state;       // starting, standby, running, degraded (dead-lettering), retrying, failed, invalid, stopped
  std::string last_error;
  long long lag = -1;
  double lag_seconds = -1;
  long long slot_lag_bytes = -1;       // WAL capture: the slot's distance from the server's WAL
  long long slot_retained_bytes = -1;  // WAL capture: the WAL the slot keeps on the server
  std::string slot_name, slot_wal_status;  // WAL capture: the slot, and how the server rates what it keeps
  std::optional<long long> slot_safe_wal_bytes;
  std::optional<StreamedStatus> streamed;  // WAL capture: big transactions held while they run  // WAL it may still write before it invalidates the slot
  long long backfill_id = 0;           // a backfill under way (0: none): its rows done, sent, estimated, rate
  long long backfill_rows_done = 0, backfill_rows_sent = 0, backfill_rows_estimated = -1;
  double backfill_rows_per_second = 0;
  std::string kept_past_retention;     // what the source keeps past its retention for this pipeline
  std::vector<TableStatus> tables;     // a pipeline capturing many tables: each one's changes and problem
  bool owned = false;
  bool failing() const { return state == "failed" || state == "invalid" || state == "retrying" || state == "degraded"; }
};

class HealthBoard {
 public:
  void update(const PipelineHealth& h) {
    std::lock_guard lock(mu_);
    pipelines_[h.name] = h;
  }
  template <class F>
  void modify(const std::string& name, F f) {
    std::lock_guard lock(mu_);
    auto& p = pipelines_[name];
    p.name = name;
    f(p);
  }
  void remove(const std::string& name) {
    std::lock_guard lock(mu_);
    pipelines_.erase(name);
  }
  std::vector<PipelineHealth> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<PipelineHealth> out;
    for (const auto& [k, v] : pipelines_) out.push_back(v);
    return out;
  }
  // Why the last edit of the config file was not applied (empty once a good edit is loaded).
  void set_config_error(std::string error) {
    std::lock_guard lock(mu_);
    config_error_ = std::move(error);
  }
  std::string config_error() const {
    std::lock_guard lock(mu_);
    return config_error_;
  }
  std::atomic<bool> database_connected{false};
  std::atomic<bool> catalog_loaded{false};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

 private:
  mutable std::mutex mu_;
  std::map<std::string, PipelineHealth> pipelines_;
  std::string config_error_;
};

}  // namespace relay
