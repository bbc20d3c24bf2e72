// Webhooks over TLS: an HTTPS receiver (tests/fixtures/https-receiver.py) whose certificate is
// signed by the test's CA and that requires a client certificate. Delivery works with tls_ca,
// tls_cert and tls_key; a wrong CA or no client certificate is a retriable error in /health.
#include "../fixture.h"
#include "../tls_certs.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kPort = 55780;

class WebhookTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { receiver_ = std::make_unique<TlsFixtureServer>("https-receiver.py", kPort); }
  static void TearDownTestSuite() { receiver_.reset(); }
  static std::string url() { return "https://localhost:" + std::to_string(kPort) + "/hook"; }
  static std::string received() { return read_file(receiver_->out()); }

  static inline std::unique_ptr<TlsFixtureServer> receiver_;
};

}  // namespace

// One test per server: ctest runs each test in a process of its own, and the server has a fixed port.
TEST_F(WebhookTls, DeliversWithAClientCertificateAndAWrongCaIsARetriableError) {
  {
    SCOPED_TRACE("with the right CA");
    const auto& c = test_certs();
    TestDb db;
    db.exec("CREATE TABLE tls_orders (id int PRIMARY KEY)");
    db.exec("SELECT pgtrickle.enable_outbox('tls_orders')");
    set_outbox_pipeline(db, "to-https", {{"stream_table", "tls_orders"}, {"sink_type", "webhook"}, {"webhook_url", url()},
                                         {"webhook_tls_ca", c.ca}, {"webhook_tls_cert", c.client_cert},
                                         {"webhook_tls_key", c.client_key}});
    db.exec("INSERT INTO tls_orders VALUES (4242001), (4242002)");
    RelayProcess relay(relay_args(db));
    ASSERT_TRUE(wait_until([&] {
      std::string all = received();
      return all.find("4242001") != std::string::npos && all.find("4242002") != std::string::npos;
    }, 20s)) << relay.err();
  }
  {
    SCOPED_TRACE("with a wrong CA");
    const auto& c = test_certs();
    TestDb db;
    db.exec("CREATE TABLE tls_orders (id int PRIMARY KEY)");
    db.exec("SELECT pgtrickle.enable_outbox('tls_orders')");
    json base = {{"stream_table", "tls_orders"}, {"sink_type", "webhook"}, {"webhook_url", url()}, {"webhook_retry_max", 0}};
    json wrong = base, nocert = base, missing = base;
    wrong.update({{"webhook_tls_ca", c.other_ca}, {"webhook_tls_cert", c.client_cert}, {"webhook_tls_key", c.client_key}});
    nocert.update({{"webhook_tls_ca", c.ca}});
    missing.update({{"webhook_tls_ca", c.dir + "/no-such-ca.pem"}});
    set_outbox_pipeline(db, "wrong-ca", wrong);
    set_outbox_pipeline(db, "no-client-cert", nocert);
    set_outbox_pipeline(db, "missing-ca", missing);
    db.exec("INSERT INTO tls_orders VALUES (1)");
    RelayProcess relay(relay_args(db));
    std::string e = wait_for_pipeline_error(relay, "wrong-ca");
    EXPECT_NE(e.find("SSL peer certificate"), std::string::npos) << e;
    e = wait_for_pipeline_error(relay, "no-client-cert");
    EXPECT_FALSE(e.empty()) << relay.err();
    e = wait_for_pipeline_error(relay, "missing-ca");
    EXPECT_NE(e.find("tls_ca: cannot read"), std::string::npos) << e;
    EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.relay_dead_letters"), 0) << "a TLS failure dead-letters nothing";
    EXPECT_TRUE(relay.alive());
  }
}
