// The librdkafka properties of the sink's producer and of the source's consumer, derived from their
// config: the relay's defaults first, then every `rdkafka.<name>` pass-through property (which wins).
// Pure; unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include "config/config_section.h"
#include <string>
#include <string_view>
#include <vector>

namespace relay::kafka {

struct Property {
  std::string name;    // librdkafka's property name
  std::string value;
  std::string origin;  // the config key it came from, for error messages ("acks", "rdkafka.linger.ms")
};

// `sink` is the canonical sink config (defaults filled, secrets resolved).
std::vector<Property> producer_properties(const ConfigSection& sink, const std::string& client_id);

// `source` is the canonical config of the Kafka source. Offsets are committed by the relay after
// the inbox commit, so enable.auto.commit and enable.auto.offset.store are always false: they come
// last, after the pass-through (consumer_property_problem refuses a pass-through that sets them).
// `instance_id`: the group member this pipeline is (group.instance.id), the same in every relay
// that may own it.
std::vector<Property> consumer_properties(const ConfigSection& source, const std::string& client_id,
                                          const std::string& instance_id);
// A sentence naming the `rdkafka.<name>` key of `source` the relay cannot allow, "" if none.
std::string consumer_property_problem(const ConfigSection& source);

// A sentence naming the property whose value, resolved from a reference, would name something the
// broker shows others (a consumer group, a static member, a transactional producer, a client), ""
// if none: such a name is never a secret's.
std::string named_property_problem(const std::vector<Property>& props);

// Why librdkafka refused property `p`, given its error text. That text quotes the value, cut at
// 511 bytes, out of reach of redaction: a value resolved from a reference is named by the
// reference instead, without the library's words.
std::string refused_property(const Property& p, std::string_view library_error);

}  // namespace relay::kafka
