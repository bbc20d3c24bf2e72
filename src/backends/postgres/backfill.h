// A forward pipeline's backfill: the existing rows of its table, read in key order one chunk at a
// time, interleaved with the pipeline's change stream as Netflix's DBLog does. Each chunk is read
// between two positions of the stream, `low` and `high`: every change before `low` is visible to
// the read, none after `high` is. The chunk's rows go out where the stream passes `high`, less
// those whose key changed in between (their changes, sent in the stream, carry them), so for every
// key the last message is the row's current value. Memory holds one chunk.
//
// The positions: for an outbox (trigger capture), numbers of the commit order (`seq`) — `low` the
// number up to which every commit was numbered before the read, `high` that of a numbering round
// begun after it. For a table read from the WAL, the read's snapshot says exactly which
// transactions it saw (by xid), and a logical message written after it marks `high` in the stream.
// Used by the reader of the outbox and WAL sources only (change_source.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "backends/postgres/expand.h"
#include "pg/connection.h"
#include "relay/message.h"

namespace relay::postgres {

// The prefix of the logical messages that end a chunk's window in the WAL.
inline constexpr std::string_view kBackfillMarkerPrefix = "pgtrickle_backfill";

class Backfill {
 public:
  // Where a backfill stands once a batch is acknowledged: stored with the pipeline's position.
  struct Progress {
    std::int64_t id = 0;
    std::string last_key;  // JSON object of the last row's key columns; empty before the first row
    std::int64_t rows_done = 0;  // rows of the table read
    std::int64_t rows_sent = 0;  // of them, sent (the others changed while read: their change was sent)
    bool finished = false;  // the table's end: the backfill is done once this is stored
  };

  // The pipeline's backfill under way (pending or running), if any.
  static Result<std::optional<Backfill>> find(pg::Connection& db, const std::string& pipeline, int chunk_rows);

  std::int64_t id() const { return progress_.id; }
  const std::string& table() const { return table_; }
  // The table's oid (0 for a backfill recorded before oids were).
  std::uint32_t table_oid() const { return table_oid_; }
  std::int64_t rows_estimated() const { return rows_estimated_; }
  // What was stored last (or handed out last, for the reader).
  const Progress& progress() const { return progress_; }

  // Opens the connection the chunks are read on (the backfill's own: a chunk's read runs while the
  // reader reads the stream or the sink sends the chunk before).
  Status connect(const std::string& postgres_url, const std::string& application_name);

  // Sends the read of the next chunk, the rows after the last one read, unless the backfill is no
  // longer wanted (cancelled, its pipeline deleted): then false. For a table read from the WAL,
  // `recent_xids` are the transactions the stream handed out lately (finish_read checks them). The
  // chunk being handed out, if any, stays until it is done.
  Result<bool> start_read(bool wal, std::vector<std::uint32_t> recent_xids = {});
  bool reading() const { return reading_; }
  // Whether it is still under way (not cancelled, its pipeline not deleted).
  Result<bool> wanted();
  // Whether the backfill's connection still works (an error with it working is the backfill's own).
  bool connected() { return own_.ok(); }
  // The current chunk is the table's last.
  bool last_chunk() const { return last_chunk_; }
  // Collects the chunk sent for, which becomes the current one. Trigger capture: `high` is then
  // fixed. WAL: when a transaction of `recent_xids` was not visible to the read (its commit was in
  // the WAL, not yet visible), the read is made again a moment later; then a logical message with
  // `marker` is written, after the read: every transaction the read saw comes before it.
  Status finish_read(const std::string& marker = "");

  bool has_chunk() const { return has_chunk_; }
  std::int64_t low() const { return low_; }
  std::int64_t high() const { return high_; }
  // WAL: whether the read saw transaction `xid` (32 bits, as the stream gives it).
  bool saw(std::uint32_t xid) const;
  // WAL: whether every later read sees transaction `xid` (it ended before the read's oldest running one).
  bool settled(std::uint32_t xid) const;
  // The marker of the message that ends the current chunk's window in the WAL.
  const std::string& marker() const { return marker_; }

  // A row (JSON object, as to_jsonb renders it) changed in the window: its key's chunk row stays out.
  void changed(std::string_view row);
  // The table was truncated in the window: every row of the chunk stays out.
  void truncated() { truncated_ = true; }

  // The chunk is due: its rows may go out. Appends up to `most` messages of rows still current and
  // sets `progress` to where the backfill stands after them; the chunk is done when none are left.
  void take(std::size_t most, Expander& expander, std::vector<Message>& out, Progress& progress);

  // The key identity of a row: its key columns' JSON values, comma-separated (values are
  // self-delimiting, so identities are equal only for equal keys); empty if the row lacks one.
  std::string identity(std::string_view row) const;

 private:
  Backfill() = default;
  std::string key_object(std::string_view row) const;
  std::uint64_t full_xid(std::uint32_t xid) const;
  Status send_chunk_read();
  Status set_session();

  std::vector<std::string> key_columns_;
  std::string function_;      // schema-qualified chunk function
  std::string text_columns_;  // the columns it sends as their text, as a text[] literal
  std::string chunk_sql_;  // reads a chunk through it, with the read's snapshot
  std::string table_;     // schema.table, for logs
  std::uint32_t table_oid_ = 0;
  int chunk_rows_ = 10000;
  std::int64_t rows_estimated_ = -1;
  Progress progress_;  // where the chunks handed out so far end

  pg::Connection own_;
  std::string after_;      // the key the next read starts after (JSON object); empty: the table's start
  bool reading_ = false;   // a chunk's read was sent and not collected
  bool wal_ = false;
  std::vector<std::uint32_t> recent_xids_;
  std::int64_t read_low_ = 0;  // trigger capture: `low` of the read in flight
  bool has_chunk_ = false;
  bool last_chunk_ = false;  // fewer rows than asked: the table's end
  bool truncated_ = false;
  std::int64_t low_ = 0, high_ = 0;
  std::string marker_;
  std::uint64_t snap_xmin_ = 0, snap_xmax_ = 0;
  std::unordered_set<std::uint64_t> snap_xip_;
  std::vector<std::string> rows_;
  std::size_t next_ = 0;
  std::unordered_set<std::string> changed_;
};

}  // namespace relay::postgres
