// How format "debezium" writes values, as Debezium's handling modes name them (the pipeline options
// decimal_handling, time_precision, binary_handling, interval_handling and hstore_handling), with
// its defaults; and
// the settings of format "outbox_event_router", under the names of Debezium's outbox event router.
#pragma once

#include <string>
#include <vector>

namespace relay::debezium {

enum class DecimalHandling { precise, double_, string };                     // decimal.handling.mode
enum class TimePrecision { adaptive, adaptive_time_microseconds, connect };  // time.precision.mode
enum class BinaryHandling { bytes, base64, base64_url_safe, hex };          // binary.handling.mode
enum class IntervalHandling { numeric, string };                            // interval.handling.mode
enum class HStoreHandling { json, map };                                    // hstore.handling.mode

struct Modes {
  DecimalHandling decimal = DecimalHandling::precise;
  TimePrecision time = TimePrecision::adaptive;
  BinaryHandling binary = BinaryHandling::bytes;
  IntervalHandling interval = IntervalHandling::numeric;
  HStoreHandling hstore = HStoreHandling::json;
  bool include_unknown = false;  // include.unknown.datatypes: unmapped types as their text's bytes
};

// Debezium's column.propagate.source.type and datatype.propagate.source.type: regular expressions,
// each matched whole and ignoring case against "<schema>.<table>.<column>" and
// "<schema>.<table>.<type name>"; a column either matches gets its source type in its schema's
// parameters.
struct PropagateSourceType {
  std::vector<std::string> columns;
  std::vector<std::string> datatypes;
  bool empty() const { return columns.empty() && datatypes.empty(); }
};

// The router's settings, under Debezium's names (the pipeline option "outbox_event_router").
struct RouterOptions {
  std::string event_id = "id";            // table.field.event.id
  std::string event_key = "aggregateid";  // table.field.event.key
  std::string payload = "payload";        // table.field.event.payload
  std::string route_by = "aggregatetype";  // route.by.field
  std::string topic_replacement = "outbox.event.${routedByValue}";  // route.topic.replacement
  enum class Placement { header, envelope };
  struct Additional {
    std::string field;
    Placement placement = Placement::header;
    std::string alias;  // the header's or the envelope field's name
  };
  std::vector<Additional> additional;     // table.fields.additional.placement
  bool ignore_missing_additional = false;  // table.field.additional.missing = ignore
  bool expand_json = false;                // table.expand.json.payload
  bool null_as_bytes = false;              // table.json.payload.null.behavior = optional_bytes
  bool empty_array_as_strings = false;     // table.json.payload.empty.array.behavior = optional_string
  enum class OnUpdate { warn, error, fatal };
  OnUpdate on_update = OnUpdate::warn;     // table.op.invalid.behavior
};

}  // namespace relay::debezium
