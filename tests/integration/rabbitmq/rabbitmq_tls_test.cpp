// RabbitMQ over TLS (amqps://): a private rabbitmq-server whose TLS listener requires a client
// certificate signed by the test's CA. The sink publishes and the source consumes over it; a
// wrong CA, a missing client certificate and TLS files on an amqp:// url are clear errors.
#include "../../contract/sink_contract.h"
#include "../fixture.h"
#include "../tls_certs.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kPort = 55770;  // amqp; amqps is kPort + 1 (scripts/servers/rabbitmq.sh with a cert dir)

class RabbitmqTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = work_dir() + "/rabbitmq-tls";
    std::string out;
    if (run_command(source_script("scripts/servers/rabbitmq.sh") + " start " + dir_ + " " +
                        std::to_string(kPort) + " " + test_certs().dir,
                    out) != 0)
      ADD_FAILURE() << "rabbitmq.sh start: " << out;
  }
  static void TearDownTestSuite() {
    std::string out;
    run_command(source_script("scripts/servers/rabbitmq.sh") + " stop " + dir_, out);
  }
  static std::string plain_url() { return "amqp://guest:guest@127.0.0.1:" + std::to_string(kPort) + "/"; }
  static std::string tls_url() { return "amqps://guest:guest@localhost:" + std::to_string(kPort + 1) + "/"; }

  static inline std::string dir_;
};

}  // namespace

// One test per server: ctest runs each test in a process of its own, and the server has fixed ports.
TEST_F(RabbitmqTls, SinkAndSourceWorkOverAmqpsAndAWrongCaNoClientCertificateOrAPlainUrlIsAClearError) {
  {
    SCOPED_TRACE("with the right CA");
    const auto& c = test_certs();
    TestDb db;
    std::string queue = "tls_" + db.name();
    run_node("rabbitmq.js", {"setup", plain_url(), queue, "", ""});
    db.exec("CREATE TABLE tls_orders (id int PRIMARY KEY, amount int)");
    db.exec("SELECT pgtrickle.enable_outbox('tls_orders')");
    set_outbox_pipeline(db, "to-rabbit", {{"stream_table", "tls_orders"}, {"sink_type", "rabbitmq"}, {"rabbitmq_url", tls_url()},
                                          {"rabbitmq_exchange", ""}, {"rabbitmq_routing_key", queue},
                                          {"rabbitmq_tls_ca", c.ca}, {"rabbitmq_tls_cert", c.client_cert},
                                          {"rabbitmq_tls_key", c.client_key}});
    set_inbox_pipeline(db, "from-rabbit", {{"source_type", "rabbitmq"}, {"rabbitmq_url", tls_url()}, {"rabbitmq_queue", queue},
                                           {"inbox_name", "tls"}, {"rabbitmq_tls_ca", c.ca},
                                           {"rabbitmq_tls_cert", c.client_cert}, {"rabbitmq_tls_key", c.client_key}});
    db.exec("INSERT INTO tls_orders SELECT g, g * 10 FROM generate_series(1, 5) g");
    RelayProcess relay(relay_args(db));
    expect_the_five_orders_back_in_the_inbox(db, relay);
  }
  {
    SCOPED_TRACE("with a wrong CA");
    const auto& c = test_certs();
    TestDb db;
    db.exec("CREATE TABLE tls_orders (id int PRIMARY KEY)");
    db.exec("SELECT pgtrickle.enable_outbox('tls_orders')");
    json base = {{"stream_table", "tls_orders"}, {"sink_type", "rabbitmq"}, {"rabbitmq_url", tls_url()},
                 {"rabbitmq_exchange", ""}, {"rabbitmq_routing_key", "nowhere"}};
    json wrong = base, nocert = base, plain = base;
    wrong.update({{"rabbitmq_tls_ca", c.other_ca}, {"rabbitmq_tls_cert", c.client_cert}, {"rabbitmq_tls_key", c.client_key}});
    nocert.update({{"rabbitmq_tls_ca", c.ca}});
    plain.update({{"rabbitmq_url", plain_url()}, {"rabbitmq_tls_ca", c.ca}});
    set_outbox_pipeline(db, "wrong-ca", wrong);
    set_outbox_pipeline(db, "no-client-cert", nocert);
    set_outbox_pipeline(db, "plain-url", plain);
    db.exec("INSERT INTO tls_orders VALUES (1)");
    RelayProcess relay(relay_args(db));
    std::string e = wait_for_pipeline_error(relay, "wrong-ca");
    EXPECT_NE(e.find("TLS handshake with localhost:" + std::to_string(kPort + 1) + " failed"), std::string::npos) << e;
    EXPECT_NE(e.find("sink.tls_ca"), std::string::npos) << e;
    e = wait_for_pipeline_error(relay, "no-client-cert");
    EXPECT_NE(e.find("client certificate: set sink.tls_cert and sink.tls_key"), std::string::npos) << e;
    e = wait_for_pipeline_error(relay, "plain-url");
    EXPECT_NE(e.find("amqps://"), std::string::npos) << e;
    EXPECT_TRUE(relay.alive()) << relay.err();
    int status = 0;
    http_get(relay.admin_port(), "/health", status);
    EXPECT_EQ(status, 503);
  }
}
