// The SQS backend in the sink contract: a standard queue per test on the fauxqs emulator, reached
// through the contract's proxy (endpoint_url); read with the AWS SDK (id = the dedup_key attribute).
#include <map>

#include "sqs_client.h"

namespace relay::test {
namespace {

class SqsHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    return {{"sink_type", "sqs"},         {"queue_url", queue(unique)}, {"endpoint_url", "http://" + address},
            {"region", "us-east-1"},      {"access_key_id", "test"},    {"secret_access_key", "test"}};
  }

  std::pair<std::string, int> server() override {
    std::string e = sqs_endpoint();  // http://host:port
    auto host_start = e.find("://") + 3;
    auto colon = e.rfind(':');
    return {e.substr(host_start, colon - host_start), std::stoi(e.substr(colon + 1))};
  }

  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    // Reading deletes, so what was read before is kept here: read() returns all that arrived.
    auto& seen = seen_[unique];
    size_t need = at_least > seen.size() ? at_least - seen.size() : 0;
    for (auto& m : sqs_receive(queue(unique), need, timeout)) {
      Delivered d;
      d.dedup_id = m.id;
      d.body = nlohmann::json::parse(m.body, nullptr, false);
      seen.push_back(std::move(d));
    }
    return seen;
  }

  // The test's queue takes messages up to 1 KiB: a longer note is refused (InvalidParameterValue).
  std::string rejected_note(const std::string& unique) override {
    queue(unique, R"({"MaximumMessageSize":"1024"})");
    return std::string(2000, 'x');
  }

 private:
  std::string queue(const std::string& unique, const std::string& attributes = "{}") {
    auto it = queues_.find(unique);
    if (it != queues_.end()) return it->second;
    return queues_[unique] = sqs_create_queue(unique, attributes);
  }

  std::map<std::string, std::string> queues_;
  std::map<std::string, std::vector<Delivered>> seen_;
};

}  // namespace

std::unique_ptr<SinkHarness> make_sqs_harness() { return std::make_unique<SqsHarness>(); }

}  // namespace relay::test
