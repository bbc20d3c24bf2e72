// Shared by the RabbitMQ contract harness and the RabbitMQ integration tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "../../contract/sink_contract.h"
#include "backends/rabbitmq/rabbitmq_encode.h"

namespace relay::test {

// The test server named by PGTRICKLE_TEST_RABBITMQ_URL (scripts/servers/rabbitmq.sh).
std::string rabbitmq_url();
const rabbitmq::Url& rabbitmq_server();

// Declares the durable queue `queue` and binds it to `exchange` with `binding_key` (amqplib).
// max_length > 0 makes it refuse publishes once full (x-overflow reject-publish).
void rabbitmq_setup_queue(const std::string& queue, const std::string& exchange, const std::string& binding_key,
                          int max_length = 0);

// Every message in `queue`, in queue order, left in place; waits for `at_least` or the timeout.
std::vector<nlohmann::json> rabbitmq_read_messages(const std::string& queue, size_t at_least, std::chrono::milliseconds timeout);
// Removes and returns every message now in `queue` (get + ack).
std::vector<Delivered> rabbitmq_take(const std::string& queue);
std::vector<Delivered> rabbitmq_read(const std::string& queue, size_t at_least, std::chrono::milliseconds timeout);

}  // namespace relay::test
