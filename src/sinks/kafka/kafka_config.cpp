#include "sinks/kafka/kafka_config.h"

namespace relay::kafka {

std::vector<Property> producer_properties(const nlohmann::json& sink, const std::string& client_id) {
  std::vector<Property> p;
  std::string brokers;
  const auto& b = sink.at("brokers");
  if (b.is_array()) {
    for (const auto& x : b) {
      if (!brokers.empty()) brokers += ',';
      brokers += x.get<std::string>();
    }
  } else {
    brokers = b.get<std::string>();
  }
  std::string acks = sink.value("acks", "all");
  bool idempotent = acks == "all";
  p.push_back({"bootstrap.servers", brokers, "brokers"});
  p.push_back({"client.id", client_id, "rdkafka.client.id"});
  p.push_back({"acks", acks, "acks"});
  // Idempotence needs acks=all; it keeps order with up to 5 requests in flight and makes the
  // library's own retries duplicate-free. Without it, one request in flight keeps the order.
  p.push_back({"enable.idempotence", idempotent ? "true" : "false", "acks"});
  p.push_back({"max.in.flight.requests.per.connection", idempotent ? "5" : "1", "acks"});
  p.push_back({"compression.codec", sink.value("compression", "none"), "compression"});
  // Java-compatible key hashing; records without a key all go to one partition, so a pipeline
  // without keys keeps its order.
  p.push_back({"partitioner", "murmur2", "rdkafka.partitioner"});
  // A record not acknowledged within 5 s fails and the relay retries it (shows as "retrying" in
  // /health instead of waiting silently for librdkafka's default 5 minutes).
  p.push_back({"message.timeout.ms", "5000", "rdkafka.message.timeout.ms"});
  // Come back quickly after an outage (librdkafka's default backs off up to 10 s).
  p.push_back({"reconnect.backoff.max.ms", "1000", "rdkafka.reconnect.backoff.max.ms"});
  if (sink.contains("rdkafka") && sink["rdkafka"].is_object()) {
    for (auto it = sink["rdkafka"].begin(); it != sink["rdkafka"].end(); ++it) {
      const auto& v = it.value();
      std::string text = v.is_string() ? v.get<std::string>() : v.dump();
      p.push_back({it.key(), std::move(text), "rdkafka." + it.key()});
    }
  }
  return p;
}

}  // namespace relay::kafka
