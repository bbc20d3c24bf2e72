// Logging in to Apache Kafka (the suite's broker, scripts/servers/kafka.sh): SCRAM-SHA-256 and
// SCRAM-SHA-512 over SASL_PLAINTEXT and SASL_SSL deliver; a wrong password, a broker certificate
// the CA did not sign and a topic the cluster does not create are each named in /health, with
// what to check, and lose nothing.
#include <filesystem>
#include <thread>

#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "../tls_certs.h"
#include "kafka_admin.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kNoAutoCreatePort = 55810;  // a broker of the test's own (and the three ports above it)

json scram_pipeline(const std::string& brokers, const std::string& protocol, const std::string& mechanism,
                    const std::string& password, const std::string& topic, const std::string& ca) {
  json rdkafka = {{"security.protocol", protocol}, {"sasl.mechanism", mechanism},
                  {"sasl.username", "relay"}, {"sasl.password", password}, {"message.timeout.ms", "5000"}};
  if (!ca.empty()) rdkafka["ssl.ca.location"] = ca;
  return {{"stream_table", "t"}, {"sink_type", "kafka"}, {"brokers", brokers}, {"topic", topic}, {"rdkafka", rdkafka}};
}

// The broker's CA where a pipeline defined in SQL may name files (the relay's --sql-secrets-dir).
std::string broker_ca() {
  std::string copy = test_certs().dir + "/kafka-broker-ca.pem";
  std::filesystem::copy_file(test_server_env("PGTRICKLE_TEST_KAFKA_CA"), copy, std::filesystem::copy_options::overwrite_existing);
  return copy;
}

size_t count_records(const std::string& brokers, const std::string& topic, size_t at_least) {
  return parse_json_lines(run_node("kafka.js", {brokers, topic, std::to_string(at_least), "30000"})).size();
}

// Waits until the pipeline's last error in /health contains `part`; returns the last error seen.
std::string wait_for_error_naming(RelayProcess& relay, const std::string& pipeline, const std::string& part) {
  std::string error;
  wait_until([&] {
    error = wait_for_pipeline_error(relay, pipeline, 1s);
    return error.find(part) != std::string::npos;
  }, 60s);
  return error;
}

class KafkaAuth : public testing::Test {
 protected:
  void SetUp() override {
    db_.exec("CREATE TABLE t (id int PRIMARY KEY)");
    db_.exec("SELECT pgtrickle.enable_outbox('t')");
  }
  TestDb db_;
};

}  // namespace

TEST_F(KafkaAuth, ScramLogsInWithEitherMechanismOverPlaintextAndTls) {
  const std::string sasl = test_server_env("PGTRICKLE_TEST_KAFKA_SASL_BROKERS");
  const std::string sasl_ssl = test_server_env("PGTRICKLE_TEST_KAFKA_SASL_SSL_BROKERS");
  const std::string ca = broker_ca();
  std::vector<std::string> topics;
  int n = 0;
  for (const char* mechanism : {"SCRAM-SHA-256", "SCRAM-SHA-512"})
    for (bool tls : {false, true}) {
      topics.push_back("scram-" + std::to_string(++n) + "-" + db_.name());
      set_outbox_pipeline(db_, "scram" + std::to_string(n),
                          scram_pipeline(tls ? sasl_ssl : sasl, tls ? "SASL_SSL" : "SASL_PLAINTEXT", mechanism, "relay-secret",
                                         topics.back(), tls ? ca : ""));
    }
  RelayProcess relay(relay_args(db_));
  db_.exec("INSERT INTO t SELECT generate_series(1, 20)");
  for (const auto& topic : topics)
    EXPECT_EQ(count_records(kafka_brokers(), topic, 20), 20u) << topic << " (" << topics.size() << " pipelines)\n" << relay.err();
}

TEST_F(KafkaAuth, AWrongPasswordIsNamedInHealthAndNothingIsLost) {
  const std::string topic = "wrong-password-" + db_.name();
  set_outbox_pipeline(db_, "login", scram_pipeline(test_server_env("PGTRICKLE_TEST_KAFKA_SASL_BROKERS"), "SASL_PLAINTEXT",
                                                   "SCRAM-SHA-512", "not-the-password", topic, ""));
  db_.exec("INSERT INTO t SELECT generate_series(1, 5)");
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_error_naming(relay, "login", "refused the login");
  EXPECT_NE(error.find("user \"relay\""), std::string::npos) << error;
  EXPECT_NE(error.find("SCRAM-SHA-512"), std::string::npos) << error;
  EXPECT_NE(error.find("rdkafka.sasl.password"), std::string::npos) << error;
  EXPECT_EQ(db_.value("SELECT count(*) FROM pgtrickle.relay_dead_letters"), "0") << "a wrong password sets nothing aside";
}

TEST_F(KafkaAuth, ABrokerCertificateTheCaDidNotSignIsNamedInHealth) {
  set_outbox_pipeline(db_, "tls", scram_pipeline(test_server_env("PGTRICKLE_TEST_KAFKA_SASL_SSL_BROKERS"), "SASL_SSL",
                                                 "SCRAM-SHA-256", "relay-secret", "tls-" + db_.name(), test_certs().other_ca));
  db_.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db_));
  std::string error = wait_for_error_naming(relay, "tls", "TLS handshake");
  EXPECT_NE(error.find("rdkafka.ssl.ca.location"), std::string::npos) << error;
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  EXPECT_EQ(db_.value("SELECT count(*) FROM pgtrickle.relay_dead_letters"), "0");
}

TEST_F(KafkaAuth, MessagesForATopicTheClusterDoesNotCreateWaitForIt) {
  PrivateServer kafka("kafka", kNoAutoCreatePort, "KAFKA_SERVER_PROPERTIES=auto.create.topics.enable=false");
  const std::string topic = "absent-" + db_.name();
  set_outbox_pipeline(db_, "absent", {{"stream_table", "t"}, {"sink_type", "kafka"}, {"brokers", kafka.url()}, {"topic", topic}});
  db_.exec("INSERT INTO t SELECT generate_series(1, 10)");
  RelayProcess relay(relay_args(db_));
  // Named (with the relay's topic.metadata.propagation.max.ms, seconds after the first send), and
  // still named while the messages are sent again.
  std::string error = wait_for_error_naming(relay, "absent", "does not exist");
  EXPECT_NE(error.find("\"" + topic + "\""), std::string::npos) << "names the topic: " << error;
  EXPECT_NE(error.find("create it"), std::string::npos) << error;
  EXPECT_EQ(db_.value("SELECT count(*) FROM pgtrickle.relay_dead_letters"), "0") << "nothing is set aside meanwhile";
  std::this_thread::sleep_for(5s);
  error = wait_for_pipeline_error(relay, "absent", 5s);
  EXPECT_NE(error.find("\"" + topic + "\" does not exist"), std::string::npos) << "the retries name it too: " << error;

  create_kafka_topic(kafka.url(), topic, 3);
  EXPECT_EQ(count_records(kafka.url(), topic, 10), 10u) << relay.err();
  EXPECT_EQ(db_.value("SELECT count(*) FROM pgtrickle.relay_dead_letters"), "0");
}
