#include "backends/postgres/change_source.h"
#include "backends/postgres/relay_shared.h"
#include "backends/postgres/table_shape.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>

#include <nlohmann/json.hpp>

namespace relay::postgres {

namespace {

// The position is committed without waiting for its WAL flush (synchronous_commit off, for this
// statement only): a database crash may forget the last positions, and their rows are then sent
// again with the same identity (at-least-once), but the next batch does not wait for an fsync.
// Anything written before it (dead letters) reaches the WAL first, so it is never lost alone.
// $1 relay group, $2 pipeline, $8 the epoch the relay took it with (Fence): nothing is stored once
// another relay took the pipeline over. FOR SHARE: a relay taking over bumps the epoch with an
// UPDATE, which waits for this statement's transaction; a statement that starts after the bump sees
// the new epoch and stores nothing. The same text for every pipeline, so each pooled connection
// prepares it once.
#define RELAY_ACK_SQL                                                                                                     \
  "INSERT INTO pgtrickle.relay_offsets AS o (relay_group_id, pipeline, last_seq, last_id, next_row, worker_id, updated_at, outbox) " \
  "SELECT $1::text, $2::text, $3::bigint, $4::bigint, $5::bigint, $6::text, now(), $7::text "                            \
  "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "                                         \
  "WHERE EXISTS (SELECT 1 FROM pgtrickle.relay_owners WHERE relay_group_id = $1::text AND pipeline = $2::text "          \
  "AND epoch = $8::bigint FOR SHARE) "                                                                                   \
  "ON CONFLICT (relay_group_id, pipeline) DO UPDATE "                                                                    \
  "SET last_seq = excluded.last_seq, last_id = excluded.last_id, next_row = excluded.next_row, "                         \
  "worker_id = excluded.worker_id, updated_at = excluded.updated_at, outbox = excluded.outbox"
constexpr const char* kAckSql = RELAY_ACK_SQL;

// A position and a backfill's progress, in one statement: (the position's count, the backfill's).
// $9 last key, $10 rows done, $11 rows sent, $12 finished, $13 the backfill.
constexpr const char* kAckBackfillSql =
    "WITH pos AS (" RELAY_ACK_SQL " RETURNING 1), "
    "bf AS (UPDATE pgtrickle.relay_backfills SET state = CASE WHEN $12::boolean THEN 'done' ELSE 'running' END, "
    "last_key = $9::jsonb, rows_done = $10::bigint, rows_sent = $11::bigint, started_at = coalesce(started_at, now()), "
    "updated_at = now(), finished_at = CASE WHEN $12::boolean THEN now() END "
    "WHERE id = $13::bigint AND state IN ('pending', 'running') AND EXISTS (SELECT FROM pos) RETURNING 1) "
    "SELECT (SELECT count(*) FROM pos), (SELECT count(*) FROM bf)";
#undef RELAY_ACK_SQL

}  // namespace

ChangeSource::ChangeSource(const PipelineConfig& config, const BuildContext& ctx)
    : config_(config), ctx_(ctx), db_(ctx.db) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ready_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  room_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

ChangeSource::~ChangeSource() { stop(); }

// ---- start ------------------------------------------------------------------------------------

Result<ExpandOptions> ChangeSource::pipeline_options() {
  ExpandOptions opt;
  opt.key_columns = config_.key_columns;
  if (!config_.key_template.empty()) {
    auto t = Template::compile(config_.key_template);
    if (!t) return t.error();
    key_template_ = std::move(*t);
    opt.key_template = &key_template_;
  }
  opt.granularity = config_.granularity;
  opt.format = config_.format;
  if (config_.format == Format::cloudevents && config_.cloudevents_binary) format::cloudevents_binding(config_.sink_type, opt);
  opt.routes = ctx_.sink_routes;
  if (config_.format == Format::outbox_event_router) {
    opt.key_given = !config_.key_columns.empty() || !config_.key_template.empty();
    opt.router = std::make_shared<const debezium::OutboxEventRouter>(config_.debezium.router, config_.debezium.schemas);
    // The router expects only inserts; an update of an outbox row is logged as its
    // table.op.invalid.behavior says (fatal: dead-lettered).
    const bool as_error = config_.debezium.router.on_update == debezium::RouterOptions::OnUpdate::error;
    opt.skipped_update = [log = ctx_.log, as_error](std::string_view table) {
      const std::string what = "An UPDATE of an outbox row was not sent: the outbox event router sends inserted rows (table.op.invalid.behavior).";
      if (as_error) log->error(what, {{"table", std::string(table)}});
      else log->warn(what, {{"table", std::string(table)}});
    };
  }
  return opt;
}

Status ChangeSource::attach_debezium(ExpandOptions& opt, std::uint32_t table_oid) {
  if (!debezium_family(config_.format)) return {};
  if (!table_oid)
    return fatal(fmt::format("pipeline \"{}\": \"format\": \"debezium\" describes a table's row changes, and the outbox {} "
                             "captures no table (it holds application events): use \"format\": \"json\" or \"cloudevents\"",
                             config_.name, opt.outbox));
  auto db = db_->borrow();
  if (!db) return db.error();
  if (opt.key_columns.empty() && !opt.key_template) {
    // A table whose outbox names no key (pg_trickle's stream tables): its primary key, as
    // Debezium's events are keyed, which also pairs an update's two rows into one event.
    auto key = primary_key(**db, table_oid);
    if (!key) return key.error();
    opt.key_columns = std::move(*key);
  }
  auto encoder = make_event_encoder(**db, table_oid, opt.key_columns, config_.debezium);
  if (!encoder) return encoder.error();
  opt.debezium = std::move(*encoder);
  opt.tombstones = config_.debezium.tombstones;
  opt.skipped_operations = config_.debezium.skipped;
  // Called on the thread that expands rows, rarely: a connection of its own, opened when first needed.
  auto side = std::make_shared<pg::Connection>();
  opt.reload_debezium = [side, table_oid, key = opt.key_columns, options = config_.debezium, url = ctx_.postgres_url,
                         app = "pgtrickle-relay columns " + config_.name]() mutable
      -> Result<std::shared_ptr<const debezium::EventEncoder>> {
    if (!side->ok()) {
      auto c = pg::Connection::open(url, app);
      if (!c) return c.error();
      *side = std::move(*c);
    }
    return make_event_encoder(*side, table_oid, key, options);
  };
  return {};
}

// A pipeline defined in SQL has one position, whichever relay group ran it last: one that moved to
// another group (or ran in a relay's own group before pipelines had one) carries on from the
// position stored most recently, instead of starting over.
Result<bool> ChangeSource::load_position() {
  auto stored = load_stored_position();
  if (!stored) return stored;
  return catch_up_with_sink(*stored);
}

Result<bool> ChangeSource::load_stored_position() {
  auto off = db_->exec(config_.origin == "sql"
                           ? "SELECT last_seq, last_id, next_row, relay_group_id FROM pgtrickle.relay_offsets WHERE pipeline = $2 "
                             "ORDER BY relay_group_id = $1 DESC, updated_at DESC LIMIT 1"
                           : "SELECT last_seq, last_id, next_row, relay_group_id FROM pgtrickle.relay_offsets "
                             "WHERE relay_group_id = $1 AND pipeline = $2",
                       {ctx_.relay_group_id, config_.name});
  if (!off) return off.error();
  if (off->rows() != 1) return false;
  read_.seq = off->int64(0, 0);
  read_.id = off->int64(0, 1);
  read_.next_row = off->null(0, 2) ? -1 : off->int64(0, 2);
  if (off->text(0, 3) != ctx_.relay_group_id)
    ctx_.log->info("Carrying on from the position stored under another relay group.",
                   {{"stored_under", std::string(off->text(0, 3))}, {"relay_group_id", ctx_.relay_group_id}});
  return true;
}

Status ChangeSource::backfill_initial(bool stored) {
  if (!config_.backfill_initial || stored) return {};
  // Its estimate plans the table through its owner's policies: owner's code, kept off shared sessions.
  auto b = pg::Connection::exec_apart(ctx_.postgres_url, "pgtrickle-relay backfill " + config_.name,
                                      "SELECT pgtrickle._relay_backfill_initial($1, $2)", {config_.name, outbox_table_});
  if (!b) return b.error();
  if (!b->null(0, 0)) ctx_.log->info("The pipeline starts with no stored position: its tables' existing rows go first.",
                                     {{"backfill_id", b->str(0, 0)}});
  return {};
}

Status ChangeSource::check_stream_position(bool stored, bool from_wal) {
  if (config_.source_type != "pgstream" || !stored) return {};
  auto slot = db_->exec("SELECT EXISTS (SELECT FROM pgtrickle.relay_slots WHERE pipeline = $1 AND outbox = $2)",
                        {config_.name, outbox_table_});
  if (!slot) return slot.error();
  if (slot->boolean(0, 0) == from_wal) return {};
  return fatal(fmt::format("the pipeline has read its stream from the {} so far, and its position means nothing when read "
                           "from the {}; to change read_from, delete the pipeline (SELECT pgtrickle.delete_relay('{}'), "
                           "which forgets its position) and define it again",
                           from_wal ? "events table" : "WAL", from_wal ? "WAL" : "events table", config_.name));
}

// Counting a large backlog takes PostgreSQL a while (about 0.1 s per 200,000 rows) and must not hold
// up delivery. No parallel workers: they would take the cores the delivery needs, for a monitoring figure.
Status ChangeSource::open_lag(const std::string& lag_sql) {
  auto l = pg::Connection::open(ctx_.postgres_url, "pgtrickle-relay lag " + config_.name);
  if (!l) return l.error();
  lag_db_ = std::move(*l);
  (void)lag_db_.exec("SET max_parallel_workers_per_gather = 0");
  if (auto s = lag_db_.prepare("ob_lag", lag_sql); !s) return s;
  lag_pending_ = false;
  return {};
}

Status ChangeSource::pool_lag(const std::string& lag_sql) {
  if (!ctx_.pool) return open_lag(lag_sql);
  lag_sql_ = lag_sql;
  lag_pending_ = false;
  return {};
}

bool ChangeSource::send_lag_count(const pg::Params& params) {
  if (lag_sql_.empty()) return lag_db_.send_prepared("ob_lag", params).has_value();
  auto lease = ctx_.pool->try_borrow();
  if (!lease || !*lease) return false;  // every pooled connection is busy: counted next time
  if (!(*lease)->send(lag_sql_, params)) return false;
  lag_lease_ = std::move(*lease);
  return true;
}

void ChangeSource::launch() {
  acked_ = read_;
  reading_ = true;
  ctx_.executor->spawn(read_loop(), [this] { reader_ended_.signal(); });
}

// ---- the pipeline's loop -----------------------------------------------------------------------

Result<Batch> ChangeSource::poll(Deadline) {
  std::lock_guard lock(mu_);
  // Cleared before the queue is read: a batch queued after this signals again.
  std::uint64_t signalled;
  [[maybe_unused]] auto r = ::read(ready_fd_, &signalled, sizeof signalled);
  if (!queue_.empty()) {
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    // Batches read ahead while the sink was busy go out together (up to batch_size): under a
    // steady trickle of commits, rows then wait for one delivery, not for each queued one.
    const size_t most = static_cast<size_t>(std::max(1, config_.batch_size));
    while (!queue_.empty() && b.messages.size() + queue_.front().messages.size() <= most) {
      Batch& next = queue_.front();
      std::move(next.messages.begin(), next.messages.end(), std::back_inserter(b.messages));
      // The later position covers the earlier one, and so does a backfill's later progress; an
      // earlier batch's progress is kept when the later batch carries none.
      auto earlier = std::static_pointer_cast<Position>(b.token);
      auto later = std::static_pointer_cast<Position>(next.token);
      if (earlier && earlier->backfill && !later->backfill) {
        later = std::make_shared<Position>(*later);
        later->backfill = earlier->backfill;
      }
      b.token = std::move(later);
      queue_.pop_front();
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(room_fd_, &one, sizeof one);
    ctx_.executor->signalled(room_fd_);
    return b;
  }
  if (error_) return *error_;
  return Batch{};
}

void ChangeSource::wait(Deadline deadline) {
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      if (!queue_.empty() || error_) return;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fds[2] = {{ready_fd_, POLLIN, 0}, {ctx_.wake_fd, POLLIN, 0}};
    int n = ::poll(fds, ctx_.wake_fd >= 0 ? 2 : 1, static_cast<int>(std::max<long long>(ms, 0)));
    if (fds[0].revents & POLLIN) {
      std::uint64_t v;
      [[maybe_unused]] auto r = ::read(ready_fd_, &v, sizeof v);
    }
    if (n <= 0 || (ctx_.wake_fd >= 0 && fds[1].revents)) return;
  }
}

Status ChangeSource::ack(const Batch& batch) {
  const auto& p = *std::static_pointer_cast<Position>(batch.token);
  auto stored = store_position(p);
  if (!stored) return stored.error();
  if (!*stored) return retriable("the position was not stored: another relay of the group owns the pipeline now");
  if (const auto& b = p.backfill) backfill_acked(*b);
  acked_ = p;
  acked(batch, p);
  return {};
}

Result<bool> ChangeSource::store_position(const Position& p) {
  // Stored on a pooled connection: reading runs on connections of the source's own. The position
  // only moves while this relay owns the pipeline (a stalled former owner's ack is refused).
  if (auto* shared = ctx_.shared_of<RelayShared>(); !p.backfill && shared) {
    // Stored with the positions of the relay's other pipelines, in one statement.
    return shared->positions.store({ctx_.relay_group_id, config_.name, ctx_.worker_id, outbox_table_, p.seq, p.id,
                                    p.next_row >= 0 ? std::optional<std::int64_t>(p.next_row) : std::nullopt, ctx_.fence_epoch});
  }
  pg::Params args{ctx_.relay_group_id, config_.name, std::to_string(p.seq), std::to_string(p.id),
                  p.next_row >= 0 ? std::optional<std::string>(std::to_string(p.next_row)) : std::nullopt,
                  ctx_.worker_id, outbox_table_, std::to_string(ctx_.fence_epoch)};
  if (const auto& b = p.backfill)  // the backfill's progress is stored with the position, in the same statement
    args.insert(args.end(), {b->last_key.empty() ? std::nullopt : std::optional<std::string>(b->last_key),
                             std::to_string(b->rows_done), std::to_string(b->rows_sent), b->finished ? "true" : "false",
                             std::to_string(b->id)});
  auto r = db_->exec_cached(p.backfill ? kAckBackfillSql : kAckSql, args);
  if (!r) return r.error();
  return p.backfill ? r->int64(0, 0) > 0 : r->affected() > 0;
}

// ---- exactly once ------------------------------------------------------------------------------

namespace {

nlohmann::json position_json(const Position& p) { return nlohmann::json::array({p.seq, p.id, p.next_row}); }

bool read_position(const nlohmann::json& j, Position& p) {
  if (!j.is_array() || j.size() != 3 || !j[0].is_number_integer() || !j[1].is_number_integer() || !j[2].is_number_integer()) return false;
  p.seq = j[0].get<std::int64_t>();
  p.id = j[1].get<std::int64_t>();
  p.next_row = j[2].get<std::int64_t>();
  return true;
}

bool same_place(const Position& a, const Position& b) { return a.seq == b.seq && a.id == b.id && a.next_row == b.next_row; }

}  // namespace

// {"from": where the pipeline stood before the batch, "to": after it, "backfill": its progress after
// it}: batches are committed one at a time, so `from` is the position acknowledged last.
std::string ChangeSource::position_record(const Batch& batch) {
  const auto& to = *std::static_pointer_cast<Position>(batch.token);
  nlohmann::json j{{"from", position_json(acked_)}, {"to", position_json(to)}};
  if (const auto& b = to.backfill)
    j["backfill"] = {{"id", b->id}, {"last_key", b->last_key}, {"rows_done", b->rows_done}, {"rows_sent", b->rows_sent},
                     {"finished", b->finished}};
  return j.dump();
}

// The sink committed a batch, and its position in the same transaction, whose position was not
// stored here: the relay stopped between the two. The pipeline carries on after it, as it would
// have had its ack been stored. A record of any other batch (an older one, one of a pipeline of the
// same name deleted since) leaves the stored position alone: only the batch that begins where the
// stored position stands can be the one not stored.
Result<bool> ChangeSource::catch_up_with_sink(bool stored) {
  if (committed_.empty()) return stored;
  auto rec = nlohmann::json::parse(committed_, nullptr, false);
  Position from, to;
  if (!rec.is_object() || !read_position(rec.value("from", nlohmann::json()), from) || !read_position(rec.value("to", nlohmann::json()), to)) {
    ctx_.log->warn("The position committed with the last Kafka transaction is not one this relay wrote; it is ignored.",
                   {{"record", committed_.substr(0, 200)}});
    return stored;
  }
  if (!same_place(from, read_)) return stored;
  bool ahead = !same_place(to, from);
  if (const auto& b = rec.value("backfill", nlohmann::json()); b.is_object()) {
    // Read with the types this relay writes: anyone who may write to the positions' topic could
    // have written another.
    auto int_at = [&](const char* key) {
      auto it = b.find(key);
      return it != b.end() && it->is_number_integer() ? it->get<std::int64_t>() : std::int64_t{0};
    };
    const auto last_key = b.find("last_key"), finished = b.find("finished");
    to.backfill = Backfill::Progress{int_at("id"),
                                     last_key != b.end() && last_key->is_string() ? last_key->get<std::string>() : std::string(),
                                     int_at("rows_done"), int_at("rows_sent"),
                                     finished != b.end() && finished->is_boolean() && finished->get<bool>()};
    // A batch of backfilled rows leaves the position where it was: the backfill's progress says
    // whether it was stored.
    auto done = db_->exec("SELECT rows_done FROM pgtrickle.relay_backfills WHERE id = $1 AND state IN ('pending', 'running')",
                          {std::to_string(to.backfill->id)});
    if (!done) return done.error();
    ahead = ahead || (done->rows() == 1 && done->int64(0, 0) < to.backfill->rows_done);
  }
  if (!ahead) return stored;
  auto s = store_position(to);
  if (!s) return s.error();
  if (!*s) return retriable("the position was not stored: another relay of the group owns the pipeline now");
  ctx_.log->info("Carrying on after the last batch committed in Kafka (the relay stopped before it stored that batch's position).",
                 {{"position", fmt::format("{}/{}", to.seq, to.id)}});
  read_.seq = to.seq;
  read_.id = to.id;
  read_.next_row = to.next_row;
  return true;
}

// Starts a count from the current position and waits a moment for it: a small backlog is counted at
// once; a large one finishes in the background and is reported at the next call. -1 until the
// first count finishes.
SourceStatus ChangeSource::status() {
  SourceStatus s;
  lag(s.lag_rows, s.lag_seconds);
  s.backfill = backfill();
  return s;
}

void ChangeSource::lag(std::int64_t& rows, double& seconds) {
  if (!lag_pending_) lag_pending_ = send_lag();
  pg::Connection& counter = lag_lease_ ? *lag_lease_ : lag_db_;
  const Deadline until = Clock::now() + std::chrono::milliseconds(20);
  while (lag_pending_ && !counter.result_ready() && Clock::now() < until) {
    pollfd fd{counter.socket(), POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count())));
  }
  if (lag_pending_ && counter.result_ready()) {
    lag_pending_ = false;
    auto r = counter.receive("the lag count");
    if (r && r->rows() == 1) read_lag(*r);
    lag_lease_ = {};  // given back to the pool
  }
  rows = lag_rows_;
  seconds = lag_seconds_;
}

std::optional<BackfillStatus> ChangeSource::backfill() {
  std::lock_guard lock(status_mu_);
  return backfill_status_;
}

int ChangeSource::begin_stop() {
  if (!reading_) return -1;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  ctx_.executor->signalled(stop_fd_);
  return reader_ended_.fd();
}

void ChangeSource::stop() {
  if (int ended = begin_stop(); ended >= 0) {
    pollfd fd{ended, POLLIN, 0};
    while (::poll(&fd, 1, -1) <= 0) {
    }
    reading_ = false;
  }
  for (int fd : {stop_fd_, ready_fd_, room_fd_})
    if (fd >= 0) ::close(fd);
  stop_fd_ = ready_fd_ = room_fd_ = -1;
}

// ---- the reader -------------------------------------------------------------------------------

// Reads and expands batches ahead of the sink.
Task<void> ChangeSource::read_loop() {
  while (true) {
    if (!co_await wait_for_room()) co_return;
    auto batch = read_batch();
    if (!batch) {
      fail(batch.error());
      co_return;
    }
    if (!batch->empty()) {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(*batch));
      signal_ready();
      continue;
    }
    co_await wait_for_changes();
  }
}

void ChangeSource::fail(Error error) {
  std::lock_guard lock(mu_);
  error_ = std::move(error);
  signal_ready();
}

// Waits until the queue has room for a batch (true), or the source stops or fails (false), however
// long the sink is down. Reading pauses once the queue stayed full a moment: a backlog's read gives
// its pooled connection back rather than hold it while the sink is slow or down.
Task<bool> ChangeSource::wait_for_room() {
  constexpr auto kPauseAfter = std::chrono::milliseconds(200);
  const auto full_since = Clock::now();
  bool paused = false;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) co_return false;
      if (queue_.size() < kQueueDepth) co_return true;
    }
    Deadline until = paused ? Clock::now() + std::chrono::milliseconds(5000) : full_since + kPauseAfter;
    int woken = co_await ctx_.executor->readable(until, room_fd_, stop_fd_);
    if (woken == 0) {
      std::uint64_t v;
      [[maybe_unused]] auto r = ::read(room_fd_, &v, sizeof v);
    }
    if (woken < 0 && !paused) {
      pause_reading();
      paused = true;
    } else if (woken < 0) {
      if (auto alive = keep_alive(); !alive) {
        fail(alive.error());
        co_return false;
      }
    }
  }
}

void ChangeSource::signal_ready() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(ready_fd_, &one, sizeof one);
  ctx_.executor->signalled(ready_fd_);
}

// ---- backfill ---------------------------------------------------------------------------------

// Between batches: takes up a backfill requested since the last look (at most once a second) and
// reads its next chunk when none is held. A backfill that can no longer run (its table dropped, the
// condition failing) is ended with the reason, and the pipeline goes on with its changes.
Status ChangeSource::backfill_turn() {
  if (!reads_a_table()) return {};  // an event outbox: no table
  if (!backfill_ && Clock::now() >= backfill_look_) {
    backfill_look_ = Clock::now() + std::chrono::seconds(1);
    auto found = look_for_backfill();
    if (!found) return found.error();
    // One whose last batch is on its way to the sink is not taken up again.
    if (*found && (*found)->id() != finished_backfill_) {
      if (auto s = (*found)->connect(ctx_.postgres_url, "pgtrickle-relay backfill " + config_.name); !s) return s;
      backfill_ = std::move(**found);
      const auto& p = backfill_->progress();
      {
        std::lock_guard lock(status_mu_);
        backfill_status_ = BackfillStatus{p.id, p.rows_done, p.rows_sent, backfill_->rows_estimated(), 0, 0, false, backfill_->table()};
        backfill_began_ = Clock::now();
        backfill_rows_before_ = p.rows_done;
      }
      ctx_.log->info(p.last_key.empty() ? "Backfilling the table's existing rows." : "Resuming the backfill of the table's rows.",
                     {{"table", backfill_->table()}, {"backfill_id", std::to_string(p.id)},
                      {"rows_estimated", std::to_string(backfill_->rows_estimated())},
                      {"after_key", p.last_key.empty() ? std::string("none") : p.last_key}});
    }
  }
  if (!backfill_ || backfill_->has_chunk()) return {};
  if (!backfill_->reading())
    if (auto s = start_chunk_read(); !s || !backfill_) return s;
  auto read = finish_chunk_read();
  // Cancelled while the chunk was read: its rows do not go out.
  if (auto still = read ? backfill_->wanted() : Result<bool>(true); !still || !*still) {
    if (!still) return still.error();
    cancelled();
    return {};
  }
  return backfill_failed(std::move(read));
}

bool ChangeSource::backfill_requested() {
  if (!reads_a_table() || backfill_ || !ctx_.backfills) return false;
  auto requested = ctx_.backfills->contains(config_.name);
  return !requested || *requested;  // a failed lookup: the look itself reports it
}

// On a connection borrowed from the relay's pool (the source's own when the relay has none), and
// only when the relay's shared look (one statement a second for all its pipelines) lists this
// pipeline: a look once a second must cost neither a connection nor a statement per pipeline.
Result<std::optional<Backfill>> ChangeSource::look_for_backfill() {
  if (!ctx_.pool) return Backfill::find(*side_connection(), config_.name, config_.backfill_chunk_rows);
  if (ctx_.backfills) {
    auto requested = ctx_.backfills->contains(config_.name);
    if (!requested) return requested.error();
    if (!*requested) return std::optional<Backfill>();
  }
  auto lease = ctx_.pool->try_borrow();
  if (!lease) return lease.error();
  if (!*lease) return std::optional<Backfill>();  // every pooled connection is busy: the next look
  return Backfill::find(**lease, config_.name, config_.backfill_chunk_rows);
}

Status ChangeSource::start_chunk_read() {
  auto sent = send_chunk_read();
  if (sent && !*sent) {
    cancelled();
    return {};
  }
  return backfill_failed(sent ? Status{} : Status(sent.error()));
}

// When the database answered, the read itself fails (the table dropped, the condition failing) and
// the backfill is ended with the reason; else the pipeline starts again.
Status ChangeSource::backfill_failed(Status s) {
  if (s || !backfill_->connected()) return s;
  if (auto still = backfill_->wanted(); still && !*still) {  // cancelled while its read ran
    cancelled();
    return {};
  }
  ctx_.log->error("The backfill cannot read its table and is ended; the pipeline goes on with the table's changes.",
                  {{"backfill_id", std::to_string(backfill_->id())}, {"error", s.error().message}});
  record_backfill_end(std::to_string(backfill_->id()), s.error().message);
  end_backfill();
  return {};
}

// Ending a WAL pipeline's backfill starts its next table's, whose estimate plans that table through
// its owner's policies: owner's code, kept off shared sessions.
void ChangeSource::record_backfill_end(const std::string& id, const std::optional<std::string>& error) {
  (void)pg::Connection::exec_apart(ctx_.postgres_url, "pgtrickle-relay backfill " + config_.name,
                                    "SELECT pgtrickle._relay_backfill_end($1, $2)", {id, error});
}

Result<Batch> ChangeSource::backfill_batch(Batch batch) {
  Backfill::Progress progress;
  auto expander = backfill_expander();
  if (!expander) return expander.error();
  backfill_->take(static_cast<size_t>(std::max(1, config_.batch_size)), **expander, batch.messages, progress);
  auto pos = std::make_shared<Position>(read_);
  pos->backfill = progress;
  batch.token = std::move(pos);
  if (!backfill_->has_chunk()) {
    chunk_due_ = false;
    if (progress.finished) end_backfill();
  } else if (!backfill_->reading() && !backfill_->last_chunk()) {
    // The next chunk is read while this one goes to the sink.
    if (auto s = start_chunk_read(); !s) return s.error();
  }
  return batch;
}

void ChangeSource::cancelled() {
  ctx_.log->info("The backfill was cancelled; the pipeline goes on with the table's changes.",
                 {{"backfill_id", std::to_string(backfill_->id())}});
  end_backfill();
}

// The backfill ends here (done, cancelled or failed): /health no longer shows it.
void ChangeSource::end_backfill() {
  finished_backfill_ = backfill_->id();
  {
    std::lock_guard lock(status_mu_);
    if (backfill_status_) backfill_status_->finished = true;
  }
  backfill_.reset();
  chunk_due_ = false;
  backfill_ended();
}

// The status follows; a finished backfill's chunk function goes.
void ChangeSource::backfill_acked(const Backfill::Progress& p) {
  {
    std::lock_guard lock(status_mu_);
    if (!backfill_status_ || backfill_status_->id != p.id) backfill_status_ = BackfillStatus{p.id};
    auto& s = *backfill_status_;
    s.rows_done = p.rows_done;
    s.rows_sent = p.rows_sent;
    s.rows_done_here = p.rows_done - backfill_rows_before_;
    double elapsed = std::chrono::duration<double>(Clock::now() - backfill_began_).count();
    s.rows_per_second = elapsed > 0 ? static_cast<double>(s.rows_done_here) / elapsed : 0;
    s.finished = s.finished || p.finished;  // ended here already (cancelled) stays ended
  }
  if (p.finished) {
    record_backfill_end(std::to_string(p.id), std::nullopt);
    ctx_.log->info("The backfill is done: every existing row of the table was sent or superseded by its change.",
                   {{"backfill_id", std::to_string(p.id)}, {"rows_done", std::to_string(p.rows_done)},
                    {"rows_sent", std::to_string(p.rows_sent)}});
  }
}

// ---- claim-check transactions -----------------------------------------------------------------

// Rows are streamed, never all held in memory.
Result<Batch> ChangeSource::claim_check_chunk(Batch batch, size_t room) {
  ClaimCheck& cc = *cc_;
  size_t limit = room + 1;  // one more, to pair a trailing DELETE
  auto rows = delta_rows(cc, limit);
  if (!rows) return rows.error();
  bool last = rows->size() < limit;
  size_t consumed = 0;
  if (backfill_ && backfill_->has_chunk() && after_chunk_read(cc.row))
    for (const auto& d : *rows) {
      if (!of_backfilled_table(d)) continue;
      if (d.is_truncate) backfill_->truncated();
      else backfill_->changed(d.data);
    }
  batch.messages.reserve(batch.messages.size() + rows->size());  // one message a row, mostly: grown once
  expand_delta_rows(cc.row, *rows, last, consumed, batch.messages);
  if (last && consumed == rows->size()) {
    read_ = {cc.row.seq, cc.row.id, -1};
    cc_.reset();
  } else {
    // The extra row is read again next time when it was not needed.
    cc.next_row = consumed < rows->size() ? (*rows)[consumed].row_num : rows->back().row_num + 1;
    read_ = {cc.row.seq, cc.row.id, cc.next_row};
  }
  batch.token = std::make_shared<Position>(read_);
  return batch;
}

}  // namespace relay::postgres
