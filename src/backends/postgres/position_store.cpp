#include "backends/postgres/position_store.h"

#include <set>
#include <utility>

#include "util/json_escape.h"

namespace relay::postgres {

namespace {

// The positions as one JSON array; each row is stored only while its epoch is the pipeline's
// (FOR SHARE: a relay taking over bumps the epoch with an UPDATE, which waits for this statement's
// transaction; a statement that starts after the bump sees the new epoch and stores nothing).
// Committed without waiting for the WAL flush: a database crash may forget the last positions, and
// their rows are then sent again with the same identity (at-least-once), but no acknowledgement
// waits for an fsync. Anything written before it (dead letters) reaches the WAL first.
constexpr const char* kStoreSql =
    "INSERT INTO pgtrickle.relay_offsets AS o (relay_group_id, pipeline, last_seq, last_id, next_row, worker_id, updated_at, outbox) "
    "SELECT a.g, a.p, a.seq, a.id, a.next_row, a.w, now(), a.outbox "
    "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit, "
    "jsonb_to_recordset($1::jsonb) AS a(g text, p text, seq bigint, id bigint, next_row bigint, w text, outbox text, epoch bigint) "
    "WHERE EXISTS (SELECT 1 FROM pgtrickle.relay_owners r WHERE r.relay_group_id = a.g AND r.pipeline = a.p "
    "AND r.epoch = a.epoch FOR SHARE) "
    "ON CONFLICT (relay_group_id, pipeline) DO UPDATE "
    "SET last_seq = excluded.last_seq, last_id = excluded.last_id, next_row = excluded.next_row, "
    "worker_id = excluded.worker_id, updated_at = excluded.updated_at, outbox = excluded.outbox "
    "RETURNING o.relay_group_id, o.pipeline";

}  // namespace

Result<bool> PositionStore::store(const Entry& entry) {
  Waiting me{&entry, std::nullopt};
  std::unique_lock lock(mu_);
  pending_.push_back(&me);
  // The first to come runs a statement for everyone waiting; the others wait for it, and whoever
  // is left when it ends runs the next one.
  while (!me.outcome) {
    if (running_) {
      done_cv_.wait(lock);
      continue;
    }
    running_ = true;
    std::vector<Waiting*> batch = std::exchange(pending_, {});
    lock.unlock();
    run_batch(batch);
    lock.lock();
    running_ = false;
    done_cv_.notify_all();
  }
  return std::move(*me.outcome);
}

void PositionStore::run_batch(std::vector<Waiting*>& batch) {
  // A pipeline stores one position at a time, so no pipeline appears twice in a statement.
  std::string rows = "[";
  for (const Waiting* w : batch) {
    const Entry& e = *w->entry;
    if (rows.size() > 1) rows += ',';
    rows += "{\"g\":";
    util::append_json_string(rows, e.relay_group_id);
    rows += ",\"p\":";
    util::append_json_string(rows, e.pipeline);
    rows += ",\"w\":";
    util::append_json_string(rows, e.worker_id);
    rows += ",\"outbox\":";
    util::append_json_string(rows, e.outbox);
    rows += ",\"seq\":" + std::to_string(e.seq) + ",\"id\":" + std::to_string(e.id) +
            ",\"next_row\":" + (e.next_row ? std::to_string(*e.next_row) : std::string("null")) +
            ",\"epoch\":" + std::to_string(e.epoch) + "}";
  }
  rows += ']';
  auto lease = pool_.borrow(pg::PooledSession::kWait);
  Result<pg::PgResult> r = lease ? (*lease)->exec_cached(kStoreSql, {rows}) : Result<pg::PgResult>(lease.error());
  std::set<std::pair<std::string, std::string>> stored;
  if (r)
    for (int i = 0; i < r->rows(); ++i) stored.emplace(r->str(i, 0), r->str(i, 1));
  std::lock_guard lock(mu_);
  for (Waiting* w : batch) {
    if (!r) w->outcome.emplace(r.error());
    else w->outcome.emplace(stored.count({w->entry->relay_group_id, w->entry->pipeline}) > 0);
  }
}

}  // namespace relay::postgres
