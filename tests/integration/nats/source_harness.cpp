// NATS JetStream in the source contract: one stream per test (subjects "<unique>.>"), published to
// with the official NATS client, Nats-Msg-Id = the message's identity.
#include <fstream>

#include "../../contract/sink_contract.h"
#include "../../contract/source_contract.h"
#include "../fixture.h"

namespace relay::test {
namespace {

class NatsSourceHarness final : public SourceHarness {
 public:
  nlohmann::json source_config(const std::string& unique, int ack_timeout_ms) override {
    return {{"source_type", "nats"}, {"nats_url", url()}, {"nats_stream", unique}, {"nats_consumer", "relay"},
            {"nats_ack_wait_ms", ack_timeout_ms}};
  }
  void prepare(const std::string& unique) override { run_node("nats.js", {"add-stream", url(), unique, unique + ".>"}); }
  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds) override {
    std::string file = work_dir() + "/nats-publish-" + unique + ".jsonl";
    {
      std::ofstream out(file, std::ios::trunc);
      for (const auto& m : messages) out << nlohmann::json{{"subject", unique + ".in"}, {"id", m.id}, {"body", m.body}}.dump() << "\n";
    }
    run_node("nats.js", {"publish", url(), file});
  }
  // The stream's duplicate window (2 minutes by default) drops a second publish with the same Nats-Msg-Id.
  bool broker_deduplicates() override { return true; }

 private:
  static std::string url() { return test_server_env("PGTRICKLE_TEST_NATS_URL"); }
};

}  // namespace

std::unique_ptr<SourceHarness> make_nats_source_harness() { return std::make_unique<NatsSourceHarness>(); }

}  // namespace relay::test
