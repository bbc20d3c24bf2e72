// Sink: where messages go (a broker, a file, an inbox table...).
#pragma once

#include <span>

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
  // Whether the target is reachable right now (for /health).
  virtual bool healthy() { return true; }
  // Flush anything in flight and close, within the deadline.
  virtual void stop(Deadline deadline) = 0;
};

}  // namespace relay
