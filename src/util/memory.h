// The allocator's free memory given back to the system. glibc's malloc keeps what a burst freed
// (a thousand pipelines each delivering its first rows) for reuse, most of it in the middle of its
// heap where its automatic trim never reaches; an idle relay would stay at its peak.
#pragma once

#include <string>

namespace relay::util {

// Gives back the free pages of every malloc arena (glibc's malloc_trim, or jemalloc's purge where the
// relay is linked with it); nothing elsewhere.
void release_free_memory();

// jemalloc's version when the relay runs on it ("" on the system's malloc).
std::string jemalloc_version();

}  // namespace relay::util
