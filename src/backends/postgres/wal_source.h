// The WAL source: reads committed transactions from a logical slot of the pipeline's own
// (WalReader), for one table captured by enable_outbox(t, capture => 'wal') (or a pgstream stream
// read from the WAL), or for every table a pipeline of source type "wal" names (WalTables: which
// are read, and how each table's rows become messages). What it shares with the outbox source is
// ChangeSource's.
#pragma once

#include <memory>

#include "backends/postgres/outbox_target.h"
#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "relay/source.h"

namespace relay::postgres {

// A pipeline of source type "wal".
Result<std::unique_ptr<Source>> make_wal_source(const PipelineConfig& config, const BuildContext& ctx);
// A pipeline reading one table captured from the WAL, resolved as `target` (target.wal is set).
std::unique_ptr<Source> make_wal_capture_source(const PipelineConfig& config, const BuildContext& ctx, OutboxTarget target);

}  // namespace relay::postgres
