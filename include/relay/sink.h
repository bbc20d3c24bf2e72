// Sink: where messages go (a broker, a file, an inbox table...).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relay/message.h"
#include "relay/result.h"

namespace relay {

class Sink {
 public:
  virtual ~Sink() = default;
  // Connect; a failure here is retried by the core (retriable) or stops the pipeline (fatal).
  virtual Status start() = 0;
  // Deliver `batch` in order. Fills one outcome per message: delivered only once the target has
  // durably accepted it. After the first retriable failure the rest may be left retriable.
  virtual void send(std::span<const Message> batch, std::span<Outcome> outcomes, Deadline deadline) = 0;

  // Pipelined delivery, for targets that acknowledge asynchronously (optional). A sink that returns
  // more than 1 here lets the core publish the next batches while earlier ones wait for their acks;
  // outcomes still come back batch by batch, in publish order.
  virtual size_t batches_in_flight() const { return 1; }
  // Hands `batch` to the target without waiting for its acks. The messages stay alive until
  // collect() returned this batch's outcomes or forget() was called.
  virtual void publish(std::span<const Message> batch) { (void)batch; }
  // The outcomes of the oldest batch published and not collected yet, once all of them are known
  // (true; same rules as send()); false at the deadline or as soon as one of `wake_fds` is readable.
  virtual bool collect(std::span<Outcome> outcomes, Deadline deadline, std::span<const int> wake_fds) {
    (void)outcomes, (void)deadline, (void)wake_fds;
    return true;
  }
  // Drops every published batch not collected yet (after a retriable failure the core sends them
  // all again, in order); their acks, if they still come, are ignored.
  virtual void forget() {}

  // Exactly once (a pipeline's "delivery": "exactly_once"; optional): the sink commits each batch
  // together with the pipeline's position, atomically, and keeps that position for the next owner.
  // After start(): the position record committed with the last batch ("" when none).
  virtual std::string committed_position() { return {}; }
  // Sends the messages of `batch` not marked in `skip`, and the position record `position`, as one
  // transaction: once it committed, every outcome is delivered; otherwise nothing of it is visible,
  // the failing messages' outcomes say why and the others are retriable.
  virtual void send_transaction(std::span<const Message> batch, const std::vector<bool>& skip, std::string_view position,
                                std::span<Outcome> outcomes, Deadline deadline) {
    (void)batch, (void)skip, (void)position, (void)deadline;
    for (auto& o : outcomes) o = {Outcome::halted, "this sink cannot deliver exactly once"};
  }

  // Whether the target is reachable right now (for /health).
  virtual bool healthy() { return true; }
  // Flush anything in flight and close, within the deadline.
  virtual void stop(Deadline deadline) = 0;
};

}  // namespace relay
