// Debezium's change event for one row change: the record key (the key columns as an object) and the
// value {before, after, source, transaction, op, ts_ms, ts_us, ts_ns}, each optionally wrapped in
// Kafka Connect's JsonConverter envelope {"schema", "payload"} with the schema Debezium derives from
// the table. A drop-in for consumers written for the Debezium PostgreSQL connector. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/debezium_types.h"

namespace relay::debezium {

struct Column {
  std::string name;
  PgType type;
  bool optional = true;       // the column takes NULL
  bool domain = false;        // its type is a domain over `type`
  std::string default_expr;   // its DEFAULT as pg_get_expr writes it; empty: none
  std::string type_name;      // its own type's pg_type.typname (a domain's; an array's, "_int4")
};

// A table as the events describe it.
struct TableShape {
  std::string database, schema, table;
  std::vector<Column> columns;    // in the table's order
  std::vector<std::string> key;   // the key columns, in key order; empty: the events have no key
  char replica_identity = 'd';    // pg_class.relreplident: d(efault), f(ull), i(ndex), n(othing)
};

struct EventOptions {
  std::string topic_prefix;  // source.name and the first part of every schema name
  bool schemas = false;      // wrap key and value in {"schema": …, "payload": …}
  Modes modes;
  PropagateSourceType propagate;  // the columns whose value schemas carry their source type
};

// What the value's source block says beside the table.
struct SourceInfo {
  double committed_at = 0;             // unix seconds (source.ts_ms)
  std::string_view snapshot = "false";  // "true" for a backfilled row, "last" for a backfill's last row
  std::optional<std::int64_t> tx_id;
  std::optional<std::uint64_t> lsn;    // read from the WAL: the change's LSN
  std::optional<std::uint64_t> previous_end;  // read from the WAL: where the transaction streamed before ended
  // The event's place in its transaction (provide_transaction_metadata): the value's "transaction"
  // block {"id", "total_order", "data_collection_order"}; none: null.
  struct Transaction {
    std::string id;
    std::int64_t total_order = 0, data_collection_order = 0;
  };
  std::optional<Transaction> transaction;
};

// Debezium's heartbeat record (heartbeat.interval.ms): the key {"serverName": <topic_prefix>} and
// the value {"ts_ms": <now>}, in the envelope with schemas (ServerNameKey and Heartbeat, version 1).
void append_heartbeat(std::string_view topic_prefix, bool schemas, std::int64_t ts_ms, std::string& key, std::string& value);

class EventEncoder {
 public:
  EventEncoder(TableShape shape, EventOptions options);

  const TableShape& shape() const { return shape_; }
  // The fields of `row` (a to_jsonb object) that are no column of the shape, as to_jsonb quotes
  // them: after the table gained or renamed a column its shape must be read again. A field the
  // table no longer has (a row written before its column was dropped) is written as it is.
  std::vector<std::string> unknown_fields(std::string_view row) const;

  // Appends the record key of `row`: {"id":1}, in the envelope with schemas. Appends nothing for a
  // table without key columns (a null key).
  bool append_key(std::string_view row, std::string& out, std::string& error) const;
  // The key of `row` without the envelope, {"id":1}: a key change's headers hold it.
  bool append_key_payload(std::string_view row, std::string& out, std::string& error) const;

  // Appends the value of a change: `op` is c, u, d, r or t; `before` and `after` are to_jsonb
  // objects or empty (null). Fields go in the table's column order. A `before` is what the WAL
  // gives Debezium: the whole old row with REPLICA IDENTITY FULL; else none for an update (its key
  // did not change: a key change is a delete and a create) and for a delete the key columns, every
  // other column null, or its default or its type's zero when it is NOT NULL.
  bool append_value(char op, std::string_view before, std::string_view after, const SourceInfo& source,
                    std::string& out, std::string& error) const;

  // The value the events give column `name` of `row` (null when the row lacks it), as in `after`;
  // with `schema`, the column's schema without a field name. False, with `error` set, when the table
  // has no column `name` or its value cannot be written.
  bool append_column(std::string_view row, std::string_view name, std::string& value, std::string* schema,
                     std::string& error) const;
  bool has_column(std::string_view name) const;
  // The name of the schema of the events' value: <topic_prefix>.<schema>.<table>.Value.
  std::string value_schema_name() const { return opt_.topic_prefix + "." + shape_.schema + "." + shape_.table + ".Value"; }

  // A logical decoding message's event (Debezium's op "m"): its key {"prefix": …} and its value,
  // whose message.content is `content` as bytes (base64). The relay's own markers (a gap in the
  // changes of a rebuilt slot) go out so.
  void append_message_key(std::string_view prefix, std::string& out) const;
  void append_message(std::string_view prefix, std::string_view content, const SourceInfo& source, std::string& out) const;

 private:
  // The value's source block.
  void append_source(const SourceInfo& source, std::string& out) const;
  static void append_now(std::string& out);
  // {"column": value, ...} of `row` in the table's column order: every field of it, or only its key
  // columns (`key_only`), the other columns then written as the WAL's old key leaves them.
  bool append_row(std::string_view row, bool key_only, std::string& out, std::string& error) const;
  const Column* column_named(std::string_view quoted_name, std::size_t& hint) const;
  bool is_key(std::string_view name) const;
  void build_schemas();
  // Whether column `c`'s schema carries its source type (options propagate).
  bool propagates(const Column& c) const;

  TableShape shape_;
  EventOptions opt_;
  std::vector<std::string> quoted_names_;  // each column's name as a JSON string, as to_jsonb writes it
  std::vector<bool> key_flags_;            // per column: part of the key
  std::vector<std::string> defaults_;      // per column: the default the schema declares ("": none)
  std::vector<std::string> missing_;       // per column: a missing value: null, or (NOT NULL) the default or zero
  std::string key_schema_;                 // {"schema": … ,"payload": with schemas
  std::string value_schema_;
  std::string unavailable_;                // the placeholder as a JSON string: a value the WAL did not carry
  std::string source_head_;                // the source block's fixed fields, from its start
  std::string db_field_, table_fields_;    // its fixed fields further on: ,"db":… and ,"schema":…,"table":…
};

}  // namespace relay::debezium
