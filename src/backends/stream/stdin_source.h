// stdin source: JSON lines from standard input into an inbox. Nothing can be re-read from a pipe,
// so the relay stops (as on SIGTERM) once the input ended and everything read was committed.
#pragma once

#include <string_view>

#include "relay/message.h"

namespace relay::stream {

// One input line as a message: the whole line is the payload; its identity is the line's
// "dedup_key" or "event_id" field when it has one (text or number), else the SHA-256 of the line.
Message stdin_message(std::string_view line);

}  // namespace relay::stream
