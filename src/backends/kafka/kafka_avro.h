// Records as Kafka Connect's Avro converter writes them: each key and value the format wrote as
// JsonConverter's envelope ({"schema": …, "payload": …}) becomes the Confluent wire format (a zero
// byte, the schema's id in the registry, the payload in Avro's binary encoding). A schema is
// compiled and registered once per subject (a table altered gives a new schema text, registered at
// its first record); a message costs no registry call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config_section.h"
#include "config/pipeline_config.h"
#include "format/avro.h"
#include "format/avro_reader.h"
#include "http/schema_registry.h"
#include "metrics/metrics.h"
#include "relay/message.h"

namespace relay::kafka {

enum class SubjectStrategy { topic, record, topic_record };

// The registry a sink or source section names (schema_registry_spec.h's keys), each request counted
// in `metrics` when given.
http::RegistryOptions registry_options(const ConfigSection& section, std::shared_ptr<metrics::PipelineMetrics> metrics);

class AvroRecords {
 public:
  AvroRecords(const Converters& converters, http::RegistryOptions registry, SubjectStrategy strategy);

  // Rewrites `key` and `value` (views of the format's envelopes; an empty value is a tombstone) for
  // the wire. What they point to afterwards is held here until the next call. The outcome's kind
  // when a part cannot be written: retriable (the registry cannot be reached), halted (the registry
  // refuses the schema: someone must act), rejected (the envelope is not one).
  bool convert(std::string_view topic, std::string_view& key, std::string_view& value, Outcome& failure);

  http::SchemaRegistry& registry() { return registry_; }

 private:
  struct Compiled {
    std::string connect_schema;  // its text, as the envelopes hold it
    avro::Converter converter;
    std::string record_name;  // the Avro schema's full name ("" when it is no record)
    std::unordered_map<std::string, std::uint32_t> ids;  // subject -> the schema's id there
    // The last topic it was written to (as a key or not) and its id there: most records of a
    // schema go to one topic, and need no subject built.
    std::string last_topic;
    bool last_is_key = false;
    std::uint32_t last_id = 0;
  };
  bool convert_part(std::string_view topic, bool is_key, std::string_view& part, std::string& out, Outcome& failure);
  // The envelope's schema and payload; `known` the schema's compiled form when it is one of the
  // recently used (found without reading the schema's text as JSON), else null.
  bool split(std::string_view part, std::string_view& schema, std::string_view& payload, Compiled*& known);
  Compiled* compiled(std::string_view connect_schema, Outcome& failure);
  bool schema_id(Compiled& c, std::string_view topic, bool is_key, std::uint32_t& id, Outcome& failure);

  Converters converters_;
  http::SchemaRegistry registry_;
  SubjectStrategy strategy_;
  std::unordered_map<std::string_view, std::unique_ptr<Compiled>> schemas_;  // Connect schema text (the entry's own) ->
  std::vector<Compiled*> recent_;  // the most recently used first
  std::string key_out_, value_out_, error_;
};

// The way back: a consumed record's key and value in the Confluent wire format decoded to the JSON
// Kafka Connect's JsonConverter gives for what the Avro converter reads (format/avro_reader.h),
// each schema fetched from the registry by id once.
class AvroDecoder {
 public:
  AvroDecoder(const Converters& converters, http::RegistryOptions registry);
  // Rewrites `part` (a record's key or value, as consumed) as that JSON. A retriable error when the
  // registry cannot give the schema now; a permanent one when the bytes are no record of it.
  Status decode(bool is_key, std::string& part);

  http::SchemaRegistry& registry() { return registry_; }

 private:
  Converters converters_;
  http::SchemaRegistry registry_;
  std::unordered_map<std::uint32_t, avro::Reader> readers_;  // schema id ->
  std::string out_, error_;
};

}  // namespace relay::kafka
