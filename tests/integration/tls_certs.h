// A throwaway CA with server and client certificates for the TLS tests, made once per test process
// by tests/fixtures/make-certs.sh (openssl) under work_dir().
#pragma once

#include <unistd.h>

#include <chrono>
#include <string>

#include "fixture.h"

namespace relay::test {

struct TestCerts {
  std::string dir;
  std::string ca;                        // signed the server and the client certificate
  std::string server_cert, server_key;   // CN localhost, SAN localhost and 127.0.0.1
  std::string client_cert, client_key;   // CN relay
  std::string other_ca;                  // signed neither: the "wrong CA"
};

inline const TestCerts& test_certs() {
  static const TestCerts certs = [] {
    TestCerts c;
    c.dir = work_dir() + "/certs";
    std::string out;
    if (run_command(source_script("tests/fixtures/make-certs.sh") + " " + c.dir, out) != 0)
      ADD_FAILURE() << "make-certs.sh failed: " << out;
    c.ca = c.dir + "/ca.pem";
    c.server_cert = c.dir + "/server.pem";
    c.server_key = c.dir + "/server.key";
    c.client_cert = c.dir + "/client.pem";
    c.client_key = c.dir + "/client.key";
    c.other_ca = c.dir + "/other-ca.pem";
    return c;
  }();
  return certs;
}

// The round trip of the broker TLS tests: the 5 rows of tls_orders (amount = id * 10) went out
// through the broker and came back into pgtrickle.inbox_tls.
inline void expect_the_five_orders_back_in_the_inbox(TestDb& db, RelayProcess& relay) {
  ASSERT_TRUE(wait_until([&] { return db.value("SELECT to_regclass('pgtrickle.inbox_tls') IS NOT NULL") == "t" &&
                                      db.number("SELECT count(*) FROM pgtrickle.inbox_tls") == 5; }, std::chrono::seconds(30)))
      << relay.err();
  EXPECT_EQ(db.number("SELECT count(*) FROM pgtrickle.inbox_tls WHERE payload::text LIKE '%amount%'"), 5);
}

// A TLS server of tests/fixtures (`script <port> <cert-dir> <out>`, certificate from test_certs(),
// client certificates required) running while this object lives; it records what it saw in out().
class TlsFixtureServer {
 public:
  TlsFixtureServer(const std::string& script, int port)
      : out_(work_dir() + "/" + script + ".out"), pid_file_(work_dir() + "/" + script + ".pid"), port_(port) {
    std::string output;
    ::unlink(out_.c_str());
    run_command("python3 " + shell_quote(std::string(RELAY_SOURCE_DIR) + "/tests/fixtures/" + script) + " " + std::to_string(port) + " " + test_certs().dir +
                    " " + out_ + " </dev/null >/dev/null 2>&1 & echo $! >" + pid_file_,
                output);
    bool up = wait_until([&] {
      return run_command("bash -c \"exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) + "\"", output) == 0;
    }, std::chrono::seconds(10));
    // Listening, and it is ours: a port taken by someone else would answer too.
    if (!up || run_command("kill -0 $(cat " + pid_file_ + ")", output) != 0)
      ADD_FAILURE() << script << " did not start on port " << port << " (is the port taken?)";
  }
  ~TlsFixtureServer() {
    std::string output;
    run_command("kill $(cat " + pid_file_ + ") 2>/dev/null", output);
  }
  TlsFixtureServer(const TlsFixtureServer&) = delete;
  const std::string& out() const { return out_; }
  int port() const { return port_; }

 private:
  std::string out_, pid_file_;
  int port_;
};

}  // namespace relay::test
