// The Kafka side of the source contract, against Apache Kafka (the suite's broker, or the one a
// test of its own exports): a one-partition topic per test (the contract reads in the broker's
// order); messages are produced with kafkajs (tests/node/kafka.js), the identity in the header
// dedup_key.
#include <algorithm>
#include <fstream>

#include "../../contract/sink_contract.h"
#include "../../contract/source_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"

namespace relay::test {
namespace {

class KafkaSourceHarness final : public SourceHarness {
 public:
  nlohmann::json source_config(const std::string& unique, int ack_timeout_ms) override {
    // Kafka redelivers what a dead consumer did not commit once the group drops that consumer:
    // after session.timeout.ms. Not below 6 s, Kafka's group.min.session.timeout.ms.
    int session = std::max(6000, ack_timeout_ms);
    return {{"source_type", "kafka"},
            {"brokers", kafka_brokers()},
            {"topic", unique},
            {"group_id", "group-" + unique},
            {"rdkafka", {{"session.timeout.ms", std::to_string(session)},
                         {"heartbeat.interval.ms", std::to_string(session / 4)}}}};
  }

  void prepare(const std::string& unique) override { create_kafka_topic(kafka_brokers(), unique, 1); }

  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds) override {
    std::string file = work_dir() + "/kafka-publish-" + unique + ".jsonl";
    {
      std::ofstream f(file, std::ios::trunc);
      for (const auto& m : messages) f << nlohmann::json{{"id", m.id}, {"body", m.body}}.dump() << '\n';
    }
    run_node("kafka.js", {"publish", kafka_brokers(), unique, file});
  }
};

}  // namespace

std::unique_ptr<SourceHarness> make_kafka_source_harness() { return std::make_unique<KafkaSourceHarness>(); }

}  // namespace relay::test
