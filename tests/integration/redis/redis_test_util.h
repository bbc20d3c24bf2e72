// Shared by the Redis contract harness and the Redis integration tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "../../contract/sink_contract.h"
#include "backends/redis/redis_encode.h"

namespace relay::test {

// The test server named by PGTRICKLE_TEST_REDIS_URL (scripts/servers/redis.sh).
const redis::Url& redis_server();
std::string redis_url();

// Runs one command on the test server for setting a test up; returns the reply as text ("" for nil)
// or "ERROR: ..." for an error reply.
std::string redis_command(const std::vector<std::string>& argv);

// Every entry of `stream`, read with ioredis, waiting until there are `at_least` or `timeout` passed.
std::vector<Delivered> read_stream(const std::string& stream, size_t at_least, std::chrono::milliseconds timeout);
// The same entries with all their fields, as printed by tests/node/redis.js.
std::vector<nlohmann::json> read_stream_entries(const std::string& stream, size_t at_least, std::chrono::milliseconds timeout);

}  // namespace relay::test
