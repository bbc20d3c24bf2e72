// PostgreSQL inbox sink (local or remote): one transaction per batch, duplicates skipped by event_id.
#pragma once

#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "relay/sink.h"

namespace relay {

Result<std::unique_ptr<Sink>> make_pg_inbox_sink(const PipelineConfig& config, const BuildContext& ctx);

// The batch as the JSON array that the insert statement reads with jsonb_to_recordset.
void encode_inbox_rows(std::span<const Message> batch, std::string& out);

}  // namespace relay
