// Reads an outbox's rows in commit order, on connections borrowed from the relay's pool: while
// caught up, each wake-up reads what the last commits added with one statement (a page of up to
// kPageRows rows, held in memory whole); a full page means a backlog, read as one COPY stream per
// stretch of `stream_rows`, row by row, so the server produces rows while the relay expands the
// ones already received (the stretch holds its connection until it ends or the reader pauses).
// Claim-check rows are read in chunks, each on a borrowed connection. The relay's listener
// (outbox_listener.h) wakes the reader when rows come. Used by the outbox source's reader only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/postgres/outbox_listener.h"
#include "core/event_fd.h"
#include "core/executor.h"
#include "pg/connection.h"
#include "pg/connection_pool.h"
#include "relay/message.h"
#include "backends/postgres/commit_numbering.h"
#include "backends/postgres/rows.h"

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

  // `numbering`: the relay's numbering rounds, shared by its readers; `stop_fd` readable when the
  // reader stops (a wait for a pooled connection ends then).
  OutboxReader(pg::ConnectionPool& pool, OutboxListener& listener, Table table, std::size_t stream_rows,
               CommitNumbering& numbering, int stop_fd);
  OutboxReader(OutboxReader&&) = default;
  ~OutboxReader();

  // Tells the listener which outbox this reader waits for.
  void connect();
  // Rows come after (seq, id); the row `id` itself is included again when `include_id` (a claim-check
  // row that was partly delivered).
  void start_after(std::int64_t seq, std::int64_t id, bool include_id);
  // The next row in commit order; false when every committed row has been read, or when every
  // pooled connection is lent out (waiting_for_pool()): the reader then waits for its turn in
  // wait_for_rows, holding no thread.
  Result<bool> next(OutboxRow& row);
  bool waiting_for_pool() const { return waiting_for_pool_; }
  Result<std::vector<DeltaRow>> delta_rows(std::int64_t outbox_id, std::int64_t from_row, std::size_t limit);
  // Waits until the listener says rows of this outbox may have come (or, waiting for the pool, a
  // connection was given back), the deadline passes, or the reader stops; whether to read now (false: the deadline passed while the listener would have
  // woken the reader for rows). Writers notify only while a reader says it waits: after rows were
  // read, the first calls return after a few milliseconds each, then one says the reader waits and
  // returns at once, for one more look at what committed before writers could see it.
  Task<bool> wait_for_rows(Executor& executor, Deadline deadline);
  // The reader waits for the pipeline rather than for rows (the sink is busy or down): a COPY
  // stream still open ends, and its connection goes back to the pool; the next read carries on
  // where the rows handed out end.
  void pause();
  // The commit order's watermark the last read went up to: every row numbered up to it was handed
  // out once next() returned false.
  std::int64_t watermark() const { return watermark_; }
  // next() reads again, up to a new watermark, although it found nothing last time.
  void look_again() { caught_up_ = false; }

 private:
  // Whether a page or a stream is open (false: waiting for the pool).
  Result<bool> open_stream();
  // A pooled connection now, or an empty lease and the reader queued for the next one given back
  // (a busy pool delays reading, it does not fail it, nor block the thread).
  Result<pg::ConnectionPool::Lease> borrow(bool long_read);
  bool read_to_watermark(std::size_t got, std::size_t limit) const;
  // Fills `row` from the columns `next_field(text, is_null)` yields in turn, and moves the position.
  template <typename NextField>
  Result<bool> fill_row(NextField next_field, OutboxRow& row);

  pg::ConnectionPool* pool_;
  OutboxListener* listener_;
  Table table_;
  std::size_t stream_rows_;
  CommitNumbering* numbering_;
  int stop_fd_;
  std::string page_sql_, delta_sql_;
  std::unique_ptr<OutboxListener::Subscription> subscription_;
  pg::ConnectionPool::Lease copy_;  // the connection of the COPY stream being read
  // This reader's place in the pool's queue and the fd its turn signals (kept in place on a move).
  struct PoolTurn {
    EventFd fd;
    pg::ConnectionPool::Turn place;
  };
  std::unique_ptr<PoolTurn> turn_;
  bool waiting_for_pool_ = false;
  bool paging_ = true;       // read pages (caught up) rather than COPY streams (a backlog)
  pg::PgResult page_;        // the page being handed out, from row page_next_
  int page_next_ = 0;
  bool streaming_ = false;   // a page or a COPY stream is open
  bool caught_up_ = false;   // the last stream ended short: wait for the listener before the next
  bool waiting_ = false;     // writers of this outbox notify the listener
  int quiet_looks_ = 0;      // reads in a row that found nothing, while not waiting
  Clock::time_point waiting_since_{};
  std::size_t streamed_ = 0;
  std::int64_t after_seq_ = 0, after_id_ = 0;
  std::int64_t watermark_ = 0;
  std::string field_;        // unescaping buffer
  std::string committed_text_;  // the last commit time read, as text, and its value
  double committed_at_ = 0;
};

}  // namespace relay::postgres
