#include "format/debezium_event.h"

#include <fmt/format.h>

#include <regex>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "util/digest.h"
#include "util/json_escape.h"
#include "util/json_scan.h"

namespace relay::debezium {
namespace {

namespace js = json_scan;

// The source block's schema as the PostgreSQL connector declares it (io.debezium.connector.postgresql.Source).
constexpr std::string_view kSourceSchema =
    R"({"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},)"
    R"({"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},)"
    R"({"type":"int64","optional":false,"field":"ts_ms"},)"
    R"({"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":)"
    R"({"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},)"
    R"("default":"false","field":"snapshot"},)"
    R"({"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},)"
    R"({"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"},)"
    R"({"type":"string","optional":false,"field":"schema"},{"type":"string","optional":false,"field":"table"},)"
    R"({"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"},)"
    R"({"type":"int64","optional":true,"field":"xmin"},{"type":"string","optional":true,"field":"origin"},)"
    R"({"type":"int64","optional":true,"field":"origin_lsn"}],)"
    R"("optional":false,"name":"io.debezium.connector.postgresql.Source","version":1,"field":"source"})";

// The transaction block (event.block), null unless transaction metadata is provided.
constexpr std::string_view kTransactionSchema =
    R"({"type":"struct","fields":[{"type":"string","optional":false,"field":"id"},)"
    R"({"type":"int64","optional":false,"field":"total_order"},)"
    R"({"type":"int64","optional":false,"field":"data_collection_order"}],)"
    R"("optional":true,"name":"event.block","version":1,"field":"transaction"})";

constexpr std::string_view kEnvelopeTail =
    R"({"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},)"
    R"({"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"})";

// A logical decoding message's event (op "m"): its key and value, as the PostgreSQL connector declares them.
constexpr std::string_view kMessageKeySchema =
    R"({"type":"struct","fields":[{"type":"string","optional":true,"field":"prefix"}],)"
    R"("optional":false,"name":"io.debezium.connector.postgresql.MessageKey"})";
constexpr std::string_view kMessageValueHead =
    R"({"type":"struct","fields":[{"type":"string","optional":false,"field":"op"},)"
    R"({"type":"int64","optional":true,"field":"ts_ms"},{"type":"int64","optional":true,"field":"ts_us"},)"
    R"({"type":"int64","optional":true,"field":"ts_ns"},)";
constexpr std::string_view kMessageValueTail =
    R"(,{"type":"struct","fields":[{"type":"string","optional":true,"field":"prefix"},)"
    R"({"type":"bytes","optional":true,"field":"content"}],"optional":true,"name":"io.debezium.connector.postgresql.Message",)"
    R"("field":"message"}],"optional":false,"name":"io.debezium.connector.postgresql.MessageValue"})";

const std::string& message_value_schema() {
  static const std::string schema = std::string(kMessageValueHead) + std::string(kSourceSchema) + std::string(kMessageValueTail);
  return schema;
}

std::string json_quoted(std::string_view s) {
  std::string q;
  util::append_json_string(q, s);
  return q;
}

// Milliseconds, microseconds and nanoseconds since the epoch of a time in unix seconds.
struct Stamps {
  std::int64_t ms, us, ns;
};
Stamps stamps_of(double unix_seconds) {
  auto us = static_cast<std::int64_t>(std::llround(unix_seconds * 1e6));
  return {us / 1000, us, us * 1000};
}

// ,"name":<the number, or null>
void append_number(std::string& out, std::string_view name, std::optional<std::int64_t> value) {
  out += ",\"";
  out += name;
  out += "\":";
  if (value) util::append_int(out, *value);
  else out += "null";
}

}  // namespace

EventEncoder::EventEncoder(TableShape shape, EventOptions options) : shape_(std::move(shape)), opt_(std::move(options)) {
  for (const auto& c : shape_.columns) {
    quoted_names_.push_back(json_quoted(c.name));
    key_flags_.push_back(is_key(c.name));
    defaults_.push_back(default_value(c.type, c.domain, c.default_expr, opt_.modes).value_or(""));
    std::string missing = "null";
    if (!c.optional) {
      missing = defaults_.back();
      if (missing.empty()) append_zero(c.type, opt_.modes, missing);
    }
    missing_.push_back(std::move(missing));
  }
  unavailable_ = json_quoted(kUnavailablePlaceholder);
  source_head_ = "{\"version\":";
  util::append_json_string(source_head_, RELAY_VERSION);
  source_head_ += ",\"connector\":\"postgresql\",\"name\":";
  util::append_json_string(source_head_, opt_.topic_prefix);
  db_field_ = ",\"db\":";
  util::append_json_string(db_field_, shape_.database);
  table_fields_ = ",\"schema\":";
  util::append_json_string(table_fields_, shape_.schema);
  table_fields_ += ",\"table\":";
  util::append_json_string(table_fields_, shape_.table);
  build_schemas();
}

bool EventEncoder::is_key(std::string_view name) const {
  for (const auto& k : shape_.key)
    if (k == name) return true;
  return false;
}

bool EventEncoder::propagates(const Column& c) const {
  if (opt_.propagate.empty()) return false;
  auto any = [](const std::vector<std::string>& patterns, const std::string& name) {
    for (const auto& p : patterns)
      if (std::regex_match(name, std::regex(p, std::regex::ECMAScript | std::regex::icase))) return true;
    return false;
  };
  const std::string table = shape_.schema + "." + shape_.table + ".";
  return any(opt_.propagate.columns, table + c.name) || any(opt_.propagate.datatypes, table + c.type_name);
}

void EventEncoder::build_schemas() {
  std::string base = opt_.topic_prefix + "." + shape_.schema + "." + shape_.table;
  // The key: its columns in key order, none optional.
  key_schema_ = "{\"type\":\"struct\",\"fields\":[";
  bool first = true;
  for (const auto& k : shape_.key)
    for (std::size_t i = 0; i < shape_.columns.size(); ++i) {
      const Column& c = shape_.columns[i];
      if (c.name == k && !omitted(c.type, opt_.modes)) {
        if (!first) key_schema_ += ',';
        first = false;
        append_field_schema(c.type, c.name, false, opt_.modes, key_schema_, defaults_[i]);
      }
    }
  key_schema_ += "],\"optional\":false,\"name\":";
  util::append_json_string(key_schema_, base + ".Key");
  key_schema_ += '}';

  std::string row = "{\"type\":\"struct\",\"fields\":[";
  first = true;
  for (std::size_t i = 0; i < shape_.columns.size(); ++i) {
    const Column& c = shape_.columns[i];
    if (omitted(c.type, opt_.modes)) continue;
    if (!first) row += ',';
    first = false;
    std::vector<std::pair<std::string_view, std::string>> source_type;
    if (propagates(c)) source_type = source_type_parameters(c.type, c.type_name, c.name);
    append_field_schema(c.type, c.name, c.optional, opt_.modes, row, defaults_[i], source_type);
  }
  row += "],\"optional\":true,\"name\":";
  util::append_json_string(row, base + ".Value");
  value_schema_ = "{\"type\":\"struct\",\"fields\":[";
  value_schema_ += row + ",\"field\":\"before\"},";
  value_schema_ += row + ",\"field\":\"after\"},";
  value_schema_ += kSourceSchema;
  value_schema_ += ',';
  value_schema_ += kTransactionSchema;
  value_schema_ += ',';
  value_schema_ += kEnvelopeTail;
  value_schema_ += "],\"optional\":false,\"name\":";
  util::append_json_string(value_schema_, base + ".Envelope");
  value_schema_ += ",\"version\":2}";
}

const Column* EventEncoder::column_named(std::string_view quoted_name, std::size_t& hint) const {
  // to_jsonb writes a row's fields in the table's order: the next column is almost always the one.
  if (hint < quoted_names_.size() && quoted_names_[hint] == quoted_name) return &shape_.columns[hint++];
  for (std::size_t i = 0; i < quoted_names_.size(); ++i)
    if (quoted_names_[i] == quoted_name) {
      hint = i + 1;
      return &shape_.columns[i];
    }
  return nullptr;
}

std::vector<std::string> EventEncoder::unknown_fields(std::string_view row) const {
  std::size_t hint = 0;
  std::vector<std::string> unknown;
  js::each_field(row, [&](std::string_view key, std::string_view) {
    if (!column_named(key, hint)) unknown.emplace_back(key);
  }, /*trusted=*/true);
  return unknown;
}

bool EventEncoder::append_row(std::string_view row, bool key_only, std::string& out, std::string& error) const {
  // The row's fields by column (to_jsonb's order is not the table's); fields of no column kept apart.
  const std::size_t n = shape_.columns.size();
  std::vector<std::string_view> values(n);
  std::vector<std::pair<std::string_view, std::string_view>> dropped;
  std::size_t hint = 0;
  bool well_formed = js::each_field(row, [&](std::string_view key, std::string_view value) {
    if (const Column* c = column_named(key, hint)) values[static_cast<std::size_t>(c - shape_.columns.data())] = value;
    else if (!key_only) dropped.emplace_back(key, value);
  }, /*trusted=*/true);
  if (!well_formed) {
    error = "the row is not a JSON object";
    return false;
  }
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < n; ++i) {
    const Column& c = shape_.columns[i];
    if (omitted(c.type, opt_.modes)) continue;
    if (!first) out += ',';
    first = false;
    out += quoted_names_[i];
    out += ':';
    if (values[i].empty() || (key_only && !key_flags_[i])) {
      out += missing_[i];
      continue;
    }
    if (values[i] == unavailable_) {  // read from the WAL, which did not carry it
      append_unavailable(c.type, opt_.modes, out);
      continue;
    }
    std::string why;
    if (!debezium::append_value(c.type, values[i], opt_.modes, out, why)) {
      error = "column \"" + c.name + "\": " + why;
      return false;
    }
  }
  for (const auto& [key, value] : dropped) {  // a column dropped since the row was written: as to_jsonb wrote it
    if (!first) out += ',';
    first = false;
    out += key;
    out += ':';
    out += value;
  }
  out += '}';
  return true;
}

bool EventEncoder::has_column(std::string_view name) const {
  return std::any_of(shape_.columns.begin(), shape_.columns.end(), [&](const Column& c) { return c.name == name; });
}

bool EventEncoder::append_column(std::string_view row, std::string_view name, std::string& value, std::string* schema,
                                 std::string& error) const {
  auto c = std::find_if(shape_.columns.begin(), shape_.columns.end(), [&](const Column& c) { return c.name == name; });
  if (c == shape_.columns.end() || omitted(c->type, opt_.modes)) {
    error = fmt::format("the table {}.{} has no column \"{}\" the events carry", shape_.schema, shape_.table, name);
    return false;
  }
  std::string_view text;
  if (!js::field(row, name, text)) text = "null";
  std::string why;
  if (!debezium::append_value(c->type, text, opt_.modes, value, why)) {
    error = fmt::format("column \"{}\": {}", name, why);
    return false;
  }
  if (schema) append_field_schema(c->type, std::nullopt, c->optional, opt_.modes, *schema, defaults_[c - shape_.columns.begin()]);
  return true;
}

bool EventEncoder::append_key(std::string_view row, std::string& out, std::string& error) const {
  if (shape_.key.empty()) return true;
  std::string payload;
  if (!append_key_payload(row, payload, error)) return false;
  if (!opt_.schemas) {
    out += payload;
    return true;
  }
  out += "{\"schema\":";
  out += key_schema_;
  out += ",\"payload\":";
  out += payload;
  out += '}';
  return true;
}

bool EventEncoder::append_key_payload(std::string_view row, std::string& out, std::string& error) const {
  if (shape_.key.empty()) return true;
  std::string& payload = out;
  payload += '{';
  for (std::size_t k = 0; k < shape_.key.size(); ++k) {
    std::size_t i = 0;
    while (i < shape_.columns.size() && shape_.columns[i].name != shape_.key[k]) ++i;
    if (i == shape_.columns.size()) {
      error = "the key column \"" + shape_.key[k] + "\" is not a column of the table";
      return false;
    }
    std::string_view value;
    if (!js::field(row, shape_.columns[i].name, value)) value = "null";
    if (k) payload += ',';
    payload += quoted_names_[i];
    payload += ':';
    std::string why;
    if (!debezium::append_value(shape_.columns[i].type, value, opt_.modes, payload, why)) {
      error = "key column \"" + shape_.key[k] + "\": " + why;
      return false;
    }
  }
  payload += '}';
  return true;
}

bool EventEncoder::append_value(char op, std::string_view before, std::string_view after, const SourceInfo& source,
                                std::string& out, std::string& error) const {
  if (opt_.schemas) {
    out += "{\"schema\":";
    out += value_schema_;
    out += ",\"payload\":";
  }
  out += "{\"before\":";
  const char identity = shape_.replica_identity;
  if (before.empty() || identity == 'n' || (identity != 'f' && op != 'd')) out += "null";
  else if (!append_row(before, identity != 'f', out, error)) return false;
  out += ",\"after\":";
  if (after.empty()) out += "null";
  else if (!append_row(after, false, out, error)) return false;

  out += ",\"source\":";
  append_source(source, out);
  out += ",\"transaction\":";
  if (const auto& t = source.transaction) {
    out += "{\"id\":";
    util::append_json_string(out, t->id);
    out += ",\"total_order\":" + std::to_string(t->total_order) +
           ",\"data_collection_order\":" + std::to_string(t->data_collection_order) + '}';
  } else {
    out += "null";
  }
  out += ",\"op\":\"";
  out += op;
  out += '"';
  append_now(out);
  out += '}';
  if (opt_.schemas) out += '}';
  return true;
}

void EventEncoder::append_source(const SourceInfo& source, std::string& out) const {
  out += source_head_;
  const Stamps committed = stamps_of(source.committed_at);
  append_number(out, "ts_ms", committed.ms);
  out += ",\"snapshot\":";
  util::append_json_string(out, source.snapshot);
  out += db_field_;
  out += ",\"sequence\":";
  if (source.lsn) {  // Debezium's [the last commit's end, this change's LSN], as a string
    out += "\"[";
    if (source.previous_end) {
      out += "\\\"";
      util::append_int(out, static_cast<std::int64_t>(*source.previous_end));
      out += "\\\"";
    } else {
      out += "null";
    }
    out += ",\\\"";
    util::append_int(out, static_cast<std::int64_t>(*source.lsn));
    out += "\\\"]\"";
  } else {
    out += "null";
  }
  append_number(out, "ts_us", committed.us);
  append_number(out, "ts_ns", committed.ns);
  out += table_fields_;
  append_number(out, "txId", source.tx_id);
  append_number(out, "lsn", source.lsn ? std::optional<std::int64_t>(static_cast<std::int64_t>(*source.lsn)) : std::nullopt);
  out += ",\"xmin\":null,\"origin\":null,\"origin_lsn\":null}";
}

// When the relay made the event: ,"ts_ms":…,"ts_us":…,"ts_ns":…
void EventEncoder::append_now(std::string& out) {
  const Stamps now = stamps_of(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  append_number(out, "ts_ms", now.ms);
  append_number(out, "ts_us", now.us);
  append_number(out, "ts_ns", now.ns);
}

void EventEncoder::append_message_key(std::string_view prefix, std::string& out) const {
  if (opt_.schemas) out += "{\"schema\":" + std::string(kMessageKeySchema) + ",\"payload\":";
  out += "{\"prefix\":";
  util::append_json_string(out, prefix);
  out += '}';
  if (opt_.schemas) out += '}';
}

void EventEncoder::append_message(std::string_view prefix, std::string_view content, const SourceInfo& source,
                                  std::string& out) const {
  if (opt_.schemas) out += "{\"schema\":" + message_value_schema() + ",\"payload\":";
  out += "{\"op\":\"m\"";
  append_now(out);
  out += ",\"source\":";
  append_source(source, out);
  out += ",\"message\":{\"prefix\":";
  util::append_json_string(out, prefix);
  out += ",\"content\":\"";
  out += util::base64_encode(content);  // bytes, as Kafka Connect's JsonConverter writes them
  out += "\"}}";
  if (opt_.schemas) out += '}';
}

void append_heartbeat(std::string_view topic_prefix, bool schemas, std::int64_t ts_ms, std::string& key, std::string& value) {
  if (schemas)
    key += "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"serverName\"}],"
           "\"optional\":false,\"name\":\"io.debezium.connector.common.ServerNameKey\",\"version\":1},\"payload\":";
  key += "{\"serverName\":";
  util::append_json_string(key, topic_prefix);
  key += '}';
  if (schemas) key += '}';
  if (schemas)
    value += "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}],"
             "\"optional\":false,\"name\":\"io.debezium.connector.common.Heartbeat\",\"version\":1},\"payload\":";
  value += "{\"ts_ms\":" + std::to_string(ts_ms) + '}';
  if (schemas) value += '}';
}

}  // namespace relay::debezium
