#include "core/executor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "util/thread_name.h"

namespace relay {

namespace {

// Work queued longer than this while every worker is busy starts another worker.
constexpr auto kStalled = std::chrono::milliseconds(10);
// At most this many workers: enough for many sinks blocked in slow sends at once; more would
// mostly wait for the same pooled connections.
constexpr std::size_t kMostWorkers = 128;
// A worker beyond the first ones ends after this long without work.
constexpr auto kIdleWorkerEnds = std::chrono::seconds(10);

}  // namespace

Executor::Executor(std::size_t workers) : core_workers_(std::max<std::size_t>(1, workers)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  waiter_ = std::thread([this] { wait_loop(); });
}

Executor::~Executor() {
  stopping_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  waiter_.join();
  {
    std::unique_lock lock(mu_);
    for (Idle* w : idle_) w->cv.notify_one();
    ended_cv_.wait(lock, [this] { return workers_ == 0; });
  }
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void Executor::spawn(Task<void> task, std::function<void()> done) { schedule(task.release_spawned(std::move(done))); }

std::size_t Executor::threads() const {
  std::lock_guard lock(mu_);
  return workers_ + 1;
}

// ---- waiting ----------------------------------------------------------------------------------

Executor::Readable::Readable(Executor& ex, std::span<const int> fds, Deadline deadline) : ex_(ex), deadline_(deadline) {
  for (std::size_t i = 0; i < fds.size(); ++i)
    if (fds[i] >= 0 && count_ < 4) watches_[count_++] = {this, fds[i], static_cast<int>(i)};
}

void Executor::Readable::await_suspend(std::coroutine_handle<> h) {
  handle_ = h;
  ex_.add(*this);  // may be resumed on a worker before this returns: nothing here touches *this after
}

Executor::Readable Executor::sleep_until(Deadline deadline) { return Readable(*this, {}, deadline); }

void Executor::add(Readable& r) {
  bool earliest;
  {
    std::lock_guard lock(timers_mu_);
    r.timer_ = timers_.emplace(r.deadline_, &r);
    earliest = r.timer_ == timers_.begin();
    for (int i = 0; i < r.count_; ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = r.watches_[i].fd;
      watched_[ev.data.fd] = &r.watches_[i];
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ev.data.fd, &ev);
    }
  }
  // The waiting thread sleeps until the deadline it knew of: a sooner one wakes it.
  if (earliest) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

// Under timers_mu_.
void Executor::fire(Readable& r, int index) {
  for (int i = 0; i < r.count_; ++i) {
    watched_.erase(r.watches_[i].fd);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, r.watches_[i].fd, nullptr);
  }
  timers_.erase(r.timer_);
  r.fired_ = index;
}

void Executor::signalled(int fd) {
  std::coroutine_handle<> resume;
  {
    std::lock_guard lock(timers_mu_);
    auto it = watched_.find(fd);
    if (it == watched_.end()) return;
    Readable& r = *it->second->waiter;
    fire(r, it->second->index);
    resume = r.handle_;
  }
  schedule(resume);
}

void Executor::wait_loop() {
  util::name_this_thread("waiter");
  epoll_event events[64];
  std::vector<std::pair<Readable*, int>> due;
  while (!stopping_) {
    int timeout;
    {
      std::lock_guard lock(timers_mu_);
      auto left = timers_.empty() ? std::chrono::milliseconds(1000)
                                  : std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first - Clock::now());
      timeout = static_cast<int>(std::clamp<long long>(left.count(), 0, 1000));
    }
    {
      std::lock_guard lock(mu_);
      if (!queue_.empty() && workers_ < kMostWorkers) timeout = std::min<int>(timeout, static_cast<int>(kStalled.count()));
    }
    int n = ::epoll_wait(epoll_fd_, events, 64, timeout);
    due.clear();
    {
      std::lock_guard lock(timers_mu_);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wake_fd_) {
          std::uint64_t v;
          [[maybe_unused]] auto r = ::read(wake_fd_, &v, sizeof v);
          continue;
        }
        // Looked up, not taken from the event: its waiter may have been resumed meanwhile (signalled()).
        auto it = watched_.find(events[i].data.fd);
        if (it == watched_.end()) continue;
        Readable::Watch* w = it->second;
        fire(*w->waiter, w->index);
        due.emplace_back(w->waiter, w->index);
      }
      const auto now = Clock::now();
      while (!timers_.empty() && timers_.begin()->first <= now) {
        Readable* r = timers_.begin()->second;
        fire(*r, -1);
        due.emplace_back(r, -1);
      }
    }
    // Only now: a Readable resumed may be gone at once.
    for (auto& [r, index] : due) schedule(r->handle_);
    std::lock_guard lock(mu_);
    if (!queue_.empty() && workers_ < kMostWorkers && Clock::now() - queue_.front().second >= kStalled) start_worker();
  }
}

// ---- workers ----------------------------------------------------------------------------------

// The most recently idle worker takes the work: the others stay idle long enough to end.
void Executor::schedule(std::coroutine_handle<> h) {
  bool tell_waiter = false;
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      Idle* w = idle_.back();
      idle_.pop_back();
      w->given = h;
      w->cv.notify_one();
      return;
    }
    tell_waiter = queue_.empty() && workers_ >= core_workers_;
    queue_.emplace_back(h, Clock::now());
    if (workers_ < core_workers_) start_worker();
  }
  // Every worker is busy: the waiting thread starts another if the work waits too long.
  if (tell_waiter) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
}

// Under mu_.
void Executor::start_worker() {
  ++workers_;
  std::thread([this] { work(); }).detach();
}

void Executor::work() {
  util::name_this_thread("worker");
  std::unique_lock lock(mu_);
  while (true) {
    std::coroutine_handle<> h;
    if (!queue_.empty()) {
      h = queue_.front().first;
      queue_.pop_front();
    } else if (stopping_) {
      break;
    } else {
      Idle me;
      idle_.push_back(&me);
      me.cv.wait_for(lock, kIdleWorkerEnds, [&] { return me.given || stopping_; });
      if (!me.given) {
        idle_.erase(std::find(idle_.begin(), idle_.end(), &me));
        if (stopping_ || workers_ > core_workers_) break;
        continue;
      }
      h = me.given;
    }
    lock.unlock();
    h.resume();
    lock.lock();
  }
  --workers_;
  ended_cv_.notify_all();
}

}  // namespace relay
