// The webhook backend in the sink contract: a receiver of our own, in this process, reached
// through the contract's proxy; read() returns what it accepted (id = Idempotency-Key).
#include <thread>

#include "../../contract/sink_contract.h"
#include "receiver.h"

namespace relay::test {
namespace {

class WebhookHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    return {{"sink_type", "webhook"}, {"url", "http://" + address + "/hooks/" + unique}, {"retry_backoff_ms", 50}};
  }
  std::pair<std::string, int> server() override { return {"127.0.0.1", receiver_.port()}; }

  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    std::string path = "/hooks/" + unique;
    auto end = std::chrono::steady_clock::now() + timeout;
    while (receiver_.distinct_accepted(path) < at_least && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::vector<Delivered> out;
    for (const auto& r : receiver_.accepted(path)) {
      Delivered d;
      d.dedup_id = r.header("Idempotency-Key");
      d.body = nlohmann::json::parse(r.body, nullptr, false);
      out.push_back(std::move(d));
    }
    return out;
  }

  std::string rejected_note(const std::string&) override {
    receiver_.refuse_bodies_with("refuse-this-note", 422);
    return "refuse-this-note";
  }

 private:
  Receiver receiver_;
};

}  // namespace

std::unique_ptr<SinkHarness> make_webhook_harness() { return std::make_unique<WebhookHarness>(); }

}  // namespace relay::test
