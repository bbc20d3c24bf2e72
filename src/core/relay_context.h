// Process-wide facts shared by the supervisor and every pipeline.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "config/host_access.h"
#include "core/build_context.h"
#include "core/health.h"
#include "core/ownership.h"
#include "core/registry.h"
#include "core/status_writer.h"
#include "metrics/metrics.h"
#include "pg/connection_pool.h"
#include "pg/shared_lookup.h"

namespace relay {

class Executor;

struct RelayContext {
  std::string postgres_url;
  std::string relay_group_id = "default";
  std::string worker_id;  // host:pid
  metrics::Registry* metrics = nullptr;
  HealthBoard* health = nullptr;
  Ownership* ownership = nullptr;
  pg::ConnectionPool* pool = nullptr;  // connections the pipelines borrow for short statements
  pg::SharedLookup* backfills = nullptr;  // the pipelines with a backfill pending or running
  StatusWriter* status = nullptr;         // writes the pipelines' rows of relay_pipeline_status
  std::vector<BackendShared*> shared;  // the backends' relay-wide parts (BuildContext::shared_of)
  Executor* executor = nullptr;  // the workers that run the pipelines and their readers
  HostAccess sql_host_access;  // the limits of pipelines defined in SQL
  std::string state_dir;       // the relay's own files (--state-dir): big transactions spilled while they run
  std::span<const BackendEntry> backends;  // the compiled-in sinks and sources (src/backends/registry.cpp)
  std::chrono::milliseconds standby_retry{500};    // how often a standby tries to take a pipeline over
  std::chrono::milliseconds drain_timeout{10000};  // how long stop waits for an in-flight batch
  std::chrono::milliseconds status_interval{5000}; // lag and status refresh
};

}  // namespace relay
