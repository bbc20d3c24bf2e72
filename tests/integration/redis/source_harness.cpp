// Redis Streams in the source contract: one stream per test, entries added with ioredis with the
// fields event_id (the message's identity) and payload.
#include <fstream>

#include "../../contract/source_contract.h"
#include "../fixture.h"
#include "redis_test_util.h"

namespace relay::test {
namespace {

class RedisSourceHarness final : public SourceHarness {
 public:
  // A restarted relay keeps its consumer name and reads its own pending entries again at once, so
  // no claim idle time is needed for the contract (claiming is tested in redis_source_test.cpp).
  nlohmann::json source_config(const std::string& unique, int) override {
    return {{"source_type", "redis"}, {"redis_url", redis_url()}, {"redis_stream_key", unique}, {"redis_group", "relay"}};
  }
  void publish(const std::string& unique, const std::vector<Outgoing>& messages, std::chrono::milliseconds) override {
    std::string file = work_dir() + "/redis-publish-" + unique + ".jsonl";
    {
      std::ofstream out(file, std::ios::trunc);
      for (const auto& m : messages) out << nlohmann::json{{"id", m.id}, {"body", m.body}}.dump() << "\n";
    }
    run_node("redis.js", {"publish", redis_url(), unique, file});
  }
};

}  // namespace

std::unique_ptr<SourceHarness> make_redis_source_harness() { return std::make_unique<RedisSourceHarness>(); }

}  // namespace relay::test
