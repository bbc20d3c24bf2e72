// Every backend the relay can run: one line per sink or source in registry.cpp, its factory defined
// in the backend's own folder (src/backends/<name>/). Adding a backend: one folder, one line there.
#pragma once

#include <memory>
#include <span>

#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "core/registry.h"

namespace relay {

// The compiled-in backends (RELAY_WITH_<NAME>); the app hands them to the core (RelayContext).
std::span<const BackendEntry> compiled_backends();

namespace postgres {
Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_wal_source(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_inbox_sink(const PipelineConfig&, const BuildContext&);
}  // namespace postgres
namespace stream {
Result<std::unique_ptr<Sink>> make_stdout_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Sink>> make_file_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_stdin_source(const PipelineConfig&, const BuildContext&);
}  // namespace stream
namespace http {
Result<std::unique_ptr<Sink>> make_webhook_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_receiver_source(const PipelineConfig&, const BuildContext&);
}  // namespace http
namespace nats {
Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_source(const PipelineConfig&, const BuildContext&);
}  // namespace nats
namespace kafka {
Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_source(const PipelineConfig&, const BuildContext&);
}  // namespace kafka
namespace redis {
Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_source(const PipelineConfig&, const BuildContext&);
}  // namespace redis
namespace rabbitmq {
Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_source(const PipelineConfig&, const BuildContext&);
}  // namespace rabbitmq
namespace sqs {
Result<std::unique_ptr<Sink>> make_sink(const PipelineConfig&, const BuildContext&);
Result<std::unique_ptr<Source>> make_source(const PipelineConfig&, const BuildContext&);
}  // namespace sqs

}  // namespace relay
