// One pipeline, run as a coroutine on the relay's workers (core/executor.h): take ownership (advisory lock), then poll → send → ack, with
// retries, dead letters, status and metrics; stop drains the batches in flight.
#pragma once

#include <atomic>
#include <memory>

#include "config/pipeline_config.h"
#include "core/event_fd.h"
#include "core/relay_context.h"

namespace relay {

class PipelineRunner {
 public:
  PipelineRunner(PipelineConfig config, const RelayContext& relay);
  ~PipelineRunner();
  PipelineRunner(const PipelineRunner&) = delete;
  PipelineRunner& operator=(const PipelineRunner&) = delete;

  void start();
  // Asks the pipeline to stop: it finishes the batch in flight (up to the drain timeout), then exits.
  // `retry_failed` false (its config changed, or it was disabled): a delivery that failed is not
  // retried meanwhile; the batch goes again from the stored position under the new config.
  void request_stop(bool retry_failed = true);
  void join();
  // Asks the pipeline to finish its batch and leave ownership to another relay of the group.
  void hand_over();
  // The database is reachable again: a pipeline waiting to reconnect tries at once.
  void nudge();
  // Dead letters of this pipeline were asked to be sent again (pgtrickle.replay_dead_letters()).
  void replay();
  const PipelineConfig& config() const { return config_; }

 private:
  class Impl;
  PipelineConfig config_;
  const RelayContext& relay_;
  std::unique_ptr<Impl> impl_;
  bool started_ = false;
  EventFd ended_;  // signalled when the pipeline's coroutine ended
};

}  // namespace relay
