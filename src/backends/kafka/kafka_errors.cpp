#include "backends/kafka/kafka_errors.h"

#include <fmt/format.h>

namespace relay::kafka {
namespace {

std::string property(const std::vector<Property>& props, std::initializer_list<const char*> names, const char* otherwise) {
  for (auto it = props.rbegin(); it != props.rend(); ++it)
    for (const char* n : names)
      if (it->name == n) return it->value;
  return otherwise;
}

}  // namespace

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
    // Everything else is about the cluster, not the record: a topic not created yet (messages wait
    // for it rather than be set aside one by one), transport, timeouts, leader changes,
    // not enough replicas, queue full, purged at a deadline, and authentication/authorization of
    // the client as a whole (an operator fixes that; dead-lettering every record would lose the
    // stream to a wrong password).
    default:
      return Verdict::retriable;
  }
}

std::string describe_connection_error(rd_kafka_resp_err_t err, const std::string& reason, const std::vector<Property>& props) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return fmt::format("Kafka refused the login of user \"{}\" ({} over {}): {}; check rdkafka.sasl.username, "
                         "rdkafka.sasl.password and rdkafka.sasl.mechanism against the user the cluster knows",
                         property(props, {"sasl.username"}, ""), property(props, {"sasl.mechanism", "sasl.mechanisms"}, "GSSAPI"),
                         property(props, {"security.protocol"}, "PLAINTEXT"), reason);
    case RD_KAFKA_RESP_ERR__SSL:
      return fmt::format("the TLS handshake with the broker failed ({}): {}; check rdkafka.ssl.ca.location (the CA that "
                         "signed the broker's certificate) and, when the broker asks for one, rdkafka.ssl.certificate.location "
                         "and rdkafka.ssl.key.location",
                         property(props, {"security.protocol"}, "PLAINTEXT"), reason);
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
      return fmt::format("cannot reach the Kafka brokers {}: {}", property(props, {"bootstrap.servers", "metadata.broker.list"}, ""),
                         reason);
    default:
      return "";
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
