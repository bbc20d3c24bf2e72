#include "kafka_admin.h"

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

}  // namespace relay::test
