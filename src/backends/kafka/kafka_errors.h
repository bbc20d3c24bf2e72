// How the Kafka sink reacts to each librdkafka/broker error code: the table is the single place
// where that is decided, with a unit test per row (tests/unit/kafka_errors_test.cpp).
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>
#include <vector>

#include "backends/kafka/kafka_config.h"

namespace relay::kafka {

enum class Verdict {
  retriable,  // the cluster may recover (no leader, broker down, timeout, auth not yet fixed)
  rejected,   // this record can never be written (too large, invalid topic, refused by policy)
  recreate,   // the idempotent producer is unusable (fatal error): make a new one, retry the record
};

Verdict classify(rd_kafka_resp_err_t err);
const char* to_string(Verdict v);

// What a client-level error (the error callback's: the login refused, the TLS handshake failed,
// no broker reachable) says about the connection, as a sentence naming the cause and what to
// check, with the client's properties `props` (the user, the mechanism); "" for other errors. The
// pipelines show it in /health instead of the message timeouts it causes.
std::string describe_connection_error(rd_kafka_resp_err_t err, const std::string& reason, const std::vector<Property>& props);

}  // namespace relay::kafka
