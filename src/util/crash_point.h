// Named points where the fault tests stop the relay at an exact place (e.g. after the target
// committed, before the ack): PGTRICKLE_RELAY_CRASH_AT=name kills it there (kill -9);
// PGTRICKLE_RELAY_PAUSE_AT=name stops it there the first time (SIGSTOP: a stalled process, until
// someone sends SIGCONT).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace relay {

inline void crash_point(const char* name) {
  static const char* crash_at = std::getenv("PGTRICKLE_RELAY_CRASH_AT");
  static const char* pause_at = std::getenv("PGTRICKLE_RELAY_PAUSE_AT");
  static std::atomic<bool> paused{false};
  if (crash_at && std::strcmp(crash_at, name) == 0) ::kill(::getpid(), SIGKILL);
  if (pause_at && std::strcmp(pause_at, name) == 0 && !paused.exchange(true)) ::kill(::getpid(), SIGSTOP);
}

}  // namespace relay
