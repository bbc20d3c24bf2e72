// The Kafka side of the sink contract, against Apache Kafka: the suite's broker, or for the outage
// test a broker of the test's own that it kills (kill -9) and starts again on the same data (a TCP
// proxy cannot cut Kafka, whose clients connect to the addresses the broker advertises). What
// arrived is read back with kafkajs (tests/node/kafka.js).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "kafka_admin.h"

namespace relay::test {
namespace {

constexpr int kOwnBrokerPort = 55790;  // and the three above it (scripts/servers/kafka.sh)

class KafkaHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    // One partition: the contract reads everything back in the broker's order.
    create_kafka_topic(brokers(), unique, 1);
    return {{"sink_type", "kafka"},
            {"kafka_brokers", address},
            {"kafka_topic", unique},
            // Also exercises the pass-through: records above 256 KiB are refused (rejected_note).
            {"rdkafka", {{"message.max.bytes", "262144"}}}};
  }

  std::pair<std::string, int> server() override { return kafka_address(brokers()); }

  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    return parse_delivered(run_node("kafka.js", {brokers(), unique, std::to_string(at_least), std::to_string(timeout.count())}));
  }

  std::string rejected_note(const std::string&) override { return std::string(300 * 1024, 'x'); }

  bool uses_proxy() override { return false; }
  void prepare_cut() override { own_ = std::make_unique<PrivateServer>("kafka", kOwnBrokerPort); }
  void set_reachable(bool up) override {
    ASSERT_TRUE(own_) << "prepare_cut() first";
    if (up) own_->start();
    else own_->kill();
  }

 private:
  std::string brokers() const { return own_ ? own_->url() : kafka_brokers(); }

  std::unique_ptr<PrivateServer> own_;
};

}  // namespace

std::unique_ptr<SinkHarness> make_kafka_harness() { return std::make_unique<KafkaHarness>(); }

}  // namespace relay::test
