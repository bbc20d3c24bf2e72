// The Kafka record a message becomes, byte for byte; the producer properties; topic names.
#if RELAY_WITH_KAFKA
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

#include "backends/kafka/kafka_config.h"
#include "config/pipeline_config.h"
#include "config/specs.h"
#include "backends/kafka/kafka_encode.h"

using namespace relay;
using namespace relay::kafka;
using namespace std::string_literals;

namespace {

Message sample() {
  Message m;
  m.dedup_key = "outbox_orders:42:1";
  m.routes[0] = "orders.insert";
  m.routes[1] = "eu-17";
  m.key = "17";
  m.body = R"({"dedup_key":"outbox_orders:42:1","op":"insert","payload":{"id":17}})";
  m.data = R"({"id": 17, "region": "eu", "name": "caf\u00e9 \"x\""})";
  m.headers = {{"traceparent", "00-abc-def-01"}, {"tenant", "t1"}};
  return m;
}

TEST(KafkaEncode, TheRecordCarriesTopicKeyBodyAndTheIdentityHeaderFirst) {
  Message m = sample();
  std::string key_buf;
  Record r;
  encode(m, KeyRule{}, key_buf, r);
  EXPECT_EQ(r.topic, "orders.insert");
  EXPECT_EQ(r.key, "17");
  EXPECT_EQ(r.value, m.body);
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].first, "dedup_key");
  EXPECT_EQ(r.headers[0].second, "outbox_orders:42:1");
  EXPECT_EQ(r.headers[1].first, "traceparent");
  EXPECT_EQ(r.headers[1].second, "00-abc-def-01");
  EXPECT_EQ(r.headers[2].first, "tenant");
  EXPECT_EQ(r.headers[2].second, "t1");
  // Views, not copies: the record points into the message.
  EXPECT_EQ(r.value.data(), m.body.data());
}

TEST(KafkaEncode, AnApplicationHeaderCannotReplaceTheIdentity) {
  Message m = sample();
  m.headers = {{"dedup_key", "forged"}, {"a", "b"}};
  std::string key_buf;
  Record r;
  encode(m, KeyRule{}, key_buf, r);
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[0].second, "outbox_orders:42:1");
  EXPECT_EQ(r.headers[1].first, "a");
}

// A table's owner names it, and its name is the first part of the identity: the identity header
// carries no control character (consumers carry it into headers of their own), the same on every
// try; an identity without anything to encode is still a view of the message's.
TEST(KafkaEncode, ANameWithLineBreaksIsHeaderSafeInTheIdentityHeader) {
  Message m = sample();
  m.dedup_key = "orders\r\nAuthorization: x%\0:7:0"s;
  std::string key_buf;
  Record r;
  encode(m, KeyRule{}, key_buf, r);
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].first, "dedup_key");
  EXPECT_EQ(r.headers[0].second, "orders%0D%0AAuthorization: x%25%00:7:0");
  encode(m, KeyRule{}, key_buf, r);
  EXPECT_EQ(r.headers[0].second, "orders%0D%0AAuthorization: x%25%00:7:0");
  m.dedup_key = "orders:7:0";
  encode(m, KeyRule{}, key_buf, r);
  EXPECT_EQ(r.headers[0].second.data(), m.dedup_key.data());
}

TEST(KafkaEncode, AnEmptyKeyStaysEmpty) {
  Message m = sample();
  m.key.clear();
  std::string key_buf;
  Record r;
  encode(m, KeyRule{}, key_buf, r);
  EXPECT_TRUE(r.key.empty());
}

TEST(KafkaEncode, TheSinkKeyOptionIsATemplateOrColumnNames) {
  Message m = sample();
  std::string key_buf;
  Record r;
  auto tmpl = KeyRule::from_option("{{ region }}-{{ id }}");
  EXPECT_EQ(tmpl.kind, KeyRule::route);
  encode(m, tmpl, key_buf, r);
  EXPECT_EQ(r.key, "eu-17") << "rendered by the core into routes[1]";

  auto one = KeyRule::from_option("name");
  ASSERT_EQ(one.kind, KeyRule::columns);
  encode(m, one, key_buf, r);
  EXPECT_EQ(r.key, "caf\xc3\xa9 \"x\"") << "one column: its text, unescaped";

  auto two = KeyRule::from_option("region, id");
  ASSERT_EQ(two.names, (std::vector<std::string>{"region", "id"}));
  encode(m, two, key_buf, r);
  EXPECT_EQ(r.key, R"(["eu",17])") << "several columns: a JSON array, like the pipeline's key option";

  auto missing = KeyRule::from_option("id,nope");
  encode(m, missing, key_buf, r);
  EXPECT_EQ(r.key, "[17,null]");

  EXPECT_EQ(KeyRule::from_option("").kind, KeyRule::message_key);
}

TEST(KafkaEncode, TopicNamesKafkaRefusesAreNamed) {
  EXPECT_EQ(topic_problem("orders.insert_v1-x"), "");
  EXPECT_NE(topic_problem(""), "");
  EXPECT_NE(topic_problem("."), "");
  EXPECT_NE(topic_problem(".."), "");
  EXPECT_NE(topic_problem(std::string(250, 'a')), "");
  EXPECT_EQ(topic_problem(std::string(249, 'a')), "");
  EXPECT_EQ(topic_problem("orders/eu"),
            "the topic \"orders/eu\" contains '/'; Kafka topics use only letters, digits, '.', '_' and '-'");
  EXPECT_NE(topic_problem("orders eu"), "");
}

TEST(KafkaEncode, TheFixedPartOfATopicTemplateIsCheckedBeforeAnyMessage) {
  EXPECT_EQ(topic_template_problem("{stream_table}-deltas"), "");
  EXPECT_EQ(topic_template_problem("revenue.{{ region }}.{op}"), "");
  EXPECT_NE(topic_template_problem("orders/{op}"), "");
  EXPECT_NE(topic_template_problem("orders.>"), "");
  EXPECT_NE(topic_template_problem("orders {{ region }}"), "");
}

std::string property(const std::vector<Property>& props, const std::string& name) {
  std::string v;  // the last one wins, as in librdkafka's configuration
  for (const auto& p : props)
    if (p.name == name) v = p.value;
  return v;
}

// The producer's properties from a sink config, read through the sink's spec as the relay does.
std::vector<Property> producer(const char* sink, const std::string& client_id) {
  const auto config = nlohmann::json::parse(sink);
  return producer_properties(relay::ConfigSection(relay::kKafkaSinkSpec, config), client_id);
}

TEST(KafkaConfig, DefaultsAreAnIdempotentProducerWithAcksAll) {
  auto props = producer(R"({"brokers": "a:9092,b:9092", "topic": "t", "acks": "all", "compression": "none"})", "c1");
  EXPECT_EQ(property(props, "bootstrap.servers"), "a:9092,b:9092");
  EXPECT_EQ(property(props, "acks"), "all");
  EXPECT_EQ(property(props, "enable.idempotence"), "true");
  EXPECT_EQ(property(props, "max.in.flight.requests.per.connection"), "5");
  EXPECT_EQ(property(props, "compression.codec"), "none");
  EXPECT_EQ(property(props, "partitioner"), "murmur2");
  EXPECT_EQ(property(props, "client.id"), "c1");
}

TEST(KafkaConfig, BrokerListsAcksCompressionAndPassThroughProperties) {
  auto props = producer(R"({"brokers": ["a:1", "b:2"], "topic": "t", "acks": "1",
      "compression": "zstd", "rdkafka": {"linger.ms": "20", "batch.num.messages": 5000, "sasl.mechanism": "PLAIN"}})", "c1");
  EXPECT_EQ(property(props, "bootstrap.servers"), "a:1,b:2");
  EXPECT_EQ(property(props, "acks"), "1");
  EXPECT_EQ(property(props, "enable.idempotence"), "false") << "idempotence needs acks=all";
  EXPECT_EQ(property(props, "max.in.flight.requests.per.connection"), "1") << "order without idempotence";
  EXPECT_EQ(property(props, "compression.codec"), "zstd");
  EXPECT_EQ(property(props, "linger.ms"), "20");
  EXPECT_EQ(property(props, "batch.num.messages"), "5000");
  EXPECT_EQ(property(props, "sasl.mechanism"), "PLAIN");
  for (const auto& p : props)
    if (p.name == "linger.ms") {
      EXPECT_EQ(p.origin, "rdkafka.linger.ms") << "errors name the key the user wrote";
    }
}

TEST(KafkaConfig, PassThroughPropertiesOverrideTheRelaysDefaults) {
  auto props = producer(R"({"brokers": "a:1", "topic": "t", "rdkafka": {"message.timeout.ms": "60000"}})", "c");
  EXPECT_EQ(property(props, "message.timeout.ms"), "60000");
}

// librdkafka's error quotes the value it refuses, cut at 511 bytes: for a value from a reference the
// relay says which key and reference, never the library's text (with any part of the value).
TEST(KafkaConfig, APropertyFromAReferenceLibrdkafkaRefusesIsNamedByItsReference) {
  std::string secret;
  for (int i = 0; secret.size() < 600; ++i) secret += "Tok" + std::to_string(i * 7919 % 1000);
  secret.resize(600);
  std::string path = ::testing::TempDir() + "/kafka-refused-secret";
  std::ofstream(path) << secret;
  std::string reference = "${FILE:" + path + "}";
  auto resolved = relay::resolve_secrets(nlohmann::json::parse(R"({"sink": {"type": "kafka", "brokers": "127.0.0.1:1",
      "topic": "t", "rdkafka": {"security.protocol": ")" + reference + R"("}}})"));
  ASSERT_TRUE(resolved) << resolved.error().message;
  auto props = producer(resolved->at("sink").dump().c_str(), "c");
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> conf(rd_kafka_conf_new(), rd_kafka_conf_destroy);
  char err[512];
  for (const auto& p : props) {
    if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) continue;
    ASSERT_EQ(p.origin, "rdkafka.security.protocol") << err;
    ASSERT_NE(std::string(err).find(secret.substr(0, 400)), std::string::npos) << "librdkafka no longer quotes the value";
    EXPECT_EQ(refused_property(p, err), "key \"rdkafka.security.protocol\" (from " + reference + ") is refused by librdkafka");
    // A property written literally keeps librdkafka's own words.
    Property literal{"security.protocol", "nonsense", "rdkafka.security.protocol"};
    ASSERT_NE(rd_kafka_conf_set(conf.get(), "security.protocol", "nonsense", err, sizeof err), RD_KAFKA_CONF_OK);
    EXPECT_EQ(refused_property(literal, err), std::string("key \"rdkafka.security.protocol\": ") + err);
    return;
  }
  FAIL() << "librdkafka took security.protocol " << reference;
}

// A pass-through property that names something on the broker others see (a consumer group, a
// transactional producer, a client) never takes its value from a reference: it would be published.
TEST(KafkaConfig, APassThroughNameFromAReferenceIsRefused) {
  std::string path = ::testing::TempDir() + "/kafka-named-secret";
  std::ofstream(path) << "s3cr3t-group";
  std::string reference = "${FILE:" + path + "}";
  for (const char* property : {"group.id", "transactional.id", "client.id", "group.instance.id"}) {
    auto resolved = relay::resolve_secrets(nlohmann::json::parse(std::string(R"({"sink": {"type": "kafka", "brokers": "127.0.0.1:1",
        "topic": "t", "rdkafka": {")") + property + R"(": ")" + reference + R"("}}})"));
    ASSERT_TRUE(resolved) << resolved.error().message;
    auto problem = named_property_problem(producer(resolved->at("sink").dump().c_str(), "c"));
    EXPECT_NE(problem.find(std::string("key \"rdkafka.") + property + "\" names"), std::string::npos) << problem;
    EXPECT_EQ(problem.find("s3cr3t"), std::string::npos) << problem;
  }
  EXPECT_EQ(named_property_problem(producer(R"({"brokers": "a:1", "topic": "t", "rdkafka": {"group.id": "plain"}})", "c")), "");
}

}  // namespace
#endif
