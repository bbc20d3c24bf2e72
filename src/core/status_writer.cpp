#include "core/status_writer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/thread_name.h"

namespace relay {

namespace {

std::string shown(const StatusWriter::Row& r) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}", r.owner, r.owner_since, r.state, r.lag_rows ? std::to_string(*r.lag_rows) : "-",
                     r.lag_seconds ? fmt::format("{}", *r.lag_seconds) : "-", r.last_error.value_or("\x01"), r.direction);
}

// Committed without waiting for its WAL flush (synchronous_commit off for this statement's
// transaction): a status row says how a pipeline stands, and one a crash forgets is written again
// at the next write. Under load every running pipeline's lag changes each second, and a flush a
// second of a thousand rows would slow the writers of the outboxes, who wait for theirs.
std::string write_sql(bool with_relay) {
  // With the columns of later installs: the delivered count, the relay's version and start.
  const char* columns = with_relay ? ", delivered, relay_version, relay_started_at" : "";
  const char* values = with_relay ? ", r.delivered, $2, to_timestamp($3::float8)" : "";
  const char* types = with_relay ? ", delivered bigint" : "";
  const char* updates =
      with_relay ? ", delivered = excluded.delivered, relay_version = excluded.relay_version, relay_started_at = excluded.relay_started_at"
                 : "";
  return fmt::format(
      "INSERT INTO pgtrickle.relay_pipeline_status AS s (relay_group_id, pipeline, owner, owner_since, heartbeat_at, state, "
      "lag_rows, lag_seconds, last_error, origin, direction{}) "
      "SELECT r.relay_group_id, r.pipeline, r.owner, to_timestamp(r.owner_since), now(), r.state, r.lag_rows, r.lag_seconds, "
      "r.last_error, r.origin, r.direction{} "
      "FROM jsonb_to_recordset($1::jsonb) AS r(relay_group_id text, pipeline text, owner text, owner_since float8, state text, "
      "lag_rows bigint, lag_seconds float8, last_error text, origin text, direction text{}), "
      "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "
      "ON CONFLICT (relay_group_id, pipeline) DO UPDATE SET owner = excluded.owner, owner_since = excluded.owner_since, "
      "heartbeat_at = excluded.heartbeat_at, state = excluded.state, lag_rows = excluded.lag_rows, "
      "lag_seconds = excluded.lag_seconds, last_error = excluded.last_error, origin = excluded.origin, direction = excluded.direction{}",
      columns, values, types, updates);
}
// The statement, and the same on an install made before those columns (a relay upgraded before
// `pgtrickle-relay install` ran again): the status goes on being written.
const std::string kWriteSql = write_sql(true), kWriteSqlBefore = write_sql(false);

}  // namespace

StatusWriter::StatusWriter(pg::ConnectionPool& pool, std::chrono::milliseconds round, Relay relay)
    : pool_(pool), round_(round), relay_(std::move(relay)) {
  thread_ = std::thread([this] { loop(); });
}

StatusWriter::~StatusWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StatusWriter::put(Row row) {
  std::lock_guard lock(mu_);
  rows_[{row.relay_group_id, row.pipeline}].row = std::move(row);
}

void StatusWriter::forget(const std::string& relay_group_id, const std::string& pipeline) {
  std::lock_guard writing(write_mu_);  // a round under way lands before the caller's own write
  std::lock_guard lock(mu_);
  rows_.erase({relay_group_id, pipeline});
}

void StatusWriter::loop() {
  util::name_this_thread("status-writer");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, round_, [this] { return stopping_; });
    lock.unlock();
    write_round();
    lock.lock();
  }
}

// Status is for operators: a round that fails is logged and tried again at the next one.
void StatusWriter::write_round() {
  std::lock_guard writing(write_mu_);
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::pair<Key, std::string>> due;
  const auto now = std::chrono::steady_clock::now();
  const bool heartbeat = now >= heartbeat_at_ + kHeartbeat;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, e] : rows_) {
      std::string s = shown(e.row);
      if (s == e.written && !heartbeat) continue;
      const Row& r = e.row;
      rows.push_back({{"relay_group_id", r.relay_group_id}, {"pipeline", r.pipeline}, {"owner", r.owner},
                      {"owner_since", r.owner_since}, {"state", r.state},
                      {"lag_rows", r.lag_rows ? nlohmann::json(*r.lag_rows) : nlohmann::json()},
                      {"lag_seconds", r.lag_seconds ? nlohmann::json(*r.lag_seconds) : nlohmann::json()},
                      {"last_error", r.last_error ? nlohmann::json(*r.last_error) : nlohmann::json()},
                      {"origin", r.origin}, {"direction", r.direction}, {"delivered", r.delivered}});
      due.emplace_back(key, std::move(s));
    }
  }
  if (due.empty()) return;
  auto lease = pool_.borrow(pg::PooledSession::kWait);
  auto written = !lease ? Result<pg::PgResult>(lease.error())
                 : before_columns_ ? (*lease)->exec(kWriteSqlBefore, {rows.dump()})
                                   : (*lease)->exec(kWriteSql, {rows.dump(), relay_.version, fmt::format("{}", relay_.started_at)});
  if (!written && lease && (*lease)->last_sqlstate() == "42703" && !before_columns_) {  // undefined_column
    before_columns_ = true;
    log_.warn("The SQL install is older than this relay: its status rows go without the delivered count, the version and the "
              "start time (the console's plots and relays page) until `pgtrickle-relay install` runs again.");
    written = (*lease)->exec(kWriteSqlBefore, {rows.dump()});
  }
  if (!written) {
    log_.debug("Could not record the pipelines' status.", {{"error", written.error().message}});
    return;
  }
  if (heartbeat) heartbeat_at_ = now;
  std::lock_guard lock(mu_);
  for (auto& [key, s] : due)
    if (auto it = rows_.find(key); it != rows_.end()) it->second.written = std::move(s);
}

// This relay's row of pgtrickle.relay_instances, and its group's rows of relays gone for a day.
void StatusWriter::write_instance(pg::Connection& c) {
  if (relay_.worker_id.empty() || before_instances_) return;
  static const std::string kSql = R"(
    WITH gone AS (DELETE FROM pgtrickle.relay_instances WHERE relay_group_id = $1 AND heartbeat_at < now() - interval '1 day')
    INSERT INTO pgtrickle.relay_instances AS i (relay_group_id, worker_id, version, started_at, heartbeat_at)
    VALUES ($1, $2, $3, to_timestamp($4::double precision), now())
    ON CONFLICT (relay_group_id, worker_id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at,
                                                          heartbeat_at = excluded.heartbeat_at)";
  auto r = c.exec(kSql, {relay_.relay_group_id, relay_.worker_id, relay_.version, fmt::format("{}", relay_.started_at)});
  if (!r && c.last_sqlstate() == "42P01") {  // undefined_table
    before_instances_ = true;
    log_.warn("The SQL install is older than this relay: it is not listed among the relays of its group (the console's relays "
              "page) until `pgtrickle-relay install` runs again.");
  } else if (!r) {
    log_.debug("Could not record this relay's heartbeat.", {{"error", r.error().message}});
  }
}

}  // namespace relay
