#include "backends/postgres/backfill.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "pg/copy_text.h"
#include "util/json_escape.h"
#include "util/strings.h"
#include "util/json_scan.h"
#include "util/pg_text.h"

namespace relay::postgres {

namespace js = json_scan;

namespace {

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

Result<std::optional<Backfill>> Backfill::find(pg::Connection& db, const std::string& pipeline, int chunk_rows) {
  auto r = db.exec("SELECT b.id, b.key_columns, coalesce(b.last_key::text, ''), b.rows_done, b.rows_sent, "
                   "coalesce(b.rows_estimated, -1), pg_catalog.format('%I.%I', b.source_schema, b.source_table), "
                   "pg_catalog.format('pgtrickle.%I', pgtrickle._relay_backfill_function(b.id)), coalesce(b.source_oid, 0), "
                   "coalesce(b.text_columns, '{}')::text "
                   "FROM pgtrickle.relay_backfills AS b WHERE b.pipeline = $1 AND b.state IN ('pending', 'running') "
                   "ORDER BY b.id LIMIT 1",
                   {pipeline});
  if (!r) return r.error();
  if (r->rows() == 0) return std::optional<Backfill>();
  Backfill b;
  b.progress_.id = r->int64(0, 0);
  b.key_columns_ = pg_text::parse_text_array(r->text(0, 1));
  b.progress_.last_key = r->str(0, 2);
  b.progress_.rows_done = r->int64(0, 3);
  b.progress_.rows_sent = r->int64(0, 4);
  b.rows_estimated_ = r->int64(0, 5);
  b.table_ = r->str(0, 6);
  b.function_ = r->str(0, 7);
  b.table_oid_ = static_cast<std::uint32_t>(r->int64(0, 8));
  b.text_columns_ = r->str(0, 9);
  b.chunk_rows_ = chunk_rows;
  return std::optional<Backfill>(std::move(b));
}

Status Backfill::connect(const std::string& postgres_url, const std::string& application_name) {
  auto c = pg::Connection::open(postgres_url, application_name);
  if (!c) return c.error();
  own_ = std::move(*c);
  if (auto s = set_session(); !s) return s;
  chunk_sql_ = fmt::format("SELECT s::text, NULL::text FROM pg_catalog.pg_current_snapshot() AS s "
                           "UNION ALL SELECT NULL, r FROM {}($1::jsonb, $2::int, $3::text[]) AS r", function_);
  after_ = progress_.last_key;
  return {};
}

// The table owner's code runs in this session (the chunk function is the owner's, and so are its
// condition and the table's row security policies): what it could leave behind that a rollback
// does not undo (prepared statements the relay would run as itself, advisory locks, settings made
// for the session) is cleared after each chunk (DISCARD ALL), and the relay prepares nothing here.
Status Backfill::set_session() {
  // Trigger capture relies on each statement seeing what committed before it, whatever the
  // database's default. One statement reads the chunk and the snapshot it was read in (WAL capture
  // reads it in a REPEATABLE READ transaction, where both are the transaction's).
  if (auto s = own_.exec("SET jit = off; SET default_transaction_isolation = 'read committed'"); !s) return s.error();
  return {};
}

Result<bool> Backfill::wanted() {
  auto r = own_.exec("SELECT state IN ('pending', 'running') FROM pgtrickle.relay_backfills WHERE id = $1", {std::to_string(progress_.id)});
  if (!r) return r.error();
  return r->rows() == 1 && r->boolean(0, 0);
}

Result<bool> Backfill::start_read(bool wal, std::vector<std::uint32_t> recent_xids) {
  auto still = wanted();
  if (!still) return still.error();
  if (!*still) return false;
  wal_ = wal;
  recent_xids_ = std::move(recent_xids);
  if (!wal_) {
    // Every commit numbered up to `low` is visible to the read, which starts after this statement.
    auto low = own_.exec("SELECT pgtrickle._outbox_numbered_seq(b.outbox) FROM pgtrickle.relay_backfills AS b WHERE b.id = $1",
                         {std::to_string(progress_.id)});
    if (!low) return low.error();
    read_low_ = low->int64(0, 0);
  }
  if (auto s = send_chunk_read(); !s) return s.error();
  return true;
}

Status Backfill::send_chunk_read() {
  // The chunk function runs the table owner's code (its condition, its row security policies) in
  // this session: in a transaction that is rolled back once the rows are in, so nothing that code
  // changes (a session setting such as search_path, a temporary table) reaches the relay's next
  // statements. The chunk function must be as made, running as the table's owner: its owner may
  // alter it, and made to run as its caller, her code would run as the relay.
  if (auto s = own_.exec(fmt::format("{}; SELECT pgtrickle._relay_backfill_intact({})",
                                     wal_ ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN", progress_.id));
      !s) {
    (void)own_.exec("ROLLBACK");
    return s.error();
  }
  if (auto s = own_.send(chunk_sql_, {after_.empty() ? std::nullopt : std::optional<std::string>(after_),
                                     std::to_string(chunk_rows_), text_columns_});
      !s)
    return s;
  reading_ = true;
  return {};
}

Status Backfill::finish_read(const std::string& marker) {
  for (int attempt = 0;; ++attempt) {
    auto r = own_.receive("a backfill chunk of " + table_);
    reading_ = false;
    // The owner's code ran in this transaction. What rolling it back does not undo (advisory
    // locks, prepared statements, sequences' session state) is released before it ends, in the
    // same round trip, so the session is never idle holding any of it; DISCARD ALL, on its own
    // (it refuses to run in the transaction block a string of statements makes), clears the rest.
    // A failed read left the transaction aborted: only the rollback runs in it.
    auto ended = own_.exec(r ? "SELECT pg_catalog.pg_advisory_unlock_all(); DEALLOCATE ALL; DISCARD SEQUENCES; DISCARD PLANS; ROLLBACK"
                             : "ROLLBACK");
    auto discarded = own_.exec("DISCARD ALL");
    if (!r) return r.error();
    if (!ended) return ended.error();
    if (!discarded) return discarded.error();
    if (auto s = set_session(); !s) return s;
    rows_.clear();
    rows_.reserve(r->rows());
    std::string_view snapshot;
    for (int i = 0; i < r->rows(); ++i) {
      if (r->null(i, 1)) snapshot = r->text(i, 0);
      else rows_.push_back(r->str(i, 1));
    }
    // "xmin:xmax:xip,xip"
    auto colon = snapshot.find(':'), second = snapshot.find(':', colon + 1);
    snap_xmin_ = to_u64(snapshot.substr(0, colon));
    snap_xmax_ = to_u64(snapshot.substr(colon + 1, second - colon - 1));
    snap_xip_.clear();
    if (second + 1 < snapshot.size())
      for (auto x : util::split_list(snapshot.substr(second + 1), ',')) snap_xip_.insert(to_u64(x));
    if (!wal_) {
      // A numbering round begun after the read: every commit the read saw is numbered up to `high`.
      auto high = own_.exec("SELECT pgtrickle._relay_backfill_watermark($1)", {std::to_string(progress_.id)});
      if (!high) return high.error();
      low_ = read_low_;
      high_ = high->int64(0, 0);
      break;
    }
    // A transaction the stream handed out already that the read did not see (its commit was in the
    // WAL, not yet visible): the chunk could hold a row older than what was sent. Read again.
    bool unseen = false;
    for (auto x : recent_xids_) unseen = unseen || !saw(x);
    if (!unseen) {
      // Written after the read: every transaction the read saw comes before it in the stream. The
      // stream carries WAL once flushed: a transaction that commits synchronously flushes it now,
      // not at the WAL writer's next round.
      for (const char* sql : {"BEGIN", "SET LOCAL synchronous_commit = on"})
        if (auto s = own_.exec(sql); !s) return s.error();
      auto m = own_.exec("SELECT pg_catalog.pg_logical_emit_message(false, $1, $2), pg_catalog.pg_current_xact_id()",
                         {std::string(kBackfillMarkerPrefix), marker});
      if (!m) {
        (void)own_.exec("ROLLBACK");
        return m.error();
      }
      if (auto s = own_.exec("COMMIT"); !s) return s.error();
      marker_ = marker;
      break;
    }
    if (attempt == 100)
      return retriable(fmt::format("backfill of {}: a transaction already read from the WAL stays invisible to new snapshots", table_));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (auto s = send_chunk_read(); !s) return s;
  }
  last_chunk_ = rows_.size() < static_cast<std::size_t>(chunk_rows_);
  if (!rows_.empty()) after_ = key_object(rows_.back());
  next_ = 0;
  changed_.clear();
  truncated_ = false;
  has_chunk_ = true;
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
  std::size_t sent = 0, last_sent = out.size();
  while (next_ < rows_.size() && sent < most) {
    const std::string& row = rows_[next_++];
    ++progress_.rows_done;
    progress_.last_key = key_object(row);
    std::string id = identity(row);
    if (truncated_ || changed_.count(id)) continue;  // its change in the window carries it
    last_sent = out.size();
    expander.expand_read(progress_.id, id, row, now, out);
    if (progress_.rows_sent == 0 && last_sent < out.size()) expander.mark_read(out[last_sent], "first");
    ++progress_.rows_sent;
    ++sent;
  }
  if (next_ >= rows_.size()) {
    has_chunk_ = false;
    progress_.finished = last_chunk_;
    if (last_chunk_ && sent > 0 && last_sent < out.size()) expander.mark_read(out[last_sent], "last");
    rows_.clear();
    rows_.shrink_to_fit();
    changed_.clear();
  }
  progress = progress_;
}

}  // namespace relay::postgres
