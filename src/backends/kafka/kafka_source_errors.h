// How the Kafka source reacts to each librdkafka/broker error code: the table is the single place
// where that is decided, with a unit test per row (tests/unit/kafka_source_errors_test.cpp).
#pragma once

#include <librdkafka/rdkafka.h>

namespace relay::kafka {

// An error the consumer reports (a consumer error message, or the client's error callback).
enum class ConsumerVerdict {
  ignore,   // not a problem (end of partition)
  log,      // the client recovers by itself (a connection dropped, brokers restarting): log and go on
  restart,  // the consumer cannot go on as it is (topic gone, access denied, a fatal error):
            // the pipeline reports it and starts a new consumer after a backoff
};
ConsumerVerdict classify_consumer_error(rd_kafka_resp_err_t err);

// The outcome of committing a batch's offsets after the inbox commit.
enum class CommitVerdict {
  done,        // committed
  superseded,  // the group rebalanced first: the partitions' next owner reads those records again
               // and the inbox drops the duplicates; nothing is lost and the pipeline goes on
  retry,       // the coordinator did not take it (unreachable, moving): the next commit carries
               // these offsets again; nothing is lost meanwhile
};
CommitVerdict classify_commit_error(rd_kafka_resp_err_t err);

}  // namespace relay::kafka
