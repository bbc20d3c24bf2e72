// How the Kafka sink reacts to each librdkafka/broker error code: the table is the single place
// where that is decided, with a unit test per row (tests/unit/kafka_errors_test.cpp).
#pragma once

#include <librdkafka/rdkafka.h>

namespace relay::kafka {

enum class Verdict {
  retriable,  // the cluster may recover (no leader, broker down, timeout, auth not yet fixed)
  rejected,   // this record can never be written (too large, invalid topic, refused by policy)
  recreate,   // the idempotent producer is unusable (fatal error): make a new one, retry the record
};

Verdict classify(rd_kafka_resp_err_t err);
const char* to_string(Verdict v);

}  // namespace relay::kafka
