#include "rabbitmq_test_util.h"

#include <gtest/gtest.h>

namespace relay::test {

std::string rabbitmq_url() { return test_server_env("PGTRICKLE_TEST_RABBITMQ_URL"); }

const rabbitmq::Url& rabbitmq_server() {
  static rabbitmq::Url url = [] {
    auto u = rabbitmq::parse_url(rabbitmq_url());
    if (!u) {
      ADD_FAILURE() << u.error().message;
      return rabbitmq::Url{};
    }
    return *u;
  }();
  return url;
}

void rabbitmq_setup_queue(const std::string& queue, const std::string& exchange, const std::string& binding_key, int max_length) {
  std::vector<std::string> args{"setup", rabbitmq_url(), queue, exchange, binding_key};
  if (max_length > 0) args.push_back(std::to_string(max_length));
  run_node("rabbitmq.js", args);
}

namespace {
std::string read_raw(const std::string& queue, size_t at_least, std::chrono::milliseconds timeout) {
  return run_node("rabbitmq.js", {"read", rabbitmq_url(), queue, std::to_string(at_least), std::to_string(timeout.count())});
}
}  // namespace

std::vector<nlohmann::json> rabbitmq_read_messages(const std::string& queue, size_t at_least, std::chrono::milliseconds timeout) {
  return parse_json_lines(read_raw(queue, at_least, timeout));
}

std::vector<Delivered> rabbitmq_read(const std::string& queue, size_t at_least, std::chrono::milliseconds timeout) {
  return parse_delivered(read_raw(queue, at_least, timeout));
}

std::vector<Delivered> rabbitmq_take(const std::string& queue) {
  return parse_delivered(run_node("rabbitmq.js", {"take", rabbitmq_url(), queue}));
}

}  // namespace relay::test
