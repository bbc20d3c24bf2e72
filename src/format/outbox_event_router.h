// Debezium's outbox event router (io.debezium.transforms.outbox.EventRouter) over the rows of an
// outbox table (id, aggregatetype, aggregateid, type, payload): each inserted row becomes one record
// whose key is its aggregate id, whose value is its payload, with its event id in the header "id".
// Values are written as Kafka Connect's JsonConverter writes them after the router (schemas or
// not), headers as its SimpleHeaderConverter does. Pure: no I/O.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "format/debezium_event.h"

namespace relay::debezium {

// One routed record.
struct RoutedRecord {
  std::string key;    // the key converter's bytes (empty: a null key)
  std::string value;  // the value converter's bytes
  std::vector<std::pair<std::string, std::string>> headers;
  std::string routed_by;  // the route.by.field column's text
};

class OutboxEventRouter {
 public:
  OutboxEventRouter(RouterOptions options, bool schemas)
      : opt_(std::move(options)), schemas_(schemas),
        in_envelope_(std::any_of(opt_.additional.begin(), opt_.additional.end(),
                                 [](const RouterOptions::Additional& a) { return a.placement == RouterOptions::Placement::envelope; })) {}
  const RouterOptions& options() const { return opt_; }

  // The record of an inserted (or backfilled) outbox row of `table` (`row` a to_jsonb object).
  // False, with `error` set, for a row the router cannot send (a column it names is missing).
  bool route(const EventEncoder& table, std::string_view row, RoutedRecord& out, std::string& error) const;

 private:
  RouterOptions opt_;
  bool schemas_;
  bool in_envelope_;  // a column goes beside the payload: the value is {"payload": …, …}
  // The envelope schema's name per payload schema: the first one made (as Debezium caches it).
  mutable std::map<std::string, std::string> schema_names_;
};

// table.expand.json.payload: the JSON text `payload` (an object, as the router reads it) turned into
// Kafka Connect data as Debezium's JsonSchemaData infers it (nulls and empty arrays left out unless
// the options keep them), written as JsonConverter writes it: `value`, and `schema` (named `name`)
// with schemas. False when Debezium would leave the payload unexpanded (not an object, an array
// mixing types, a number too big for a long).
bool expand_json_payload(std::string_view payload, std::string_view name, const RouterOptions& options, std::string& value,
                         std::string* schema);

// A double as Java's Double.toString writes it (Jackson writes JsonConverter's FLOAT64 so):
// "2.5", "100.0", "1.0E10", "1.0E-5".
void append_java_double(std::string& out, double d);

}  // namespace relay::debezium
