// Named points where the fault tests stop the relay at an exact place (e.g. after the target
// committed, before the ack): PGTRICKLE_RELAY_CRASH_AT=name kills it there (kill -9), the first
// time it gets there, or the Nth time with name:N; PGTRICKLE_RELAY_PAUSE_AT=name[:N] stops it there
// once instead (SIGSTOP: a stalled process, until someone sends SIGCONT).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace relay {

namespace detail {

// Whether this visit of point `name` is the one `wanted` ("name" or "name:N") asks for.
inline bool is_visit(const char* wanted, const char* name, std::atomic<int>& visits) {
  if (!wanted) return false;
  const size_t n = std::strlen(name);
  if (std::strncmp(wanted, name, n) != 0 || (wanted[n] != '\0' && wanted[n] != ':')) return false;
  const int nth = wanted[n] == ':' ? std::atoi(wanted + n + 1) : 1;
  return ++visits == nth;
}

}  // namespace detail

inline void crash_point(const char* name) {
  static const char* crash_at = std::getenv("PGTRICKLE_RELAY_CRASH_AT");
  static const char* pause_at = std::getenv("PGTRICKLE_RELAY_PAUSE_AT");
  static std::atomic<int> crash_visits{0}, pause_visits{0};
  if (detail::is_visit(crash_at, name, crash_visits)) ::kill(::getpid(), SIGKILL);
  if (detail::is_visit(pause_at, name, pause_visits)) ::kill(::getpid(), SIGSTOP);
}

}  // namespace relay
