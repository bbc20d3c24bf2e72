// The tests' Kafka: the suite's broker (scripts/servers/kafka.sh, Apache Kafka) and what the tests
// ask of a broker besides producing and consuming.
#pragma once

#include <string>
#include <utility>

namespace relay::test {

// The suite's broker, "host:port" (PGTRICKLE_TEST_KAFKA_BROKERS; a test's own broker exports it too).
std::string kafka_brokers();
std::pair<std::string, int> kafka_address(const std::string& brokers);
// Creates `topic` with `partitions` partitions and waits for their leaders (an existing topic is
// kept as it is), with kafkajs's admin client (tests/node/kafka.js).
void create_kafka_topic(const std::string& brokers, const std::string& topic, int partitions);

}  // namespace relay::test
