// The NATS servers of the tests: the suite's (scripts/test.sh starts it), and a nats-server of a
// test's own that requires a token (scripts/servers/nats.sh with --auth), stopped when the object
// goes away.
#pragma once

#include <string>

#include "../../contract/sink_contract.h"
#include "../fixture.h"

namespace relay::test {

// The suite's nats-server, with JetStream.
inline std::string nats_url() { return test_server_env("PGTRICKLE_TEST_NATS_URL"); }

class TokenNatsServer {
 public:
  // `dir` holds its files; `port` is the test's own.
  TokenNatsServer(const std::string& dir, int port, const std::string& token) : dir_(dir) {
    std::string out;
    started_ = run_command("NATS_SERVER_ARGS='--auth " + token + "' " + script() + " start " + dir + " " + std::to_string(port), out) == 0;
    output_ = out;
    url_ = "nats://127.0.0.1:" + std::to_string(port);
  }
  ~TokenNatsServer() {
    std::string out;
    run_command(script() + " stop " + dir_, out);
  }
  bool started() const { return started_; }
  const std::string& output() const { return output_; }
  const std::string& url() const { return url_; }

 private:
  static std::string script() { return source_script("scripts/servers/nats.sh"); }
  std::string dir_, url_, output_;
  bool started_ = false;
};

}  // namespace relay::test
