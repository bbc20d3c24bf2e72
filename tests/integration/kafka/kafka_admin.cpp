#include "kafka_admin.h"

#include <httplib.h>

#include "../../contract/sink_contract.h"

namespace relay::test {

std::string kafka_brokers() { return test_server_env("PGTRICKLE_TEST_KAFKA_BROKERS"); }

std::pair<std::string, int> kafka_address(const std::string& brokers) {
  auto first = brokers.substr(0, brokers.find(','));
  auto colon = first.rfind(':');
  return {first.substr(0, colon), std::stoi(first.substr(colon + 1))};
}

void create_kafka_topic(const std::string& brokers, const std::string& topic, int partitions) {
  run_node("kafka.js", {"create", brokers, topic, std::to_string(partitions)});
}

std::string schema_registry_url() { return test_server_env("PGTRICKLE_TEST_SCHEMA_REGISTRY_URL"); }

std::string schema_registry_apicurio_url() {
  const std::string url = schema_registry_url();
  return url.substr(0, url.find("/apis/")) + "/apis/registry/v2";
}

nlohmann::json schema_registry_call(const std::string& method, const std::string& path, const std::string& body) {
  const std::string url = schema_registry_url();
  const auto at = url.find("/apis/");
  httplib::Client c(url.substr(0, at));
  auto r = method == "PUT" ? c.Put(url.substr(at) + path, body, "application/json") : c.Get(url.substr(at) + path);
  if (!r) return nullptr;
  auto parsed = nlohmann::json::parse(r->body, nullptr, false);
  return r->status / 100 == 2 && !parsed.is_discarded() ? parsed : nlohmann::json();
}

}  // namespace relay::test
