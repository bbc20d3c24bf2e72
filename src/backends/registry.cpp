#include "backends/registry.h"

#include "config/specs.h"

namespace relay {
namespace {

// The factory when the backend is compiled in (RELAY_WITH_<NAME>), else null.
#define RELAY_IF(name, factory) RELAY_IF_(RELAY_WITH_##name, factory)
#define RELAY_IF_(on, factory) RELAY_IF__(on, factory)
#define RELAY_IF__(on, factory) RELAY_IF_##on(factory)
#define RELAY_IF_1(factory) factory
#define RELAY_IF_0(factory) nullptr

const BackendEntry kBackends[] = {
    // Always built: they need only PostgreSQL, libcurl and the C library.
    {&kOutboxSourceSpec, postgres::make_outbox_source, nullptr},
    {&kStdoutSinkSpec, nullptr, stream::make_stdout_sink},
    {&kFileSinkSpec, nullptr, stream::make_file_sink},
    {&kPgInboxSinkSpec, nullptr, postgres::make_inbox_sink},
    // Broker backends: the factory is present when the backend is compiled in.
    {&kNatsSinkSpec, nullptr, RELAY_IF(NATS, nats::make_sink)},
    {&kNatsSourceSpec, RELAY_IF(NATS, nats::make_source), nullptr},
    {&kKafkaSinkSpec, nullptr, RELAY_IF(KAFKA, kafka::make_sink)},
    {&kKafkaSourceSpec, RELAY_IF(KAFKA, kafka::make_source), nullptr},
    {&kRedisSinkSpec, nullptr, RELAY_IF(REDIS, redis::make_sink)},
    {&kRedisSourceSpec, RELAY_IF(REDIS, redis::make_source), nullptr},
    {&kRabbitmqSinkSpec, nullptr, RELAY_IF(RABBITMQ, rabbitmq::make_sink)},
    {&kRabbitmqSourceSpec, RELAY_IF(RABBITMQ, rabbitmq::make_source), nullptr},
    {&kSqsSinkSpec, nullptr, RELAY_IF(SQS, sqs::make_sink)},
    {&kSqsSourceSpec, RELAY_IF(SQS, sqs::make_source), nullptr},
    {&kWebhookSinkSpec, nullptr, RELAY_IF(WEBHOOK, http::make_webhook_sink)},
    {&kHttpSourceSpec, http::make_receiver_source, nullptr},
    {&kStdinSourceSpec, stream::make_stdin_source, nullptr},
};

}  // namespace

std::span<const BackendEntry> compiled_backends() { return kBackends; }

}  // namespace relay
