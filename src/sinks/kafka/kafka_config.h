// The librdkafka properties of the producer, derived from the sink's config: the relay's defaults
// first, then every `rdkafka.<name>` pass-through property (which wins). Pure; unit-tested.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace relay::kafka {

struct Property {
  std::string name;    // librdkafka's property name
  std::string value;
  std::string origin;  // the config key it came from, for error messages ("acks", "rdkafka.linger.ms")
};

// `sink` is the canonical sink config (defaults filled, secrets resolved).
std::vector<Property> producer_properties(const nlohmann::json& sink, const std::string& client_id);

}  // namespace relay::kafka
