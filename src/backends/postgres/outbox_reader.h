// Reads an outbox's rows in commit order: while caught up, each wake-up reads what the last commits
// added with one prepared statement (a page of up to kPageRows rows, held in memory whole); a full
// page means a backlog, read as one COPY stream per stretch of `stream_rows`, row by row, so the
// server produces rows while the relay expands the ones already received. Claim-check rows are read
// in chunks on a second connection. Used by the outbox source's reader thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pg/connection.h"
#include "relay/message.h"
#include "backends/postgres/commit_numbering.h"
#include "backends/postgres/expand.h"

namespace relay::postgres {

class OutboxReader {
 public:
  struct Table {
    std::string outbox;  // table name in schema pgtrickle
    std::string delta;   // claim-check table, empty if none
    bool legacy = false; // pg_trickle's own outbox: id order, no commit sequence
  };

  // Outbox rows per page: a trickle of commits fits; an outbox row may hold a delta of up to
  // inline_threshold_rows table rows, so a page stays small to bound its memory.
  static constexpr std::size_t kPageRows = 32;

  // `numbering`: the relay's numbering rounds, shared by its readers (null: this reader runs its own).
  OutboxReader(std::string postgres_url, std::string application_name, Table table, std::size_t stream_rows,
               CommitNumbering* numbering = nullptr);
  // Says it no longer waits, so writers stop notifying for it.
  ~OutboxReader();
  OutboxReader(OutboxReader&&) = default;

  Status connect();
  // Rows come after (seq, id); the row `id` itself is included again when `include_id` (a claim-check
  // row that was partly delivered).
  void start_after(std::int64_t seq, std::int64_t id, bool include_id);
  // The next row in commit order; false when every committed row has been read.
  Result<bool> next(OutboxRow& row);
  Result<std::vector<DeltaRow>> delta_rows(std::int64_t outbox_id, std::int64_t from_row, std::size_t limit);
  // Blocks until NOTIFY announces new rows of this outbox, the deadline passes, or `stop_fd` is
  // readable. Writers notify only while a reader says it waits: after rows were read, the first calls
  // return after a few milliseconds each, then one says the reader waits and returns at once, for
  // one more look at what committed before writers could see it.
  void wait_for_rows(Deadline deadline, int stop_fd);
  // While the reader thread waits for the pipeline rather than for rows (the sink is down): the
  // socket of the connection that LISTENs, -1 while a COPY stream is open on it (its rows stay in
  // the socket until they are read as rows), and what reads it. Notifications are discarded (one
  // for this outbox only makes the next read look again); false when the connection is broken.
  int idle_socket() const { return streaming_ && !paging_ ? -1 : stream_.socket(); }
  bool drain_notifications();
  // The commit order's watermark the last read went up to: every row numbered up to it was handed
  // out once next() returned false.
  std::int64_t watermark() const { return watermark_; }
  // next() reads again, up to a new watermark, although it found nothing last time.
  void look_again() { caught_up_ = false; }
  // The claim-check connection (none for an outbox without a delta table), which the reader thread
  // may use between reads; READ COMMITTED.
  // The claim-check connection, opened when first needed (most pipelines never read a delta).
  pg::Connection* side_connection();

 private:
  Status open_stream();
  Status open_delta();
  // Records whether this session waits for rows (writers notify only then); false if that failed.
  bool say_waiting(bool waiting);
  bool read_to_watermark(std::size_t got, std::size_t limit) const;
  // Fills `row` from the columns `next_field(text, is_null)` yields in turn, and moves the position.
  template <typename NextField>
  Result<bool> fill_row(NextField next_field, OutboxRow& row);

  std::string url_, app_;
  Table table_;
  std::size_t stream_rows_;
  pg::Connection stream_, delta_;
  bool paging_ = true;       // read pages (caught up) rather than COPY streams (a backlog)
  pg::PgResult page_;        // the page being handed out, from row page_next_
  int page_next_ = 0;
  bool streaming_ = false;   // a page or a COPY stream is open
  bool caught_up_ = false;   // the last stream ended short: wait for NOTIFY before the next
  bool waiting_ = false;     // writers of this outbox notify this session
  int quiet_looks_ = 0;      // reads in a row that found nothing, while not waiting
  Clock::time_point waiting_since_{};
  std::size_t streamed_ = 0;
  std::int64_t after_seq_ = 0, after_id_ = 0;
  std::int64_t watermark_ = 0;
  CommitNumbering* numbering_ = nullptr;
  std::string field_;        // unescaping buffer
  std::string committed_text_;  // the last commit time read, as text, and its value
  double committed_at_ = 0;
};

}  // namespace relay::postgres
