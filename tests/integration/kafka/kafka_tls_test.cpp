// Kafka over TLS is librdkafka's: rdkafka.security.protocol=ssl and rdkafka.ssl.ca.location reach
// it. The mock cluster has no TLS listener, so what is checked is that the producer is created with
// the test's CA (and then fails the handshake against the plaintext broker), and that a CA file
// that is missing is a clear error naming ssl.ca.location.
#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "../tls_certs.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(KafkaTls, SslPropertiesReachLibrdkafka) {
  const auto& c = test_certs();
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  auto base = [&] {
    return json{{"stream_table", "t"}, {"sink_type", "kafka"}, {"brokers", test_server_env("PGTRICKLE_TEST_KAFKA_BROKERS")},
                {"topic", "tls"}, {"rdkafka", {{"security.protocol", "ssl"}, {"message.timeout.ms", "2000"}}}};
  };
  json with_ca = base(), missing_ca = base();
  with_ca["rdkafka"]["ssl.ca.location"] = c.ca;
  missing_ca["rdkafka"]["ssl.ca.location"] = c.dir + "/no-such-ca.pem";
  set_outbox_pipeline(db, "with-ca", with_ca);
  set_outbox_pipeline(db, "missing-ca", missing_ca);
  db.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db));

  std::string missing = wait_for_pipeline_error(relay, "missing-ca");
  EXPECT_NE(missing.find("cannot create the producer"), std::string::npos) << missing;
  EXPECT_NE(missing.find("ssl.ca.location"), std::string::npos) << missing;

  // Created with the CA: the record then times out against the plaintext broker.
  std::string handshake = wait_for_pipeline_error(relay, "with-ca");
  EXPECT_FALSE(handshake.empty()) << relay.err();
  EXPECT_EQ(handshake.find("cannot create the producer"), std::string::npos) << handshake;
  EXPECT_TRUE(relay.alive());
}
