// Kafka over TLS is librdkafka's: rdkafka.security.protocol=ssl and the rdkafka.ssl.* paths reach
// it. The mock cluster has no TLS listener, so the handshake is checked against a TLS listener of
// the test's own (tests/fixtures/tls-kafka-front.py) that stands where a broker's SSL listener
// would: the relay verifies its certificate with the test's CA, presents its client certificate,
// and sends its first Kafka request over the encrypted connection; with a wrong CA it refuses the
// listener and says so. A CA file that is missing is a clear error naming ssl.ca.location.
#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "../tls_certs.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// ctest runs each test in a process of its own, side by side: each test has its listener's port.
constexpr int kFrontPort = 55781, kWrongCaFrontPort = 55782;

// The TLS listener, for the test's lifetime.
class TlsFront : public TlsFixtureServer {
 public:
  explicit TlsFront(int port) : TlsFixtureServer("tls-kafka-front.py", port) {}
  std::vector<json> seen() const { return json_lines(out()); }
  // The first connection whose handshake completed (null until there is one).
  json first_handshake() const {
    for (const auto& s : seen())
      if (s.value("handshake", "") == "ok") return s;
    return nullptr;
  }
  std::string address() const { return "localhost:" + std::to_string(port()); }
};

json ssl_pipeline(const std::string& brokers, const std::string& ca) {
  const auto& c = test_certs();
  return {{"stream_table", "t"}, {"sink_type", "kafka"}, {"brokers", brokers}, {"topic", "tls"},
          {"rdkafka", {{"security.protocol", "ssl"}, {"ssl.ca.location", ca}, {"ssl.certificate.location", c.client_cert},
                       {"ssl.key.location", c.client_key}, {"message.timeout.ms", "3000"}}}};
}

}  // namespace

TEST(KafkaTls, TheProducerVerifiesTheBrokerWithTheCaAndPresentsItsClientCertificate) {
  const auto& c = test_certs();
  TlsFront front(kFrontPort);
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "tls-front", ssl_pipeline(front.address(), c.ca));
  db.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db));

  // The handshake completed both ways, and the first Kafka request travelled encrypted.
  ASSERT_TRUE(wait_until([&] { return !front.first_handshake().is_null(); }, 20s)) << relay.err();
  json first = front.first_handshake();
  EXPECT_EQ(first.value("client_cn", ""), "relay") << first.dump();
  EXPECT_EQ(first.value("api_key", -1), 18) << "ApiVersions opens a Kafka connection: " << first.dump();
  EXPECT_EQ(first.value("client_id", ""), "pgtrickle-relay-tls-front") << first.dump();

  // The listener never answers, so nothing is delivered and the row stays unacknowledged.
  std::string error = wait_for_pipeline_error(relay, "tls-front");
  EXPECT_FALSE(error.empty()) << relay.err();
  EXPECT_EQ(db.value("SELECT count(*) FROM pgtrickle.relay_offsets WHERE pipeline = 'tls-front' AND last_id > 0"), "0");
  EXPECT_TRUE(relay.alive());
}

TEST(KafkaTls, ABrokerCertificateFromAnotherCaIsRefused) {
  const auto& c = test_certs();
  TlsFront front(kWrongCaFrontPort);
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "tls-wrong-ca", ssl_pipeline(front.address(), c.other_ca));
  db.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db));

  // The relay ends the handshake itself: the listener sees it fail, never a request.
  ASSERT_TRUE(wait_until([&] { return !front.seen().empty(); }, 20s)) << relay.err();
  for (const auto& s : front.seen()) EXPECT_EQ(s.value("handshake", ""), "failed") << s.dump();
  ASSERT_TRUE(wait_until([&] { return relay.err().find("certificate verify failed") != std::string::npos; }, 20s))
      << "the log says why: " << relay.err();
  EXPECT_FALSE(wait_for_pipeline_error(relay, "tls-wrong-ca").empty());
  EXPECT_TRUE(relay.alive());
}

TEST(KafkaTls, AMissingCaFileIsAClearErrorNamingTheProperty) {
  const auto& c = test_certs();
  TestDb db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.exec("SELECT pgtrickle.enable_outbox('t')");
  set_outbox_pipeline(db, "missing-ca", ssl_pipeline(test_server_env("PGTRICKLE_TEST_KAFKA_BROKERS"), c.dir + "/no-such-ca.pem"));
  db.exec("INSERT INTO t VALUES (1)");
  RelayProcess relay(relay_args(db));

  std::string missing = wait_for_pipeline_error(relay, "missing-ca");
  EXPECT_NE(missing.find("cannot create the producer"), std::string::npos) << missing;
  EXPECT_NE(missing.find("ssl.ca.location"), std::string::npos) << missing;
  EXPECT_TRUE(relay.alive());
}
