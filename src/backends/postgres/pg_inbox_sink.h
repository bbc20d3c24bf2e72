// PostgreSQL inbox sink (local or remote): one transaction per batch, duplicates skipped by
// event_id. The sink of every reverse pipeline, and of outbox pipelines into a remote inbox.
#pragma once

#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "relay/sink.h"

namespace relay {

Result<std::unique_ptr<Sink>> make_pg_inbox_sink(const PipelineConfig& config, const BuildContext& ctx);

}  // namespace relay
