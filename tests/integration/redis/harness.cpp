// The sink contract's view of Redis Streams: each test gets a stream named after it, read back
// with ioredis (tests/node/redis.js); the dedup identity is the entry's dedup_key field.
#include <hiredis/hiredis.h>

#include <memory>
#include <set>

#include "../../contract/sink_contract.h"
#include "redis_test_util.h"

namespace relay::test {
namespace {

class RedisHarness final : public SinkHarness {
 public:
  nlohmann::json sink_config(const std::string& unique, const std::string& address) override {
    return {{"sink_type", "redis"},
            {"redis_url", "redis://" + address + "/" + std::to_string(redis_server().db)},
            {"redis_stream_key", note_routed_.count(unique) ? unique + ":{{ note }}" : unique}};
  }

  std::pair<std::string, int> server() override { return {redis_server().host, redis_server().port}; }

  std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) override {
    return read_stream(note_routed_.count(unique) ? unique + ":ok" : unique, at_least, timeout);
  }

  // The relay routes by the note column for this test; the stream the bad note routes to is taken
  // by a plain string, so that XADD fails with WRONGTYPE: a refusal no retry can mend.
  std::string rejected_note(const std::string& unique) override {
    note_routed_.insert(unique);
    redis_command({"SET", unique + ":bad", "not a stream"});
    return "bad";
  }

 private:
  std::set<std::string> note_routed_;
};

}  // namespace

std::unique_ptr<SinkHarness> make_redis_harness() { return std::make_unique<RedisHarness>(); }

}  // namespace relay::test
