#include "backends/kafka/kafka_config.h"

#include <fmt/format.h>

#include "config/specs.h"
#include "util/strings.h"

namespace relay::kafka {
namespace {

// "host:port,..." from a string or a list of strings.
std::string broker_list(const nlohmann::json& b) {
  if (!b.is_array()) return b.get<std::string>();
  std::string brokers;
  for (const auto& x : b) {
    if (!brokers.empty()) brokers += ',';
    brokers += x.get<std::string>();
  }
  return brokers;
}

void add_pass_through(const ConfigSection& config, std::vector<Property>& p) {
  const auto& rdkafka = config.value("rdkafka");
  if (!rdkafka.is_object()) return;
  for (auto it = rdkafka.begin(); it != rdkafka.end(); ++it) {
    const auto& v = it.value();
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    p.push_back({it.key(), std::move(text), "rdkafka." + it.key()});
  }
}

// Properties of the consumer the relay decides alone: offsets move only after the inbox commit.
constexpr const char* kFixedConsumerProperties[] = {"enable.auto.commit", "enable.auto.offset.store"};

}  // namespace

std::vector<Property> producer_properties(const ConfigSection& sink, const std::string& client_id) {
  std::vector<Property> p;
  std::string acks = sink.text("acks");
  bool idempotent = acks == "all";
  p.push_back({"bootstrap.servers", broker_list(sink.value("brokers")), "brokers"});
  p.push_back({"client.id", client_id, "rdkafka.client.id"});
  p.push_back({"acks", acks, "acks"});
  // Idempotence needs acks=all; it keeps order with up to 5 requests in flight and makes the
  // library's own retries duplicate-free. Without it, one request in flight keeps the order.
  p.push_back({"enable.idempotence", idempotent ? "true" : "false", "acks"});
  p.push_back({"max.in.flight.requests.per.connection", idempotent ? "5" : "1", "acks"});
  p.push_back({"compression.codec", sink.text("compression"), "compression"});
  // Java-compatible key hashing; records without a key all go to one partition, so a pipeline
  // without keys keeps its order.
  p.push_back({"partitioner", "murmur2", "rdkafka.partitioner"});
  // A record not acknowledged within 5 s fails and the relay retries it (shows as "retrying" in
  // /health instead of waiting silently for librdkafka's default 5 minutes).
  p.push_back({"message.timeout.ms", "5000", "rdkafka.message.timeout.ms"});
  // A topic the cluster says it does not have is reported missing after 3 s (librdkafka's default
  // waits 30 s for a topic just created to reach every broker): its messages fail, and /health
  // names the topic, within seconds; they are sent again until it exists.
  p.push_back({"topic.metadata.propagation.max.ms", "3000", "rdkafka.topic.metadata.propagation.max.ms"});
  // Come back quickly after an outage (librdkafka's default backs off up to 10 s).
  p.push_back({"reconnect.backoff.max.ms", "1000", "rdkafka.reconnect.backoff.max.ms"});
  // Each batch is flushed at once: its requests (one per partition) leave without waiting for ACKs.
  p.push_back({"socket.nagle.disable", "true", "rdkafka.socket.nagle.disable"});
  add_pass_through(sink, p);
  return p;
}

std::vector<Property> consumer_properties(const ConfigSection& source, const std::string& client_id,
                                          const std::string& instance_id) {
  std::vector<Property> p;
  p.push_back({"bootstrap.servers", broker_list(source.value("brokers")), "brokers"});
  p.push_back({"client.id", client_id, "rdkafka.client.id"});
  p.push_back({"group.id", source.text("group_id"), "group_id"});
  // Static membership: one relay at a time owns the pipeline, and whichever does (this one
  // restarted, or another taking over from one killed) joins as the same member, so the group
  // hands it the partitions at once instead of after the dead member's session.timeout.ms.
  p.push_back({"group.instance.id", instance_id, "rdkafka.group.instance.id"});
  p.push_back({"auto.offset.reset", source.text("auto_offset_reset"), "auto_offset_reset"});
  // Prefetch: librdkafka's defaults (queued.min.messages = 100000, queued.max.messages.kbytes =
  // 65536, for the whole consumer queue). With librdkafka 2.0 a queue above either limit is refilled
  // only at the fetcher's next 1 s tick, so these limits cap the rate per second: 10,000 measured
  // 11,000 records/s into the inbox, the default 75,000.
  p.push_back({"reconnect.backoff.max.ms", "1000", "rdkafka.reconnect.backoff.max.ms"});
  add_pass_through(source, p);
  for (const char* name : kFixedConsumerProperties) p.push_back({name, "false", std::string("rdkafka.") + name});
  return p;
}

std::string consumer_property_problem(const ConfigSection& source) {
  const auto& rdkafka = source.value("rdkafka");
  if (!rdkafka.is_object()) return {};
  for (const char* name : kFixedConsumerProperties) {
    if (rdkafka.contains(name))
      return std::string("key \"rdkafka.") + name +
             "\": the relay commits offsets itself, only after the inbox commit (never automatically); remove this key";
  }
  return {};
}

std::string named_property_problem(const std::vector<Property>& props) {
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"group.id", "a consumer group"}, {"group.instance.id", "a member of a consumer group"},
      {"transactional.id", "a transactional producer"}, {"client.id", "a client of the broker"}};
  for (const auto& p : props)
    for (const auto& [name, names] : kNamed)
      if (p.name == name && util::holds_resolved_value(p.value)) return reference_in_name_problem(p.origin, names);
  return {};
}

std::string refused_property(const Property& p, std::string_view library_error) {
  if (util::holds_resolved_value(p.value))
    return fmt::format("key \"{}\" (from {}) is refused by librdkafka", p.origin, util::redact_url(p.value));
  return fmt::format("key \"{}\": {}", p.origin, library_error);
}

}  // namespace relay::kafka
