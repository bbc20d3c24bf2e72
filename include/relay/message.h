// The message envelope every source produces and every sink consumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace relay {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// read: a row a backfill sent as it is now (not a change).
// gap: a marker that changes are missing (a replication slot the server invalidated was rebuilt).
enum class Op { insert, update, delete_, truncate, event, delta, read, gap };
const char* to_string(Op op);

using Header = std::pair<std::string, std::string>;

struct Message {
  std::string dedup_key;  // stable identity: "<outbox>:<id>:<n>" forward, broker identity in reverse
  // The sink's templates rendered for this message, in the order of its spec (subject, topic, stream
  // key, routing key, URL, event type...; a second one for e.g. SQS's message group).
  std::string routes[2];
  std::string key;        // ordering/partition key (the row's key by default); may be empty
  Op op = Op::insert;
  std::string body;       // the encoded envelope (json or cloudevents), what goes on the wire
  std::string data;       // the business payload alone (row, delta or event), as JSON text
  std::vector<Header> headers;
  std::string source;     // where it came from: the stream table forward; "<type>:<stream|topic|queue>" in reverse
  std::string subject;    // reverse: the subject, topic, routing key or stream key it arrived on
  double committed_at = 0;  // unix seconds the source committed it (0 if unknown), for latency
  std::string poison;       // non-empty: can never be delivered (unreadable payload); dead-lettered as is
  // A Kafka sink follows the record with a tombstone: the same key, a null value (a Debezium delete,
  // for log compaction). Sinks without null values send the message alone.
  bool tombstone = false;
  // The body's media type where it is not plain JSON (a structured CloudEvent:
  // application/cloudevents+json), or the datacontenttype of a binary-mode CloudEvent; sinks with a
  // content type (HTTP, a Kafka header, AMQP's property) announce it. Empty: application/json, unsaid.
  std::string content_type;
};

// What a sink says about one message of a batch. `halted`: the message can be neither delivered nor
// set aside until someone acts (a schema registry refused its schema as incompatible): the pipeline
// stops, says why, and looks again every 10 s; nothing is dead-lettered or skipped.
struct Outcome {
  enum Kind { delivered, retriable, rejected, halted };
  Kind kind = retriable;
  std::string error;  // set for every kind but delivered
};

}  // namespace relay
