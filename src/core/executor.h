// The relay's threads for its pipelines: a few workers that run the pipelines' loops and readers
// as coroutines (Task), and one thread that waits, for all of them, on the file descriptors and
// deadlines they wait for. A pipeline waiting for rows, for a sink's backoff or for its turn as a
// standby holds no thread, so a relay's threads follow the work under way, not its pipelines.
//
// A coroutine may still block its worker (a statement, a sink's send): when every worker is busy
// and work waits, another worker starts (up to 128); workers idle for a while end.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "relay/message.h"

namespace relay {

namespace detail {

// What Task<T> and Task<void> share: started when awaited; the awaiter is resumed when it ends.
// A task that ends without suspending lets its awaiter go on without suspending either, so a loop
// awaiting tasks that finish at once does not grow the stack.
struct TaskPromiseBase {
  std::coroutine_handle<> continuation;
  std::exception_ptr error;
  std::atomic<bool> handed_off{false};  // set first by whichever of the task's end and its awaiter's suspension comes second
  bool spawned = false;                 // Executor::spawn's: no awaiter; it frees itself, then calls on_end
  std::function<void()> on_end;

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto& p = h.promise();
      if (p.spawned) {
        if (p.error) std::terminate();  // as an exception leaving a thread would
        auto on_end = std::move(p.on_end);
        h.destroy();
        if (on_end) on_end();
        return std::noop_coroutine();
      }
      if (p.handed_off.exchange(true)) return p.continuation;  // the awaiter is suspended: resume it
      return std::noop_coroutine();                            // the awaiter goes on by itself
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() { error = std::current_exception(); }
};

}  // namespace detail

// The handle and the awaiting that Task<T> and Task<void> share.
template <class Promise>
class TaskHandle {
 public:
  TaskHandle(TaskHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  TaskHandle& operator=(TaskHandle&&) = delete;
  ~TaskHandle() {
    if (h_) h_.destroy();
  }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiter) {
    h_.promise().continuation = awaiter;
    h_.resume();
    return !h_.promise().handed_off.exchange(true);  // false: it ended already, go on
  }
  // Gives up the coroutine to run on its own: it frees itself at its end, then calls `on_end`.
  std::coroutine_handle<> release_spawned(std::function<void()> on_end) {
    h_.promise().spawned = true;
    h_.promise().on_end = std::move(on_end);
    return std::exchange(h_, nullptr);
  }

 protected:
  explicit TaskHandle(std::coroutine_handle<Promise> h) : h_(h) {}
  Promise& promise() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return h_.promise();
  }
  std::coroutine_handle<Promise> h_;
};

template <class T = void>
class [[nodiscard]] Task;

template <class T>
struct TaskPromise : detail::TaskPromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() { return Task<T>(std::coroutine_handle<TaskPromise>::from_promise(*this)); }
  void return_value(T v) { value.emplace(std::move(v)); }
};

template <>
struct TaskPromise<void> : detail::TaskPromiseBase {
  Task<void> get_return_object();
  void return_void() {}
};

template <class T>
class [[nodiscard]] Task : public TaskHandle<TaskPromise<T>> {
 public:
  using promise_type = TaskPromise<T>;
  T await_resume() { return std::move(*this->promise().value); }

 private:
  friend promise_type;
  using TaskHandle<TaskPromise<T>>::TaskHandle;
};

template <>
class [[nodiscard]] Task<void> : public TaskHandle<TaskPromise<void>> {
 public:
  using promise_type = TaskPromise<void>;
  void await_resume() { (void)promise(); }

 private:
  friend promise_type;
  using TaskHandle<TaskPromise<void>>::TaskHandle;
};

inline Task<void> TaskPromise<void>::get_return_object() {
  return Task<void>(std::coroutine_handle<TaskPromise>::from_promise(*this));
}

class Executor {
 public:
  // `workers`: how many workers start as soon as work finds none idle (more start only when work
  // waits); they stay once started. Cheap while idle (a stack each), and enough that readers
  // blocked a moment on a numbering round or a pooled connection do not hold the others back
  // when a burst of rows wakes many pipelines at once.
  explicit Executor(std::size_t workers = 16);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs `task` on a worker until it ends, then calls `done` (on that worker).
  void spawn(Task<void> task, std::function<void()> done = {});

  // co_await readable(deadline, fd...): suspends until one of the fds (negative ones are skipped)
  // is readable, or the deadline passes; gives the index of the readable one, or -1. No fd may be
  // waited for by two coroutines at once; at most four at a time.
  class Readable;
  template <class... Fd>
  Readable readable(Deadline deadline, Fd... fds) {
    const int list[] = {fds..., -1};
    return Readable(*this, std::span<const int>(list, sizeof...(fds)), deadline);
  }
  // co_await sleep_until(deadline).
  Readable sleep_until(Deadline deadline);
  // `fd` was just made readable in this process (an eventfd written): the coroutine waiting for it,
  // if any, is resumed now rather than through the waiting thread, one thread switch sooner.
  void signalled(int fd);

  // Threads now running for the pipelines (the waiting thread and the workers).
  std::size_t threads() const;

  class Readable {
   public:
    Readable(Executor& ex, std::span<const int> fds, Deadline deadline);
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h);
    int await_resume() const noexcept { return fired_; }

   private:
    friend class Executor;
    Executor& ex_;
    struct Watch {  // one fd, as registered with epoll
      Readable* waiter;
      int fd;
      int index;
    };
    std::array<Watch, 4> watches_{};
    int count_ = 0;
    Deadline deadline_;
    std::coroutine_handle<> handle_;
    int fired_ = -1;
    std::multimap<Deadline, Readable*>::iterator timer_;
  };

 private:
  void schedule(std::coroutine_handle<> h);
  void start_worker();  // under mu_
  void work();
  void wait_loop();
  void add(Readable& r);
  void fire(Readable& r, int index);  // under timers_mu_

  const std::size_t core_workers_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // wakes the waiting thread: a timer came first, or it stops
  std::thread waiter_;
  std::atomic<bool> stopping_{false};

  // Held while a Readable is registered and while one is fired: one is never fired half registered,
  // nor twice.
  std::mutex timers_mu_;
  std::multimap<Deadline, Readable*> timers_;
  std::unordered_map<int, Readable::Watch*> watched_;  // the fds registered with epoll, and who waits

  struct Idle {  // a worker waiting for work, which schedule() hands it directly
    std::condition_variable cv;
    std::coroutine_handle<> given;
  };
  mutable std::mutex mu_;
  std::condition_variable ended_cv_;
  std::deque<std::pair<std::coroutine_handle<>, Clock::time_point>> queue_;  // work no idle worker took, with when it came
  std::vector<Idle*> idle_;  // the most recently idle last
  std::size_t workers_ = 0;
};

}  // namespace relay
