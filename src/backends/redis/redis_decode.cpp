#include "backends/redis/redis_decode.h"

#include <charconv>

#include "backends/redis/redis_encode.h"
#include "util/json_escape.h"

namespace relay::redis {

double entry_time(std::string_view id) {
  std::uint64_t ms = 0;
  auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), ms);
  if (ec != std::errc() || p == id.data() || (p != id.data() + id.size() && *p != '-')) return 0;
  return static_cast<double>(ms) / 1000.0;
}

Message to_message(std::string_view stream_key, std::string_view entry_id, std::span<const Field> fields) {
  Message m;
  m.op = Op::event;
  const std::string_view* event_id = nullptr;
  const std::string_view* dedup_key = nullptr;
  const std::string_view* payload = nullptr;
  for (const auto& [name, value] : fields) {
    // The first occurrence wins, as for a header (XADD allows a field name twice).
    if (name == "event_id") {
      if (!event_id) event_id = &value;
    } else if (name == "dedup_key") {
      if (!dedup_key) dedup_key = &value;
    } else if (name == "payload") {
      if (!payload) payload = &value;
    } else if (name.size() > redis::kHeaderPrefix.size() && name.starts_with(redis::kHeaderPrefix)) {
      m.headers.emplace_back(name.substr(redis::kHeaderPrefix.size()), value);
    }
  }
  if (event_id && !event_id->empty()) {
    m.dedup_key = *event_id;
  } else if (dedup_key && !dedup_key->empty()) {
    m.dedup_key = *dedup_key;
  } else {
    m.dedup_key.reserve(stream_key.size() + 1 + entry_id.size());
    m.dedup_key.append(stream_key).append(":").append(entry_id);
  }
  if (payload) {
    m.data = *payload;
  } else {
    m.data = "{";
    bool first = true;
    for (const auto& [name, value] : fields) {
      if (!first) m.data += ',';
      first = false;
      util::append_json_string(m.data, name);
      m.data += ':';
      util::append_json_string(m.data, value);
    }
    m.data += '}';
  }
  m.subject = stream_key;
  m.source.reserve(6 + stream_key.size());
  m.source.append("redis:").append(stream_key);
  m.committed_at = entry_time(entry_id);
  return m;
}

ErrorKind classify_source_reply(std::string_view reply) {
  if (reply.starts_with("WRONGTYPE")) return ErrorKind::fatal;
  return redis::classify_reply(reply) == ErrorKind::fatal ? ErrorKind::fatal : ErrorKind::retriable;
}

}  // namespace relay::redis
