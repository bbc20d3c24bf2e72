#include "backends/kafka/kafka_source_errors.h"

namespace relay::kafka {

ConsumerVerdict classify_consumer_error(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return ConsumerVerdict::ignore;
    // A subscribed topic does not exist (any more) or may not be read; the group or the whole
    // client is refused; the client is unusable. An operator has to act: say it in /health.
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    // auto.offset.reset = error (set through rdkafka.): the stored offset is gone; an operator decides.
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
      return ConsumerVerdict::restart;
    // Transport errors, timeouts, leader changes, a coordinator moving, even every broker down:
    // librdkafka reconnects by itself and the consumer keeps its place in the group. A new
    // consumer would have to rejoin and wait for the old one's session to expire.
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    default:
      return ConsumerVerdict::log;
  }
}

CommitVerdict classify_commit_error(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
    case RD_KAFKA_RESP_ERR__NO_OFFSET:  // nothing to commit
      return CommitVerdict::done;
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR__STATE:  // this consumer is not in the group any more
      return CommitVerdict::superseded;
    default:
      return CommitVerdict::retry;
  }
}

}  // namespace relay::kafka
