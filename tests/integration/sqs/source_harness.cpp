// The SQS source in the reverse contract: a standard queue per test on the fauxqs emulator,
// published to with the AWS SDK (tests/node/sqs.js publish); a message's identity travels as its
// `dedup_key` message attribute, the way the relay's SQS sink sends it.
#include <fstream>
#include <map>

#include "../../contract/source_contract.h"
#include "../fixture.h"
#include "sqs_client.h"

namespace relay::test {
namespace {

class SqsSourceHarness final : public SourceHarness {
 public:
  nlohmann::json source_config(const std::string& unique, int ack_timeout_ms) override {
    return {{"source_type", "sqs"},
            {"queue_url", queue(unique)},
            {"endpoint_url", sqs_endpoint()},
            {"region", "us-east-1"},
            {"access_key_id", "test"},
            {"secret_access_key", "test"},
            {"visibility_timeout", std::max(1, (ack_timeout_ms + 999) / 1000)}};
  }

  void prepare(const std::string& unique) override { queue(unique); }

  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds) override {
    std::string path = work_dir() + "/sqs-publish-" + unique + ".jsonl";
    {
      std::ofstream f(path);
      for (const auto& m : messages) f << nlohmann::json{{"id", m.id}, {"body", m.body}}.dump() << "\n";
    }
    run_node("sqs.js", {"publish", sqs_endpoint(), queue(unique), path});
  }

 private:
  std::string queue(const std::string& unique) {
    auto it = queues_.find(unique);
    if (it != queues_.end()) return it->second;
    return queues_[unique] = sqs_create_queue("src-" + unique);
  }

  std::map<std::string, std::string> queues_;
};

}  // namespace

std::unique_ptr<SourceHarness> make_sqs_source_harness() { return std::make_unique<SqsSourceHarness>(); }

}  // namespace relay::test
