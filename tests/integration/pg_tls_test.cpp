// PostgreSQL over TLS: a private server that accepts TCP connections only with SSL (hostssl), its
// certificate signed by the test's CA; the relay connects with sslmode=verify-full.
#include <fstream>

#include "fixture.h"
#include "pg/catalog.h"
#include "tls_certs.h"

using namespace relay::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kPort = 55760;

class PostgresTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto& c = test_certs();
    dir_ = work_dir() + "/pg-tls";
    std::string script = source_script("scripts/pg-server.sh");
    std::string out;
    if (run_command(script + " start " + dir_ + " " + std::to_string(kPort), out) != 0) {
      ADD_FAILURE() << "pg-server.sh start: " << out;
      return;
    }
    // The key must belong to the server's user and be private; TCP only with SSL.
    std::string data = dir_ + "/data";
    std::string cmd = "cp " + c.server_cert + " " + data + "/server.crt && cp " + c.server_key + " " + data +
                      "/server.key && chmod 600 " + data + "/server.key && "
                      "{ [ \"$(id -u)\" != 0 ] || chown postgres:postgres " + data + "/server.crt " + data + "/server.key; } && "
                      "printf 'ssl = on\\n' >> " + data + "/postgresql.conf && "
                      "sed -i 's/^host /hostssl /' " + data + "/pg_hba.conf && " +
                      script + " stop " + dir_ + " && " + script + " start " + dir_ + " " + std::to_string(kPort);
    if (run_command(cmd, out) != 0) ADD_FAILURE() << "enabling ssl: " << out;
  }
  static void TearDownTestSuite() {
    std::string out;
    run_command(source_script("scripts/pg-server.sh") + " stop " + dir_, out);
  }
  static std::string url(const std::string& ca, const std::string& sslmode = "verify-full") {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(kPort) + "/postgres?sslmode=" + sslmode + "&sslrootcert=" + ca;
  }

  static inline std::string dir_;
};

}  // namespace

// One test per server: ctest runs each test in a process of its own, and the server has fixed ports.
TEST_F(PostgresTls, TheRelayRunsAPipelineWithVerifyFullAndAWrongCaIsAClearErrorNotACrash) {
  {
    SCOPED_TRACE("with the right CA");
    const auto& c = test_certs();
    auto conn = relay::pg::Connection::open(url(c.ca), "relay-test");
    ASSERT_TRUE(conn) << conn.error().message;
    EXPECT_EQ(conn->exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")->str(0, 0), "t");
    ASSERT_TRUE(relay::pg::install_schema(*conn));
    for (const char* sql : {"DROP TABLE IF EXISTS tls_orders CASCADE", "CREATE TABLE tls_orders (id int PRIMARY KEY)",
                            "SELECT pgtrickle.enable_outbox('tls_orders')"})
      ASSERT_TRUE(conn->exec(sql)) << sql;
    std::string out = work_dir() + "/pg-tls.jsonl";
    ASSERT_TRUE(conn->exec("SELECT pgtrickle.set_relay_outbox('tls-file', config => '{\"stream_table\": \"tls_orders\", "
                           "\"sink_type\": \"file\", \"path\": \"" + out + "\"}'::jsonb)"));
    ASSERT_TRUE(conn->exec("SELECT pgtrickle.enable_relay('tls-file')"));
    ASSERT_TRUE(conn->exec("INSERT INTO tls_orders SELECT generate_series(1, 3)"));

    RelayProcess relay({"--postgres-url", relay_login_url(url(c.ca)), "--metrics-addr", "127.0.0.1:0"});
    ASSERT_TRUE(wait_until([&] { return read_lines(out).size() >= 3; }, 20s)) << relay.err();
    auto msgs = json_lines(out);
    EXPECT_EQ(msgs[2]["payload"]["id"], 3);
    int status = 0;
    http_get(relay.admin_port(), "/health", status);
    EXPECT_EQ(status, 200);
  }
  {
    SCOPED_TRACE("with a wrong CA");
    const auto& c = test_certs();
    RelayProcess relay({"--postgres-url", relay_login_url(url(c.other_ca)), "--metrics-addr", "127.0.0.1:0"});  // the login made above
    ASSERT_TRUE(wait_until([&] { return relay.err().find("certificate verify failed") != std::string::npos; }, 15s))
        << relay.err();
    if (relay.alive()) {
      int status = 0;
      http_get(relay.admin_port(), "/health", status);
      EXPECT_EQ(status, 503);
    } else {
      EXPECT_NE(relay.wait(1s), 128 + SIGSEGV) << relay.err();
      EXPECT_NE(relay.wait(1s), 128 + SIGABRT) << relay.err();
    }
    // Without SSL the server refuses TCP connections outright (hostssl only).
    auto plain = relay::pg::Connection::open(url(c.ca, "disable"), "relay-test");
    ASSERT_FALSE(plain);
    EXPECT_NE(plain.error().message.find("no encryption"), std::string::npos) << plain.error().message;
  }
}
