// What a broker source's reading thread prepares ahead of the pipeline: fetching and decoding the
// next batch overlaps the inbox commit of the one before. One batch ahead at most, so memory stays
// bounded and un-acked messages stay few.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "core/event_fd.h"
#include "relay/source.h"

namespace relay {

class BatchQueue {
 public:
  // ---- the reading thread ----

  // Blocks until nothing is queued (room for the next batch) or the queue is closed; false if closed.
  bool wait_for_room() {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return closed_ || queue_.empty(); });
    return !closed_;
  }
  // Waits `d` (a pause after an error) unless the queue is closed first; false if closed.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !room_.wait_for(lock, d, [&] { return closed_; });
  }
  // A batch for poll(); clears a reported error. Dropped at once (token released) when closed.
  void push(Batch batch) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      queue_.push_back(std::move(batch));
      error_.reset();
    }
    ready_.signal();
  }
  // An error poll() reports once the batches before it were taken.
  void fail(Error error) {
    {
      std::lock_guard lock(mu_);
      error_ = std::move(error);
    }
    ready_.signal();
  }

  // ---- the pipeline thread ----

  // The next batch, else the error, else an empty batch (nothing ready now).
  Result<Batch> take() {
    std::lock_guard lock(mu_);
    if (!queue_.empty()) {
      Batch b = std::move(queue_.front());
      queue_.pop_front();
      room_.notify_all();
      return b;
    }
    if (error_) return *error_;
    return Batch{};
  }
  // Until a batch or an error is there, the deadline passes, or `wake_fd` becomes readable.
  void wait(Deadline deadline, int wake_fd) {
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (!queue_.empty() || error_ || closed_) return;
      }
      if (Clock::now() >= deadline || ready_.wait(deadline, wake_fd)) return;
    }
  }
  size_t queued_messages() {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& b : queue_) n += b.messages.size();
    return n;
  }

  // Ends the reading thread's waits and drops what is queued: those batches were never handed
  // out, and releasing their tokens gives them back to the broker where the source does so.
  void close() {
    std::deque<Batch> dropped;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      dropped.swap(queue_);
    }
    room_.notify_all();
    ready_.signal();
  }
  // Open again for a new reading thread (start() after stop()).
  void reopen() {
    std::lock_guard lock(mu_);
    closed_ = false;
    error_.reset();
    ready_.drain();
  }

 private:
  std::mutex mu_;
  std::condition_variable room_;  // the queue has room, or it was closed
  std::deque<Batch> queue_;
  std::optional<Error> error_;
  bool closed_ = false;
  EventFd ready_;  // readable when a batch or an error arrived
};

}  // namespace relay
