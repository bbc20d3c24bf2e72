// stdout and file sinks: JSON lines, pretty JSON or CSV; the file sink fsyncs before acknowledging
// and rotates by size.
#pragma once

#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "relay/sink.h"

namespace relay {

Result<std::unique_ptr<Sink>> make_stdout_sink(const PipelineConfig& config, const BuildContext& ctx);
Result<std::unique_ptr<Sink>> make_file_sink(const PipelineConfig& config, const BuildContext& ctx);

// Pure encoding of one message as a line of the given format ("jsonl", "json", "csv"), newline included.
void encode_line(const Message& m, std::string_view format, std::string& out);
std::string_view csv_header();

}  // namespace relay
