// The factory of every backend, each defined in its own folder (src/backends/<name>/). registry.cpp
// lists those compiled into this build (RELAY_WITH_<NAME>).
#pragma once

#include "core/registry.h"

namespace relay {

// Always built: they need only PostgreSQL and the C library.
Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_stdout_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_file_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_pg_inbox_sink(const PipelineConfig&, const BuildContext&);

// Broker sinks (forward).
Result<std::unique_ptr<Sink>> make_nats_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_kafka_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_redis_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_rabbitmq_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_sqs_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_webhook_sink(const PipelineConfig&, const BuildContext&);

// Broker sources (reverse).
Result<std::unique_ptr<Source>> make_nats_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_kafka_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_redis_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_rabbitmq_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_sqs_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_http_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_stdin_source(const PipelineConfig&, const BuildContext&);

}  // namespace relay
