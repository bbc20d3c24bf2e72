// How a message becomes an inbox row: where each column takes its value from (the mapping keys of
// the inbox sink), what happens to payloads that are not JSON or too large, and the COPY text the
// sink loads. Pure: no database, unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config_section.h"
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay::postgres {

// Where a column's value comes from: a JSON path into the payload ("$.order.id", "$.items[0].sku"),
// a header ("header:X-Event-Type", any letter case) or, for event_type, fixed text.
struct FieldRef {
  enum Kind { none, json_path, header, literal } kind = none;
  std::string name;                // header name or literal text
  std::vector<std::string> path;   // steps as written: ".key" for an object key ("#" included), "#n" for [n]

  // `key` names the column in errors; `allow_literal` accepts fixed text.
  static Result<FieldRef> parse(std::string_view key, std::string_view text, bool allow_literal);
  // The value for this message as text (strings unquoted, other JSON as written); false when absent.
  bool extract(const Message& m, std::string& out) const;
};

struct InboxRowOptions {
  bool forward = false;       // an outbox pipeline into a (remote) inbox, rather than a reverse pipeline
  bool event_type_rendered = false;  // forward: event_type is a template the source rendered into routes[0]
  FieldRef event_id, event_type, aggregate_id, trace_id;
  bool dead_letter_invalid = false;  // payloads that are not JSON: dead-letter them (else store as a string)
  size_t max_payload_bytes = 1 << 20;

  // From the inbox sink's canonical config.
  static Result<InboxRowOptions> from_config(const ConfigSection& sink, bool forward);
};

// The inbox columns encode_inbox_rows writes, in order.
inline constexpr const char* kInboxCopyColumns = "event_id, event_type, source, aggregate_id, payload, error, headers, trace_id";

// The inbox's primary key, event_id, takes an identity of at most this many bytes as it is. A longer one
// (any sender may choose its Idempotency-Key, Nats-Msg-Id or event_id) would not fit a btree entry
// (about 2.7 kB) and fail its whole batch: it is stored as "sha256:<hex>" of itself, the same for every
// redelivery, so these still dedup, and the identity as sent is kept in the headers under
// kLongEventIdHeader.
inline constexpr size_t kMaxEventIdBytes = 512;
inline constexpr const char* kLongEventIdHeader = "pgtrickle-event-id";
std::string bounded_event_id(std::string_view identity);

// Appends the batch to `out` as COPY text rows of kInboxCopyColumns. A message that must not become a row (payload
// too large, or not JSON under the dead-letter policy) gets a rejected outcome and no row; the others'
// outcomes are left untouched. Returns the number of rows written.
size_t encode_inbox_rows(std::span<const Message> batch, const InboxRowOptions& options, std::string& out,
                         std::span<Outcome> outcomes);

// The trace id of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"), else the value as given.
std::string_view trace_id_of(std::string_view traceparent);

}  // namespace relay::postgres
