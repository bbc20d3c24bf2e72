// stdin source: JSON lines from standard input into an inbox. Nothing can be re-read from a pipe,
// so the relay stops (as on SIGTERM) once the input ended and everything read was committed.
#pragma once

#include <string_view>

#include "config/pipeline_config.h"
#include "core/build_context.h"
#include "relay/source.h"

namespace relay {

Result<std::unique_ptr<Source>> make_stdin_source(const PipelineConfig& config, const BuildContext& ctx);

// One input line as a message: the whole line is the payload; its identity is the line's
// "dedup_key" or "event_id" field when it has one (text or number), else the SHA-256 of the line.
Message stdin_message(std::string_view line);

}  // namespace relay
