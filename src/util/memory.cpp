#include "util/memory.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// jemalloc's control interface, present when the relay is linked with jemalloc (CMakeLists.txt).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen) __attribute__((weak));

// jemalloc's defaults for this program (MALLOC_CONF still overrides them): one arena for all
// threads, and no cache per thread. An arena per CPU keeps, in each, what the threads that
// allocated there freed (a Kafka drain peaked at 43 MB with them, 34 MB with one); a cache per
// thread keeps freed blocks in each of the relay's threads (300 pipelines: 37 MB with them, 25.5 MB
// without, at the same CPU).
extern "C" {
const char* malloc_conf __attribute__((used)) = "narenas:1,tcache:false";
}

namespace relay::util {

void release_free_memory() {
  if (mallctl) {
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: MALLCTL_ARENAS_ALL, every arena
    return;
  }
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

std::string jemalloc_version() {
  const char* version = nullptr;
  size_t size = sizeof version;
  if (!mallctl || mallctl("version", &version, &size, nullptr, 0) != 0 || !version) return {};
  std::string v(version);
  return v.substr(0, v.find('-'));  // "5.3.0-0-g54eaed1d8b56..." -> "5.3.0"
}

}  // namespace relay::util
