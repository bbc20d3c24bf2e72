// NATS JetStream in the sink contract: one stream per test, read back with the official NATS client.
#include <regex>

#include "../../contract/sink_contract.h"
#include "../fixture.h"

namespace relay::test {
namespace {

class NatsHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    return {{"sink_type", "nats"}, {"url", "nats://" + address}, {"stream", unique}, {"subject", unique + ".{stream_table}.{op}"}};
  }
  std::pair<std::string, int> server() override {
    std::smatch m;
    std::string url = test_server_env("PGTRICKLE_TEST_NATS_URL");
    if (!std::regex_search(url, m, std::regex("//([^:/]+):([0-9]+)"))) return {"127.0.0.1", 0};
    return {m[1], std::stoi(m[2])};
  }
  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    return parse_delivered(run_node("nats.js", {"read", test_server_env("PGTRICKLE_TEST_NATS_URL"), unique, unique + ".>",
                                                std::to_string(at_least), std::to_string(timeout.count())}));
  }
  // Over the server's max_payload (1 MiB by default).
  std::string rejected_note(const std::string&) override { return std::string(1100 * 1024, 'x'); }
};

}  // namespace

std::unique_ptr<SinkHarness> make_nats_harness() { return std::make_unique<NatsHarness>(); }

}  // namespace relay::test
