#include "metrics/metrics.h"

#include <fmt/format.h>

namespace relay::metrics {
namespace {

void atomic_add(std::atomic<double>& a, double d) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

std::string number(double v) { return fmt::format("{}", v); }

}  // namespace

void Gauge::add(double d) { atomic_add(v_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
}

std::shared_ptr<PipelineMetrics> Registry::pipeline(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = pipelines_[name];
  if (!slot) slot = std::make_shared<PipelineMetrics>();
  return slot;
}

void Registry::forget(const std::string& name) {
  std::lock_guard lock(mu_);
  pipelines_.erase(name);
}

std::string Registry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  auto counter = [&](const char* name, const char* help, auto get) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& [p, m] : pipelines_) out += fmt::format("{}{{pipeline=\"{}\"}} {}\n", name, label(p), get(*m));
  };
  auto gauge = [&](const char* name, const char* help, auto get) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& [p, m] : pipelines_)
      if (m->running) out += fmt::format("{}{{pipeline=\"{}\"}} {}\n", name, label(p), number(get(*m)));
  };
  counter("pgtrickle_relay_messages_consumed_total", "Messages read from the source.", [](auto& m) { return m.consumed.value(); });
  counter("pgtrickle_relay_messages_delivered_total", "Messages the target durably accepted.", [](auto& m) { return m.delivered.value(); });
  {
    const char* e = "pgtrickle_relay_delivery_errors_total";
    out += fmt::format("# HELP {} Failed delivery attempts, by kind: retriable (retried with backoff), rejected (dead-lettered), fatal (the pipeline stopped).\n# TYPE {} counter\n", e, e);
    for (const auto& [p, m] : pipelines_)
      out += fmt::format("{0}{{pipeline=\"{1}\",kind=\"retriable\"}} {2}\n{0}{{pipeline=\"{1}\",kind=\"rejected\"}} {3}\n"
                         "{0}{{pipeline=\"{1}\",kind=\"fatal\"}} {4}\n",
                         e, label(p), m->errors_retriable.value(), m->errors_rejected.value(), m->errors_fatal.value());
  }
  counter("pgtrickle_relay_dead_letters_total", "Messages set aside in pgtrickle.relay_dead_letters.", [](auto& m) { return m.dead_letters.value(); });
  counter("pgtrickle_relay_dedup_skipped_total", "Duplicates the target skipped.", [](auto& m) { return m.dedup_skipped.value(); });
  counter("pgtrickle_relay_reconnects_total", "Reconnections to the database, source or sink.", [](auto& m) { return m.reconnects.value(); });
  counter("pgtrickle_relay_ownership_lost_total", "Times this relay lost a pipeline it owned: it stalled past the lease timeout or lost its database session.", [](auto& m) { return m.ownership_lost.value(); });
  gauge("pgtrickle_relay_consumer_lag", "Messages waiting to be relayed (the unit messages_delivered_total counts).", [](auto& m) { return m.lag_rows.value(); });
  gauge("pgtrickle_relay_consumer_lag_seconds", "Age of the oldest message waiting to be relayed.", [](auto& m) { return m.lag_seconds.value(); });
  // Only pipelines that read a replication slot (WAL capture) have these.
  auto slot_gauge = [&](const char* name, const char* help, auto get) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& [p, m] : pipelines_)
      if (m->running && get(*m) >= 0) out += fmt::format("{}{{pipeline=\"{}\"}} {}\n", name, label(p), number(get(*m)));
  };
  slot_gauge("pgtrickle_relay_slot_lag_bytes", "WAL written since the position the pipeline's replication slot confirmed (WAL capture).",
             [](auto& m) { return m.slot_lag_bytes.value(); });
  slot_gauge("pgtrickle_relay_slot_retained_wal_bytes", "WAL the pipeline's replication slot keeps the server from removing (WAL capture).",
             [](auto& m) { return m.slot_retained_bytes.value(); });
  {
    // One series per status, 1 for the slot's present one (the enum pattern: alert on status="unreserved" == 1).
    const char* w = "pgtrickle_relay_slot_wal_status";
    out += fmt::format("# HELP {} The replication slot's wal_status: 1 for the present one of reserved, extended, unreserved (the "
                       "server may invalidate it at its next checkpoint), lost (invalidated).\n# TYPE {} gauge\n", w, w);
    for (const auto& [p, m] : pipelines_) {
      int now = m->slot_wal_status.load();
      if (!m->running || now < 0) continue;
      for (int i = 0; i < static_cast<int>(std::size(kSlotWalStatuses)); ++i)
        out += fmt::format("{}{{pipeline=\"{}\",status=\"{}\"}} {}\n", w, label(p), kSlotWalStatuses[i], i == now ? 1 : 0);
    }
    const char* safe = "pgtrickle_relay_slot_safe_wal_size_bytes";
    out += fmt::format("# HELP {} WAL the server may still write before it invalidates the replication slot (safe_wal_size; "
                       "none without max_slot_wal_keep_size).\n# TYPE {} gauge\n", safe, safe);
    for (const auto& [p, m] : pipelines_)
      if (m->running && m->slot_safe_wal_known.load())
        out += fmt::format("{}{{pipeline=\"{}\"}} {}\n", safe, label(p), number(m->slot_safe_wal_bytes.value()));
  }
  slot_gauge("pgtrickle_relay_streamed_transactions", "Big transactions the server streams while they run, held by the pipeline until they end (WAL capture, PostgreSQL 14+).",
             [](auto& m) { return m.streamed_transactions.value(); });
  slot_gauge("pgtrickle_relay_streamed_memory_bytes", "Bytes of the held transactions' changes in memory (bounded by the source's streaming_memory_mb).",
             [](auto& m) { return m.streamed_memory_bytes.value(); });
  slot_gauge("pgtrickle_relay_streamed_spilled_bytes", "Bytes of the held transactions' changes spilled to files under the relay's --state-dir.",
             [](auto& m) { return m.streamed_spilled_bytes.value(); });
  slot_gauge("pgtrickle_relay_streamed_oldest_seconds", "Seconds since the oldest held transaction began to stream (0: none held).",
             [](auto& m) { return m.streamed_oldest_seconds.value(); });
  counter("pgtrickle_relay_schema_registry_requests_total",
          "Requests to the schema registry (Avro keys and values: a schema's first use, registered or read by id, then cached).",
          [](auto& m) { return m.schema_registry_requests.value(); });
  counter("pgtrickle_relay_slot_rebuilds_total", "Invalidated replication slots the relay replaced by new ones, sending a gap marker and backfilling.",
          [](auto& m) { return m.slot_rebuilds.value(); });
  counter("pgtrickle_relay_backfill_rows_total", "Rows of the table backfills read and acknowledged (sent, or superseded by a change sent).",
          [](auto& m) { return m.backfill_rows.value(); });
  slot_gauge("pgtrickle_relay_backfill_rows_estimated", "Rows the backfill under way expects to read (the planner's estimate).",
             [](auto& m) { return m.backfill_rows_estimated.value(); });
  gauge("pgtrickle_relay_pipeline_owned", "1 while this relay owns the pipeline.", [](auto& m) { return m.owned.value(); });
  {
    // One series per table of a pipeline that captures many (source type "wal"), no more.
    const char* t = "pgtrickle_relay_table_changes_total";
    out += fmt::format("# HELP {} Changes of each table of a pipeline capturing many tables (source type wal), sent and acknowledged.\n"
                       "# TYPE {} counter\n", t, t);
    for (const auto& [p, m] : pipelines_)
      for (const auto& table : m->tables_now())
        out += fmt::format("{}{{pipeline=\"{}\",table=\"{}\"}} {}\n", t, label(p), label(table.name), table.changes);
    const char* q = "pgtrickle_relay_table_capture_problem";
    out += fmt::format("# HELP {} 1 while something keeps the table from being captured whole (no primary key or replica identity: "
                       "PostgreSQL refuses its UPDATEs and DELETEs while it is published); its fix is in /health.\n# TYPE {} gauge\n", q, q);
    for (const auto& [p, m] : pipelines_)
      if (m->running)
        for (const auto& table : m->tables_now())
          out += fmt::format("{}{{pipeline=\"{}\",table=\"{}\"}} {}\n", q, label(p), label(table.name), table.problem ? 1 : 0);
  }

  const char* h = "pgtrickle_relay_delivery_duration_seconds";
  out += fmt::format("# HELP {} Time from the source commit to the target's acceptance, per message.\n# TYPE {} histogram\n", h, h);
  for (const auto& [p, m] : pipelines_) {
    const auto& hist = m->delivery_seconds;
    std::uint64_t cumulative = 0;
    for (size_t i = 0; i < hist.bounds().size(); ++i) {
      cumulative += hist.bucket(i);
      out += fmt::format("{}_bucket{{pipeline=\"{}\",le=\"{}\"}} {}\n", h, label(p), number(hist.bounds()[i]), cumulative);
    }
    cumulative += hist.bucket(hist.bounds().size());
    out += fmt::format("{}_bucket{{pipeline=\"{}\",le=\"+Inf\"}} {}\n", h, label(p), cumulative);
    out += fmt::format("{}_sum{{pipeline=\"{}\"}} {}\n{}_count{{pipeline=\"{}\"}} {}\n", h, label(p), number(hist.sum()), h, label(p), hist.count());
  }
  double owned = 0;
  for (const auto& [p, m] : pipelines_) owned += m->owned.value();
  out += fmt::format("# HELP pgtrickle_relay_pipelines_owned Pipelines this relay owns.\n# TYPE pgtrickle_relay_pipelines_owned gauge\npgtrickle_relay_pipelines_owned {}\n", number(owned));
  out += fmt::format("# HELP pgtrickle_relay_database_up 1 while the relay's database connection works.\n# TYPE pgtrickle_relay_database_up gauge\npgtrickle_relay_database_up {}\n", number(database_up_.value()));
  out += fmt::format("# HELP pgtrickle_relay_config_reloads_total Pipeline catalog reloads.\n# TYPE pgtrickle_relay_config_reloads_total counter\npgtrickle_relay_config_reloads_total {}\n", config_reloads_.value());
  return out;
}

}  // namespace relay::metrics
