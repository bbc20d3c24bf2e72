// What the PostgreSQL backend keeps for all the pipelines of a relay: the numbering rounds and the
// listening session its outbox readers share, and the store that writes the pipelines' positions
// many in one statement. Made once by the command line; a pipeline finds it in its BuildContext.
#pragma once

#include <string>

#include "backends/postgres/commit_numbering.h"
#include "backends/postgres/outbox_listener.h"
#include "backends/postgres/position_store.h"
#include "core/build_context.h"

namespace relay::postgres {

struct RelayShared : BackendShared {
  RelayShared(const std::string& postgres_url, pg::ConnectionPool& pool, Executor& executor)
      : positions(pool), numbering(postgres_url, "pgtrickle-relay numbering"),
        listener(postgres_url, "pgtrickle-relay listener", &numbering, &executor) {}

  PositionStore positions;
  CommitNumbering numbering;
  OutboxListener listener;  // after numbering: it uses the rounds until it goes
};

}  // namespace relay::postgres
