// The relay's worker threads: coroutines waiting for fds and deadlines hold no thread, and the
// workers follow the work.
#include "core/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <vector>

#include "core/event_fd.h"

namespace relay {
namespace {

using namespace std::chrono_literals;

Task<int> add_one(int x) { co_return x + 1; }

Task<void> count_to(int n, int& out) {
  for (int i = 0; i < n; ++i) out = co_await add_one(out);  // a million tasks ending at once: no stack growth
}

TEST(Executor, TasksThatEndAtOnceRunInALoopWithoutGrowingTheStack) {
  Executor ex(1);
  int out = 0;
  std::latch done(1);
  ex.spawn(count_to(1'000'000, out), [&] { done.count_down(); });
  done.wait();
  EXPECT_EQ(out, 1'000'000);
}

// `fired` is read by the test's thread while a worker may write it.
Task<void> wait_for(Executor& ex, int fd, std::atomic<int>& fired) { fired = co_await ex.readable(Clock::now() + 60s, -1, fd); }

TEST(Executor, AWaitEndsWhenItsFdIsReadableAndSaysWhichOne) {
  Executor ex(1);
  EventFd ev;
  std::atomic<int> fired = -2;
  std::latch done(1);
  ex.spawn(wait_for(ex, ev.fd(), fired), [&] { done.count_down(); });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(fired, -2);  // still waiting
  ev.signal();
  done.wait();
  EXPECT_EQ(fired, 1);
}

TEST(Executor, AnFdSignalledInTheProcessResumesItsWaiterDirectly) {
  Executor ex(1);
  EventFd ev;
  std::atomic<int> fired = -2;
  std::latch done(1);
  ex.spawn(wait_for(ex, ev.fd(), fired), [&] { done.count_down(); });
  std::this_thread::sleep_for(20ms);
  ev.signal();
  ex.signalled(ev.fd());
  ex.signalled(ev.fd());  // no one waits any more: nothing happens
  done.wait();
  EXPECT_EQ(fired, 1);
}

Task<void> sleep_then(Executor& ex, std::chrono::milliseconds d, int& fired) {
  fired = co_await ex.readable(Clock::now() + d);
}

TEST(Executor, AWaitEndsAtItsDeadline) {
  Executor ex(1);
  int fired = -2;
  auto began = Clock::now();
  std::latch done(1);
  ex.spawn(sleep_then(ex, 50ms, fired), [&] { done.count_down(); });
  done.wait();
  EXPECT_EQ(fired, -1);
  EXPECT_GE(Clock::now() - began, 50ms);
}

Task<void> wait_long(Executor& ex, int fd, std::atomic<int>& woken) {
  co_await ex.readable(Clock::now() + 60s, fd);
  ++woken;
}

TEST(Executor, AThousandWaitingCoroutinesHoldNoThreadAndAllWake) {
  Executor ex(2);
  std::vector<std::unique_ptr<EventFd>> fds;
  std::atomic<int> woken{0};
  std::latch done(1000);
  for (int i = 0; i < 1000; ++i) {
    fds.push_back(std::make_unique<EventFd>());
    ex.spawn(wait_long(ex, fds.back()->fd(), woken), [&] { done.count_down(); });
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(woken.load(), 0);
  EXPECT_LE(ex.threads(), 3u);  // the waiting thread and two workers
  for (auto& f : fds) f->signal();
  done.wait();
  EXPECT_EQ(woken.load(), 1000);
}

Task<void> block(std::latch& release) {
  release.wait();  // holds its worker, as a statement or a send does
  co_return;
}

TEST(Executor, WorkWaitingBehindBusyWorkersStartsAnother) {
  Executor ex(1);
  std::latch release(1), done(2);
  std::atomic<bool> second_ran{false};
  ex.spawn(block(release), [&] { done.count_down(); });
  ex.spawn([](std::atomic<bool>& ran) -> Task<void> { ran = true; co_return; }(second_ran), [&] { done.count_down(); });
  for (int i = 0; i < 200 && !second_ran; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(second_ran.load());  // not stuck behind the blocked one
  release.count_down();
  done.wait();
}

}  // namespace
}  // namespace relay
