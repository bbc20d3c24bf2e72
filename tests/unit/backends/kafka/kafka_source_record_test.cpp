// The Kafka source's pure parts: a record becoming a Message, the consumer's librdkafka
// properties, and its error tables (one row per entry).
#if RELAY_WITH_KAFKA
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "backends/kafka/kafka_config.h"
#include "config/specs.h"
#include "backends/kafka/kafka_record.h"
#include "backends/kafka/kafka_source_errors.h"

using namespace relay;
using namespace relay::kafka;

namespace {

RecordView record() {
  RecordView r;
  r.topic = "payment-events";
  r.partition = 3;
  r.offset = 1207;
  r.key = "customer-17";
  r.value = R"({"customer_id": "customer-17", "amount": 10.5})";
  r.timestamp_ms = 1714212903412;
  return r;
}

TEST(KafkaSourceRecord, WithoutTheHeaderTheIdentityIsTopicPartitionOffset) {
  Message m;
  to_message(record(), m);
  EXPECT_EQ(m.dedup_key, "payment-events:3:1207");
  EXPECT_EQ(m.subject, "payment-events");
  EXPECT_EQ(m.source, "kafka:payment-events");
  EXPECT_EQ(m.key, "customer-17");
  EXPECT_EQ(m.data, R"({"customer_id": "customer-17", "amount": 10.5})");
  EXPECT_EQ(m.op, Op::event);
  EXPECT_DOUBLE_EQ(m.committed_at, 1714212903.412);
  EXPECT_TRUE(m.headers.empty());
}

TEST(KafkaSourceRecord, TheDedupKeyHeaderOfTheForwardSinkIsTheIdentityAndEveryHeaderIsKept) {
  RecordView r = record();
  r.headers = {{"dedup_key", "outbox_orders:42:1"}, {"traceparent", "00-abc-def-01"}, {"empty", std::nullopt},
               {"dedup_key", "a later copy"}};
  Message m;
  to_message(r, m);
  EXPECT_EQ(m.dedup_key, "outbox_orders:42:1");
  ASSERT_EQ(m.headers.size(), 4u);
  EXPECT_EQ(m.headers[0], (Header{"dedup_key", "outbox_orders:42:1"}));
  EXPECT_EQ(m.headers[1], (Header{"traceparent", "00-abc-def-01"}));
  EXPECT_EQ(m.headers[2], (Header{"empty", ""})) << "a null header value";
  EXPECT_EQ(m.headers[3], (Header{"dedup_key", "a later copy"}));
}

TEST(KafkaSourceRecord, AnEmptyOrNullIdentityHeaderFallsBackToThePlaceInTheLog) {
  for (auto value : {std::optional<std::string_view>(""), std::optional<std::string_view>()}) {
    RecordView r = record();
    r.headers = {{"dedup_key", value}};
    Message m;
    to_message(r, m);
    EXPECT_EQ(m.dedup_key, "payment-events:3:1207");
  }
}

TEST(KafkaSourceRecord, ANullKeyOrValueIsEmptyAndAnUnknownTimestampIsZero) {
  RecordView r = record();
  r.key.reset();
  r.value.reset();
  r.timestamp_ms = -1;
  Message m;
  m.key = "stale";  // a reused Message is overwritten
  m.headers = {{"stale", "x"}};
  to_message(r, m);
  EXPECT_EQ(m.key, "");
  EXPECT_EQ(m.data, "");
  EXPECT_EQ(m.committed_at, 0);
  EXPECT_TRUE(m.headers.empty());
}

std::string value_of(const std::vector<Property>& props, const std::string& name) {
  std::string v = "<absent>";
  for (const auto& p : props)
    if (p.name == name) v = p.value;  // the last one wins, as in librdkafka
  return v;
}

// The consumer's properties (or the problem with them) from a source config, read through the
// source's spec as the relay does.
std::vector<Property> consumer(const char* source, const std::string& client_id) {
  const auto config = nlohmann::json::parse(source);
  return consumer_properties(relay::ConfigSection(relay::kKafkaSourceSpec, config), client_id, "member-" + client_id);
}
std::string problem_of(const nlohmann::json& source) {
  return consumer_property_problem(relay::ConfigSection(relay::kKafkaSourceSpec, source));
}

TEST(KafkaSourceConfig, TheConsumerCommitsNothingByItselfAndThePassThroughWinsOverDefaults) {
  auto props = consumer(R"({"brokers": ["a:1", "b:2"], "topic": "t", "group_id": "g",
      "auto_offset_reset": "latest", "rdkafka": {"session.timeout.ms": "10000", "queued.min.messages": 500, "client.id": "mine"}})",
                                   "pgtrickle-relay-p");
  EXPECT_EQ(value_of(props, "bootstrap.servers"), "a:1,b:2");
  EXPECT_EQ(value_of(props, "group.id"), "g");
  EXPECT_EQ(value_of(props, "auto.offset.reset"), "latest");
  EXPECT_EQ(value_of(props, "enable.auto.commit"), "false");
  EXPECT_EQ(value_of(props, "enable.auto.offset.store"), "false");
  EXPECT_EQ(value_of(props, "session.timeout.ms"), "10000");
  EXPECT_EQ(value_of(props, "queued.min.messages"), "500");
  EXPECT_EQ(value_of(props, "client.id"), "mine");
  EXPECT_EQ(props.back().name, "enable.auto.offset.store") << "the relay's own settings come last";

  auto defaults = consumer(R"({"brokers": "k:9092", "topic": "t", "group_id": "g"})", "c");
  EXPECT_EQ(value_of(defaults, "auto.offset.reset"), "earliest");
  EXPECT_EQ(value_of(defaults, "client.id"), "c");
  EXPECT_EQ(value_of(defaults, "queued.min.messages"), "<absent>") << "librdkafka's default";
  EXPECT_EQ(value_of(defaults, "reconnect.backoff.max.ms"), "1000");
  EXPECT_EQ(value_of(defaults, "group.instance.id"), "member-c") << "static membership: the same member in every relay";
}

TEST(KafkaSourceConfig, AutoCommitThroughThePassThroughIsRefusedNamingTheKey) {
  EXPECT_EQ(problem_of(nlohmann::json::parse(R"({"rdkafka": {"fetch.wait.max.ms": "50"}})")), "");
  EXPECT_EQ(problem_of(nlohmann::json::parse(R"({"brokers": "k"})")), "");
  for (const char* name : {"enable.auto.commit", "enable.auto.offset.store"}) {
    auto problem = problem_of(nlohmann::json{{"rdkafka", {{name, "true"}}}});
    EXPECT_NE(problem.find(std::string("\"rdkafka.") + name + "\""), std::string::npos) << problem;
    EXPECT_NE(problem.find("only after the inbox commit"), std::string::npos) << problem;
  }
}

struct ConsumerRow {
  rd_kafka_resp_err_t err;
  ConsumerVerdict verdict;
};
void PrintTo(const ConsumerRow& r, std::ostream* os) { *os << rd_kafka_err2name(r.err); }
class KafkaConsumerErrors : public testing::TestWithParam<ConsumerRow> {};
TEST_P(KafkaConsumerErrors, AreClassified) {
  EXPECT_EQ(classify_consumer_error(GetParam().err), GetParam().verdict) << rd_kafka_err2name(GetParam().err);
}
INSTANTIATE_TEST_SUITE_P(
    Table, KafkaConsumerErrors,
    testing::Values(
        ConsumerRow{RD_KAFKA_RESP_ERR_NO_ERROR, ConsumerVerdict::ignore},
        ConsumerRow{RD_KAFKA_RESP_ERR__PARTITION_EOF, ConsumerVerdict::ignore},
        ConsumerRow{RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__AUTHENTICATION, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, ConsumerVerdict::log},
        ConsumerRow{RD_KAFKA_RESP_ERR__FATAL, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__INVALID_ARG, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE, ConsumerVerdict::restart},
        ConsumerRow{RD_KAFKA_RESP_ERR__TRANSPORT, ConsumerVerdict::log},
        ConsumerRow{RD_KAFKA_RESP_ERR__TIMED_OUT, ConsumerVerdict::log},
        ConsumerRow{RD_KAFKA_RESP_ERR__RESOLVE, ConsumerVerdict::log},
        ConsumerRow{RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, ConsumerVerdict::log},
        ConsumerRow{RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, ConsumerVerdict::log}));

struct CommitRow {
  rd_kafka_resp_err_t err;
  CommitVerdict verdict;
};
void PrintTo(const CommitRow& r, std::ostream* os) { *os << rd_kafka_err2name(r.err); }
class KafkaCommitErrors : public testing::TestWithParam<CommitRow> {};
TEST_P(KafkaCommitErrors, AreClassified) {
  EXPECT_EQ(classify_commit_error(GetParam().err), GetParam().verdict) << rd_kafka_err2name(GetParam().err);
}
INSTANTIATE_TEST_SUITE_P(
    Table, KafkaCommitErrors,
    testing::Values(
        CommitRow{RD_KAFKA_RESP_ERR_NO_ERROR, CommitVerdict::done},
        CommitRow{RD_KAFKA_RESP_ERR__NO_OFFSET, CommitVerdict::done},
        CommitRow{RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, CommitVerdict::superseded},
        CommitRow{RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, CommitVerdict::superseded},
        CommitRow{RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, CommitVerdict::superseded},
        CommitRow{RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, CommitVerdict::superseded},
        CommitRow{RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST, CommitVerdict::superseded},
        CommitRow{RD_KAFKA_RESP_ERR__STATE, CommitVerdict::superseded},
        CommitRow{RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, CommitVerdict::retry},
        CommitRow{RD_KAFKA_RESP_ERR_NOT_COORDINATOR, CommitVerdict::retry},
        CommitRow{RD_KAFKA_RESP_ERR__TRANSPORT, CommitVerdict::retry},
        CommitRow{RD_KAFKA_RESP_ERR__TIMED_OUT, CommitVerdict::retry},
        CommitRow{RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, CommitVerdict::retry}));

}  // namespace
#endif
