// Names the calling thread as `top -H`, `ps -L` and /proc/<pid>/task/*/comm show it (at most 15
// bytes), so that each of the relay's threads can be told apart and its CPU read on its own.
#pragma once

namespace relay::util {

void name_this_thread(const char* name);

}  // namespace relay::util
