// Reading Avro back, as a consumer with Kafka Connect's Avro converter does: a writer's schema
// (Avro's JSON, as a schema registry returns it by id) compiled once, then each record's binary
// encoding decoded to the JSON Kafka Connect's JsonConverter writes for the value the converter
// reads: a record as an object, a union as its branch's value, bytes, fixed and decimals in base64,
// an enum as its symbol, a map as an object (a Connect map with other than string keys, which the
// converter writes as an array of MapEntry records, as [key, value] pairs). The bytes come from a
// broker: any input gets an answer or an error naming where it went wrong, in bounded work.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace relay::avro {

class Reader {
 public:
  // False, with `error` saying what, when `avro_schema` is no Avro schema this reader knows.
  static bool from_schema(std::string_view avro_schema, Reader& out, std::string& error);
  // Appends the JSON of the one value `bytes` encode (they must be used to the last byte).
  bool read(std::string_view bytes, std::string& out, std::string& error) const;

  struct Type {
    enum class Kind { Null, Boolean, Int, Long, Float, Double, Bytes, String, Record, Enum, Array, Map, Union, Fixed };
    Kind kind = Kind::Null;
    std::vector<int> children;         // Record: its fields' types; Array: [items]; Map: [values]; Union: its branches
    std::vector<std::string> names;    // Record: its fields' names; Enum: its symbols
    std::size_t size = 0;              // Fixed: its length
    bool map_entry = false;            // Record: a Connect map's entry (key, value)
  };

 private:
  std::shared_ptr<const std::vector<Type>> types_;
  int root_ = 0;
};

}  // namespace relay::avro
