// The outbox source: reads an outbox table in commit order (OutboxReader), a pgstream stream's
// events too, and turns its rows into messages. A table captured from the WAL is read by the WAL
// source instead (wal_source.cpp); what both share is ChangeSource's.
#include <fmt/format.h>

#include <algorithm>

#include "backends/postgres/change_source.h"
#include "backends/postgres/outbox_reader.h"
#include "backends/postgres/outbox_target.h"
#include "backends/postgres/relay_shared.h"
#include "backends/postgres/table_shape.h"
#include "backends/postgres/stream_partitions.h"
#include "backends/postgres/wal_source.h"
#include "util/json_scan.h"

namespace relay::postgres {
namespace {

class OutboxSource final : public ChangeSource {
 public:
  OutboxSource(const PipelineConfig& config, const BuildContext& ctx, OutboxTarget target)
      : ChangeSource(config, ctx), target_(std::move(target)) {}
  ~OutboxSource() override { stop(); }

  Status start() override {
    outbox_table_ = target_.table.outbox;
    auto opt = pipeline_options();
    if (!opt) return opt.error();
    target_.fill(*opt, config_);
    if (debezium_family(config_.format)) {
      auto db = db_->borrow();
      if (!db) return db.error();
      auto table = outbox_source_table(**db, target_.table.outbox, target_.stream_table);
      if (!table) return table.error();
      if (auto s = attach_debezium(*opt, *table); !s) return s;
    }
    expander_.emplace(std::move(*opt));

    auto stored = load_position();
    if (!stored) return stored.error();
    if (auto s = check_stream_position(*stored, false); !s) return s;
    if (auto s = backfill_initial(*stored); !s) return s;
    std::string t = pg::quote_ident(outbox_table_);
    std::string lag_sql =
        target_.table.legacy
            ? fmt::format("SELECT count(*), extract(epoch from now() - min(o.created_at))::float8 FROM pgtrickle.{} o "
                          "WHERE o.id > $2 AND $1::bigint >= 0", t)
            // The messages of commits numbered after the position, and of commits not numbered yet
            // (numbering happens when a reader reads: a sink retrying holds it back, and the
            // rows waiting meanwhile count too). Rows not numbered yet are past the position's id,
            // but for a transaction that began before it and committed after: those are counted
            // once numbered. A statement's outbox row is as many messages as it changed rows
            // (an update's old and new rows are one), or one with granularity "delta"; an
            // application's event is one.
            : fmt::format("SELECT coalesce(sum(w.n), 0), extract(epoch from clock_timestamp() - min(w.at))::float8 FROM ("
                          "SELECT c.committed_at AS at, {2} AS n FROM pgtrickle.outbox_commits c JOIN pgtrickle.{0} o ON o.xid = c.xid "
                          "WHERE c.outbox = {1} AND c.seq IS NOT NULL AND (c.seq > $1 OR (c.seq = $1 AND o.id > $2)) "
                          "UNION ALL SELECT o.created_at, {2} FROM pgtrickle.{0} o WHERE o.id > $2 AND NOT EXISTS "
                          "(SELECT FROM pgtrickle.outbox_commits c WHERE c.outbox = {1} AND c.xid = o.xid AND c.seq IS NOT NULL)) w",
                          t, pg::quote_literal(outbox_table_),
                          config_.granularity == Granularity::delta
                              ? "1"
                              : "CASE WHEN o.kind = 'event' THEN 1 ELSE greatest(o.inserted_count, o.deleted_count, 1) END");
    if (auto s = pool_lag(lag_sql); !s) return s;

    size_t stream_rows = std::max<size_t>(100000, static_cast<size_t>(config_.batch_size) * 20);
    auto* shared = ctx_.shared_of<RelayShared>();
    if (!shared || !ctx_.pool) return fatal("an outbox pipeline runs in a relay: its pool and numbering sessions are missing");
    reader_.emplace(*ctx_.pool, shared->listener, target_.table, stream_rows, shared->numbering, stop_fd_);
    reader_->connect();
    reader_->start_after(read_.seq, read_.id, read_.next_row >= 0);
    launch();
    if (config_.source_type == "pgstream") partitions_.emplace(ctx_.postgres_url, config_.name, ctx_.log);
    ctx_.log->info("Reading the outbox.", {{"outbox", outbox_table_},
                                           {"position", fmt::format("{}/{}", read_.seq, read_.id)},
                                           {"kind", target_.table.legacy ? "pg_trickle" : "relay"}});
    return {};
  }

  SourceStatus status() override {
    SourceStatus s = ChangeSource::status();
    if (partitions_) s.kept_past_retention = partitions_->kept_past_retention();
    return s;
  }

  void stop() override {
    partitions_.reset();
    ChangeSource::stop();
  }

 private:
  // The next outbox rows in commit order, up to batch_size messages; a claim-check row's chunks, or
  // the backfill's chunk once the stream passed its window.
  Result<Batch> read_batch() override {
    Batch batch;
    // A trickle's batch holds a message or two: room grows with a backlog rather than being taken
    // whole (a thousand idle pipelines would keep a thousand batch_size arrays).
    batch.messages.reserve(std::min(config_.batch_size, 64));
    if (cc_) return claim_check_chunk(std::move(batch), static_cast<size_t>(config_.batch_size));
    if (auto s = backfill_turn(); !s) return s.error();
    if (chunk_due_) return backfill_batch(std::move(batch));
    Position pos = read_;
    size_t consumed = 0;
    bool looked_again = false;
    OutboxRow& row = row_;
    while (batch.messages.size() < static_cast<size_t>(config_.batch_size)) {
      if (held_) {
        row = std::move(*held_);
        held_.reset();
      } else {
        auto more = reader_->next(row);
        if (!more) return more.error();
        if (!*more && reader_->waiting_for_pool()) break;  // what was read goes out; the rest after its turn
        if (!*more) {
          // Every row numbered up to the reader's watermark was read: a chunk whose window ends there
          // is due; one whose window ends beyond it waits for a read up to a newer watermark.
          if (backfill_ && backfill_->has_chunk()) {
            if (reader_->watermark() >= backfill_->high()) chunk_due_ = true;
            else if (!looked_again) {
              reader_->look_again();
              looked_again = true;
              continue;
            }
          }
          break;
        }
      }
      if (backfill_ && backfill_->has_chunk()) {
        if (row.seq > backfill_->high()) {  // past the chunk's window: its rows go out first
          held_ = std::move(row);
          chunk_due_ = true;
          break;
        }
        if (row.seq > backfill_->low()) changed_in_window(row);
      }
      bool resumed = read_.id == row.id && read_.next_row >= 0;  // a claim-check row partly delivered
      if (row.is_claim_check || resumed) {
        if (consumed) {
          held_ = std::move(row);  // its chunks start the next batch
          break;
        }
        cc_ = ClaimCheck{std::move(row), resumed ? read_.next_row : 1};
        return claim_check_chunk(std::move(batch), static_cast<size_t>(config_.batch_size));
      }
      expander_->expand_row(row, batch.messages);
      pos = {row.seq, row.id, -1};
      ++consumed;
    }
    if (consumed == 0) return chunk_due_ ? backfill_batch(std::move(batch)) : batch;
    read_ = pos;
    batch.token = std::make_shared<Position>(pos);
    return batch;
  }

  // The listener wakes a waiting reader when rows come: it only looks, once a second, whether a
  // backfill was requested (the relay's one lookup), and reads at least once a minute.
  // While it waits so, everything read was handed out (read_): the lag needs no count once that
  // is acknowledged.
  Task<void> wait_for_changes() override {
    const auto every = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(config_.poll_interval_ms), std::chrono::seconds(1));
    const Deadline at_most = Clock::now() + std::chrono::minutes(1);
    while (!co_await reader_->wait_for_rows(*ctx_.executor, Clock::now() + every)) {
      if (!cc_ && !held_) {
        std::lock_guard lock(idle_mu_);
        idle_at_ = read_;
      }
      if (backfill_ || backfill_requested() || Clock::now() >= at_most) break;
    }
    std::lock_guard lock(idle_mu_);
    idle_at_.reset();
  }
  void pause_reading() override { reader_->pause(); }
  pg::Connection* side_connection() override { return nullptr; }
  bool reads_a_table() const override { return !target_.table.delta.empty(); }

  Result<std::vector<DeltaRow>> delta_rows(const ClaimCheck& cc, std::size_t limit) override {
    return reader_->delta_rows(cc.row.id, cc.next_row, limit);
  }
  void expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk, std::size_t& consumed,
                         std::vector<Message>& out) override {
    expander_->expand_delta_rows(row, rows, last_chunk, consumed, out);
  }

  // The positions of a backfill's chunk are numbers of the commit order.
  bool after_chunk_read(const OutboxRow& row) override { return row.seq > backfill_->low(); }
  Result<bool> send_chunk_read() override { return backfill_->start_read(false); }
  Status finish_chunk_read() override { return backfill_->finish_read(); }
  Result<Expander*> backfill_expander() override { return &*expander_; }

  // The rows an outbox row of the chunk's window changed: their chunk rows stay out.
  void changed_in_window(const OutboxRow& row) {
    if (row.is_event || row.payload.empty()) return;
    std::string_view p = row.payload, v;
    if (json_scan::field(p, "full_refresh", v) && v == "true") backfill_->truncated();
    for (const char* side : {"inserted", "deleted"})
      if (json_scan::field(p, side, v)) json_scan::each_element(v, [&](std::string_view r) { backfill_->changed(r); }, true);
  }

  bool send_lag() override {
    {
      // Nothing came since everything read was acknowledged: nothing waits, and no count is needed
      // (a thousand idle pipelines cost the server no statement for their lag).
      std::lock_guard lock(idle_mu_);
      if (idle_at_ && idle_at_->seq == acked_.seq && idle_at_->id == acked_.id && acked_.next_row < 0) {
        lag_rows_ = 0;
        lag_seconds_ = 0;
        return false;
      }
    }
    return send_lag_count({std::to_string(acked_.seq), std::to_string(acked_.id)});
  }
  void read_lag(const pg::PgResult& r) override {
    lag_rows_ = r.int64(0, 0);
    lag_seconds_ = r.null(0, 1) ? 0 : std::max(0.0, r.float64(0, 1));
  }

  OutboxTarget target_;
  std::optional<Expander> expander_;
  std::optional<OutboxReader> reader_;
  std::optional<OutboxRow> held_;             // read, and handed out in the next batch
  std::optional<StreamPartitions> partitions_;  // a pgstream stream: its partitions' upkeep
  std::mutex idle_mu_;
  std::optional<Position> idle_at_;  // the reader waits for the listener, everything up to here handed out
};

}  // namespace

// A table captured from the WAL is read by the WAL source; any other outbox by the outbox source.
Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig& config, const BuildContext& ctx) {
  auto target = resolve_outbox_target(config, ctx);
  if (!target) return target.error();
  if (target->wal) return make_wal_capture_source(config, ctx, std::move(*target));
  return std::unique_ptr<Source>(std::make_unique<OutboxSource>(config, ctx, std::move(*target)));
}

}  // namespace relay::postgres
