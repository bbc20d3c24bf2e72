#include "backends/postgres/backfill.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "util/json_escape.h"
#include "util/json_scan.h"

namespace relay::postgres {

namespace js = json_scan;

namespace {

// PostgreSQL text[] output of plain names, e.g. {id,"Order Id"}.
std::vector<std::string> parse_names(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\' && i + 2 < text.size()) cur += text[++i];
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) out.push_back(std::exchange(cur, {}));
    else cur += c;
  }
  if (text.size() > 2) out.push_back(cur);
  return out;
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

Result<std::optional<Backfill>> Backfill::find(pg::Connection& db, const std::string& pipeline, int chunk_rows) {
  auto r = db.exec("SELECT b.id, b.key_columns, coalesce(b.last_key::text, ''), b.rows_done, b.rows_sent, "
                   "coalesce(b.rows_estimated, -1), pg_catalog.format('%I.%I', b.source_schema, b.source_table), "
                   "pg_catalog.format('pgtrickle.%I', pgtrickle._relay_backfill_function(b.id)) "
                   "FROM pgtrickle.relay_backfills AS b WHERE b.pipeline = $1 AND b.state IN ('pending', 'running') "
                   "ORDER BY b.id LIMIT 1",
                   {pipeline});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<Backfill>();
  Backfill b;
  b.progress_.id = r->int64(0, 0);
  b.key_columns_ = parse_names(r->text(0, 1));
  b.progress_.last_key = r->str(0, 2);
  b.progress_.rows_done = r->int64(0, 3);
  b.progress_.rows_sent = r->int64(0, 4);
  b.rows_estimated_ = r->int64(0, 5);
  b.table_ = r->str(0, 6);
  b.function_ = r->str(0, 7);
  b.chunk_rows_ = chunk_rows;
  b.db_ = &db;
  return std::optional<Backfill>(std::move(b));
}

Result<bool> Backfill::still_wanted() {
  auto r = db_->exec("SELECT state IN ('pending', 'running') FROM pgtrickle.relay_backfills WHERE id = $1",
                    {std::to_string(progress_.id)});
  if (!r) return r.error();
  return r->rows() == 1 && r->boolean(0, 0);
}

Status Backfill::read_chunk() {
  if (statement_.empty()) {
    std::string name = "bf_chunk_" + std::to_string(progress_.id);
    if (auto s = db_->prepare(name, fmt::format("SELECT r FROM {}($1::jsonb, $2::int) AS r", function_)); !s) return s;
    statement_ = name;
  }
  auto r = db_->exec_prepared(statement_, {progress_.last_key.empty() ? std::nullopt : std::optional<std::string>(progress_.last_key),
                                         std::to_string(chunk_rows_)});
  if (!r) return r.error();
  rows_.clear();
  rows_.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) rows_.push_back(r->str(i, 0));
  last_chunk_ = rows_.size() < static_cast<std::size_t>(chunk_rows_);
  next_ = 0;
  changed_.clear();
  truncated_ = false;
  has_chunk_ = true;
  return {};
}

Status Backfill::read_chunk_between_commits() {
  // Every commit numbered up to `low` is visible to the read, which starts after this statement.
  auto low = db_->exec("SELECT pgtrickle.outbox_watermark()");
  if (!low) return low.error();
  if (auto s = read_chunk(); !s) return s;
  // A numbering round begun after the read: every commit the read saw is numbered up to `high`.
  auto high = db_->exec("SELECT pgtrickle._relay_backfill_watermark()");
  if (!high) return high.error();
  low_ = low->int64(0, 0);
  high_ = high->int64(0, 0);
  return {};
}

Status Backfill::read_chunk_between_wal(const std::string& marker, const std::vector<std::uint32_t>& recent_xids) {
  for (int attempt = 0;; ++attempt) {
    // One snapshot for the chunk and the list of what it saw.
    if (auto s = db_->exec("BEGIN ISOLATION LEVEL REPEATABLE READ"); !s) return s.error();
    auto snap = db_->exec("SELECT pg_catalog.pg_snapshot_xmin(s)::text, pg_catalog.pg_snapshot_xmax(s)::text, "
                         "ARRAY(SELECT pg_catalog.pg_snapshot_xip(s)::text) FROM pg_catalog.pg_current_snapshot() AS s");
    if (!snap) {
      (void)db_->exec("ROLLBACK");
      return snap.error();
    }
    auto read = read_chunk();
    (void)db_->exec("COMMIT");
    if (!read) return read;
    snap_xmin_ = to_u64(snap->text(0, 0));
    snap_xmax_ = to_u64(snap->text(0, 1));
    snap_xip_.clear();
    for (auto& x : parse_names(snap->text(0, 2))) snap_xip_.insert(to_u64(x));
    // A transaction the stream handed out already but the read did not see (its commit was in the
    // WAL, not yet visible): the chunk could hold a row older than what was sent. Read again.
    bool unseen = false;
    for (auto x : recent_xids) unseen = unseen || !saw(x);
    if (!unseen) break;
    has_chunk_ = false;
    if (attempt == 100)
      return retriable(fmt::format("backfill of {}: a transaction already read from the WAL stays invisible to new snapshots",
                                   table_));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Written after the read: every transaction the read saw comes before it in the stream.
  auto m = db_->exec("SELECT pg_catalog.pg_logical_emit_message(false, $1, $2)", {std::string(kBackfillMarkerPrefix), marker});
  if (!m) return m.error();
  marker_ = marker;
  return {};
}

// The stream's 32-bit xid in the snapshot's epoch: transactions in flight are within 2^31 of xmax.
std::uint64_t Backfill::full_xid(std::uint32_t xid) const {
  const auto distance = static_cast<std::int32_t>(xid - static_cast<std::uint32_t>(snap_xmax_));
  return snap_xmax_ + static_cast<std::uint64_t>(static_cast<std::int64_t>(distance));
}

bool Backfill::settled(std::uint32_t xid) const { return full_xid(xid) < snap_xmin_; }

bool Backfill::saw(std::uint32_t xid) const {
  const std::uint64_t full = full_xid(xid);
  if (full < snap_xmin_) return true;
  return full < snap_xmax_ && !snap_xip_.count(full);
}

std::string Backfill::identity(std::string_view row) const {
  std::string id;
  for (std::size_t i = 0; i < key_columns_.size(); ++i) {
    std::string_view v;
    if (!js::field(row, key_columns_[i], v)) return {};
    if (i) id += ',';
    id += v;
  }
  return id;
}

std::string Backfill::key_object(std::string_view row) const {
  std::string o = "{";
  for (std::size_t i = 0; i < key_columns_.size(); ++i) {
    std::string_view v;
    if (!js::field(row, key_columns_[i], v)) v = "null";
    if (i) o += ',';
    util::append_json_string(o, key_columns_[i]);
    o += ':';
    o += v;
  }
  o += '}';
  return o;
}

void Backfill::changed(std::string_view row) {
  if (!has_chunk_) return;
  if (std::string id = identity(row); !id.empty()) changed_.insert(std::move(id));
}

void Backfill::take(std::size_t most, Expander& expander, std::vector<Message>& out, Progress& progress) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::size_t sent = 0;
  while (next_ < rows_.size() && sent < most) {
    const std::string& row = rows_[next_++];
    ++progress_.rows_done;
    progress_.last_key = key_object(row);
    std::string id = identity(row);
    if (truncated_ || changed_.count(id)) continue;  // its change in the window carries it
    expander.expand_read(progress_.id, id, row, now, out);
    ++progress_.rows_sent;
    ++sent;
  }
  if (next_ >= rows_.size()) {
    has_chunk_ = false;
    progress_.finished = last_chunk_;
    rows_.clear();
    rows_.shrink_to_fit();
    changed_.clear();
  }
  progress = progress_;
}

}  // namespace relay::postgres
