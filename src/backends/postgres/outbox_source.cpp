#include "backends/registry.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "backends/postgres/backfill.h"
#include "backends/postgres/expand.h"
#include "backends/postgres/outbox_reader.h"
#include "backends/postgres/stream_partitions.h"
#include "backends/postgres/wal_reader.h"
#include "backends/postgres/wal_tables.h"
#include "pg/copy_text.h"
#include "util/digest.h"
#include "util/json_scan.h"

namespace relay::postgres {
namespace {

using postgres::OutboxRow;

// Where the pipeline stands: every row before (seq, id) is done; next_row >= 0 means row `id` is a
// claim-check delta done up to (not including) that row number. For a table captured from the WAL,
// seq and id are both the commit LSN of a transaction, and next_row its next change.
struct Position {
  std::int64_t seq = 0;
  std::int64_t id = 0;
  std::int64_t next_row = -1;
  std::optional<Backfill::Progress> backfill;  // a batch of backfilled rows: where the backfill stands after it
};

class OutboxSource final : public Source {
 public:
  OutboxSource(const PipelineConfig& config, const BuildContext& ctx) : config_(config), ctx_(ctx) {}
  ~OutboxSource() override { stop(); }

  Status start() override {
    db_ = ctx_.db;
    if (config_.source_type == "wal") return start_wal_pipeline();
    if (auto s = resolve_target(); !s) return s;
    auto r = db_->exec("SELECT outbox_table, delta_table, coalesce(key_columns, '{}'), kind, stream_table FROM pgtrickle.resolve_outbox($1)",
                       {target()});
    if (!r) return r.error();
    if (r->rows() == 0) return fatal(fmt::format("outbox for \"{}\" not found", target()));
    postgres::OutboxReader::Table table{r->str(0, 0), r->null(0, 1) ? "" : r->str(0, 1), r->str(0, 3) != "relay"};
    outbox_table_ = table.outbox;
    // An outbox pg_trickle created after the install is not readable by the relay's role yet.
    if (auto can = db_->exec("SELECT pg_catalog.has_table_privilege($1, 'SELECT')", {"pgtrickle." + db_->quote_ident(outbox_table_)});
        can && can->rows() == 1 && !can->boolean(0, 0))
      (void)db_->exec("SELECT pgtrickle._relay_grant_outboxes()");
    // A template variable always empty for this outbox gives every message an empty part (set_relay_outbox
    // warned already for a pipeline defined in SQL; a TOML file's pipeline hears it here).
    if (auto w = db_->exec("SELECT w FROM pgtrickle.relay_template_warnings($1::jsonb) AS w", {config_.canonical.dump()}))
      for (int i = 0; i < w->rows(); ++i)
        ctx_.log->warn("A template uses a variable that is always empty for this outbox.", {{"warning", w->str(i, 0)}});

    auto opt = pipeline_options();
    if (!opt) return opt.error();
    opt->outbox = outbox_table_;
    opt->stream_table = r->str(0, 4);
    if (opt->key_columns.empty()) opt->key_columns = pg::parse_text_array(r->text(0, 2));
    opt->bare_events = config_.source_type == "pgstream";
    expander_.emplace(std::move(*opt));

    // A table captured from the WAL, or a pgstream stream read from it: the table, its publication
    // and the database's oid (for the slot's name).
    const bool stream_from_wal = config_.source_type == "pgstream" && config_.source_section().text("read_from") == "wal";
    auto wal = stream_from_wal
                   ? db_->exec("SELECT 'pgstream', 'events', pgstream.stream_publication($1), (SELECT oid FROM pg_catalog.pg_database "
                               "WHERE datname = pg_catalog.current_database())::text",
                               {std::to_string(config_.source_section().integer("stream_id"))})
                   : db_->exec("SELECT source_schema, source_table, publication, (SELECT oid FROM pg_catalog.pg_database "
                               "WHERE datname = pg_catalog.current_database())::text FROM pgtrickle._outbox_wal_source($1)",
                               {outbox_table_});
    if (!wal) return wal.error();
    if (wal->rows() == 1) {
      auto slot = pick_slot(wal->str(0, 3));
      if (!slot) return slot.error();
      wal_table_ = postgres::WalReader::Table{wal->str(0, 0), wal->str(0, 1), *slot, {wal->str(0, 2)}};
    }

    auto stored = load_position();
    if (!stored) return stored.error();
    // A stream's position means a commit number when the events table is read, an LSN when the WAL
    // is: one stored the other way would skip events or replay them all.
    if (config_.source_type == "pgstream" && *stored) {
      auto slot = db_->exec("SELECT EXISTS (SELECT FROM pgtrickle.relay_slots WHERE pipeline = $1 AND outbox = $2)",
                            {config_.name, outbox_table_});
      if (!slot) return slot.error();
      if (slot->boolean(0, 0) != stream_from_wal)
        return fatal(fmt::format("the pipeline has read its stream from the {} so far, and its position means nothing when read "
                                 "from the {}; to change read_from, delete the pipeline (SELECT pgtrickle.delete_relay('{}'), "
                                 "which forgets its position) and define it again",
                                 stream_from_wal ? "events table" : "WAL", stream_from_wal ? "WAL" : "events table", config_.name));
    }
    if (auto s = prepare_acks(); !s) return s;
    if (auto s = backfill_initial(*stored); !s) return s;
    std::string t = db_->quote_ident(outbox_table_);
    std::string lag_sql =
        table.legacy
            ? fmt::format("SELECT count(*), extract(epoch from now() - min(o.created_at))::float8 FROM pgtrickle.{} o "
                          "WHERE o.id > $2 AND $1::bigint >= 0", t)
            : fmt::format("SELECT count(*), extract(epoch from clock_timestamp() - min(c.committed_at))::float8 "
                          "FROM pgtrickle.outbox_commits c JOIN pgtrickle.{} o ON o.xid = c.xid "
                          "WHERE c.outbox = {} AND c.seq IS NOT NULL AND (c.seq > $1 OR (c.seq = $1 AND o.id > $2))",
                          t, pg::quote_literal(outbox_table_));
    if (auto s = open_lag(wal_table_ ? std::string(kSlotLagSql) : lag_sql); !s) return s;

    if (wal_table_) {
      if (auto s = prepare_slot(); !s) return s;
      wal_.emplace(ctx_.postgres_url, "pgtrickle-relay wal " + config_.name, *wal_table_);
      if (auto s = wal_->connect(); !s) return s;
    } else {
      size_t stream_rows = std::max<size_t>(100000, static_cast<size_t>(config_.batch_size) * 20);
      reader_.emplace(ctx_.postgres_url, "pgtrickle-relay reader " + config_.name, table, stream_rows);
      if (auto s = reader_->connect(); !s) return s;
      reader_->start_after(read_.seq, read_.id, read_.next_row >= 0);
    }
    launch();
    if (config_.source_type == "pgstream") partitions_.emplace(ctx_.postgres_url, config_.name, ctx_.log);
    if (wal_table_)
      ctx_.log->info("Reading the table's changes from the WAL.",
                     {{"table", wal_table_->schema + "." + wal_table_->name}, {"slot", wal_table_->slot},
                      {"publication", wal_table_->publications.front()}, {"position", pgoutput::format_lsn(static_cast<pgoutput::Lsn>(read_.seq))}});
    else
      ctx_.log->info("Reading the outbox.", {{"outbox", outbox_table_},
                                             {"position", fmt::format("{}/{}", read_.seq, read_.id)},
                                             {"kind", table.legacy ? "pg_trickle" : "relay"}});
    return {};
  }

  // A pipeline of source type "wal": the tables its publication publishes and its "tables" and
  // "exclude" match, read through its slot.
  Status start_wal_pipeline() {
    // A pipeline defined in SQL got its publication from set_relay_outbox, for the role that set it;
    // one of a relay's TOML file gets it now, for the relay's login.
    const std::string origin = config_.origin == "sql" ? std::string("sql") : "file:" + ctx_.relay_group_id;
    auto pub = config_.origin == "sql"
                   ? db_->exec("SELECT pgtrickle._wal_pipeline_publication($1, $2)", {config_.name, origin})
                   : db_->exec("SELECT pgtrickle._wal_pipeline_prepare($1, $2, $3::jsonb)",
                               {config_.name, origin, config_.canonical["source"].dump()});
    if (!pub) return pub.error();
    if (pub->rows() != 1 || pub->null(0, 0))
      return fatal(fmt::format("the pipeline's publication is missing: set the pipeline again (SELECT pgtrickle.set_relay_outbox('{}', "
                               "...)), which makes it", config_.name));
    outbox_table_ = pub->str(0, 0);
    if (auto t = db_->exec("SELECT stream_table, problem FROM pgtrickle._wal_pipeline_tables($1::jsonb)", {config_.canonical["source"].dump()})) {
      // Known now, shown in /health before the table's first change; logged once (tables_ logs a change).
      std::lock_guard lock(status_mu_);
      for (int i = 0; i < t->rows(); ++i)
        if (!t->null(i, 1)) {
          table_status_[t->str(i, 0)].problem = t->str(i, 1);
          ctx_.log->warn("A table of the pipeline cannot be captured whole.", {{"table", t->str(i, 0)}, {"problem", t->str(i, 1)}});
        }
      ctx_.log->info("The pipeline's patterns match these tables now.", {{"tables", std::to_string(t->rows())}});
    }

    auto opt = pipeline_options();
    if (!opt) return opt.error();
    tables_.emplace(outbox_table_, std::move(*opt), [this](const std::string& table, const std::string& problem) {
      std::lock_guard lock(status_mu_);
      auto& t = table_status_[table];
      if (!problem.empty() && problem != t.problem)
        ctx_.log->warn("A table of the pipeline cannot be captured whole.", {{"table", table}, {"problem", problem}});
      t.problem = problem;
    });

    auto dboid = db_->exec("SELECT oid::text FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()");
    if (!dboid) return dboid.error();
    auto slot = pick_slot(dboid->str(0, 0));
    if (!slot) return slot.error();
    // Its publications: that of the patterns' schemas, that of the tables named.
    auto pubs = db_->exec("SELECT pgtrickle._wal_publications($1)", {outbox_table_});
    if (!pubs) return pubs.error();
    wal_table_ = postgres::WalReader::Table{"", "", *slot, pg::parse_text_array(pubs->text(0, 0))};

    auto stored = load_position();
    if (!stored) return stored.error();
    if (auto s = prepare_acks(); !s) return s;
    if (auto s = backfill_initial(*stored); !s) return s;
    if (auto s = open_lag(kSlotLagSql); !s) return s;
    if (auto s = prepare_slot(); !s) return s;
    wal_.emplace(ctx_.postgres_url, "pgtrickle-relay wal " + config_.name, *wal_table_,
                 [this](const pgoutput::Relation& relation) { return tables_->decide(wal_->side_connection(), relation); });
    if (auto s = wal_->connect(); !s) return s;
    launch();
    ctx_.log->info("Reading the tables' changes from the WAL.",
                   {{"publication", outbox_table_}, {"slot", wal_table_->slot},
                    {"position", pgoutput::format_lsn(static_cast<pgoutput::Lsn>(read_.seq))}});
    return {};
  }

  // How messages are made, as the pipeline's config says (its key, format, granularity, the sink's
  // routes); the table fills in the rest.
  Result<postgres::ExpandOptions> pipeline_options() {
    postgres::ExpandOptions opt;
    opt.key_columns = config_.key_columns;
    if (!config_.key_template.empty()) {
      auto t = Template::compile(config_.key_template);
      if (!t) return t.error();
      key_template_ = std::move(*t);
      opt.key_template = &key_template_;
    }
    opt.granularity = config_.granularity;
    opt.format = config_.format;
    opt.routes = ctx_.sink_routes;
    return opt;
  }

  // Where the pipeline stands, from relay_offsets; whether a position was stored. A pipeline
  // defined in SQL has one position, whichever relay group ran it last: one that moved to another
  // group (or ran in a relay's own group before pipelines had one) carries on from the position
  // stored most recently, instead of starting over.
  Result<bool> load_position() {
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

  // "backfill": "initial": the tables' existing rows go first, the first time the pipeline starts.
  Status backfill_initial(bool stored) {
    if (!config_.backfill_initial || stored) return {};
    auto b = db_->exec("SELECT pgtrickle._relay_backfill_initial($1, $2)", {config_.name, outbox_table_});
    if (!b) return b.error();
    if (!b->null(0, 0)) ctx_.log->info("The pipeline starts with no stored position: its tables' existing rows go first.",
                                       {{"backfill_id", b->str(0, 0)}});
    return {};
  }

  // The pipeline's connection (which holds the ownership lock) only stores positions; reading runs
  // on connections of its own, in a thread that keeps a batch or two ahead of the sink. The
  // position only moves while this relay owns the pipeline (a stalled former owner's ack is refused).
  Status prepare_acks() {
    if (auto s = db_->prepare("ob_ack", fmt::format(kAckSql, ctx_.fence_sql)); !s) return s;
    return db_->prepare("ob_ack_backfill", fmt::format(kAckBackfillSql, fmt::format(kAckSql, ctx_.fence_sql)));
  }

  // The lag is counted on a connection of its own, in the background: counting a large backlog
  // takes PostgreSQL a while (about 0.1 s per 200,000 rows) and must not hold up delivery. No
  // parallel workers: they would take the cores the delivery needs, for a monitoring figure.
  Status open_lag(const std::string& lag_sql) {
    auto l = pg::Connection::open(ctx_.postgres_url, "pgtrickle-relay lag " + config_.name);
    if (!l) return l.error();
    lag_db_ = std::move(*l);
    (void)lag_db_.exec("SET max_parallel_workers_per_gather = 0");
    if (auto s = lag_db_.prepare("ob_lag", lag_sql); !s) return s;
    lag_pending_ = false;
    return {};
  }

  // Starts the reader thread from the position read.
  void launch() {
    acked_ = read_;
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ready_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    room_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    thread_ = std::thread([this] { read_loop(); });
  }

  Result<Batch> poll(Deadline) override {
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
      return b;
    }
    if (error_) return *error_;
    return Batch{};
  }

  void wait(Deadline deadline) override {
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

  int ready_fd() const override { return ready_fd_; }

  bool ack_is_fenced() const override { return true; }  // kAckSql stores nothing once the lease is lost

  Status ack(const Batch& batch) override {
    const auto& p = *std::static_pointer_cast<Position>(batch.token);
    pg::Params args{ctx_.relay_group_id, config_.name, std::to_string(p.seq), std::to_string(p.id),
                    p.next_row >= 0 ? std::optional<std::string>(std::to_string(p.next_row)) : std::nullopt,
                    ctx_.worker_id, outbox_table_};
    if (const auto& b = p.backfill)  // the backfill's progress is stored with the position, in the same statement
      args.insert(args.end(), {b->last_key.empty() ? std::nullopt : std::optional<std::string>(b->last_key),
                               std::to_string(b->rows_done), std::to_string(b->rows_sent), b->finished ? "true" : "false",
                               std::to_string(b->id)});
    auto r = db_->exec_prepared(p.backfill ? "ob_ack_backfill" : "ob_ack", args);
    if (!r) return r.error();
    if (p.backfill ? r->int64(0, 0) == 0 : r->affected() == 0)
      return retriable("the position was not stored: another relay of the group owns the pipeline now");
    if (const auto& b = p.backfill) backfill_acked(*b);
    if (tables_) count_table_changes(batch);
    acked_ = p;
    // Stored: the slot may now release the WAL of every transaction done (the reader thread tells the server).
    if (wal_) confirm_lsn_.store(static_cast<std::uint64_t>(p.next_row >= 0 ? p.seq - 1 : p.seq));
    return {};
  }

  // Starts a count from the current position and waits a moment for it: a small backlog is counted
  // at once; a large one finishes in the background and is reported at the next call. -1 until the
  // first count finishes.
  void lag(std::int64_t& rows, double& seconds) override {
    if (!lag_pending_)
      lag_pending_ = (wal_table_ ? lag_db_.send_prepared("ob_lag", {wal_table_->slot})
                                 : lag_db_.send_prepared("ob_lag", {std::to_string(acked_.seq), std::to_string(acked_.id)}))
                         .has_value();
    const Deadline until = Clock::now() + std::chrono::milliseconds(20);
    while (lag_pending_ && !lag_db_.result_ready() && Clock::now() < until) {
      pollfd fd{lag_db_.socket(), POLLIN, 0};
      ::poll(&fd, 1, static_cast<int>(std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count())));
    }
    if (lag_pending_ && lag_db_.result_ready()) {
      lag_pending_ = false;
      auto r = lag_db_.receive("the lag count");
      if (r && r->rows() == 1 && wal_table_) {
        wal_behind_bytes_ = r->null(0, 0) ? -1 : std::max<std::int64_t>(0, r->int64(0, 0));
        wal_retained_bytes_ = r->null(0, 1) ? -1 : std::max<std::int64_t>(0, r->int64(0, 1));
        lag_seconds_ = oldest_unacked_age();
      } else if (r && r->rows() == 1) {
        lag_rows_ = r->int64(0, 0);
        lag_seconds_ = r->null(0, 1) ? 0 : std::max(0.0, r->float64(0, 1));
      }
    }
    rows = lag_rows_;
    seconds = lag_seconds_;
  }

  std::optional<BackfillStatus> backfill() override {
    std::lock_guard lock(status_mu_);
    return backfill_status_;
  }

  std::string kept_past_retention() override { return partitions_ ? partitions_->kept_past_retention() : ""; }

  std::vector<TableStatus> tables() override {
    std::lock_guard lock(status_mu_);
    std::vector<TableStatus> out;
    for (const auto& [name, t] : table_status_) out.push_back({name, t.changes, t.problem});
    return out;
  }

  void wal_lag(std::int64_t& behind_bytes, std::int64_t& retained_bytes) override {
    behind_bytes = wal_behind_bytes_;
    retained_bytes = wal_retained_bytes_;
  }

  void stop() override {
    partitions_.reset();
    if (thread_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
      thread_.join();
    }
    for (int fd : {stop_fd_, ready_fd_, room_fd_})
      if (fd >= 0) ::close(fd);
    stop_fd_ = ready_fd_ = room_fd_ = -1;
  }

 private:
  pg::Connection lag_db_;
  bool lag_pending_ = false;  // a count was sent on lag_db_ and its result not read yet
  std::int64_t lag_rows_ = -1;
  double lag_seconds_ = -1;
  std::int64_t wal_behind_bytes_ = -1, wal_retained_bytes_ = -1;

  static constexpr size_t kQueueDepth = 2;
  // A slot's lag is what the server's WAL holds beyond what the relay confirmed.
  static constexpr const char* kSlotLagSql =
      "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, "
      "pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint "
      "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1";  // batches read ahead: bounds memory, overlaps reading and sending
  // The position is committed without waiting for its WAL flush (synchronous_commit off, for this
  // statement only): a database crash may forget the last positions, and their rows are then sent
  // again with the same identity (at-least-once), but the next batch does not wait for an fsync.
  // Anything written before it (dead letters) reaches the WAL first, so it is never lost alone.
  static constexpr const char* kAckSql =
      "INSERT INTO pgtrickle.relay_offsets AS o (relay_group_id, pipeline, last_seq, last_id, next_row, worker_id, updated_at, outbox) "
      "SELECT $1::text, $2::text, $3::bigint, $4::bigint, $5::bigint, $6::text, now(), $7::text "
      "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit WHERE {} "
      "ON CONFLICT (relay_group_id, pipeline) DO UPDATE "
      "SET last_seq = excluded.last_seq, last_id = excluded.last_id, next_row = excluded.next_row, "
      "worker_id = excluded.worker_id, updated_at = excluded.updated_at, outbox = excluded.outbox";

  // A position and a backfill's progress, in one statement: (the position's count, the backfill's).
  // $8 last key, $9 rows done, $10 rows sent, $11 finished, $12 the backfill.
  static constexpr const char* kAckBackfillSql =
      "WITH pos AS ({} RETURNING 1), "
      "bf AS (UPDATE pgtrickle.relay_backfills SET state = CASE WHEN $11::boolean THEN 'done' ELSE 'running' END, "
      "last_key = $8::jsonb, rows_done = $9::bigint, rows_sent = $10::bigint, started_at = coalesce(started_at, now()), "
      "updated_at = now(), finished_at = CASE WHEN $11::boolean THEN now() END "
      "WHERE id = $12::bigint AND state IN ('pending', 'running') AND EXISTS (SELECT FROM pos) RETURNING 1) "
      "SELECT (SELECT count(*) FROM pos), (SELECT count(*) FROM bf)";

  struct ClaimCheck {
    OutboxRow row;
    std::int64_t next_row;
  };

  // The outbox the pipeline reads: the table or outbox its source names, or the one that holds a
  // pgstream stream's events (created the first time a pipeline or a subscription names the stream).
  Status resolve_target() {
    const ConfigSection s = config_.source_section();
    if (config_.source_type != "pgstream") {
      target_ = s.has("stream_table") ? s.text("stream_table") : s.text("outbox");
      return {};
    }
    auto r = db_->exec("SELECT pgstream.stream_outbox($1)", {std::to_string(s.integer("stream_id"))});
    if (!r) {
      if (r.error().message.find("pgstream.stream_outbox") != std::string::npos && r.error().message.find("does not exist") != std::string::npos)
        return fatal("the database has no pgstream schema: run `pgtrickle-relay install` (the SQL install of this version provides it)");
      return r.error();
    }
    target_ = r->str(0, 0);
    return {};
  }
  const std::string& target() const { return target_; }

  // The reader thread: reads and expands batches ahead of the sink; waits for NOTIFY when idle.
  void read_loop() {
    while (true) {
      if (!wait_for_room()) return;
      auto batch = wal_ ? next_wal_batch() : next_batch();
      if (!batch) {
        std::lock_guard lock(mu_);
        error_ = batch.error();
        signal_ready();
        return;
      }
      if (!batch->empty()) {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(*batch));
        signal_ready();
        continue;
      }
      if (!wal_) reader_->wait_for_rows(Clock::now() + std::chrono::milliseconds(config_.poll_interval_ms), stop_fd_);
    }
  }

  // Waits until the queue has room for a batch (true), or the source stops or fails (false), however
  // long the sink is down. Meanwhile the reader's connection is read: any login may NOTIFY the
  // channel it listens on, and a flood left unread fills its socket; its backend then waits in
  // ClientWrite, where it absorbs no ProcSignalBarrier (every DROP DATABASE of the cluster waits
  // for it), and the server's notification queue cannot be freed.
  bool wait_for_room() {
    bool listening = reader_.has_value();
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return false;
        if (queue_.size() < kQueueDepth) return true;
      }
      pollfd fds[3] = {{room_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}, {listening ? reader_->idle_socket() : -1, POLLIN, 0}};
      int n = ::poll(fds, 3, 5000);
      if (fds[0].revents & POLLIN) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(room_fd_, &v, sizeof v);
      }
      // A broken connection is left to the next read, which reports it.
      if (fds[2].revents) listening = reader_->drain_notifications();
      // A replication connection is kept alive while the sink is busy: the server ends one that
      // stays silent for wal_sender_timeout.
      if (n == 0 && wal_) {
        if (auto alive = send_confirm(); !alive) {
          std::lock_guard lock(mu_);
          error_ = alive.error();
          signal_ready();
          return false;
        }
      }
    }
  }

  void signal_ready() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(ready_fd_, &one, sizeof one);
  }

  Result<Batch> next_batch() {
    Batch batch;
    batch.messages.reserve(config_.batch_size);
    if (cc_) return claim_check_chunk(std::move(batch), static_cast<size_t>(config_.batch_size));
    if (auto s = backfill_turn(); !s) return s.error();
    if (chunk_due_) return backfill_batch(std::move(batch));
    Position pos = read_;
    size_t consumed = 0;
    bool looked_again = false;
    OutboxRow& row = row_;  // reused: its buffers keep their capacity from row to row
    while (batch.messages.size() < static_cast<size_t>(config_.batch_size)) {
      if (held_) {
        row = std::move(*held_);
        held_.reset();
      } else {
        auto more = reader_->next(row);
        if (!more) return more.error();
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

  // ---- backfill (reader thread, but backfill_acked) -------------------------------------------

  // Between batches: takes up a backfill requested since the last look (at most once a second) and
  // reads its next chunk when none is held. A backfill that can no longer run (its table dropped,
  // the condition failing) is ended with the reason, and the pipeline goes on with its changes.
  // The reader's connection for statements between reads (none for an event outbox: no table).
  pg::Connection* side_connection() { return wal_ ? &wal_->side_connection() : reader_->side_connection(); }

  Status backfill_turn() {
    pg::Connection* db = side_connection();
    if (!db) return {};  // an event outbox: no table
    if (!backfill_ && Clock::now() >= backfill_look_) {
      backfill_look_ = Clock::now() + std::chrono::seconds(1);
      auto found = Backfill::find(*db, config_.name, config_.backfill_chunk_rows);
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
    auto read = backfill_->finish_read(chunk_marker_);
    // Cancelled while the chunk was read: its rows do not go out.
    if (auto still = read ? backfill_->wanted() : Result<bool>(true); !still || !*still) {
      if (!still) return still.error();
      cancelled();
      return {};
    }
    if (read && wal_) {
      wal_->watch_marker(chunk_marker_);
      // Those the read saw are settled: any later read sees them too.
      std::erase_if(handed_xids_, [&](std::uint32_t x) { return backfill_->settled(x); });
    }
    return backfill_failed(std::move(read));
  }

  // Sends the read of the backfill's next chunk; ends a backfill that was cancelled meanwhile.
  Status start_chunk_read() {
    if (wal_) chunk_marker_ = fmt::format("{}:{}:{}:{}", wal_table_->slot, backfill_->id(), ::getpid(), ++chunks_read_);
    auto sent = backfill_->start_read(wal_.has_value(), std::vector<std::uint32_t>(handed_xids_.begin(), handed_xids_.end()));
    if (sent && !*sent) {
      cancelled();
      return {};
    }
    return backfill_failed(sent ? Status{} : Status(sent.error()));
  }

  // A chunk's read failed: when the database answered, the read itself fails (the table dropped, the
  // condition failing) and the backfill is ended with the reason; else the pipeline starts again.
  Status backfill_failed(Status s) {
    if (s || !backfill_->connected()) return s;
    if (auto still = backfill_->wanted(); still && !*still) {  // cancelled while its read ran
      cancelled();
      return {};
    }
    ctx_.log->error("The backfill cannot read its table and is ended; the pipeline goes on with the table's changes.",
                    {{"backfill_id", std::to_string(backfill_->id())}, {"error", s.error().message}});
    (void)side_connection()->exec("SELECT pgtrickle._relay_backfill_end($1, $2)", {std::to_string(backfill_->id()), s.error().message});
    end_backfill();
    return {};
  }

  // The rows of the due chunk still current, up to batch_size, with where the backfill then stands.
  Result<Batch> backfill_batch(Batch batch) {
    Backfill::Progress progress;
    postgres::Expander* expander = &*expander_;
    if (tables_) {  // a WAL pipeline: the table's own
      auto e = tables_->expander_for(*side_connection(), backfill_->table_oid());
      if (!e) return e.error();
      expander = *e;
    }
    backfill_->take(static_cast<size_t>(std::max(1, config_.batch_size)), *expander, batch.messages, progress);
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

  void cancelled() {
    ctx_.log->info("The backfill was cancelled; the pipeline goes on with the table's changes.",
                   {{"backfill_id", std::to_string(backfill_->id())}});
    end_backfill();
  }

  // The backfill ends here (done, cancelled or failed): /health no longer shows it.
  void end_backfill() {
    finished_backfill_ = backfill_->id();
    {
      std::lock_guard lock(status_mu_);
      if (backfill_status_) backfill_status_->finished = true;
    }
    backfill_.reset();
    chunk_due_ = false;
    if (wal_) wal_->watch_marker("");
  }

  // The rows an outbox row of the chunk's window changed: their chunk rows stay out.
  void changed_in_window(const OutboxRow& row) {
    if (row.is_event || row.payload.empty()) return;
    std::string_view p = row.payload, v;
    if (json_scan::field(p, "full_refresh", v) && v == "true") backfill_->truncated();
    for (const char* side : {"inserted", "deleted"})
      if (json_scan::field(p, side, v)) json_scan::each_element(v, [&](std::string_view r) { backfill_->changed(r); }, true);
  }

  // A batch of backfilled rows was stored (pipeline thread): the status follows; a finished
  // backfill's chunk function goes.
  void backfill_acked(const Backfill::Progress& p) {
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
      (void)db_->exec("SELECT pgtrickle._relay_backfill_end($1, NULL)", {std::to_string(p.id)});
      ctx_.log->info("The backfill is done: every existing row of the table was sent or superseded by its change.",
                     {{"backfill_id", std::to_string(p.id)}, {"rows_done", std::to_string(p.rows_done)},
                      {"rows_sent", std::to_string(p.rows_sent)}});
    }
  }

  // The next transactions of a table captured from the WAL, each a claim-check delta of its
  // changes: small ones that already arrived share a batch (up to batch_size messages); a large one
  // goes out in chunks, its position moving on inside it.
  Result<Batch> next_wal_batch() {
    Batch batch;
    if (auto s = send_confirm(); !s) return s.error();
    const size_t most = static_cast<size_t>(std::max(1, config_.batch_size));
    auto wait = std::chrono::milliseconds(config_.poll_interval_ms);
    if (!cc_) {
      if (auto s = backfill_turn(); !s) return s.error();
      if (chunk_due_) return backfill_batch(std::move(batch));
    }
    while (batch.messages.size() < most) {
      if (!cc_) {
        auto more = wal_->next(row_, wait);
        if (!more) return more.error();
        if (!*more) {  // idle, nothing more arrived yet, or the chunk's marker came: its rows go out next
          if (wal_->marker_seen() && backfill_ && backfill_->has_chunk()) {
            wal_->watch_marker("");
            chunk_due_ = true;
            if (batch.messages.empty() && !batch.token) return backfill_batch(std::move(batch));
          }
          break;
        }
        wait = std::chrono::milliseconds(0);  // only what already arrived joins this batch
        bool resumed = row_.seq == read_.seq && read_.next_row >= 0;
        if (!resumed && row_.seq <= read_.seq) {  // delivered and stored before the restart
          if (auto s = wal_->skip_transaction(); !s) return s.error();
          continue;
        }
        {
          std::lock_guard lock(mu_);
          unacked_commits_.emplace_back(row_.seq, row_.committed_at);
        }
        handed_xids_.push_back(row_.xid);
        if (handed_xids_.size() > kHandedXids) handed_xids_.pop_front();
        cc_ = ClaimCheck{row_, resumed ? read_.next_row : 1};
      }
      const size_t room = most - batch.messages.size();
      auto chunk = claim_check_chunk(std::move(batch), room);
      if (!chunk) return chunk.error();
      batch = std::move(*chunk);
      if (cc_) break;  // the transaction goes on in the next batch
    }
    return batch;
  }

  // Tells the slot what the sink accepted and the pipeline stored (ack() sets confirm_lsn_). Each
  // status message costs the server's walsender work (and may write the slot to disk): the position
  // goes out at most ten times a second, and an unchanged one every 10 s to keep the connection.
  Status send_confirm() {
    auto now = Clock::now();
    std::uint64_t lsn = confirm_lsn_.load();
    if (lsn > confirmed_lsn_ && now - last_status_ >= std::chrono::milliseconds(100)) {
      if (auto s = wal_->confirm(lsn); !s) return s;
      confirmed_lsn_ = lsn;
      last_status_ = now;
      return {};
    }
    if (now - last_status_ < std::chrono::seconds(10)) return {};
    last_status_ = now;
    return wal_->keep_alive();
  }

  // The slot this pipeline reads, created if missing and recorded so that delete_relay and
  // disable_outbox drop it; its reader, when a former owner's connection still holds it, ended.
  // A pipeline defined in SQL has one position whichever relay group runs it, so one slot; a TOML
  // file's pipeline is its relay group's own. Slot names are the whole server's, so the database
  // (by oid, which a rename keeps) is part of the name: equally named pipelines of two databases
  // never share a slot.
  std::string slot_name(const std::string& database_oid) const {
    std::string owner = config_.origin == "sql" ? std::string("sql") : "file:" + ctx_.relay_group_id;
    return "pgtrickle_" + util::sha256_hex(database_oid + "/" + owner + "/" + config_.name).substr(0, 20);
  }

  // The slot the pipeline reads: its source's slot_name, else one named from the pipeline.
  Result<std::string> pick_slot(const std::string& database_oid) {
    named_slot_ = config_.source_section().text("slot_name");
    if (!named_slot_.empty() && !is_relay_slot_name(named_slot_))  // a reference resolved to something else
      return fatal("source key \"slot_name\": " + relay_slot_name_rule(named_slot_));
    return named_slot_.empty() ? slot_name(database_oid) : named_slot_;
  }

  Status prepare_slot() {
    const std::string& slot = wal_table_->slot;
    // A slot the config names is read only when it was created for this pipeline: never another
    // pipeline's, nor one another system made.
    if (!named_slot_.empty()) {
      auto owner = lag_db_.exec("SELECT r.pipeline, r.relay_group_id, "
                                "EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots AS s WHERE s.slot_name = $1) "
                                "FROM (SELECT 1) AS one LEFT JOIN pgtrickle.relay_slots AS r ON r.slot_name = $1",
                                {slot});
      if (!owner) return owner.error();
      bool recorded = !owner->null(0, 0);
      if (recorded && (owner->str(0, 0) != config_.name || (config_.origin != "sql" && owner->str(0, 1) != ctx_.relay_group_id)))
        return fatal(fmt::format("the replication slot \"{}\" is the slot of the pipeline \"{}\"; give this pipeline another "
                                 "slot_name", slot, owner->str(0, 0)));
      if (!recorded && owner->boolean(0, 2))
        return fatal(fmt::format("the replication slot \"{}\" exists but was not created for this pipeline, so it is not read "
                                 "(its changes may be another consumer's); name another slot_name, or drop it "
                                 "(SELECT pg_drop_replication_slot('{}')) if nothing reads it", slot, slot));
    }
    if (auto r = lag_db_.exec("INSERT INTO pgtrickle.relay_slots (slot_name, relay_group_id, pipeline, outbox) "
                              "VALUES ($1, $2, $3, $4) ON CONFLICT (slot_name) DO NOTHING",
                              {slot, ctx_.relay_group_id, config_.name, outbox_table_});
        !r)
      return r.error();
    auto found = lag_db_.exec("SELECT active_pid, database, database = pg_catalog.current_database() "
                              "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", {slot});
    if (!found) return found.error();
    if (found->rows() == 1 && !found->boolean(0, 2))
      return fatal(fmt::format("the replication slot \"{}\" belongs to the database \"{}\", not to this one; drop it there "
                               "(SELECT pg_drop_replication_slot('{}')) if nothing reads it",
                               slot, found->str(0, 1), slot));
    if (found->rows() == 1) {
      if (!found->null(0, 0))
        (void)lag_db_.exec("SELECT pg_catalog.pg_terminate_backend($1::int)", {found->str(0, 0)});
      return {};
    }
    auto created = lag_db_.exec("SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
    if (!created) {
      if (lag_db_.last_sqlstate() == "42501")
        return fatal(fmt::format("cannot create the replication slot \"{}\" for {}: {}; give the relay's "
                                 "login the REPLICATION attribute (ALTER ROLE <login> REPLICATION)",
                                 slot, captured(), created.error().message));
      if (lag_db_.last_sqlstate() == "53400")
        return fatal(fmt::format("cannot create the replication slot \"{}\": {}; raise max_replication_slots (every WAL "
                                 "pipeline holds one) and restart PostgreSQL, or drop unused slots",
                                 slot, created.error().message));
      return created.error();
    }
    // Creating a slot waits for the transactions running meanwhile: a disable_outbox or
    // delete_relay among them may have dropped the slots just before this one existed. Then this
    // one would be abandoned, holding WAL forever: it is dropped again.
    auto wanted = lag_db_.exec(
        "SELECT (EXISTS (SELECT 1 FROM pgtrickle._outbox_wal_source($1)) OR pgtrickle._outbox_is_stream($1) "
        "OR EXISTS (SELECT 1 FROM pgtrickle.relay_wal_publications WHERE publication = $1)) "
        "AND EXISTS (SELECT 1 FROM pgtrickle.relay_slots WHERE slot_name = $2) "
        "AND ($3 <> 'sql' OR EXISTS (SELECT 1 FROM pgtrickle.relay_outbox_config WHERE name = $4))",
        {outbox_table_, slot, config_.origin, config_.name});
    if (!wanted) return wanted.error();
    if (!wanted->boolean(0, 0)) {
      (void)lag_db_.exec("SELECT pg_catalog.pg_drop_replication_slot($1)", {slot});
      (void)lag_db_.exec("DELETE FROM pgtrickle.relay_slots WHERE slot_name = $1", {slot});
      return retriable(fmt::format("{} or the pipeline was removed while its replication slot was "
                                   "being created; the slot is dropped again", captured()));
    }
    // A new slot starts at the server's present WAL: a position stored before (another capture
    // mode, an earlier slot) does not apply to it.
    read_ = Position{};
    ctx_.log->info("Created the replication slot.", {{"slot", slot}, {"for", captured()}});
    return {};
  }

  // A WAL pipeline's acknowledged batch: each message counts for its table (pipeline thread).
  void count_table_changes(const Batch& batch) {
    std::lock_guard lock(status_mu_);
    const std::string* last = nullptr;
    TableCounts* counts = nullptr;
    for (const auto& m : batch.messages) {
      if (!last || *last != m.source) {  // runs of one table's messages: one lookup each
        counts = &table_status_[m.source];
        last = &m.source;
      }
      ++counts->changes;
    }
  }

  // What the slot reads, for messages: "the WAL capture of s.t", or the pipeline's publication.
  std::string captured() const {
    return wal_table_->schema.empty() ? fmt::format("the tables of publication {}", wal_table_->publications.front())
                                      : fmt::format("the WAL capture of {}.{}", wal_table_->schema, wal_table_->name);
  }

  // The age of the oldest transaction read and not yet acknowledged; 0 when there is none.
  double oldest_unacked_age() {
    std::lock_guard lock(mu_);
    auto done = [&](std::int64_t commit) { return commit < acked_.seq || (commit == acked_.seq && acked_.next_row < 0); };
    while (!unacked_commits_.empty() && done(unacked_commits_.front().first)) unacked_commits_.pop_front();
    if (unacked_commits_.empty()) return 0;
    double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    return std::max(0.0, now - unacked_commits_.front().second);
  }

  // The next chunk of a claim-check delta, of at most `room` rows, added to `batch`: rows are
  // streamed, never all held in memory.
  Result<Batch> claim_check_chunk(Batch batch, size_t room) {
    ClaimCheck& cc = *cc_;
    size_t limit = room + 1;  // one more, to pair a trailing DELETE
    auto rows = wal_ ? wal_->delta_rows(cc.next_row, limit) : reader_->delta_rows(cc.row.id, cc.next_row, limit);
    if (!rows) return rows.error();
    bool last = rows->size() < limit;
    size_t consumed = 0;
    if (backfill_ && backfill_->has_chunk() && (wal_ ? !backfill_->saw(cc.row.xid) : cc.row.seq > backfill_->low()))
      for (const auto& d : *rows) {
        if (tables_ && d.table != backfill_->table_oid()) continue;  // another table of a WAL pipeline
        if (d.is_truncate) backfill_->truncated();
        else backfill_->changed(d.data);
      }
    if (tables_) tables_->expand_delta_rows(cc.row, *rows, last, consumed, batch.messages);
    else expander_->expand_delta_rows(cc.row, *rows, last, consumed, batch.messages);
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

  const PipelineConfig& config_;
  BuildContext ctx_;
  std::shared_ptr<pg::Connection> db_;
  std::string target_;        // what the source names (resolve_target)
  std::string outbox_table_;
  Template key_template_;
  std::optional<postgres::Expander> expander_;
  std::optional<postgres::WalTables> tables_;  // a pipeline of source type "wal": its tables, each with its Expander
  std::optional<postgres::OutboxReader> reader_;
  std::optional<postgres::WalReader::Table> wal_table_;  // set when the table is captured from the WAL
  std::optional<postgres::WalReader> wal_;                // reads it instead of reader_
  std::optional<StreamPartitions> partitions_;            // a pgstream stream: its partitions' upkeep
  std::string named_slot_;                      // the source's slot_name, when given
  std::atomic<std::uint64_t> confirm_lsn_{0};  // stored by ack(): the slot may confirm it
  Clock::time_point last_status_{};             // when the reader thread last told the slot its position
  std::uint64_t confirmed_lsn_ = 0;            // confirmed to the server (reader thread)
  std::deque<std::pair<std::int64_t, double>> unacked_commits_;  // (commit LSN, commit time) read, for the lag
  Position read_;   // after the last batch read (reader thread)
  Position acked_;  // after the last batch acknowledged (pipeline thread)
  OutboxRow row_;
  std::optional<OutboxRow> held_;
  std::optional<ClaimCheck> cc_;

  // Backfill (reader thread).
  static constexpr std::size_t kHandedXids = 65536;  // WAL: transactions handed out lately, for the chunk's check
  std::optional<Backfill> backfill_;
  bool chunk_due_ = false;               // the stream passed the chunk's window: its rows go out next
  std::int64_t finished_backfill_ = 0;   // ended here: not taken up again while its last batch is on its way
  Clock::time_point backfill_look_{};    // when to look for a backfill requested meanwhile
  std::deque<std::uint32_t> handed_xids_;
  std::uint64_t chunks_read_ = 0;
  std::string chunk_marker_;  // WAL: the marker of the chunk read in flight
  // The backfill's acknowledged progress (reader and pipeline threads).
  std::mutex status_mu_;
  std::optional<BackfillStatus> backfill_status_;
  // A WAL pipeline's tables (reader and pipeline threads): changes acknowledged, and the problem each has.
  struct TableCounts {
    std::uint64_t changes = 0;
    std::string problem;
  };
  std::map<std::string, TableCounts> table_status_;
  Clock::time_point backfill_began_{};
  std::int64_t backfill_rows_before_ = 0;  // rows done when this relay took it up

  std::thread thread_;
  std::mutex mu_;
  std::deque<Batch> queue_;
  std::optional<Error> error_;
  bool stopping_ = false;
  int stop_fd_ = -1, ready_fd_ = -1, room_fd_ = -1;  // room_fd_: poll() took a batch from the queue
};

}  // namespace

Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Source>(std::make_unique<OutboxSource>(config, ctx));
}

}  // namespace relay::postgres
