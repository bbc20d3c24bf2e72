#include "backends/kafka/kafka_errors.h"

namespace relay::kafka {

Verdict classify(rd_kafka_resp_err_t err) {
  switch (err) {
    // The record itself is refused: dead-letter it and go on with the next one.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:            // larger than message.max.bytes (local) or the topic's limit
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:                // refused by the broker's record validation
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:               // invalid topic name
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:    // the route leads to a topic this principal may not write
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:                // the cluster says the topic does not exist (no auto-create)
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__KEY_SERIALIZATION:
    case RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION:
      return Verdict::rejected;
    // The idempotent producer's state is lost; only a new producer (new producer id) can go on.
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING:
      return Verdict::recreate;
    // Everything else is about the cluster, not the record: transport, timeouts, leader changes,
    // not enough replicas, queue full, purged at a deadline, and authentication/authorization of
    // the client as a whole (an operator fixes that; dead-lettering every record would lose the
    // stream to a wrong password).
    default:
      return Verdict::retriable;
  }
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::retriable: return "retriable";
    case Verdict::rejected: return "rejected";
    case Verdict::recreate: return "recreate";
  }
  return "?";
}

}  // namespace relay::kafka
