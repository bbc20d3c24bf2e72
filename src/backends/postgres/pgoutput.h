// The logical replication stream of PostgreSQL's built-in pgoutput plugin (protocol version 1, and
// protocol 2's streamed transactions) and the replication protocol's framing around it, decoded and
// encoded. Pure: no connection (that is
// wal_stream.h), unit-tested and fuzzed. Decoded values are views into the buffer they came from.
// Formats: PostgreSQL's "Streaming Replication Protocol" and "Logical Replication Message Formats".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relay/result.h"

namespace relay::postgres::pgoutput {

// A WAL position.
using Lsn = uint64_t;
// "16/B374D848", as PostgreSQL writes it.
std::string format_lsn(Lsn lsn);
// The inverse; nullopt for text that is not an LSN.
std::optional<Lsn> parse_lsn(std::string_view text);

// Microseconds since 2000-01-01 00:00 UTC, the replication protocol's clock.
int64_t to_pg_time(std::chrono::system_clock::time_point t);
std::chrono::system_clock::time_point from_pg_time(int64_t us);

struct Column {
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  bool key = false;  // part of the replica identity
};

// 'R': a table's shape, sent before its first change in a session and after every change of shape.
struct Relation {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // d default (primary key), n nothing, f full, i index
  std::vector<Column> columns;
};

// PostgreSQL's FirstNormalObjectId: objects below it (built-in types among them) are initdb's.
inline constexpr uint32_t kFirstNormalObjectId = 16384;

// One column's value in a tuple.
struct Value {
  enum Kind : char { null = 'n', unchanged_toast = 'u', text = 't', binary = 'b' };
  Kind kind = null;
  std::string_view data;  // the text (or binary) form when kind is text (binary)
};
using Tuple = std::vector<Value>;

struct Begin {
  Lsn final_lsn = 0;  // the LSN of the commit record
  int64_t commit_time = 0;
  uint32_t xid = 0;
};
struct Commit {
  uint8_t flags = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;  // just past the commit record: where a consumer that saw it resumes
  int64_t commit_time = 0;
};
struct Insert {
  uint32_t relation = 0;
  Tuple new_tuple;
};
struct Update {
  uint32_t relation = 0;
  char old_kind = 0;  // 0: no old tuple; 'K': the old key's columns; 'O': the whole old row
  Tuple old_tuple;
  Tuple new_tuple;
};
struct Delete {
  uint32_t relation = 0;
  char old_kind = 'K';  // 'K' or 'O' as for Update
  Tuple old_tuple;
};
struct Truncate {
  bool cascade = false;
  bool restart_identity = false;
  std::vector<uint32_t> relations;
};
struct TypeInfo {  // 'Y': a non-built-in type used by a later relation
  uint32_t oid = 0;
  std::string schema;
  std::string name;
};
struct OriginInfo {  // 'O': the transaction was replicated from another node
  Lsn lsn = 0;
  std::string name;
};
struct LogicalMessage {  // 'M': pg_logical_emit_message
  bool transactional = false;
  Lsn lsn = 0;
  std::string prefix;
  std::string_view content;
};

using Message = std::variant<Begin, Commit, Relation, Insert, Update, Delete, Truncate, TypeInfo, OriginInfo, LogicalMessage>;

// One pgoutput message as protocol 1 writes it; an error names what is malformed and where.
Result<Message> decode(std::string_view bytes);

// Protocol 2 (PostgreSQL 14 and later, `streaming 'on'`): a big transaction is sent while it runs,
// in blocks between a StreamStart and a StreamStop, and ends with a StreamCommit or a StreamAbort.
// Blocks of several transactions interleave with each other and with whole transactions.
struct StreamStart {  // 'S'
  uint32_t xid = 0;
  bool first_segment = false;  // the transaction's first block
};
struct StreamStop {};  // 'E'
struct StreamCommit {  // 'c'
  uint32_t xid = 0;
  uint8_t flags = 0;
  Lsn commit_lsn = 0;
  Lsn end_lsn = 0;
  int64_t commit_time = 0;
};
struct StreamAbort {  // 'A': the transaction (subxid == xid) or one of its subtransactions rolled back
  uint32_t xid = 0;
  uint32_t subxid = 0;
};
using StreamControl = std::variant<StreamStart, StreamStop, StreamCommit, StreamAbort>;
// The stream control message `bytes` holds; nullopt when it holds another message.
Result<std::optional<StreamControl>> decode_stream_control(std::string_view bytes);
// Inside a block, a change (and a relation, type or transactional message) carries the id of its
// (sub)transaction after its type byte; `to_v1` gets the message as protocol 1 writes it (an
// origin message carries none and comes back as it is, with xid 0).
Result<uint32_t> split_streamed(std::string_view bytes, std::string& to_v1);
// Protocol 1's Begin and Commit, as a streamed transaction read whole is handed on.
std::string encode_begin(const Begin& begin);
std::string encode_commit(const Commit& commit);

// The replication protocol's CopyData messages from the server.
struct XLogData {  // 'w'
  Lsn start = 0;
  Lsn wal_end = 0;
  int64_t send_time = 0;
  std::string_view payload;  // a pgoutput message
};
struct Keepalive {  // 'k'
  Lsn wal_end = 0;
  int64_t send_time = 0;
  bool reply_requested = false;
};
Result<std::variant<XLogData, Keepalive>> decode_copy_data(std::string_view bytes);

// The standby status update ('r') a client sends: `flushed` is the position the server may
// release WAL up to (a slot's confirmed_flush_lsn).
std::string standby_status_update(Lsn written, Lsn flushed, Lsn applied, int64_t now, bool reply_requested);

}  // namespace relay::postgres::pgoutput
