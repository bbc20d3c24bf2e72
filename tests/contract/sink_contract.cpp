#include "sink_contract.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "../integration/fixture.h"

namespace relay::test {

std::unique_ptr<SinkHarness> make_nats_harness();
std::unique_ptr<SinkHarness> make_kafka_harness();
std::unique_ptr<SinkHarness> make_redis_harness();
std::unique_ptr<SinkHarness> make_rabbitmq_harness();
std::unique_ptr<SinkHarness> make_sqs_harness();
std::unique_ptr<SinkHarness> make_webhook_harness();

std::unique_ptr<SinkHarness> make_harness(const std::string& sink_type) {
#if RELAY_WITH_NATS
  if (sink_type == "nats") return make_nats_harness();
#endif
#if RELAY_WITH_KAFKA
  if (sink_type == "kafka") return make_kafka_harness();
#endif
#if RELAY_WITH_REDIS
  if (sink_type == "redis") return make_redis_harness();
#endif
#if RELAY_WITH_RABBITMQ
  if (sink_type == "rabbitmq") return make_rabbitmq_harness();
#endif
#if RELAY_WITH_SQS
  if (sink_type == "sqs") return make_sqs_harness();
#endif
#if RELAY_WITH_WEBHOOK
  if (sink_type == "webhook") return make_webhook_harness();
#endif
  return nullptr;
}

std::string run_node(const std::string& script, const std::vector<std::string>& args) {
  std::string cmd = "node " + shell_quote(std::string(RELAY_SOURCE_DIR) + "/tests/node/" + script);
  for (const auto& a : args) {
    std::string q = "'";
    for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += " " + q + "'";
  }
  std::string out;
  // stderr is kept apart so warnings of the clients do not mix with the JSON lines.
  std::string err_path = work_dir() + "/node-stderr.txt";
  int rc = run_command(cmd + " 2>" + err_path, out);
  if (rc != 0) ADD_FAILURE() << cmd << " exited " << rc << ": " << out << read_file(err_path);
  return out;
}

std::vector<nlohmann::json> parse_json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::vector<Delivered> parse_delivered(const std::string& json_lines) {
  std::vector<Delivered> out;
  for (const auto& j : parse_json_lines(json_lines)) {
    Delivered d;
    d.dedup_id = j.value("id", "");
    auto body = j.value("body", "");
    d.body = nlohmann::json::parse(body, nullptr, false);
    out.push_back(std::move(d));
  }
  return out;
}

std::string test_server_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    ADD_FAILURE() << name << " is not set: run the tests with scripts/test.sh, which starts the servers";
    return "";
  }
  return v;
}

}  // namespace relay::test
