#include "backends/kafka/kafka_record.h"

#include <fmt/format.h>

namespace relay::kafka {

void to_message(const RecordView& r, Message& out) {
  out.op = Op::event;
  out.subject.assign(r.topic);
  out.source.assign("kafka:").append(r.topic);
  out.key.assign(r.key.value_or(std::string_view{}));
  out.data.assign(r.value.value_or(std::string_view{}));
  out.headers.clear();
  out.headers.reserve(r.headers.size());
  std::string_view identity;
  for (const auto& [name, value] : r.headers) {
    out.headers.emplace_back(std::string(name), std::string(value.value_or(std::string_view{})));
    // The first one counts: the forward sink writes it first and drops application copies.
    if (identity.empty() && name == kDedupHeader && value) identity = *value;
  }
  if (!identity.empty()) out.dedup_key.assign(identity);
  else out.dedup_key = fmt::format("{}:{}:{}", r.topic, r.partition, r.offset);
  out.committed_at = r.timestamp_ms >= 0 ? static_cast<double>(r.timestamp_ms) / 1000.0 : 0;
}

}  // namespace relay::kafka
