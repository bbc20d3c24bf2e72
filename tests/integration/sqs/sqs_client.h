// The tests' independent SQS client: tests/node/sqs.js (AWS SDK v3) against the emulator.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "../../contract/sink_contract.h"

namespace relay::test {

struct SqsMessage {
  std::string id, body, group;
  std::map<std::string, std::string> attributes;
};

inline std::string sqs_endpoint() { return test_server_env("PGTRICKLE_TEST_SQS_ENDPOINT"); }

// Creates the queue (attributes as a JSON object) and returns its URL.
inline std::string sqs_create_queue(const std::string& name, const std::string& attributes = "{}") {
  std::string out = run_node("sqs.js", {"create", sqs_endpoint(), name, attributes});
  auto at = out.rfind("http");
  if (at == std::string::npos) return out;
  std::string url = out.substr(at);
  return url.substr(0, url.find_first_of("\r\n"));
}

// Receives (and deletes) what is in the queue: at least `at_least` messages unless the timeout passes.
inline std::vector<SqsMessage> sqs_receive(const std::string& queue_url, size_t at_least, std::chrono::milliseconds timeout) {
  std::string out = run_node("sqs.js", {"read", sqs_endpoint(), queue_url, std::to_string(at_least), std::to_string(timeout.count())});
  std::vector<SqsMessage> msgs;
  for (const auto& j : parse_json_lines(out)) {
    SqsMessage m;
    m.id = j.value("id", "");
    m.body = j.value("body", "");
    if (j.contains("group") && j["group"].is_string()) m.group = j["group"].get<std::string>();
    if (j.contains("attributes"))
      for (auto& [k, v] : j["attributes"].items()) m.attributes[k] = v.get<std::string>();
    msgs.push_back(std::move(m));
  }
  return msgs;
}

}  // namespace relay::test
