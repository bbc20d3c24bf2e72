// An eventfd, to wake a thread blocked in poll(2) beside other fds (a socket, the pipeline's wake fd).
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "relay/message.h"

namespace relay {

class EventFd {
 public:
  EventFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~EventFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void signal() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
  void drain() {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
  }
  // Blocks until this is signalled (then drained), `other_fd` is readable, or the deadline passes.
  // Returns true when `other_fd` (e.g. the pipeline's wake fd) is what ended the wait.
  bool wait(Deadline deadline, int other_fd) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fds[2] = {{fd_, POLLIN, 0}, {other_fd, POLLIN, 0}};
    ::poll(fds, other_fd >= 0 ? 2 : 1, static_cast<int>(std::clamp<long long>(ms, 0, 60000)));
    if (fds[0].revents & POLLIN) drain();
    return other_fd >= 0 && fds[1].revents;
  }

 private:
  int fd_;
};

}  // namespace relay
