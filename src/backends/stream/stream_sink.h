// stdout and file sinks: JSON lines, pretty JSON or CSV; the file sink fsyncs before acknowledging
// and rotates by size.
#pragma once

#include <string>
#include <string_view>

#include "relay/message.h"

namespace relay::stream {

// Pure encoding of one message as a line of the given format ("jsonl", "json", "csv"), newline included.
void encode_line(const Message& m, std::string_view format, std::string& out);
std::string_view csv_header();

}  // namespace relay::stream
