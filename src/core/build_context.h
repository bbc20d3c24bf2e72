// What a backend factory gets besides its own config: the relay's identity, the pipeline's database
// connection, the ownership fence, a wake-up fd, metrics and a logger.
#pragma once

#include <memory>
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

namespace postgres {
class CommitNumbering;
class OutboxListener;
class PositionStore;
}

struct BuildContext {
  std::string relay_group_id;
  std::string worker_id;     // host:pid of this relay
  std::string postgres_url;  // the relay's own database
  // The pipeline's own statements, each on a connection borrowed from the relay's pool.
  pg::PooledSession* db = nullptr;
  // Connections shared by every pipeline, borrowed for one statement (null: open one's own).
  pg::ConnectionPool* pool = nullptr;
  pg::SharedLookup* backfills = nullptr;  // which pipelines have a backfill pending or running
  postgres::CommitNumbering* numbering = nullptr;  // the relay's numbering rounds, for its outbox readers
  postgres::OutboxListener* listener = nullptr;    // wakes the outbox readers when rows come
  Executor* executor = nullptr;  // the workers that run the pipelines and their readers
  postgres::PositionStore* positions = nullptr;  // stores the outbox and WAL pipelines' positions, many in one statement
  // The epoch this relay took the pipeline with: a statement that stores a position checks it is
  // still current, so a stalled former owner cannot move the position (Fence).
  long long fence_epoch = 0;
  int wake_fd = -1;          // readable when the pipeline must stop waiting
  std::shared_ptr<metrics::PipelineMetrics> metrics;
  const log::Logger* log = nullptr;
  std::vector<const Template*> sink_routes;  // the sink's compiled templates, in spec order
  // The limits of a pipeline defined in SQL; nullptr for the operator's TOML pipelines (no limits).
  const HostAccess* host_access = nullptr;
};

}  // namespace relay
