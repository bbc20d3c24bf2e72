// A stop the relay asks for itself (a stdin pipeline's input ended), delivered as SIGTERM so that it
// drains like any stop, but logged with its reason rather than as a signal nobody sent.
#pragma once

namespace relay {

void request_relay_stop(const char* reason);
// The reason given to request_relay_stop, or nullptr when the stop (if any) came from outside.
const char* relay_stop_reason();

}  // namespace relay
