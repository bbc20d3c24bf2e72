// Message timestamps as JSON: what the outbox envelope and the file sink's CSV write.
#pragma once

#include <string>

namespace relay::util {

// Appends "2026-04-27T10:15:03.412Z" (quoted: ISO 8601 UTC with milliseconds), or null when the time
// is unknown or beyond year 9999.
void append_json_timestamp(std::string& out, double unix_seconds);

}  // namespace relay::util
