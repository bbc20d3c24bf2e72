// The rows the PostgreSQL backend reads: an outbox row (an inline payload, an application's event,
// or the head of a claim-check delta), the rows of a claim-check delta or of a transaction read from
// the WAL, and the table a stream table's name stands for. Expander (expand.h) turns them into messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace relay::postgres {

struct OutboxRow {
  std::int64_t seq = 0;  // commit sequence (0 for pg_trickle's own outboxes)
  std::int64_t id = 0;
  bool is_event = false;       // written by outbox_publish: an application event, relayed as is
  bool is_claim_check = false;
  std::string payload;         // JSON text; empty when NULL
  std::string headers;         // JSON object text; empty when NULL
  std::string refresh_id;
  double committed_at = 0;     // unix seconds
  std::uint32_t xid = 0;       // its transaction's id (32 bits, as the WAL gives it): read from the WAL, or the
                               // writer's, recorded with the outbox row (0: not known)
  bool from_wal = false;       // a transaction read from the WAL
  std::uint64_t previous_end = 0;  // read from the WAL: the end of the transaction streamed before it (0: none since connecting)
  std::uint64_t begin_lsn = 0;     // read from the WAL: where its BEGIN was read (from PostgreSQL 15, its first change's LSN)
};

// One row of a claim-check delta table.
struct DeltaRow {
  std::int64_t row_num = 0;
  bool is_delete = false;
  std::string data;  // JSON object text
  bool is_truncate = false;  // the table was truncated here (WAL capture): a full-refresh marker, no data
  std::uint32_t table = 0;   // WAL capture: the oid of the row's table
  std::uint64_t lsn = 0;     // WAL capture: the change's LSN
  bool of_update = false;    // WAL capture: the old or the new row of an UPDATE (a delete and an insert of
                             // different keys so marked are one UPDATE that changed the key)
  bool minified = false;     // WAL capture: `data` was written by the relay, valid and without spaces
};

// A table's schema and name.
struct TableName {
  std::string schema, table;
  bool operator==(const TableName&) const = default;
};

// The table a stream table's name in messages stands for. Each part is written as is, or
// double-quoted with inner quotes doubled when it holds a '.' or a '"', and the schema is left out
// for public: `orders` → public, orders; `sales.orders` → sales, orders; `"v.orders"` → public,
// v.orders; `"a""b".c` → a"b, c. Unquoted parts are taken as they are (no case folding). A name not
// written by that rule (an unterminated quote, a third part) is split at its first dot, as names
// were before.
TableName split_stream_table(std::string_view stream_table);

}  // namespace relay::postgres
