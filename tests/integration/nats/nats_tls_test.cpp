// NATS over TLS: a private nats-server that requires TLS and a client certificate signed by the
// test's CA. The sink publishes and the source consumes over it; a wrong CA is a clear error.
#include <fstream>

#include "../fixture.h"
#include "../tls_certs.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kPort = 55765;

class NatsTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto& c = test_certs();
    dir_ = work_dir() + "/nats-tls";
    std::string out;
    run_command("mkdir -p " + dir_ + "/store", out);
    std::ofstream(dir_ + "/server.conf") << "listen: \"127.0.0.1:" << kPort << "\"\n"
                                         << "jetstream { store_dir: \"" << dir_ << "/store\" }\n"
                                         << "tls {\n  cert_file: \"" << c.server_cert << "\"\n  key_file: \"" << c.server_key
                                         << "\"\n  ca_file: \"" << c.ca << "\"\n  verify: true\n  timeout: 5\n}\n";
    run_command("nats-server -c " + dir_ + "/server.conf -l " + dir_ + "/nats.log -P " + dir_ +
                    "/nats.pid </dev/null >/dev/null 2>&1 &",
                out);
    bool up = wait_until([&] { return run_command("bash -c \"exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(kPort) + "\"", out) == 0; }, 10s);
    if (!up) ADD_FAILURE() << "nats-server with TLS did not start: " << read_file(dir_ + "/nats.log");
  }
  static void TearDownTestSuite() {
    std::string out;
    run_command("kill $(cat " + dir_ + "/nats.pid) 2>/dev/null", out);
  }
  static std::string url() { return "tls://localhost:" + std::to_string(kPort); }

  static inline std::string dir_;
};

}  // namespace

// One test per server: ctest runs each test in a process of its own, and the server has fixed ports.
TEST_F(NatsTls, SinkAndSourceWorkWithAClientCertificateAndAWrongCaIsAClearError) {
  {
    SCOPED_TRACE("with the right CA");
    const auto& c = test_certs();
    TestDb db;
    db.exec("CREATE TABLE tls_orders (id int PRIMARY KEY, amount int)");
    db.exec("SELECT pgtrickle.enable_outbox('tls_orders')");
    std::string stream = "tls_" + db.name();
    set_outbox_pipeline(db, "to-nats", {{"stream_table", "tls_orders"}, {"sink_type", "nats"}, {"nats_url", url()},
                                        {"nats_stream", stream}, {"subject_template", stream + ".{op}"},
                                        {"nats_tls_ca", c.ca}, {"nats_tls_cert", c.client_cert}, {"nats_tls_key", c.client_key}});
    set_inbox_pipeline(db, "from-nats", {{"source_type", "nats"}, {"nats_url", url()}, {"nats_stream", stream},
                                         {"nats_consumer", "relay"}, {"inbox_name", "tls"}, {"nats_tls_ca", c.ca},
                                         {"nats_tls_cert", c.client_cert}, {"nats_tls_key", c.client_key}});
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
    set_outbox_pipeline(db, "wrong-ca", {{"stream_table", "tls_orders"}, {"sink_type", "nats"}, {"nats_url", url()},
                                         {"nats_stream", "tls_wrong"}, {"nats_subject", "tls_wrong.x"}, {"nats_tls_ca", c.other_ca},
                                         {"nats_tls_cert", c.client_cert}, {"nats_tls_key", c.client_key}});
    set_outbox_pipeline(db, "no-client-cert", {{"stream_table", "tls_orders"}, {"sink_type", "nats"}, {"nats_url", url()},
                                               {"nats_stream", "tls_nocert"}, {"nats_subject", "tls_nocert.x"}, {"nats_tls_ca", c.ca}});
    db.exec("INSERT INTO tls_orders VALUES (1)");
    RelayProcess relay(relay_args(db));
    std::string wrong = wait_for_pipeline_error(relay, "wrong-ca");
    EXPECT_NE(wrong.find("certificate"), std::string::npos) << wrong;
    std::string nocert = wait_for_pipeline_error(relay, "no-client-cert");
    EXPECT_NE(nocert.find("set tls_cert and tls_key"), std::string::npos) << nocert;
    EXPECT_TRUE(relay.alive());
    int status = 0;
    http_get(relay.admin_port(), "/health", status);
    EXPECT_EQ(status, 503);
  }
}
