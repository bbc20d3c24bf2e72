#include "backends/postgres/stream_partitions.h"

#include <fmt/format.h>

#include <optional>

#include "pg/connection.h"

namespace relay::postgres {

namespace {
constexpr auto kMaintenanceEvery = std::chrono::hours(1);
constexpr auto kLookEvery = std::chrono::minutes(1);
constexpr auto kRetryAfter = std::chrono::seconds(30);  // the database was unreachable
}  // namespace

StreamPartitions::StreamPartitions(std::string postgres_url, std::string pipeline, const log::Logger* log)
    : url_(std::move(postgres_url)), pipeline_(std::move(pipeline)), log_(log), thread_([this] { run(); }) {}

StreamPartitions::~StreamPartitions() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::string StreamPartitions::kept_past_retention() const {
  std::lock_guard lock(mu_);
  return kept_;
}

bool StreamPartitions::sleep_for(std::chrono::steady_clock::duration d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

void StreamPartitions::run() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point next_maintenance = Clock::now();
  std::optional<pg::Connection> db;
  do {
    if (!db || !db->ok()) {
      auto c = pg::Connection::open(url_, "pgtrickle-relay partitions " + pipeline_);
      if (!c) {
        if (!sleep_for(kRetryAfter)) return;
        continue;
      }
      db.emplace(std::move(*c));
    }
    if (Clock::now() >= next_maintenance) {
      auto r = db->exec("SELECT action, partition, coalesce(reason, '') FROM pgstream.maintain_partitions() "
                        "WHERE action IN ('created', 'dropped', 'busy')");
      if (!r) {
        log_->warn("The upkeep of pgstream.events' partitions failed; it is tried again in an hour.", {{"error", r.error().message}});
      } else {
        for (int i = 0; i < r->rows(); ++i)
          log_->info(fmt::format("pgstream.events: partition {}.", r->str(i, 0)),
                     {{"partition", r->str(i, 1)}, {"reason", r->str(i, 2)}});
      }
      next_maintenance = Clock::now() + kMaintenanceEvery;
    }
    auto kept = db->exec(
        "SELECT count(*), min(range_from)::text, coalesce(sum(rows_estimate), 0) FROM pgstream.partition_status() "
        "WHERE past_retention AND format('pipeline \"%s\"', $1::text) = ANY (kept_for)",
        {pipeline_});
    if (kept && kept->rows() == 1) {
      std::string note;
      if (kept->int64(0, 0) > 0)
        note = fmt::format("{} partition(s) of pgstream.events past their retention (the oldest from {}, about {} events) are kept "
                           "until this pipeline has consumed them",
                           kept->int64(0, 0), kept->str(0, 1), kept->int64(0, 2));
      std::lock_guard lock(mu_);
      kept_ = std::move(note);
    }
  } while (sleep_for(kLookEvery));
}

}  // namespace relay::postgres
