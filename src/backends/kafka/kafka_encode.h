// The pure part of the Kafka sink: what one message becomes on the wire (topic, record key, value,
// headers), and which topic names a broker accepts. No librdkafka here, so it is unit-tested byte
// for byte (tests/unit/kafka_encode_test.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/message.h"

namespace relay::kafka {

// The record header carrying the message's stable identity (Message::dedup_key).
inline constexpr std::string_view kDedupHeader = "dedup_key";

// Where the record key comes from.
struct KeyRule {
  enum Kind {
    message_key,  // Message::key: the pipeline's `key` option, else the row's primary key
    route,        // the sink's `key` template, rendered by the core into Message::routes[1]
    columns,      // the sink's `key` given as column names: their values in Message::data
  };
  Kind kind = message_key;
  std::vector<std::string> names;  // the columns of KeyRule::columns

  // The rule for the sink's `key` option (empty: not given). Text without "{" names columns.
  static KeyRule from_option(std::string_view key_option);
};

// One record as librdkafka gets it. Views into the message (and into the caller's key buffer), so
// nothing is copied here; librdkafka copies once when it takes the record. The one exception: an
// identity that had to be made header-safe is held in `id_buf` (reuse the Record in place).
struct Record {
  std::string_view topic;
  std::string_view key;    // empty: a null key (all null-keyed records share one partition)
  std::string_view value;  // the encoded envelope
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string id_buf;
};

// Fills `out` for `m`. `key_buf` holds a key that has to be built (KeyRule::columns); it must
// outlive `out`.
void encode(const Message& m, const KeyRule& rule, std::string& key_buf, Record& out);

// Empty when Kafka accepts `topic` as a topic name, else why not (1-249 characters of
// [a-zA-Z0-9._-], not "." or "..").
std::string topic_problem(std::string_view topic);

// The same check for the fixed text of a topic template ("orders/{op}" is refused before any
// message is rendered): the literal parts must use only the allowed characters.
std::string topic_template_problem(std::string_view template_text);

}  // namespace relay::kafka
