// The contract every broker sink must keep, run over each backend against its real server
// (tests/contract/sink_contract_test.cpp). A backend takes part by providing a SinkHarness in
// tests/integration/<backend>/harness.cpp that configures the relay for its server and reads
// back what arrived with an independent client (the npm clients under tests/node/).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace relay::test {

struct Delivered {
  std::string dedup_id;  // the broker-level identity: Nats-Msg-Id, Kafka header, Redis field, message-id, ...
  nlohmann::json body;   // the message body, parsed (the relay's JSON envelope)
};

class SinkHarness {
 public:
  virtual ~SinkHarness() = default;
  // The sink options of set_relay_outbox's flat config (sink_type included, stream_table not) that
  // deliver to a destination of their own named after `unique` through the server at `address`
  // (host:port; a proxy in front of server() when uses_proxy()).
  virtual nlohmann::json sink_config(const std::string& unique, const std::string& address) = 0;
  // host and port of the real server.
  virtual std::pair<std::string, int> server() = 0;
  // Everything at the destination, in the broker's order, read with an independent client. Waits
  // until at least `at_least` messages are there or the timeout passes (then returns what there is).
  virtual std::vector<Delivered> read(const std::string& unique, size_t at_least, std::chrono::milliseconds timeout) = 0;
  // A value of the `note` column that makes the target refuse that message permanently (too large,
  // a 4xx...). May prepare the destination named `unique` for it.
  virtual std::string rejected_note(const std::string& unique) = 0;
  // Whether the relay reaches the server through a TCP proxy the test can cut. Otherwise the
  // harness cuts a server of the test's own: prepare_cut(), called before server() by a test that
  // will cut, starts it, and set_reachable kills and restarts it (Kafka's clients connect to the
  // address the broker advertises, which a proxy cannot stand in for).
  virtual bool uses_proxy() { return true; }
  virtual void prepare_cut() {}
  virtual void set_reachable(bool) {}
};

// The harness of a backend by sink type; null when the backend is not compiled in.
std::unique_ptr<SinkHarness> make_harness(const std::string& sink_type);

// Runs one of the Node.js scripts of tests/node/ (independent broker clients) and returns its
// stdout; the test fails with the script's output when it exits non-zero.
std::string run_node(const std::string& script, const std::vector<std::string>& args);
// The JSON objects of the lines a tests/node/ script printed (other lines are skipped).
std::vector<nlohmann::json> parse_json_lines(const std::string& text);
// Parses JSON lines of {"id": ..., "body": "..."} as printed by the tests/node/ readers.
std::vector<Delivered> parse_delivered(const std::string& json_lines);

// The environment variable naming a test server (set by scripts/test.sh); fails the test if unset.
std::string test_server_env(const char* name);

}  // namespace relay::test
