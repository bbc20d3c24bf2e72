// One row per entry of the Kafka error table (src/backends/kafka/kafka_errors.cpp).
#if RELAY_WITH_KAFKA
#include <gtest/gtest.h>

#include "backends/kafka/kafka_errors.h"

using relay::kafka::classify;
using relay::kafka::Verdict;
using relay::kafka::Property;
using relay::kafka::describe_connection_error;

namespace {

struct Row {
  rd_kafka_resp_err_t err;
  Verdict verdict;
};

void PrintTo(const Row& r, std::ostream* os) { *os << rd_kafka_err2name(r.err); }  // names the test case
class KafkaErrors : public testing::TestWithParam<Row> {};

TEST_P(KafkaErrors, AreClassified) {
  EXPECT_EQ(classify(GetParam().err), GetParam().verdict) << rd_kafka_err2name(GetParam().err);
}

INSTANTIATE_TEST_SUITE_P(
    Table, KafkaErrors,
    testing::Values(
        // The record is refused: dead letter.
        Row{RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_INVALID_RECORD, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_POLICY_VIOLATION, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR__INVALID_ARG, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR__BAD_MSG, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR__KEY_SERIALIZATION, Verdict::rejected},
        Row{RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION, Verdict::rejected},
        // The producer is unusable: a new one.
        Row{RD_KAFKA_RESP_ERR__FATAL, Verdict::recreate},
        Row{RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE, Verdict::recreate},
        Row{RD_KAFKA_RESP_ERR__FENCED, Verdict::recreate},
        Row{RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, Verdict::recreate},
        Row{RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, Verdict::recreate},
        Row{RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING, Verdict::recreate},
        // The cluster, not the record: retry.
        Row{RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__TRANSPORT, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__TIMED_OUT, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__QUEUE_FULL, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__PURGE_QUEUE, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__AUTHENTICATION, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, Verdict::retriable},  // messages wait for the topic
        Row{RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR, Verdict::retriable},
        Row{RD_KAFKA_RESP_ERR_INVALID_MSG, Verdict::retriable}),
    [](const auto& info) { return std::string(rd_kafka_err2name(info.param.err)); });

TEST(KafkaErrors, ALoginRefusedOrAHandshakeFailedIsNamedWithWhatToCheck) {
  std::vector<Property> props = {{"bootstrap.servers", "b1:9096", "brokers"},
                                 {"security.protocol", "SASL_SSL", "rdkafka.security.protocol"},
                                 {"sasl.mechanism", "SCRAM-SHA-512", "rdkafka.sasl.mechanism"},
                                 {"sasl.username", "relay", "rdkafka.sasl.username"}};
  auto login = describe_connection_error(RD_KAFKA_RESP_ERR__AUTHENTICATION, "invalid credentials", props);
  EXPECT_NE(login.find("user \"relay\""), std::string::npos) << login;
  EXPECT_NE(login.find("SCRAM-SHA-512 over SASL_SSL"), std::string::npos) << login;
  EXPECT_NE(login.find("rdkafka.sasl.password"), std::string::npos) << login;
  auto tls = describe_connection_error(RD_KAFKA_RESP_ERR__SSL, "certificate verify failed", props);
  EXPECT_NE(tls.find("TLS handshake"), std::string::npos) << tls;
  EXPECT_NE(tls.find("rdkafka.ssl.ca.location"), std::string::npos) << tls;
  EXPECT_NE(describe_connection_error(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "down", props).find("b1:9096"), std::string::npos);
  EXPECT_EQ(describe_connection_error(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "too large", props), "");
}

}  // namespace
#endif
