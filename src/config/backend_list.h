// Every sink and source, one line each: RELAY_BACKEND(spec, role, build flag, factory). The spec is
// defined in the backend's folder (src/backends/<name>/*_spec.cpp), the factory there too. The pure
// config library reads only the specs (src/config/specs.cpp); the backends' registry
// (src/backends/registry.cpp) pairs each with its factory when its build flag (RELAY_WITH_<FLAG>,
// ALWAYS for the backends every build has) is on. Order: the docs' and the SQL catalog's.
// Adding a backend: its folder, and its lines here.
#pragma once

#define RELAY_BACKEND_LIST(RELAY_BACKEND)                                          \
  RELAY_BACKEND(kOutboxSourceSpec, source, ALWAYS, postgres::make_outbox_source)   \
  RELAY_BACKEND(kPgstreamSourceSpec, source, ALWAYS, postgres::make_outbox_source) \
  RELAY_BACKEND(kWalSourceSpec, source, ALWAYS, postgres::make_wal_source)         \
  RELAY_BACKEND(kStdoutSinkSpec, sink, ALWAYS, stream::make_stdout_sink)           \
  RELAY_BACKEND(kFileSinkSpec, sink, ALWAYS, stream::make_file_sink)               \
  RELAY_BACKEND(kPgInboxSinkSpec, sink, ALWAYS, postgres::make_inbox_sink)         \
  RELAY_BACKEND(kNatsSinkSpec, sink, NATS, nats::make_sink)                        \
  RELAY_BACKEND(kNatsSourceSpec, source, NATS, nats::make_source)                  \
  RELAY_BACKEND(kKafkaSinkSpec, sink, KAFKA, kafka::make_sink)                     \
  RELAY_BACKEND(kKafkaSourceSpec, source, KAFKA, kafka::make_source)               \
  RELAY_BACKEND(kRedisSinkSpec, sink, REDIS, redis::make_sink)                     \
  RELAY_BACKEND(kRedisSourceSpec, source, REDIS, redis::make_source)               \
  RELAY_BACKEND(kRabbitmqSinkSpec, sink, RABBITMQ, rabbitmq::make_sink)            \
  RELAY_BACKEND(kRabbitmqSourceSpec, source, RABBITMQ, rabbitmq::make_source)      \
  RELAY_BACKEND(kSqsSinkSpec, sink, SQS, sqs::make_sink)                           \
  RELAY_BACKEND(kSqsSourceSpec, source, SQS, sqs::make_source)                     \
  RELAY_BACKEND(kWebhookSinkSpec, sink, WEBHOOK, http::make_webhook_sink)          \
  RELAY_BACKEND(kHttpSourceSpec, source, ALWAYS, http::make_receiver_source)       \
  RELAY_BACKEND(kStdinSourceSpec, source, ALWAYS, stream::make_stdin_source)
