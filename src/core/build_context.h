// What a backend factory gets besides its own config: the relay's identity, the pipeline's database
// connection, the ownership fence, a wake-up fd, metrics and a logger.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/host_access.h"
#include "config/template.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "pg/connection.h"
#include "pg/connection_pool.h"
#include "pg/shared_lookup.h"

namespace relay {

class Executor;

// What a backend keeps for all the pipelines of a relay (the PostgreSQL backend's numbering rounds,
// listening session and position store): made by the command line, found by the backend by its
// type (BuildContext::shared_of). The core passes them on without knowing whose they are.
struct BackendShared {
  virtual ~BackendShared() = default;
};

struct BuildContext {
  std::string relay_group_id;
  std::string worker_id;     // host:pid of this relay
  std::string postgres_url;  // the relay's own database
  // The pipeline's own statements, each on a connection borrowed from the relay's pool.
  pg::PooledSession* db = nullptr;
  // Connections shared by every pipeline, borrowed for one statement (null: open one's own).
  pg::ConnectionPool* pool = nullptr;
  pg::SharedLookup* backfills = nullptr;  // which pipelines have a backfill pending or running
  std::span<BackendShared* const> shared;  // the backends' relay-wide parts
  Executor* executor = nullptr;  // the workers that run the pipelines and their readers
  // The epoch this relay took the pipeline with: a statement that stores a position checks it is
  // still current, so a stalled former owner cannot move the position (Fence).
  long long fence_epoch = 0;
  int wake_fd = -1;          // readable when the pipeline must stop waiting
  std::shared_ptr<metrics::PipelineMetrics> metrics;
  const log::Logger* log = nullptr;
  std::vector<const Template*> sink_routes;  // the sink's compiled templates, in spec order
  // The relay's own files (--state-dir): a WAL source spills the big transactions it holds under it.
  std::string state_dir;
  // The limits of a pipeline defined in SQL; nullptr for the operator's TOML pipelines (no limits).
  const HostAccess* host_access = nullptr;

  // The relay-wide part of type T a backend keeps, or nullptr.
  template <class T>
  T* shared_of() const {
    for (BackendShared* s : shared)
      if (auto* t = dynamic_cast<T*>(s)) return t;
    return nullptr;
  }
};

}  // namespace relay
