// How a consumed Kafka record becomes a relay Message (identity, subject, key, body, headers,
// timestamp). Pure: the source fills a RecordView from librdkafka's message; unit-tested
// (tests/unit/kafka_source_record_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "backends/kafka/kafka_encode.h"  // kDedupHeader: the header the Kafka sink writes the identity in
#include "relay/message.h"

namespace relay::kafka {

struct RecordView {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string_view> key;    // absent: a null key
  std::optional<std::string_view> value;  // absent: a null value (tombstone)
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> headers;  // in record order
  std::int64_t timestamp_ms = -1;  // -1: unknown
};

// dedup_key = the header dedup_key when present and not empty, else "<topic>:<partition>:<offset>";
// subject = the topic; source = "kafka:<topic>"; key = the record key; data = the value as is;
// headers = every header in order (a null value as ""); committed_at = the record's timestamp.
void to_message(const RecordView& r, Message& out);

}  // namespace relay::kafka
