// The Kafka side of the source contract. Each harness hosts a private mock cluster in the test
// process with a one-partition topic per test (the contract reads in the broker's order); messages
// are produced with kafkajs (tests/node/kafka.js), the identity in the header dedup_key.
#include <algorithm>
#include <fstream>

#include "../../contract/sink_contract.h"
#include "../../contract/source_contract.h"
#include "../fixture.h"
#include "mock_cluster.h"

namespace relay::test {
namespace {

class KafkaSourceHarness final : public SourceHarness {
 public:
  nlohmann::json source_config(const std::string& unique, int ack_timeout_ms) override {
    // Kafka redelivers what a dead consumer did not commit once the group drops that consumer:
    // after session.timeout.ms. Not below 6 s, Kafka's group.min.session.timeout.ms (the mock
    // cluster delays a new group's first join by 3 s, and a shorter session expires meanwhile).
    int session = std::max(6000, ack_timeout_ms);
    return {{"source_type", "kafka"},
            {"brokers", mock_.bootstraps()},
            {"topic", unique},
            {"group_id", "group-" + unique},
            {"rdkafka", {{"session.timeout.ms", std::to_string(session)},
                         {"heartbeat.interval.ms", std::to_string(session / 4)}}}};
  }

  void prepare(const std::string& unique) override { mock_.create_topic(unique, 1); }
  void set_reachable(bool up) override { mock_.set_up(up); }

  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds) override {
    std::string file = work_dir() + "/kafka-publish-" + unique + ".jsonl";
    {
      std::ofstream f(file, std::ios::trunc);
      for (const auto& m : messages) f << nlohmann::json{{"id", m.id}, {"body", m.body}}.dump() << '\n';
    }
    run_node("kafka.js", {"publish", mock_.bootstraps(), unique, file});
  }

 private:
  MockKafka mock_;
};

}  // namespace

std::unique_ptr<SourceHarness> make_kafka_source_harness() { return std::make_unique<KafkaSourceHarness>(); }

}  // namespace relay::test
