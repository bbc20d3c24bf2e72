// The tests' Kafka: the suite's broker (scripts/servers/kafka.sh, Apache Kafka) and its schema
// registry (scripts/servers/schema-registry.sh), and what the tests ask of them besides producing
// and consuming.
#pragma once

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace relay::test {

// The suite's broker, "host:port" (PGTRICKLE_TEST_KAFKA_BROKERS; a test's own broker exports it too).
std::string kafka_brokers();
std::pair<std::string, int> kafka_address(const std::string& brokers);
// Creates `topic` with `partitions` partitions and waits for their leaders (an existing topic is
// kept as it is), with kafkajs's admin client (tests/node/kafka.js).
void create_kafka_topic(const std::string& brokers, const std::string& topic, int partitions);

// The suite's schema registry: its Confluent API (PGTRICKLE_TEST_SCHEMA_REGISTRY_URL, what the relay
// is given) and its Apicurio API v2 (what Apicurio's converters for Kafka Connect are given).
std::string schema_registry_url();
std::string schema_registry_apicurio_url();
// A call to the registry's Confluent API (a consumer's or an operator's, not the relay's): the
// answer's JSON, or null when it failed.
nlohmann::json schema_registry_call(const std::string& method, const std::string& path, const std::string& body = "");

}  // namespace relay::test
