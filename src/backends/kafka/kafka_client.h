// The librdkafka client of the Kafka sink (a producer) and source (a consumer), made one way: the
// properties of kafka_config.h set (a refused one named by its config key, never by the library's
// text, which quotes the value), the owner's callbacks wired, librdkafka's own log lines sent to the
// pipeline's logger at debug level. And the handles' owners, so nothing librdkafka gives is leaked.
#pragma once

#include <librdkafka/rdkafka.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/kafka/kafka_config.h"
#include "log/log.h"
#include "relay/message.h"
#include "relay/result.h"

namespace relay::kafka {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_topic_t* t) const noexcept { rd_kafka_topic_destroy(t); }
  void operator()(rd_kafka_headers_t* h) const noexcept { rd_kafka_headers_destroy(h); }
  void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
  void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
  void operator()(rd_kafka_event_t* e) const noexcept { rd_kafka_event_destroy(e); }
  void operator()(const rd_kafka_metadata_t* m) const noexcept { rd_kafka_metadata_destroy(m); }
};
using ClientPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, KafkaDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, KafkaDeleter>;

// Whose client it is: `opaque` is what its callbacks get (rd_kafka_opaque), `wire` sets them (the
// error and log callbacks, delivery reports, rebalances).
struct ClientOwner {
  std::string_view role;  // "kafka sink", "kafka source": the start of its errors
  void* opaque = nullptr;
  std::function<void(rd_kafka_conf_t*)> wire;
};

// A producer or consumer with `props`; a fatal error naming the property librdkafka refused, or
// why it made no client (an invalid combination, such as enable.idempotence with acks=1).
Result<ClientPtr> make_client(rd_kafka_type_t type, const std::vector<Property>& props, const ClientOwner& owner);

// The log callback of a client whose opaque is an `Owner` with a `log()`: librdkafka's own lines
// (from its threads) at debug level; the errors that matter also come through the error callback.
template <class Owner>
void log_to_owner(const rd_kafka_t* rk, int level, const char* facility, const char* line) noexcept {
  auto* owner = static_cast<const Owner*>(rd_kafka_opaque(rk));
  if (!owner || !owner->log().enabled(log::Level::debug)) return;
  owner->log().debug("librdkafka.", {{"level", std::to_string(level)}, {"facility", facility}, {"message", line}});
}

// Milliseconds from now until `d`, as librdkafka's and poll(2)'s int timeouts take them: 0 once it
// has passed, at most an hour.
int ms_until(Deadline d);

}  // namespace relay::kafka
