// A throwaway CA with server and client certificates for the TLS tests, made once per test process
// by tests/fixtures/make-certs.sh (openssl) under work_dir().
#pragma once

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
    if (run_command("bash " RELAY_SOURCE_DIR "/tests/fixtures/make-certs.sh " + c.dir, out) != 0)
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

}  // namespace relay::test
