// What the outbox source (outbox_source.cpp) and the WAL source (wal_source.cpp) share: a reader
// (a coroutine on the relay's workers, core/executor.h) that reads and expands batches ahead of the sink, the pipeline's position in
// pgtrickle.relay_offsets (stored only after the sink accepted a batch, fenced by the pipeline's
// ownership), a transaction of any size handed out in chunks (a claim-check delta), a backfill
// interleaved with the change stream, and the lag counted in the background. Where the changes come
// from is each source's own.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/postgres/backfill.h"
#include "backends/postgres/expand.h"
#include "backends/registry.h"
#include "config/template.h"
#include "core/build_context.h"
#include "core/event_fd.h"
#include "core/executor.h"
#include "pg/connection.h"

namespace relay::postgres {

// Where the pipeline stands: every row before (seq, id) is done; next_row >= 0 means row `id` is a
// claim-check delta done up to (not including) that row number. For changes read from the WAL, seq
// and id are both the commit LSN of a transaction, and next_row its next change.
struct Position {
  std::int64_t seq = 0;
  std::int64_t id = 0;
  std::int64_t next_row = -1;
  std::optional<Backfill::Progress> backfill;  // a batch of backfilled rows: where the backfill stands after it
};

// A transaction handed out in chunks: its row, and the number of its next change.
struct ClaimCheck {
  OutboxRow row;
  std::int64_t next_row;
};

class ChangeSource : public Source {
 public:
  ChangeSource(const PipelineConfig& config, const BuildContext& ctx);
  // A subclass calls stop() in its own destructor: the reader calls its functions.
  ~ChangeSource() override;

  Result<Batch> poll(Deadline) override;
  void wait(Deadline deadline) override;
  int ready_fd() const override { return ready_fd_; }
  bool ack_is_fenced() const override { return true; }  // kAckSql stores nothing once the lease is lost
  Status ack(const Batch& batch) override;
  // Exactly once: the record of where a batch takes the pipeline, and the one committed last.
  std::string position_record(const Batch& batch) override;
  void resume_after(std::string committed) override { committed_ = std::move(committed); }
  // The lag (rows waiting, the oldest one's age) and the backfill under way or last run.
  SourceStatus status() override;
  int begin_stop() override;
  void stop() override;

 protected:
  void lag(std::int64_t& rows, double& seconds);
  std::optional<BackfillStatus> backfill();

  // ---- what each source provides (called by the reader, unless said otherwise) ----

  // The next batch of changes, or of a backfill's rows (backfill_turn, backfill_batch); empty when
  // nothing is there now.
  virtual Result<Batch> read_batch() = 0;
  // After an empty batch: waits a while for changes (a source whose read_batch waited returns at once).
  virtual Task<void> wait_for_changes() { co_return; }
  // While the queue is full (the sink is busy or down): once it stayed full a moment, what gives
  // back connections the reading holds; every 5 s, what keeps the source's connections alive.
  virtual void pause_reading() {}
  virtual Status keep_alive() { return {}; }
  // The connection for statements between reads, opened when first needed; null when there is none
  // (an outbox's reads borrow the relay's pool). Whether the source reads a table (and so may be
  // backfilled).
  virtual pg::Connection* side_connection() = 0;
  virtual bool reads_a_table() const { return true; }
  // The rows of the claim-check transaction `cc` from cc.next_row on, at most `limit`, and their messages.
  virtual Result<std::vector<DeltaRow>> delta_rows(const ClaimCheck& cc, std::size_t limit) = 0;
  virtual void expand_delta_rows(const OutboxRow& row, std::span<DeltaRow> rows, bool last_chunk,
                                 std::size_t& consumed, std::vector<Message>& out) = 0;
  // Backfill: whether the transaction `row` came after the current chunk's read (its changes keep
  // the chunk's rows of their keys out), and whether a change `d` is of the table backfilled.
  virtual bool after_chunk_read(const OutboxRow& row) = 0;
  virtual bool of_backfilled_table(const DeltaRow&) { return true; }
  // Sends the read of the backfill's next chunk (false: the backfill is no longer wanted), and
  // collects it.
  virtual Result<bool> send_chunk_read() = 0;
  virtual Status finish_chunk_read() = 0;
  // The backfill ended (done, cancelled or failed).
  virtual void backfill_ended() {}
  // How the backfilled table's rows become messages.
  virtual Result<Expander*> backfill_expander() = 0;
  // Lag: sends the count (send_lag_count; false: could not), and reads its result.
  virtual bool send_lag() = 0;
  virtual void read_lag(const pg::PgResult& r) = 0;
  // A batch was acknowledged and its position stored (the pipeline's loop).
  virtual void acked(const Batch&, const Position&) {}

  // ---- for the sources' start() ----

  // How messages are made, as the pipeline's config says (its key, format, granularity, the sink's
  // routes); the table fills in the rest.
  Result<ExpandOptions> pipeline_options();
  // Format debezium: the change events of table `table_oid` (its shape read now on db_; read again,
  // on a connection of its own, when rows show the table changed). Nothing for other formats.
  Status attach_debezium(ExpandOptions& opt, std::uint32_t table_oid);
  // Loads the stored position into read_ (after the batch an exactly-once sink committed last, when
  // its position was not stored yet); whether one was stored.
  Result<bool> load_position();
  // "backfill": "initial": the tables' existing rows go first, the first time the pipeline starts.
  Status backfill_initial(bool stored);
  // A pgstream stream's position means a commit number when its events table is read, an LSN when
  // the WAL is: one stored the other way is refused, with what to do.
  Status check_stream_position(bool stored, bool from_wal);
  // Opens lag_db_, with the lag's statement prepared as "ob_lag".
  Status open_lag(const std::string& lag_sql);
  // Counts the lag with `lag_sql` on a connection borrowed from the relay's pool while the count
  // runs (a connection of its own, lag_db_, when the relay has no pool).
  Status pool_lag(const std::string& lag_sql);
  // Sends the lag's count with these parameters, on whichever connection counts it.
  bool send_lag_count(const pg::Params& params);
  // Starts the reader from read_.
  void launch();
  // Whether a backfill of this pipeline was requested and not yet taken up (the relay's shared
  // lookup, refreshed once a second for all pipelines).
  bool backfill_requested();

  // ---- for the sources' reading (the reader) ----

  // Takes up a backfill requested since the last look and reads its next chunk when none is held.
  Status backfill_turn();
  // The rows of the due chunk still current, up to batch_size, with where the backfill then stands.
  Result<Batch> backfill_batch(Batch batch);
  // The next chunk of the claim-check transaction cc_, of at most `room` rows, added to `batch`.
  Result<Batch> claim_check_chunk(Batch batch, std::size_t room);
  // The reader's error, reported by poll().
  void fail(Error error);

  const PipelineConfig& config_;
  BuildContext ctx_;
  pg::PooledSession* db_;  // the pipeline's statements (its position), each on a pooled connection
  std::string outbox_table_;  // the outbox, or the WAL pipeline's publication: recorded with the position
  Template key_template_;
  Position read_;   // after the last batch read (the reader)
  Position acked_;  // after the last batch acknowledged (the pipeline's loop)
  OutboxRow row_;   // reused: its buffers keep their capacity from row to row
  std::optional<ClaimCheck> cc_;

  // Backfill (the reader).
  std::optional<Backfill> backfill_;
  bool chunk_due_ = false;  // the stream passed the chunk's window: its rows go out next

  // Lag: counted in the background (read_lag sets the figures), on a connection of its own or one
  // borrowed from the relay's pool for the count (lag_sql_ set).
  pg::Connection lag_db_;
  std::string lag_sql_;
  pg::ConnectionPool::Lease lag_lease_;
  std::int64_t lag_rows_ = -1;
  double lag_seconds_ = -1;

  int stop_fd_ = -1;  // readable when the source stops (from construction on)

 private:
  Result<bool> load_stored_position();
  Result<bool> catch_up_with_sink(bool stored);
  // Stores `p` (and its backfill's progress); false when another relay owns the pipeline now.
  Result<bool> store_position(const Position& p);
  Task<void> read_loop();
  Task<bool> wait_for_room();
  Result<std::optional<Backfill>> look_for_backfill();
  void signal_ready();
  // Sends the read of the backfill's next chunk; ends a backfill that was cancelled meanwhile.
  Status start_chunk_read();
  // A chunk's read failed: when the database answered, the backfill is ended with the reason.
  Status backfill_failed(Status s);
  // Records backfill `id` ended (failed with `error`, or done).
  void record_backfill_end(const std::string& id, const std::optional<std::string>& error);
  void cancelled();
  void end_backfill();
  // A batch of backfilled rows was stored (the pipeline's loop).
  void backfill_acked(const Backfill::Progress& p);

  static constexpr size_t kQueueDepth = 2;  // batches read ahead: bounds memory, overlaps reading and sending

  bool lag_pending_ = false;  // a count was sent on lag_db_ and its result not read yet
  std::int64_t finished_backfill_ = 0;  // ended here: not taken up again while its last batch is on its way
  Clock::time_point backfill_look_{};   // when to look for a backfill requested meanwhile
  // The backfill's acknowledged progress (the reader and the pipeline's loop).
  std::mutex status_mu_;
  std::optional<BackfillStatus> backfill_status_;
  Clock::time_point backfill_began_{};
  std::int64_t backfill_rows_before_ = 0;  // rows done when this relay took it up

  std::string committed_;  // exactly once: the position record the sink committed last
  bool reading_ = false;  // the reader was started and has not ended yet
  EventFd reader_ended_;
  std::mutex mu_;
  std::deque<Batch> queue_;
  std::optional<Error> error_;
  bool stopping_ = false;
  int ready_fd_ = -1, room_fd_ = -1;  // room_fd_: poll() took a batch from the queue
};

}  // namespace relay::postgres
