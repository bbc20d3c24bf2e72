// The Kafka side of the sink contract. Each harness hosts a private mock cluster in the test
// process: the outage test takes its broker down (a TCP proxy cannot cut Kafka, whose clients
// reconnect to the addresses the brokers advertise), and other tests on the shared broker are
// not disturbed. What arrived is read back with kafkajs (tests/node/kafka.js).
#include <chrono>
#include <string>

#include "../../contract/sink_contract.h"
#include "mock_cluster.h"

namespace relay::test {
namespace {

class KafkaHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    // One partition: the contract reads everything back in the broker's order.
    mock_.create_topic(unique, 1);
    return {{"sink_type", "kafka"},
            {"kafka_brokers", address},
            {"kafka_topic", unique},
            // Also exercises the pass-through: records above 256 KiB are refused (rejected_note).
            {"rdkafka", {{"message.max.bytes", "262144"}}}};
  }

  std::pair<std::string, int> server() override { return mock_.address(); }

  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    return parse_delivered(run_node("kafka.js", {mock_.bootstraps(), unique, std::to_string(at_least),
                                                 std::to_string(timeout.count())}));
  }

  std::string rejected_note(const std::string&) override { return std::string(300 * 1024, 'x'); }

  bool uses_proxy() override { return false; }
  void set_reachable(bool up) override { mock_.set_up(up); }

 private:
  MockKafka mock_;
};

}  // namespace

std::unique_ptr<SinkHarness> make_kafka_harness() { return std::make_unique<KafkaHarness>(); }

}  // namespace relay::test
