#include "util/thread_name.h"

#include <pthread.h>

#include <cstring>
#include <string>

namespace relay::util {

void name_this_thread(const char* name) {
  std::string cut(name, std::min<std::size_t>(std::strlen(name), 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace relay::util
