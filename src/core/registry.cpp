#include "core/registry.h"

#include "config/specs.h"
#include "core/backend_factories.h"
#include "util/strings.h"

namespace relay {
namespace {

// The factory when the backend is compiled in (RELAY_WITH_<NAME>), else null.
#define RELAY_IF(name, factory) RELAY_IF_(RELAY_WITH_##name, factory)
#define RELAY_IF_(on, factory) RELAY_IF__(on, factory)
#define RELAY_IF__(on, factory) RELAY_IF_##on(factory)
#define RELAY_IF_1(factory) factory
#define RELAY_IF_0(factory) nullptr

const BackendEntry kBackends[] = {
    {&kOutboxSourceSpec, make_outbox_source, nullptr},
    {&kStdoutSinkSpec, nullptr, make_stdout_sink},
    {&kFileSinkSpec, nullptr, make_file_sink},
    {&kPgInboxSinkSpec, nullptr, make_pg_inbox_sink},
    // Broker backends: the spec is always known (so configs validate everywhere); the factory is
    // present when the backend is compiled in.
    {&kNatsSinkSpec, nullptr, RELAY_IF(NATS, make_nats_sink)},
    {&kNatsSourceSpec, RELAY_IF(NATS, make_nats_source), nullptr},
    {&kKafkaSinkSpec, nullptr, RELAY_IF(KAFKA, make_kafka_sink)},
    {&kKafkaSourceSpec, RELAY_IF(KAFKA, make_kafka_source), nullptr},
    {&kRedisSinkSpec, nullptr, RELAY_IF(REDIS, make_redis_sink)},
    {&kRedisSourceSpec, RELAY_IF(REDIS, make_redis_source), nullptr},
    {&kRabbitmqSinkSpec, nullptr, RELAY_IF(RABBITMQ, make_rabbitmq_sink)},
    {&kRabbitmqSourceSpec, RELAY_IF(RABBITMQ, make_rabbitmq_source), nullptr},
    {&kSqsSinkSpec, nullptr, RELAY_IF(SQS, make_sqs_sink)},
    {&kSqsSourceSpec, RELAY_IF(SQS, make_sqs_source), nullptr},
    {&kWebhookSinkSpec, nullptr, RELAY_IF(WEBHOOK, make_webhook_sink)},
    {&kHttpSourceSpec, make_http_source, nullptr},
    {&kStdinSourceSpec, make_stdin_source, nullptr},
};

}  // namespace

std::span<const BackendEntry> backends() { return kBackends; }

const BackendEntry* find_backend(Role role, std::string_view type) {
  for (const auto& b : kBackends) {
    if (b.spec->role != role) continue;
    if (b.spec->name == type || util::list_contains(b.spec->type_aliases, type)) return &b;
  }
  return nullptr;
}

}  // namespace relay
