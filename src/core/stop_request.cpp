#include "core/stop_request.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace relay {

namespace {
std::atomic<const char*> g_reason{nullptr};
}

void request_relay_stop(const char* reason) {
  g_reason = reason;
  ::kill(::getpid(), SIGTERM);
}

const char* relay_stop_reason() { return g_reason.load(); }

}  // namespace relay
