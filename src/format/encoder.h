// The message formats a forward pipeline writes (docs/architecture.md, "Formats"). A source reads
// rows and fills in what every format shares (a message's identity, its row as JSON in `data`, its
// key and routes); the pipeline's encoder writes the rest: the body, the headers, the content type,
// or the reason the message is poison. One file per format, registered in formats.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/pipeline_config.h"
#include "format/debezium_event.h"
#include "format/debezium_transaction.h"
#include "format/outbox_event_router.h"
#include "relay/message.h"
#include "relay/result.h"

namespace relay::format {

// A commit time as an envelope writes it (a JSON string), formatted once for the messages of a
// transaction.
class CommitTime {
 public:
  const std::string& json(double committed_at);

 private:
  double value_ = -1;
  std::string text_;
};

// What a pipeline's format is told once, when the pipeline starts.
struct FormatOptions {
  Format format = Format::json;
  std::string stream_table;  // the envelope's stream_table, CloudEvents' source and type
  // Events go out as written, without the envelope, in format json (a pgstream stream: the event
  // JSON its subscription defines is the message).
  bool bare_events = false;
  // format debezium: the table's events, and how to read the table's shape again when a row has a
  // field the shape lacks (the table was altered since).
  std::shared_ptr<const debezium::EventEncoder> debezium;
  std::function<Result<std::shared_ptr<const debezium::EventEncoder>>()> reload_debezium;
  // format outbox_event_router: the router (over `debezium`'s table), whether the pipeline's "key"
  // replaces its key, and what to do of an update it skips.
  std::shared_ptr<const debezium::OutboxEventRouter> router;
  bool key_given = false;
  std::function<void(std::string_view table)> skipped_update;
  bool tombstones = true;
  std::string skipped_operations;  // format debezium: Debezium's op letters of changes not sent
  // Format debezium with provide_transaction_metadata: the current transaction's events, shared by
  // the encoders of every table the pipeline reads; each change event placed in it.
  std::shared_ptr<debezium::TransactionCounts> transaction;
  // format cloudevents in binary mode: the prefix of the attributes' headers in the sink's protocol
  // binding (cloudevents_binding()); empty: structured mode.
  std::string cloudevents_binary;
  bool cloudevents_percent_encode = false;
};

// The transaction a message comes from.
struct Commit {
  double committed_at = 0;      // unix seconds
  std::string_view refresh_id;  // pg_trickle's refresh that wrote it ("": none)
  std::int64_t seq = 0;         // the outbox row's commit sequence (read from the WAL: its LSN)
  std::uint32_t xid = 0;        // its transaction's id (32 bits, as the WAL gives it; 0: not known)
  bool from_wal = false;        // read from the WAL: seq is its LSN
  std::uint64_t previous_end = 0;  // read from the WAL: the end of the transaction before it (0: none known)
};

// A row change, or a row a backfill read (op read). The message holds the row in `data` (the old
// row of a delete, "null" for a truncate), the pipeline's key in `key`, its identity in `dedup_key`.
struct RowChange {
  const Commit& commit;
  std::string_view outbox_id;    // the outbox row's id as text; "" for a backfilled row
  std::string_view backfill_id;  // the backfill that read the row; "" for a change
  const std::string* before = nullptr;  // an update's old row, when known
  bool full_refresh = false;     // part of a full refresh of the table
  std::uint64_t lsn = 0;         // read from the WAL: the change's LSN (0: the commit's)
};

// An application's event (outbox_publish): the message's `data` is its payload, `headers` its
// headers in order.
struct Event {
  const Commit& commit;
  std::string_view outbox_id;
  std::string_view headers_json;  // the headers as one JSON object ("{}": none)
};

// One message of a pipeline with granularity delta: `data` is {"inserted":[...],"deleted":[...]}.
struct Delta {
  const Commit& commit;
  std::string_view outbox_id;
  std::int64_t first_row = 0;   // a claim-check outbox row's: the row_num of the first row in it
  std::size_t rows = 0;
  bool full_refresh = false;
  bool claim_check = false;     // read from a claim-check outbox row, in chunks
  bool more = false;            // a chunk that more of the same outbox row follow
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  // Whether changes of `op` are sent at all (Debezium's skipped.operations; the router's inserts).
  virtual bool sends(Op) { return true; }
  virtual void row(const RowChange& change, Message& m) = 0;
  virtual void event(const Event& event, Message& m) = 0;
  virtual void delta(const Delta& delta, Message& m) = 0;
  // The marker of a gap in the changes (a slot rebuilt): `data` says which, `commit` when.
  virtual void gap(const Commit& commit, Message& m) = 0;
  // Marks a backfilled row's message as the backfill's "first" or "last" (Debezium's source.snapshot).
  virtual void mark_read(Message&, std::string_view) const {}
  // One UPDATE changed a row's key: the headers its delete and its insert carry (Debezium's
  // __debezium.newkey and oldkey), or false when the format has none.
  virtual bool key_change(std::string_view, std::string_view, Header&, Header&) { return false; }
};

// A message no format can write: sent nowhere, dead-lettered with its row as it was read.
inline void poison(Message& m, std::string reason) {
  m.body = m.data;
  m.poison = std::move(reason);
}

// The encoder of `options.format`.
std::unique_ptr<Encoder> make_encoder(const FormatOptions& options);

// Each format's (formats.cpp registers them).
std::unique_ptr<Encoder> make_json_encoder(const FormatOptions& options);
std::unique_ptr<Encoder> make_cloudevents_encoder(const FormatOptions& options);
std::unique_ptr<Encoder> make_debezium_encoder(const FormatOptions& options);
std::unique_ptr<Encoder> make_outbox_event_router_encoder(const FormatOptions& options);

// CloudEvents' binary mode for a sink: its protocol binding's attribute header prefix ("ce_" Kafka,
// "ce-" HTTP and NATS, "cloudEvents_" AMQP) into options, and whether values are percent-encoded
// (HTTP, NATS; else made header-safe, util/header_value.h).
void cloudevents_binding(std::string_view sink_type, FormatOptions& options);

}  // namespace relay::format
