// Avro, as Kafka Connect's Avro converter writes it: a record's Kafka Connect schema (in the form
// JsonConverter writes it, {"type":"struct","fields":[…],…}) converted to the Avro schema the
// converter registers, and a record's value (JsonConverter's payload for that schema) written in
// Avro's binary encoding. Schemas with and without names, optional fields as unions with null,
// Connect's logical types (Decimal, Date, Time, Timestamp) as Avro's, the connect.* properties that
// let the converter give back the Connect schema. Pure: no I/O; the schema registry is elsewhere.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace relay::avro {

// One Connect schema compiled for writing its values.
struct Node {
  enum class Kind { Boolean, Int, Long, Float, Double, String, Bytes, Array, Map, MapEntries, Record };
  Kind kind = Kind::String;
  bool optional = false;    // a union with null
  bool null_first = true;   // ["null", T]; [T, "null"] when the Connect schema has a default
  std::vector<std::string> fields;  // Record: each field's name, as the payload's keys
  std::vector<Node> children;       // Record: its fields; Array: [items]; Map: [values]; MapEntries: [key, value]
};

class Converter {
 public:
  // From a Connect schema as JsonConverter writes it; false, with `error` naming what is wrong, when
  // the text is no such schema.
  static bool from_connect(std::string_view connect_schema, Converter& out, std::string& error);
  // The Avro schema, as Kafka Connect's Avro converter registers it (Avro's own JSON text).
  const std::string& schema() const { return schema_; }
  // Appends the Avro binary encoding of `payload` (JsonConverter's payload for the schema); false,
  // with `error` naming the field, when the payload does not fit the schema.
  bool write(std::string_view payload, std::string& out, std::string& error) const;

 private:
  Node root_;
  std::string schema_;
};

// Avro's binary encoding of a long (and an int): zig-zag, then 7 bits a byte, least first.
void append_long(std::string& out, std::int64_t v);
// The Confluent wire format's header before the Avro bytes: a zero byte and the schema's id, 4 bytes
// big-endian.
void append_confluent_header(std::string& out, std::uint32_t schema_id);

}  // namespace relay::avro
