// A small Prometheus registry of atomics: counters end in _total, base units, one `pipeline` label.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace relay::metrics {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  Gauge() = default;
  explicit Gauge(double initial) : v_(initial) {}
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  std::uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative, one per bound
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// The values of pg_replication_slots.wal_status, from safest to lost.
inline constexpr const char* kSlotWalStatuses[] = {"reserved", "extended", "unreserved", "lost"};

// Metrics of one pipeline; stable addresses, shared by the pipeline's threads.
struct PipelineMetrics {
  Counter consumed;       // messages read from the source
  Counter delivered;      // messages the sink durably accepted
  // Failed delivery attempts by kind: retriable (a flapping target: retried with backoff), rejected
  // (the target refused the message: dead-lettered), fatal (the pipeline cannot run as configured).
  Counter errors_retriable;
  Counter errors_rejected;
  Counter errors_fatal;
  Counter dead_letters;   // messages set aside in the dead-letter table
  Counter dedup_skipped;  // duplicates the target skipped
  Counter reconnects;     // reconnections to the database, source or sink
  Counter ownership_lost; // times this relay lost a pipeline it owned (stall past the lease, lost session)
  Gauge lag_rows;
  Gauge lag_seconds;
  Gauge slot_lag_bytes{-1};      // a replication slot's WAL beyond its confirmed position; -1: no slot
  Gauge slot_retained_bytes{-1}; // the WAL the slot keeps on the server
  // How the server rates what the slot keeps (pg_replication_slots.wal_status): an index into
  // kSlotWalStatuses, -1 unknown; and the WAL it may still write before the slot is invalidated
  // (safe_wal_size; it may be negative), while known.
  std::atomic<int> slot_wal_status{-1};
  Gauge slot_safe_wal_bytes;
  std::atomic<bool> slot_safe_wal_known{false};
  // A WAL source's big transactions held while they run (StreamedStatus); -1: no slot.
  Gauge streamed_transactions{-1};
  Gauge streamed_memory_bytes{-1};
  Gauge streamed_spilled_bytes{-1};
  Gauge streamed_oldest_seconds{-1};
  Counter schema_registry_requests;  // requests to the schema registry (Avro: each schema's first use)
  Counter slot_rebuilds;  // invalidated slots replaced by new ones (on_slot_lost "rebuild", rebuild_relay_slot)
  Gauge owned;            // 1 while this relay owns the pipeline
  Counter backfill_rows;            // rows of the table a backfill read (acknowledged)
  Gauge backfill_rows_estimated{-1};  // the backfill under way: the rows it expects; -1: none under way
  // A pipeline capturing many tables: each table's changes acknowledged (as the source counts them),
  // and whether something keeps it from being captured whole.
  struct Table {
    std::string name;
    std::uint64_t changes = 0;
    bool problem = false;
  };
  void set_tables(std::vector<Table> now) {
    std::lock_guard lock(tables_mu);
    tables = std::move(now);
  }
  std::vector<Table> tables_now() const {
    std::lock_guard lock(tables_mu);
    return tables;
  }
  mutable std::mutex tables_mu;
  std::vector<Table> tables;
  // False while the pipeline is disabled: its counters stay, its gauges are not exported (a
  // disabled pipeline has no owner to miss and no lag to alert on).
  std::atomic<bool> running{true};
  Histogram delivery_seconds{{0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
};

class Registry {
 public:
  // The metrics of `pipeline`, created on first use; kept until forget() so counters survive restarts.
  std::shared_ptr<PipelineMetrics> pipeline(const std::string& name);
  void forget(const std::string& name);
  Counter& config_reloads() { return config_reloads_; }
  Gauge& database_up() { return database_up_; }
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<PipelineMetrics>> pipelines_;
  Counter config_reloads_;
  Gauge database_up_;
};

}  // namespace relay::metrics
