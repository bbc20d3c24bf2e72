// A named point where the relay kills itself (kill -9) when PGTRICKLE_RELAY_CRASH_AT names it: how
// the fault tests stop it at an exact place (e.g. after the target committed, before the ack).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace relay {

inline void crash_point(const char* name) {
  static const char* wanted = std::getenv("PGTRICKLE_RELAY_CRASH_AT");
  if (wanted && std::strcmp(wanted, name) == 0) ::kill(::getpid(), SIGKILL);
}

}  // namespace relay
