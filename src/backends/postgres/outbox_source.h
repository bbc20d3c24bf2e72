// The outbox source: reads an outbox table in commit order, never skipping a row, streams
// claim-check deltas in chunks, and stores its position only after the sink accepted a batch.
#pragma once

#include "core/build_context.h"
#include "config/pipeline_config.h"
#include "relay/source.h"

namespace relay {

Result<std::unique_ptr<Source>> make_outbox_source(const PipelineConfig& config, const BuildContext& ctx);

}  // namespace relay
