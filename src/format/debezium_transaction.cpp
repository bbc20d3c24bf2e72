#include "format/debezium_transaction.h"

#include <algorithm>

#include "util/json_escape.h"

namespace relay::debezium {

namespace {

constexpr std::string_view kKeySchema =
    R"({"type":"struct","fields":[{"type":"string","optional":false,"field":"id"}],"optional":false,)"
    R"("name":"io.debezium.connector.common.TransactionMetadataKey","version":1})";
constexpr std::string_view kValueSchema =
    R"({"type":"struct","fields":[{"type":"string","optional":false,"field":"status"},)"
    R"({"type":"string","optional":false,"field":"id"},{"type":"int64","optional":true,"field":"event_count"},)"
    R"({"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"data_collection"},)"
    R"({"type":"int64","optional":false,"field":"event_count"}],"optional":true,"name":"event.collection","version":1},)"
    R"("optional":true,"field":"data_collections"},{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,)"
    R"("name":"io.debezium.connector.common.TransactionMetadataValue","version":1})";

// String.hashCode: over the UTF-16 code units of the text (given as UTF-8).
std::int32_t java_hash(std::string_view utf8) {
  std::uint32_t h = 0;
  auto unit = [&](std::uint32_t u) { h = 31 * h + u; };
  for (std::size_t i = 0; i < utf8.size();) {
    auto b = static_cast<unsigned char>(utf8[i]);
    std::uint32_t cp = b;
    std::size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    if (n > 1) cp = b & (0xFF >> (n + 1));
    for (std::size_t k = 1; k < n && i + k < utf8.size(); ++k) cp = cp << 6 | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    i += n;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      unit(0xD800 + (cp >> 10));
      unit(0xDC00 + (cp & 0x3FF));
    } else {
      unit(cp);
    }
  }
  return static_cast<std::int32_t>(h);
}

}  // namespace

std::string transaction_id(std::uint32_t xid, std::uint64_t lsn) { return std::to_string(xid) + ":" + std::to_string(lsn); }

void TransactionCounts::begin() {
  total_ = 0;
  counts_.clear();
}

std::pair<std::int64_t, std::int64_t> TransactionCounts::next(std::string_view collection) {
  ++total_;
  auto it = std::ranges::find(counts_, collection, [](const auto& c) { return std::string_view(c.first); });
  if (it == counts_.end()) {
    counts_.emplace_back(std::string(collection), 1);
    return {total_, 1};
  }
  return {total_, ++it->second};
}

std::vector<std::pair<std::string, std::int64_t>> TransactionCounts::collections() const {
  // A HashMap of default capacity 16 doubles whenever it holds more than 3/4 of it; it iterates by
  // bucket (the hash spread, masked), each bucket in the order its keys came (a resize keeps it).
  std::size_t capacity = 16;
  while (counts_.size() > capacity * 3 / 4) capacity *= 2;
  auto bucket = [&](const std::string& key) {
    auto h = static_cast<std::uint32_t>(java_hash(key));
    return (h ^ (h >> 16)) & (capacity - 1);
  };
  auto out = counts_;
  std::ranges::stable_sort(out, {}, [&](const auto& c) { return bucket(c.first); });
  return out;
}

void append_transaction_record(std::string_view id, const TransactionCounts* counts, std::int64_t ts_ms, bool schemas,
                               std::string& key, std::string& value) {
  if (schemas) key += "{\"schema\":" + std::string(kKeySchema) + ",\"payload\":";
  key += "{\"id\":";
  util::append_json_string(key, id);
  key += '}';
  if (schemas) key += '}';
  if (schemas) value += "{\"schema\":" + std::string(kValueSchema) + ",\"payload\":";
  value += counts ? "{\"status\":\"END\",\"id\":" : "{\"status\":\"BEGIN\",\"id\":";
  util::append_json_string(value, id);
  if (!counts) {
    value += ",\"event_count\":null,\"data_collections\":null";
  } else {
    value += ",\"event_count\":" + std::to_string(counts->total()) + ",\"data_collections\":[";
    bool first = true;
    for (const auto& [collection, n] : counts->collections()) {
      if (!first) value += ',';
      first = false;
      value += "{\"data_collection\":";
      util::append_json_string(value, collection);
      value += ",\"event_count\":" + std::to_string(n) + '}';
    }
    value += ']';
  }
  value += ",\"ts_ms\":" + std::to_string(ts_ms) + '}';
  if (schemas) value += '}';
}

}  // namespace relay::debezium
