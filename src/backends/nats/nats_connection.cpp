#include "backends/nats/nats_connection.h"

#include <fmt/format.h>

#include <vector>

#include "util/strings.h"

namespace relay::nats {
namespace {

struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};

}  // namespace

Settings Settings::from(const ConfigSection& c) {
  Settings s;
  s.url = c.text("url");
  s.token = c.text("token");
  s.user = c.text("user");
  s.password = c.text("password");
  s.creds_file = c.text("creds_file");
  s.tls_ca = c.text("tls_ca");
  s.tls_cert = c.text("tls_cert");
  s.tls_key = c.text("tls_key");
  return s;
}

std::string status_text(natsStatus s) {
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  std::string text = natsStatus_GetText(s);
  if (detail && *detail && last == s && text != detail) text += std::string(": ") + detail;
  return text;
}

Result<ConnectionPtr> connect(const Settings& cfg, const std::string& client_name) {
  natsOptions* raw_opts = nullptr;
  if (natsOptions_Create(&raw_opts) != NATS_OK) return fatal("NATS: cannot allocate options");
  std::unique_ptr<natsOptions, OptionsDeleter> opts(raw_opts);
  std::vector<std::string> urls;
  for (auto u : util::split_list(cfg.url, ',')) {
    while (!u.empty() && u.front() == ' ') u.remove_prefix(1);
    while (!u.empty() && u.back() == ' ') u.remove_suffix(1);
    if (!u.empty()) urls.emplace_back(u);
  }
  std::vector<const char*> servers;
  for (const auto& u : urls) servers.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK && cfg.only_given_servers) s = natsOptions_SetIgnoreDiscoveredServers(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), client_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), 2000);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 250);
  // A server that stops answering (frozen, a half-open connection) is declared lost after two
  // unanswered PINGs, ~10-15 s, instead of the library's 2 minutes: a publish then fails over to
  // reconnecting and /health shows it, rather than waiting on PubAcks or empty fetches.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), 5000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), 2);
  if (s == NATS_OK && !cfg.token.empty()) s = natsOptions_SetToken(opts.get(), cfg.token.c_str());
  if (s == NATS_OK && !cfg.user.empty()) s = natsOptions_SetUserInfo(opts.get(), cfg.user.c_str(), cfg.password.c_str());
  if (s == NATS_OK && !cfg.creds_file.empty()) s = natsOptions_SetUserCredentialsFromFiles(opts.get(), cfg.creds_file.c_str(), nullptr);
  if (s == NATS_OK && (!cfg.tls_ca.empty() || !cfg.tls_cert.empty())) s = natsOptions_SetSecure(opts.get(), true);
  if (s == NATS_OK && !cfg.tls_ca.empty()) s = natsOptions_LoadCATrustedCertificates(opts.get(), cfg.tls_ca.c_str());
  if (s == NATS_OK && !cfg.tls_cert.empty()) s = natsOptions_LoadCertificatesChain(opts.get(), cfg.tls_cert.c_str(), cfg.tls_key.c_str());
  if (s != NATS_OK) return fatal(fmt::format("NATS options: {}", status_text(s)));

  natsConnection* conn = nullptr;
  s = natsConnection_Connect(&conn, opts.get());
  if (s != NATS_OK) {
    // A server that requires a client certificate closes the connection after the handshake, which
    // nats.c reports as a protocol error ("Expected 'PONG'"): say what is likely missing.
    bool tls_without_cert = (!cfg.tls_ca.empty() || util::starts_with(cfg.url, "tls://")) && cfg.tls_cert.empty();
    return retriable(fmt::format("NATS: cannot connect to {}: {}{}", util::redact_url(cfg.url), status_text(s),
                                 tls_without_cert ? " (no client certificate was sent: if the server verifies clients, set tls_cert and tls_key)" : ""));
  }
  return ConnectionPtr(conn);
}

}  // namespace relay::nats
