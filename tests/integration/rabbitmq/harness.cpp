// The sink contract's view of RabbitMQ: each test publishes to the built-in topic exchange
// amq.topic with the routing key "<unique>.{{ note }}" into a durable queue named after the test,
// bound with "<unique>.*"; read back with amqplib (tests/node/rabbitmq.js), identity = message-id.
#include <memory>

#include "../../contract/sink_contract.h"
#include "rabbitmq_test_util.h"

namespace relay::test {
namespace {

class RabbitmqHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    // The queue exists and is bound before the relay publishes anything.
    rabbitmq_setup_queue(unique, "amq.topic", unique + ".*");
    return {{"sink_type", "rabbitmq"},
            {"rabbitmq_url", "amqp://" + rabbitmq_server().user + ":" + rabbitmq_server().password + "@" + address + "/"},
            {"exchange", "amq.topic"},
            {"routing_key", unique + ".{{ note }}"}};
  }

  std::pair<std::string, int> server() override { return {rabbitmq_server().host, rabbitmq_server().port}; }

  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    return rabbitmq_read(unique, at_least, timeout);
  }

  // Two words after the prefix: the binding "<unique>.*" does not match, so no queue takes the
  // message; published with the mandatory flag, the broker returns it (312 NO_ROUTE).
  std::string rejected_note(const std::string&) override { return "no.route"; }
};

}  // namespace

std::unique_ptr<SinkHarness> make_rabbitmq_harness() { return std::make_unique<RabbitmqHarness>(); }

}  // namespace relay::test
