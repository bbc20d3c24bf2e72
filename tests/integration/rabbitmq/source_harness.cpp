// The RabbitMQ side of the source contract: a durable queue per test, published to through the
// default exchange with amqplib (tests/node/rabbitmq.js), the identity in the message-id property.
// RabbitMQ has no acknowledgement timeout: a consumer's unacknowledged messages come back when its
// connection closes (the crashed relay's socket).
#include <fstream>

#include "../../contract/sink_contract.h"
#include "../../contract/source_contract.h"
#include "../fixture.h"
#include "rabbitmq_test_util.h"

namespace relay::test {
namespace {

class RabbitmqSourceHarness final : public SourceHarness {
 public:
  nlohmann::json source_config(const std::string& unique, int) override {
    return {{"source_type", "rabbitmq"}, {"url", rabbitmq_url()}, {"queue", unique}};
  }

  void prepare(const std::string& unique) override { rabbitmq_setup_queue(unique, "", ""); }

  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds) override {
    std::string file = work_dir() + "/rabbitmq-publish-" + unique + ".jsonl";
    {
      std::ofstream f(file, std::ios::trunc);
      for (const auto& m : messages) f << nlohmann::json{{"id", m.id}, {"body", m.body}}.dump() << '\n';
    }
    run_node("rabbitmq.js", {"publish", rabbitmq_url(), unique, file});
  }
};

}  // namespace

std::unique_ptr<SourceHarness> make_rabbitmq_source_harness() { return std::make_unique<RabbitmqSourceHarness>(); }

}  // namespace relay::test
