#include "sources/outbox/outbox_source.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "sources/outbox/expand.h"

namespace relay {
namespace {

using outbox::DeltaRow;
using outbox::OutboxRow;

// Where the pipeline stands: every row before (seq, id) is done; next_row >= 0 means row `id` is a
// claim-check delta done up to (not including) that row number.
struct Position {
  std::int64_t seq = 0;
  std::int64_t id = 0;
  std::int64_t next_row = -1;
};

class OutboxSource final : public Source {
 public:
  OutboxSource(const PipelineConfig& config, const BuildContext& ctx) : config_(config), ctx_(ctx) {}

  Status start() override {
    db_ = ctx_.db;
    auto r = db_->exec("SELECT outbox_table, delta_table, coalesce(key_columns, '{}'), kind, stream_table FROM pgtrickle.resolve_outbox($1)",
                       {target()});
    if (!r) return r.error();
    if (r->rows() == 0) return fatal(fmt::format("outbox for \"{}\" not found", target()));
    outbox_table_ = r->str(0, 0);
    delta_table_ = r->null(0, 1) ? "" : r->str(0, 1);
    legacy_ = r->str(0, 3) != "relay";
    stream_table_ = r->str(0, 4);

    outbox::ExpandOptions opt;
    opt.outbox = outbox_table_;
    opt.stream_table = stream_table_;
    opt.key_columns = config_.key_columns.empty() ? parse_text_array(r->str(0, 2)) : config_.key_columns;
    if (!config_.key_template.empty()) {
      auto t = Template::compile(config_.key_template);
      if (!t) return t.error();
      key_template_ = std::move(*t);
      opt.key_template = &key_template_;
    }
    opt.granularity = config_.granularity;
    opt.format = config_.format;
    opt.routes = ctx_.sink_routes;
    expander_.emplace(std::move(opt));

    auto off = db_->exec("SELECT last_seq, last_id, next_row FROM pgtrickle.relay_offsets WHERE relay_group_id = $1 AND pipeline = $2",
                         {ctx_.relay_group_id, config_.name});
    if (!off) return off.error();
    if (off->rows() == 1) {
      read_.seq = off->int64(0, 0);
      read_.id = off->int64(0, 1);
      read_.next_row = off->null(0, 2) ? -1 : off->int64(0, 2);
    }
    acked_ = read_;
    // Reading runs on its own connection and thread, a batch or two ahead of the sink; the pipeline's
    // connection (which holds the ownership lock) only stores positions.
    auto rc = pg::Connection::open(ctx_.postgres_url, "pgtrickle-relay reader " + config_.name);
    if (!rc) return rc.error();
    reader_ = std::move(*rc);
    if (auto s = prepare(); !s) return s;
    if (auto s = db_->prepare("ob_ack", kAckSql); !s) return s;
    if (auto s = db_->prepare("ob_lag", lag_sql_); !s) return s;
    auto l = reader_.exec("LISTEN pgtrickle_outbox_new");
    if (!l) return l.error();
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ready_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    thread_ = std::thread([this] { read_loop(); });
    ctx_.log->info("Reading the outbox.", {{"outbox", outbox_table_},
                                           {"position", fmt::format("{}/{}", read_.seq, read_.id)},
                                           {"kind", legacy_ ? "pg_trickle" : "relay"}});
    return {};
  }

  Result<Batch> poll(Deadline) override {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) {
      Batch b = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
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

  Status ack(const Batch& batch) override {
    const auto& p = *std::static_pointer_cast<Position>(batch.token);
    auto r = db_->exec_prepared("ob_ack", {ctx_.relay_group_id, config_.name, std::to_string(p.seq), std::to_string(p.id),
                                           p.next_row >= 0 ? std::optional<std::string>(std::to_string(p.next_row)) : std::nullopt,
                                           ctx_.worker_id});
    if (!r) return r.error();
    acked_ = p;
    return {};
  }

  void lag(std::int64_t& rows, double& seconds) override {
    rows = -1;
    seconds = -1;
    auto r = db_->exec_prepared("ob_lag", {std::to_string(acked_.seq), std::to_string(acked_.id)});
    if (!r || r->rows() != 1) return;
    rows = r->int64(0, 0);
    seconds = r->null(0, 1) ? 0 : std::max(0.0, r->float64(0, 1));
  }

  void stop() override {
    if (thread_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      cv_.notify_all();
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
      thread_.join();
    }
    for (int fd : {stop_fd_, ready_fd_})
      if (fd >= 0) ::close(fd);
    stop_fd_ = ready_fd_ = -1;
  }

  ~OutboxSource() override { stop(); }

 private:
  static constexpr size_t kQueueDepth = 2;  // batches read ahead: bounds memory, overlaps reading and sending
  static constexpr const char* kAckSql =
      "INSERT INTO pgtrickle.relay_offsets AS o (relay_group_id, pipeline, last_seq, last_id, next_row, worker_id, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (relay_group_id, pipeline) DO UPDATE "
      "SET last_seq = excluded.last_seq, last_id = excluded.last_id, next_row = excluded.next_row, "
      "worker_id = excluded.worker_id, updated_at = excluded.updated_at";

  // The reader thread: fetches and expands batches ahead of the sink, waits for NOTIFY when idle.
  void read_loop() {
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || queue_.size() < kQueueDepth; });
        if (stopping_) return;
      }
      auto batch = next_batch();
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
      wait_for_rows(Clock::now() + std::chrono::milliseconds(config_.poll_interval_ms));
    }
  }

  void signal_ready() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(ready_fd_, &one, sizeof one);
  }

  void wait_for_rows(Deadline deadline) {
    while (Clock::now() < deadline) {
      for (auto& [channel, payload] : reader_.notifications())
        if (payload == outbox_table_) return;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd fds[2] = {{reader_.socket(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(std::max<long long>(ms, 0)));
      if (n <= 0 || fds[1].revents || (fds[0].revents & (POLLERR | POLLHUP))) return;
    }
  }

  Result<Batch> next_batch() {
    Batch batch;
    batch.messages.reserve(config_.batch_size);
    if (cc_) return claim_check_chunk(std::move(batch));
    if (rows_.empty()) {
      if (auto s = fetch_rows(); !s) return s.error();
    }
    Position pos = read_;
    size_t consumed = 0;
    while (!rows_.empty() && batch.messages.size() < static_cast<size_t>(config_.batch_size)) {
      OutboxRow& row = rows_.front();
      if (row.is_claim_check || (pos.id == row.id && pos.next_row >= 0)) {
        if (!batch.messages.empty() || consumed) break;
        cc_ = ClaimCheck{std::move(row), read_.id == row.id && read_.next_row >= 0 ? read_.next_row : 1};
        rows_.pop_front();
        return claim_check_chunk(std::move(batch));
      }
      expander_->expand_row(row, batch.messages);
      pos = {row.seq, row.id, -1};
      rows_.pop_front();
      // Keep draining the fetch sent ahead, so the server is never stalled on a full socket.
      if (pending_ && ++consumed % 256 == 0) PQconsumeInput(reader_.raw());
      else if (!pending_) ++consumed;
    }
    if (consumed == 0) return batch;
    msgs_per_row_ = std::max<size_t>(1, batch.messages.size() / consumed);
    read_ = pos;
    batch.token = std::make_shared<Position>(pos);
    return batch;
  }

  struct ClaimCheck {
    OutboxRow row;
    std::int64_t next_row;
  };

  std::string target() const {
    const auto& s = config_.source();
    return s.contains("stream_table") ? s["stream_table"].get<std::string>() : s["outbox"].get<std::string>();
  }

  static std::vector<std::string> parse_text_array(const std::string& text) {
    // PostgreSQL text[] output: {a,"b c"}
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false, in_item = false;
    for (size_t i = 1; i + 1 < text.size(); ++i) {
      char c = text[i];
      if (quoted) {
        if (c == '\\' && i + 2 < text.size()) cur += text[++i];
        else if (c == '"') quoted = false;
        else cur += c;
      } else if (c == '"') {
        quoted = in_item = true;
      } else if (c == ',') {
        out.push_back(cur);
        cur.clear();
        in_item = false;
      } else {
        cur += c;
        in_item = true;
      }
    }
    if (in_item || !cur.empty()) out.push_back(cur);
    return out;
  }

  Status prepare() {
    pg::Connection& db = reader_;
    std::string t = db.quote_ident(outbox_table_);
    std::string cols = legacy_
        ? "o.id, false, o.is_claim_check, o.payload::text, NULL::text, o.refresh_id::text, extract(epoch from o.created_at)::float8"
        : "o.id, o.kind = 'event', o.is_claim_check, o.payload::text, CASE WHEN o.kind = 'event' THEN o.headers::text END, "
          "o.refresh_id::text, extract(epoch from c.committed_at)::float8";
    if (legacy_) {
      if (auto s = db.prepare("ob_fetch", fmt::format("SELECT 0::bigint, {} FROM pgtrickle.{} o WHERE o.id > $1 ORDER BY o.id LIMIT $2", cols, t)); !s) return s;
      lag_sql_ = fmt::format("SELECT count(*), extract(epoch from now() - min(o.created_at))::float8 FROM pgtrickle.{} o WHERE o.id > $2 AND $1::bigint >= 0", t);
    } else {
      // Commits after the position (and the rest of the position's own transaction), in commit
      // order, up to the watermark. The inner scan seeks on (xid, id). The nested loop yields rows in
      // (seq, id) order without a sort; append_rows checks it and sorts if a plan ever did not.
      if (auto s = db.prepare("ob_fetch", fmt::format(
              "SELECT c.seq, {} FROM (SELECT seq, xid, committed_at FROM pgtrickle.outbox_commits "
              "WHERE outbox = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4) c "
              "CROSS JOIN LATERAL (SELECT * FROM pgtrickle.{} o WHERE o.xid = c.xid "
              "AND o.id > CASE WHEN c.seq = $2 THEN $5 ELSE 0 END ORDER BY o.id LIMIT $4) o "
              "LIMIT $4", cols, t)); !s) return s;
      lag_sql_ = fmt::format(
          "SELECT count(*), extract(epoch from clock_timestamp() - min(c.committed_at))::float8 "
          "FROM pgtrickle.outbox_commits c JOIN pgtrickle.{} o ON o.xid = c.xid "
          "WHERE c.outbox = {} AND c.seq IS NOT NULL AND (c.seq > $1 OR (c.seq = $1 AND o.id > $2))",
          t, "'" + escape_literal(outbox_table_) + "'");
    }
    if (!delta_table_.empty()) {
      if (auto s = db.prepare("ob_delta", fmt::format(
              "SELECT row_num, row_op IN ('DELETE', 'D'), row_data::text FROM pgtrickle.{} "
              "WHERE outbox_id = $1 AND row_num >= $2 ORDER BY row_num LIMIT $3", db.quote_ident(delta_table_))); !s) return s;
    }
    return {};
  }

  static std::string escape_literal(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\'') out += '\'';
      out += c;
    }
    return out;
  }

  void append_rows(const pg::PgResult& r) {
    size_t first = rows_.size();
    bool ordered = true;
    for (int i = 0; i < r.rows(); ++i) {
      OutboxRow row;
      row.seq = r.int64(i, 0);
      row.id = r.int64(i, 1);
      row.is_event = r.boolean(i, 2);
      row.is_claim_check = r.boolean(i, 3);
      if (!r.null(i, 4)) row.payload = r.str(i, 4);
      if (!r.null(i, 5)) row.headers = r.str(i, 5);
      if (!r.null(i, 6)) row.refresh_id = r.str(i, 6);
      row.committed_at = r.null(i, 7) ? 0 : r.float64(i, 7);
      if (rows_.size() > first && std::make_pair(row.seq, row.id) < std::make_pair(rows_.back().seq, rows_.back().id)) ordered = false;
      rows_.push_back(std::move(row));
    }
    if (!ordered)
      std::stable_sort(rows_.begin() + static_cast<std::ptrdiff_t>(first), rows_.end(),
                       [](const OutboxRow& a, const OutboxRow& b) { return std::make_pair(a.seq, a.id) < std::make_pair(b.seq, b.id); });
  }

  // Reads the next rows into rows_. While the sink works on the previous batch, the next fetch is
  // already running on the server (sent ahead when the last one came back full).
  Status fetch_rows() {
    pg::PgResult result;
    if (pending_) {
      auto r = reader_.receive("ob_fetch");
      pending_ = false;
      if (!r) return r.error();
      result = std::move(*r);
    } else {
      // A partly read claim-check row is read again from its stored row number.
      std::int64_t after_id = read_.next_row >= 0 ? read_.id - 1 : read_.id;
      if (!legacy_ && !more_below_watermark_) {
        auto w = reader_.exec("SELECT pgtrickle.outbox_watermark()");
        if (!w) return w.error();
        watermark_ = w->int64(0, 0);
      }
      limit_ = std::clamp<size_t>(config_.batch_size / msgs_per_row_, 1, config_.batch_size);
      auto r = reader_.exec_prepared("ob_fetch", fetch_params(read_.seq, after_id));
      if (!r) return r.error();
      result = std::move(*r);
    }
    append_rows(result);
    more_below_watermark_ = static_cast<size_t>(result.rows()) == limit_;
    if (more_below_watermark_) {
      const OutboxRow& last = rows_.back();
      if (auto s = reader_.send_prepared("ob_fetch", fetch_params(last.seq, last.id)); !s) return s;
      pending_ = true;
    }
    return {};
  }

  pg::Params fetch_params(std::int64_t seq, std::int64_t after_id) const {
    std::string lim = std::to_string(limit_);
    if (legacy_) return {std::to_string(after_id), lim};
    return {outbox_table_, std::to_string(seq), std::to_string(watermark_), lim, std::to_string(after_id)};
  }

  // Collects a fetch sent ahead, so another statement can use the connection; its rows are kept.
  Status settle_pending() {
    if (!pending_) return {};
    auto r = reader_.receive("ob_fetch");
    pending_ = false;
    if (!r) return r.error();
    append_rows(*r);
    more_below_watermark_ = static_cast<size_t>(r->rows()) == limit_;
    return {};
  }

  Result<Batch> claim_check_chunk(Batch batch) {
    ClaimCheck& cc = *cc_;
    size_t limit = static_cast<size_t>(config_.batch_size) + 1;  // one more, to pair a trailing DELETE
    // (the extra row is read again next time when it is not needed)
    if (auto s = settle_pending(); !s) return s.error();
    auto r = reader_.exec_prepared("ob_delta", {std::to_string(cc.row.id), std::to_string(cc.next_row), std::to_string(limit)});
    if (!r) return r.error();
    std::vector<DeltaRow> rows;
    rows.reserve(r->rows());
    for (int i = 0; i < r->rows(); ++i) rows.push_back({r->int64(i, 0), r->boolean(i, 1), r->str(i, 2)});
    bool last = static_cast<size_t>(r->rows()) < limit;
    size_t consumed = 0;
    expander_->expand_delta_rows(cc.row, rows, last, consumed, batch.messages);
    if (last && consumed == rows.size()) {
      read_ = {cc.row.seq, cc.row.id, -1};
      cc_.reset();
    } else {
      cc.next_row = consumed < rows.size() ? rows[consumed].row_num : rows.back().row_num + 1;
      read_ = {cc.row.seq, cc.row.id, cc.next_row};
    }
    batch.token = std::make_shared<Position>(read_);
    return batch;
  }

  const PipelineConfig& config_;
  BuildContext ctx_;
  std::shared_ptr<pg::Connection> db_;
  std::string outbox_table_, delta_table_, stream_table_;
  bool legacy_ = false;
  Template key_template_;
  std::optional<outbox::Expander> expander_;
  Position read_;
  std::deque<OutboxRow> rows_;
  std::optional<ClaimCheck> cc_;
  Position acked_;
  pg::Connection reader_;
  std::string lag_sql_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::optional<Error> error_;
  bool stopping_ = false;
  int stop_fd_ = -1, ready_fd_ = -1;
  bool pending_ = false;  // an ob_fetch was sent ahead and its result not read yet
  size_t limit_ = 1;
  bool more_below_watermark_ = false;
  std::int64_t watermark_ = 0;
  size_t msgs_per_row_ = 1;
};

}  // namespace

Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig& config, const BuildContext& ctx) {
  return std::unique_ptr<Source>(std::make_unique<OutboxSource>(config, ctx));
}

}  // namespace relay
