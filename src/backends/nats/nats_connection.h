// Connecting to NATS the same way for the sink and the source (src/backends/nats/): servers,
// authentication (token, user/password, creds file), TLS, reconnect policy; and the library's
// error text. One home for the connection settings both directions accept.
#pragma once

#include <nats/nats.h>

#include "config/config_section.h"
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "relay/result.h"

namespace relay::nats {

struct ConnectionDeleter {
  void operator()(natsConnection* c) const { natsConnection_Destroy(c); }
};
struct JsDeleter {
  void operator()(jsCtx* j) const { jsCtx_Destroy(j); }
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionDeleter>;
using JsPtr = std::unique_ptr<jsCtx, JsDeleter>;

// The connection keys of a sink or source config: url (comma-separated for a cluster), token,
// user/password, creds_file, tls_ca, tls_cert/tls_key.
struct Settings {
  std::string url, token, user, password, creds_file, tls_ca, tls_cert, tls_key;
  // Connect only to the servers of `url`, never to those a server announces (a pipeline defined in
  // SQL: only the servers given were checked against the operator's destination lists).
  bool only_given_servers = false;
  static Settings from(const ConfigSection& config);
};

// Connects (2 s timeout; reconnects forever in the background once connected). Option problems
// are fatal (a bad creds or certificate file), a failed connection is retriable.
Result<ConnectionPtr> connect(const Settings& settings, const std::string& client_name);

// natsStatus as text, with the library's detail for the last error when it has one.
std::string status_text(natsStatus s);

}  // namespace relay::nats
