// Reads committed transactions from a logical slot, in commit order, the way the outbox source reads
// a claim-check delta: each transaction is an OutboxRow whose seq and id are its commit LSN (so a
// message's identity is "<outbox>:<commit LSN>:<n>", the same on every replay), and its rows are
// handed out in chunks as DeltaRows (an UPDATE: its old row, then its new one), each naming its
// table, rendered exactly as to_jsonb renders them. Memory holds one chunk, whatever the
// transaction's size. The tables read: one named table (a table captured by enable_outbox), or
// those a decider accepts as the WAL describes them (a pipeline of source type "wal": tables
// created or renamed later are decided when the WAL first describes them, before their first row).
// Rows of the transactions that already arrived behind the current one are rendered in the same
// statement as its last chunk: a backlog of small transactions costs a statement per chunk, not per
// transaction.
// Used by the WAL source's reader only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include "backends/postgres/rows.h"
#include "backends/postgres/pgoutput.h"
#include "backends/postgres/streamed_transactions.h"
#include "backends/postgres/wal_rows.h"
#include "backends/postgres/wal_stream.h"
#include "pg/connection.h"

namespace relay::postgres {

class WalReader {
 public:
  struct Table {
    std::string schema;  // the table read; empty: the tables the decider accepts
    std::string name;
    std::string slot;
    std::vector<std::string> publications;  // streamed; the first names the capture in messages
    // A TOASTed value an UPDATE left unchanged (and the old row does not hold) is written as this
    // placeholder (format debezium: Debezium's), not read from the table; empty: read.
    std::string unavailable_placeholder;
    // Values of types of these names (pg_type.typname) are written as their text, a JSON string,
    // not as to_jsonb renders them (format debezium: PostGIS's geometry and geography, whose
    // to_jsonb is a GeoJSON that rounds coordinates, drops M and fails on curves).
    std::vector<std::string> text_types;
    // Composite values (and arrays of them) written as their text too, not as to_jsonb's object
    // (format debezium with include_unknown_datatypes: Debezium sends the text's bytes).
    bool composites_as_text = false;
    bool resumed = false;  // the pipeline delivered before (it has a stored position)
    // The end of the transaction delivered before the stored position (0: unknown, a position
    // stored by an older relay: the slot's confirmed position stands in).
    pgoutput::Lsn resumed_after = 0;
    // Big transactions streamed while they run (PostgreSQL 14+), held until their commit: in memory
    // up to `streaming_memory` bytes, then spilled under `spill_dir` (streamed_transactions.h).
    bool streaming = true;
    std::size_t streaming_memory = 16u << 20;
    std::string spill_dir;
  };
  // Whether a table the WAL describes is read; called again at each new description (a column
  // added, a rename). Rows of a table it accepts are rendered through pgtrickle._wal_render_table.
  using Decider = std::function<Result<bool>(const pgoutput::Relation&)>;

  WalReader(std::string postgres_url, std::string application_name, Table table, Decider decide = {});

  // Streams from the slot's confirmed position.
  Status connect();
  // The next transaction that changed the table, waiting at most `wait`; false when none came, or
  // when the marker watched for came (marker_seen()). The rows of the previous one not read yet are
  // skipped.
  Result<bool> next(OutboxRow& row, std::chrono::milliseconds wait);
  // Watches for a backfill's logical message with `content` (Backfill::read_chunk_between_wal);
  // "" stops watching.
  void watch_marker(std::string content) {
    marker_ = std::move(content);
    marker_seen_ = false;
  }
  bool marker_seen() const { return marker_seen_; }
  // The end of the transaction committed at `commit_lsn`, read and not yet confirmed; 0 if unknown.
  pgoutput::Lsn end_of(pgoutput::Lsn commit_lsn) const {
    for (const auto& [commit, end] : ends_)
      if (commit == commit_lsn) return end;
    return 0;
  }
  // The connection rows are rendered on, which the reader may use between reads.
  pg::Connection& side_connection() { return db_; }
  // Rows of the current transaction from `from_row` on (1-based, in WAL order), at most `limit`;
  // fewer when the transaction ended. `from_row` never goes back before a row already returned,
  // except the last one returned.
  Result<std::vector<DeltaRow>> delta_rows(std::int64_t from_row, std::size_t limit);
  // Every transaction up to the one committed at `commit_lsn` is delivered and its position stored:
  // the slot may release the WAL before its end. With nothing in flight, an idle slot follows the
  // server's WAL.
  Status confirm(pgoutput::Lsn commit_lsn);
  // The current transaction was delivered before (a restart replays from the slot's confirmed
  // position, which may lag the stored one): read past it and confirm it.
  Status skip_transaction();
  // Tells the server the relay is alive while it does not read (the sink is busy): a replication
  // connection silent for wal_sender_timeout is ended.
  Status keep_alive();
  // The big transactions held while they run (none when the server does not stream them), and why
  // reading stopped when they could not be spilled ("" when it did not).
  StreamedTransactions::Held streamed() const { return streamed_.held(); }
  const std::string& streamed_trouble() const { return streamed_.spill_trouble(); }

 private:
  struct Pending {  // a change read from the stream
    std::uint32_t table;  // its relation's oid
    bool is_delete;
    bool key_only;  // the old row's key alone (the table's replica identity carries no more)
    bool is_truncate;
    pgoutput::Lsn lsn;                 // the change's
    std::string values;                // append_row_values object
    bool fill = false;                 // a value must come from the table
    std::optional<std::string> text;  // rendered; a truncation has none
    // Fields (as JSON strings) whose rendered value is replaced (JSON text): the WAL left the value
    // out (the placeholder), or it is written as its text (Table::text_types).
    std::vector<std::pair<std::string, std::string>> replaced;
    bool of_update = false;  // the old or the new row of an UPDATE
    bool minified = false;   // `text` was rendered by the relay (PlainRows): valid, without spaces
  };
  struct Ahead {  // a message read ahead of the current transaction
    std::string bytes;
    pgoutput::Lsn lsn = 0;
    std::vector<std::string> texts;  // its rows, rendered (an UPDATE's old row, then its new one)
  };
  // The next message: one read ahead first, else from the stream, waiting at most `wait`; nullopt
  // when none came. Valid until the next call.
  Result<std::optional<pgoutput::Message>> pull(std::chrono::milliseconds wait);
  // The next protocol 1 message of the stream, waiting at most `wait`: a streamed transaction's
  // messages are held and come whole at its commit. Valid until the next call.
  Result<std::optional<WalStream::Data>> next_message(std::chrono::milliseconds wait);
  // Reads stream messages until `pending_` holds `want` changes or the transaction's Commit came.
  Status fill(std::size_t want);
  Status read_past_transaction();
  struct TableState {
    pgoutput::Relation relation;
    std::string columns;  // as rendering takes them, once made
    bool wanted = false;
    bool built_in = false;  // every column of a built-in type
    std::optional<PlainRows> plain;  // rendered by the relay itself (every column's JSON is known)
    std::vector<std::size_t> text_columns;  // columns of Table::text_types, written as their text
  };
  // A table described by the WAL: read or not, with its new shape.
  Status learn(const pgoutput::Relation& relation);
  // Which of its non-built-in column types are composites (Table::composites_as_text), asked once each.
  Status learn_composites(const pgoutput::Relation& relation);
  // The read table `oid` names, or null.
  const TableState* wanted(std::uint32_t oid) const;
  // The changes `m` makes to the tables read, as the WAL described them; rows the relay renders
  // itself come rendered (unless `render` is false: their texts are at hand already).
  void changes_of(const pgoutput::Message& m, pgoutput::Lsn lsn, std::vector<Pending>& out, bool render = true) const;
  // Reads on past the current transaction what already arrived, up to `rows` changes, while it is
  // only the table's inserts, updates and deletes (a new shape of the table stops it): their rows
  // join `chunk`'s statement, and come back with their messages.
  Status read_ahead(std::size_t rows, std::vector<Pending>& chunk);
  // Renders the rows of `rows` that have no text yet, a statement per table.
  Status render(std::vector<Pending>& rows);

  std::string url_, app_;
  Table table_;
  Decider decide_;
  std::optional<WalStream> stream_;
  StreamedTransactions streamed_;
  std::chrono::steady_clock::time_point last_status_;  // the last status update sent while handing on a held transaction
  pg::Connection db_;  // renders rows
  bool text_dates_ = false;  // dates and timestamps may be rendered from the stream's text (PlainRows)
  std::unordered_map<std::uint32_t, TableState> tables_;  // by relation oid, as the WAL described them
  std::unordered_map<std::uint32_t, std::string> type_names_;  // non-built-in types the WAL described, by oid
  std::unordered_map<std::uint32_t, bool> composite_;  // non-built-in types: a composite or an array of one
  bool in_txn_ = false;     // between a Begin handed out by next() and its Commit
  bool ended_ = false;      // the current transaction's Commit was read
  pgoutput::Lsn commit_lsn_ = 0;
  pgoutput::Lsn message_lsn_ = 0;   // the WAL position of the message pull() returned last
  pgoutput::Lsn previous_end_ = 0;  // the end of the last transaction whose Commit was read
  std::int64_t next_row_ = 1;  // the row number of pending_.front()
  std::deque<Pending> pending_;
  std::vector<Pending> changes_;  // one message's changes on their way to pending_ (kept: no allocation per message)
  std::deque<Ahead> ahead_;
  Ahead held_;  // the message pull() returned last, read ahead
  std::vector<DeltaRow> last_;  // the last chunk returned, for a re-read of its end
  std::deque<std::pair<pgoutput::Lsn, pgoutput::Lsn>> ends_;  // commit LSN -> end LSN, read not confirmed
  std::string marker_;        // the backfill marker watched for
  bool marker_seen_ = false;
};

}  // namespace relay::postgres
