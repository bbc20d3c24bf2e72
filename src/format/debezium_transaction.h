// Debezium's transaction metadata (provide.transaction.metadata): a BEGIN and an END record of
// each transaction on the topic <topic_prefix>.transaction, and in each change event a block
// {"id", "total_order", "data_collection_order"} placing it in its transaction. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relay::debezium {

// Debezium's transaction id for PostgreSQL: "<xid>:<LSN>", the LSN (in decimal) the record was read
// at: a change's own, the BEGIN message's (the transaction's first change), the commit's end.
std::string transaction_id(std::uint32_t xid, std::uint64_t lsn);

// The events of one transaction so far, counted as Debezium counts them: every change event sent
// (a delete's tombstone and a skipped operation are none).
class TransactionCounts {
 public:
  void begin();
  // The next event of `collection` ("<schema>.<table>"): its place in the transaction and among
  // its collection's events, from 1.
  std::pair<std::int64_t, std::int64_t> next(std::string_view collection);
  std::int64_t total() const { return total_; }
  // Each collection and its events, in the order Debezium lists them: the iteration order of the
  // java.util.HashMap that counts them.
  std::vector<std::pair<std::string, std::int64_t>> collections() const;

 private:
  std::int64_t total_ = 0;
  std::vector<std::pair<std::string, std::int64_t>> counts_;  // in the order first seen
};

// The record of a transaction's BEGIN (`counts` null) or END: key {"id"} and value {"status", "id",
// "event_count", "data_collections", "ts_ms"}, in the envelope with schemas
// (TransactionMetadataKey and TransactionMetadataValue, version 1).
void append_transaction_record(std::string_view id, const TransactionCounts* counts, std::int64_t ts_ms, bool schemas,
                               std::string& key, std::string& value);

}  // namespace relay::debezium
