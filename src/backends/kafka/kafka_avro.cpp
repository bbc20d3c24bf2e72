#include "backends/kafka/kafka_avro.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/json_scan.h"

namespace relay::kafka {
namespace {

// Formats write few schemas (a table's key, value and envelope, changed by ALTER TABLE); a bound
// keeps a pipeline that somehow writes ever new ones from growing without end.
constexpr std::size_t kMostSchemas = 1024;

std::string full_name(const std::string& avro_schema) {
  auto s = nlohmann::json::parse(avro_schema, nullptr, false);
  if (!s.is_object() || s.value("type", "") != "record") return "";
  const std::string ns = s.value("namespace", ""), name = s.value("name", "");
  return ns.empty() ? name : ns + "." + name;
}

}  // namespace

http::RegistryOptions registry_options(const ConfigSection& s, std::shared_ptr<metrics::PipelineMetrics> metrics) {
  http::RegistryOptions options{.url = s.text("schema_registry_url"),
                                .username = s.text("schema_registry_username"),
                                .password = s.text("schema_registry_password"),
                                .ca_file = s.text("schema_registry_tls_ca"),
                                .cert_file = s.text("schema_registry_tls_cert"),
                                .key_file = s.text("schema_registry_tls_key")};
  if (metrics) options.on_request = [metrics] { metrics->schema_registry_requests.inc(); };
  return options;
}

AvroRecords::AvroRecords(const Converters& converters, http::RegistryOptions registry, SubjectStrategy strategy)
    : converters_(converters), registry_(std::move(registry)), strategy_(strategy) {}

bool AvroRecords::convert(std::string_view topic, std::string_view& key, std::string_view& value, Outcome& failure) {
  if (!key.empty() && !convert_part(topic, true, key, key_out_, failure)) return false;
  if (!value.empty() && !convert_part(topic, false, value, value_out_, failure)) return false;
  return true;
}

bool AvroRecords::split(std::string_view part, std::string_view& schema, std::string_view& payload, Compiled*& known) {
  // The formats write {"schema":<S>,"payload":<P>}. A schema S compiled already is found by
  // comparing its text: S is a whole JSON value, so the text that matches it ends where the
  // schema's value does, and the payload runs to the envelope's end.
  constexpr std::string_view kHead = R"({"schema":)", kPayload = R"(,"payload":)";
  known = nullptr;
  if (part.starts_with(kHead) && part.ends_with('}')) {
    const std::string_view rest = part.substr(kHead.size(), part.size() - kHead.size() - 1);
    for (std::size_t i = 0; i < recent_.size(); ++i) {
      Compiled* c = recent_[i];
      const std::string& text = c->connect_schema;
      if (rest.size() > text.size() + kPayload.size() && rest.starts_with(text) && rest.substr(text.size()).starts_with(kPayload)) {
        std::rotate(recent_.begin(), recent_.begin() + static_cast<std::ptrdiff_t>(i), recent_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        schema = text;
        payload = rest.substr(text.size() + kPayload.size());
        known = c;
        return true;
      }
    }
  }
  return json_scan::field(part, "schema", schema) && json_scan::field(part, "payload", payload);
}

AvroRecords::Compiled* AvroRecords::compiled(std::string_view connect_schema, Outcome& failure) {
  if (auto it = schemas_.find(connect_schema); it != schemas_.end()) return it->second.get();
  auto c = std::make_unique<Compiled>();
  if (!avro::Converter::from_connect(connect_schema, c->converter, error_)) {
    failure = {Outcome::rejected, "the record's schema has no Avro form: " + error_};
    return nullptr;
  }
  c->connect_schema = std::string(connect_schema);
  c->record_name = full_name(c->converter.schema());
  if (schemas_.size() >= kMostSchemas) {
    schemas_.clear();
    recent_.clear();
  }
  Compiled* added = schemas_.emplace(c->connect_schema, std::move(c)).first->second.get();
  // A few schemas are tried by their text before the envelope is read as JSON: a pipeline's
  // tables' keys and values.
  constexpr std::size_t kRecent = 8;
  recent_.insert(recent_.begin(), added);
  if (recent_.size() > kRecent) recent_.pop_back();
  return added;
}

bool AvroRecords::schema_id(Compiled& c, std::string_view topic, bool is_key, std::uint32_t& id, Outcome& failure) {
  if (c.last_id != 0 && c.last_is_key == is_key && c.last_topic == topic) {
    id = c.last_id;
    return true;
  }
  std::string subject;
  switch (strategy_) {
    case SubjectStrategy::topic: subject = http::topic_subject(std::string(topic), is_key); break;
    case SubjectStrategy::record: subject = c.record_name; break;
    case SubjectStrategy::topic_record: subject = fmt::format("{}-{}", topic, c.record_name); break;
  }
  if (subject.empty() || subject.back() == '-') {
    failure = {Outcome::halted, fmt::format("subject_name_strategy \"{}\" names a subject after the record's name, and this "
                                            "{}'s schema is no record: use \"subject_name_strategy\": \"topic\"",
                                            strategy_ == SubjectStrategy::record ? "record" : "topic_record", is_key ? "key" : "value")};
    return false;
  }
  auto known = c.ids.find(subject);
  if (known == c.ids.end()) {
    auto registered = registry_.register_schema(subject, c.converter.schema());
    if (!registered) {
      failure = {registered.error().kind == ErrorKind::retriable ? Outcome::retriable : Outcome::halted,
                 fmt::format("subject {}: {}", subject, registered.error().message)};
      return false;
    }
    known = c.ids.emplace(subject, *registered).first;
  }
  id = known->second;
  c.last_topic = std::string(topic);
  c.last_is_key = is_key;
  c.last_id = id;
  return true;
}

bool AvroRecords::convert_part(std::string_view topic, bool is_key, std::string_view& part, std::string& out, Outcome& failure) {
  std::string_view schema, payload;
  Compiled* c = nullptr;
  if (!split(part, schema, payload, c)) {
    failure = {Outcome::rejected, fmt::format("the record's {} is not Kafka Connect's envelope {{\"schema\", \"payload\"}}",
                                              is_key ? "key" : "value")};
    return false;
  }
  if (!(is_key ? converters_.avro_key : converters_.avro_value)) {
    // JSON: with its schema as the pipeline's "schemas" asks, else the payload alone.
    if (!converters_.json_schemas) part = payload;
    return true;
  }
  if (payload == "null") {  // a null key or value stays a null one
    part = {};
    return true;
  }
  if (!c && !(c = compiled(schema, failure))) return false;
  std::uint32_t id = 0;
  if (!schema_id(*c, topic, is_key, id, failure)) return false;
  out.clear();
  avro::append_confluent_header(out, id);
  if (!c->converter.write(payload, out, error_)) {
    failure = {Outcome::rejected, fmt::format("the record's {} does not fit its schema: {}", is_key ? "key" : "value", error_)};
    return false;
  }
  part = out;
  return true;
}

AvroDecoder::AvroDecoder(const Converters& converters, http::RegistryOptions registry)
    : converters_(converters), registry_(std::move(registry)) {}

Status AvroDecoder::decode(bool is_key, std::string& part) {
  if (!(is_key ? converters_.avro_key : converters_.avro_value) || part.empty()) return {};
  const char* what = is_key ? "key" : "value";
  if (part.size() < 5 || part[0] != '\0')
    return permanent(fmt::format("the record's {} is not in the Confluent wire format (a zero byte, a 4-byte schema id, "
                                 "Avro): it starts {}", what, part.empty() ? "empty" : fmt::format("with byte {}", static_cast<unsigned char>(part[0]))));
  std::uint32_t id = 0;
  for (int i = 1; i <= 4; ++i) id = (id << 8) | static_cast<unsigned char>(part[static_cast<std::size_t>(i)]);
  auto reader = readers_.find(id);
  if (reader == readers_.end()) {
    auto schema = registry_.schema_by_id(id);
    if (!schema) return Error{schema.error().kind, fmt::format("the schema {} of the record's {}: {}", id, what, schema.error().message)};
    avro::Reader r;
    if (!avro::Reader::from_schema(*schema, r, error_))
      return permanent(fmt::format("the schema {} of the record's {} cannot be read: {}", id, what, error_));
    if (readers_.size() >= kMostSchemas) readers_.clear();
    reader = readers_.emplace(id, std::move(r)).first;
  }
  out_.clear();
  if (!reader->second.read(std::string_view(part).substr(5), out_, error_))
    return permanent(fmt::format("the record's {} is not Avro of its schema {}: {}", what, id, error_));
  part.swap(out_);
  return {};
}

}  // namespace relay::kafka
