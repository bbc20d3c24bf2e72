// The contract every reverse source must keep, run over each backend against its real server
// (tests/contract/source_contract_test.cpp): every message lands in the inbox once, under the
// broker's identity; a message delivered twice gives one row; kill -9 of the relay between the
// inbox commit and the broker ack loses nothing and duplicates nothing; a poison message is kept
// visibly and the pipeline goes on. A backend takes part by providing a SourceHarness in
// tests/integration/<backend>/source_harness.cpp that publishes with an independent client.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace relay::test {

// One message to publish: its broker-level identity (Nats-Msg-Id, Kafka header dedup_key, Redis
// field event_id, AMQP message-id, HTTP Idempotency-Key...) and its body, sent as is (usually JSON).
struct Outgoing {
  std::string id;
  std::string body;
};

class SourceHarness {
 public:
  virtual ~SourceHarness() = default;
  // The source options of set_relay_inbox's flat config (source_type included, the inbox not)
  // that read from a place of their own named after `unique` (a stream, topic, queue, path...).
  // `ack_timeout_ms` bounds how long the broker waits before redelivering an unacknowledged
  // message (ack_wait, visibility timeout, idle time before reclaiming...), where it has one.
  virtual nlohmann::json source_config(const std::string& unique, int ack_timeout_ms) = 0;
  // Creates what must exist before publishing (stream, topic, queue); the relay creates its own
  // consumer side. Called before the relay starts.
  virtual void prepare(const std::string& unique) { (void)unique; }
  // Publishes `messages` in order with an independent client and returns once the broker holds
  // them all. May be called while the relay runs (an HTTP receiver needs it to: the relay is the
  // server there; such a harness retries a request until it gets 2xx, within `timeout`).
  virtual void publish(const std::string& unique, const std::vector<Outgoing>& messages,
                       std::chrono::milliseconds timeout) = 0;
  // Whether the broker itself drops a second message with the same identity (JetStream's
  // duplicate window, SQS FIFO): the inbox then sees the duplicate only through redelivery.
  virtual bool broker_deduplicates() { return false; }
  // Whether a body that is not JSON is refused when published (the HTTP receiver answers 400), so
  // the sender keeps it, rather than stored in the inbox with its error noted.
  virtual bool refuses_invalid_json() { return false; }
  // The largest body the broker carries; the contract's oversized poison message is below it and
  // above the inbox's max_payload_bytes.
  virtual size_t max_body_bytes() { return 256 * 1024; }
};

// The harness of a backend by source type; null when the backend is not compiled in.
std::unique_ptr<SourceHarness> make_source_harness(const std::string& source_type);

}  // namespace relay::test
