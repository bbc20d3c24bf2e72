// Avro records from a broker (src/format/avro_reader.h), against the schema a registry gave for
// their id: a hostile record, or a hostile schema, gets an error, never a crash, and in bounded
// work. Beyond "no crash":
//  - a record that reads gives valid JSON, the same each time it is read;
//  - it reads only when its bytes are used to the last one;
//  - JSON no larger than a bound of the record's size and the schema's (no large allocation from a
//    small record).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "format/avro_reader.h"
#include "fuzz_support.h"
#include "util/strings.h"

// Input fields: the Avro schema's JSON text, then the record's bytes (without the Confluent header).
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  relay::fuzz::Fields in({reinterpret_cast<const char*>(data), size});
  const std::string_view schema = in[0], bytes = in[1];
  relay::avro::Reader reader;
  std::string error;
  if (!relay::avro::Reader::from_schema(schema, reader, error)) {
    FUZZ_CHECK(!error.empty(), "a schema that does not compile says why");
    return 0;
  }
  std::string out, again;
  if (!reader.read(bytes, out, error)) {
    FUZZ_CHECK(!error.empty(), "a record that does not read says why");
    return 0;
  }
  FUZZ_CHECK(relay::util::valid_text(out) && nlohmann::json::accept(out), "a record reads as valid JSON");
  FUZZ_CHECK(reader.read(bytes, again, error) && again == out, "a record reads the same each time");
  // Each byte or spare item gives at most a field's name, a symbol or 24 characters of a number.
  FUZZ_CHECK(out.size() <= (bytes.size() + 1024) * (schema.size() + 32) * 2, "the JSON's size is bounded by the record's");
  return 0;
}
