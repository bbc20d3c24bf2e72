// Source: where messages come from (an outbox table, a broker, stdin...).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay {

// A polled batch. `token` is opaque to the core: the source uses it to acknowledge exactly this batch.
struct Batch {
  std::vector<Message> messages;
  std::shared_ptr<void> token;
  bool empty() const { return messages.empty() && !token; }
};

// A backfill under way (the existing rows of a forward pipeline's table being sent).
struct BackfillStatus {
  std::int64_t id = 0;
  std::int64_t rows_done = 0;        // rows of the table read and acknowledged
  std::int64_t rows_sent = 0;        // of them, sent (the others changed meanwhile and went out as changes)
  std::int64_t rows_estimated = -1;  // the planner's estimate when it was requested; -1 unknown
  std::int64_t rows_done_here = 0;   // of rows_done, those this relay read (a takeover resumes a backfill)
  double rows_per_second = 0;        // this relay's rate
  bool finished = false;             // done or stopped: reported once more, so counters see its last rows
  std::string table;                 // the table backfilled (schema.table)
};

// One table of a source that reads many (a pipeline of source type "wal"): its changes sent and
// acknowledged so far, and what keeps it from being captured whole ("" when nothing).
struct TableStatus {
  std::string table;
  std::uint64_t changes = 0;
  std::string problem;
};

// Big transactions the server streams while they run (PostgreSQL 14+), held by the source until
// they end: in memory, and spilled to disk past its bound.
struct StreamedStatus {
  std::int64_t transactions = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t spilled_bytes = 0;
  double oldest_seconds = 0;  // since the oldest one held began to stream; 0 when none
};

// The replication slot a source reads, as of the last lag(): how far behind it is, the WAL it keeps,
// and how the server rates what it keeps (pg_replication_slots.wal_status and safe_wal_size).
struct SlotStatus {
  std::string name;
  std::int64_t behind_bytes = -1;    // the server's WAL beyond the slot's confirmed position; -1 unknown
  std::int64_t retained_bytes = -1;  // the WAL the slot keeps the server from removing; -1 unknown
  std::string wal_status;            // reserved, extended, unreserved or lost; "" unknown
  // The WAL the server may still write before the slot is invalidated; none when no cap
  // (max_slot_wal_keep_size = -1) or the slot is lost.
  std::optional<std::int64_t> safe_wal_bytes;
  StreamedStatus streamed;
};

// What a source says of itself at each status interval.
struct SourceStatus {
  // Rows or messages waiting, and the age in seconds of the oldest one (best effort, -1 if unknown).
  std::int64_t lag_rows = -1;
  double lag_seconds = -1;
  // For a source reading a replication slot: the slot, measured with the lag; none otherwise.
  std::optional<SlotStatus> slot;
  // The backfill under way, if any, or the last one this source ran (acknowledged progress).
  std::optional<BackfillStatus> backfill;
  // The tables of a source that reads many, once each has come up; empty for other sources.
  std::vector<TableStatus> tables;
  // What the source's store keeps past its retention because this pipeline has not consumed it
  // yet (a pgstream stream's old partitions), shown in /health; "" when nothing.
  std::string kept_past_retention;
};

// Trouble a source rides out while it still runs, shown in /health while it lasts ("" when none).
struct SourceTrouble {
  // A problem it is riding out without failing poll() (every broker down, receives failing): the
  // state "retrying".
  std::string degraded;
  // A danger ahead (its replication slot close to being invalidated): the state "degraded".
  std::string at_risk;
};

class Source {
 public:
  virtual ~Source() = default;
  // Connect and load the stored position.
  virtual Status start() = 0;
  // Next batch, in order; an empty batch means nothing is ready now. Forward pipelines may poll
  // again before the previous batch was acknowledged (a sink with batches_in_flight() > 1).
  virtual Result<Batch> poll(Deadline deadline) = 0;
  // Blocks until new data may be ready, the deadline passes, or wake() is called.
  virtual void wait(Deadline deadline) = 0;
  // A file descriptor that becomes readable when poll() may have a batch (poll() clears it), so the
  // core can wait for new data and a sink's acks at once; -1 when the source has none.
  virtual int ready_fd() const { return -1; }
  // Called once per batch, in poll order, only after every message of it was delivered or dead-lettered.
  virtual Status ack(const Batch& batch) = 0;
  // True when ack() itself checks, in the same statement, that this relay still owns the pipeline
  // (BuildContext::fence_sql) and fails otherwise: the runner then skips its own check before it.
  virtual bool ack_is_fenced() const { return false; }
  // Exactly once (optional): the record of where the pipeline stands before and after `batch`, which
  // an exactly-once sink commits with it ("" when the source keeps no such record). And, before
  // start(), the record the sink committed last: the source carries on after it when the position
  // it stores itself had not caught up (the relay stopped between the sink's commit and its ack).
  virtual std::string position_record(const Batch& batch) { (void)batch; return {}; }
  virtual void resume_after(std::string committed) { (void)committed; }
  // How the source is, asked every status interval (it may run statements): what waits, its slot,
  // its backfill, its tables, what its store keeps for it.
  virtual SourceStatus status() { return {}; }
  // Trouble the source is riding out by itself, asked before every poll (cheap).
  virtual SourceTrouble trouble() { return {}; }
  // Asks the source to stop without waiting for it: an fd that becomes readable once it stopped
  // (stop() then returns at once), or -1 when stop() does all of it.
  virtual int begin_stop() { return -1; }
  virtual void stop() = 0;
};

}  // namespace relay
