#include "backends/rabbitmq/amqp_connection.h"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

namespace relay::rabbitmq {

timeval to_timeval(std::chrono::microseconds d) {
  d = std::max(d, std::chrono::microseconds(1000));
  return {static_cast<time_t>(d.count() / 1000000), static_cast<suseconds_t>(d.count() % 1000000)};
}

namespace {
// rabbitmq-c does not load OpenSSL's default trust store: without tls_ca, the system bundle.
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";
constexpr int kFrameMax = 131072;  // RabbitMQ's default
constexpr auto kConnectTimeout = std::chrono::seconds(5);

Result<amqp_socket_t*> tls_socket(amqp_connection_state_t c, const TlsFiles& tls, std::string_view role) {
  amqp_socket_t* socket = amqp_ssl_socket_new(c);  // owned by the connection
  if (!socket) return retriable("RabbitMQ: cannot allocate a TLS socket");
  amqp_ssl_socket_set_verify_peer(socket, 1);
  amqp_ssl_socket_set_verify_hostname(socket, 1);
  std::string ca = tls.ca.empty() ? kSystemCaBundle : tls.ca;
  if (int rc = amqp_ssl_socket_set_cacert(socket, ca.c_str()); rc != AMQP_STATUS_OK)
    return fatal(fmt::format("{}.tls_ca: cannot load the CA certificates in {}: {}", role, ca, amqp_error_string2(rc)));
  if (!tls.cert.empty()) {
    if (int rc = amqp_ssl_socket_set_key(socket, tls.cert.c_str(), tls.key.c_str()); rc != AMQP_STATUS_OK)
      return fatal(fmt::format("{}.tls_cert/tls_key: cannot load the client certificate {} with key {}: {}", role, tls.cert,
                               tls.key, amqp_error_string2(rc)));
  }
  return socket;
}
}  // namespace

Result<TlsFiles> tls_files(const ConfigSection& c, const Url& url, std::string_view role) {
  TlsFiles t{c.text("tls_ca"), c.text("tls_cert"), c.text("tls_key")};
  bool any = !t.ca.empty() || !t.cert.empty() || !t.key.empty();
  if (any && !url.tls)
    return fatal(fmt::format("{}.tls_ca/tls_cert/tls_key need TLS: use an amqps:// url (port 5671 by default)", role));
  if (t.cert.empty() != t.key.empty())
    return fatal(fmt::format("{}.tls_cert and {}.tls_key go together: set both or neither", role, role));
  for (const auto& [name, path] : {std::pair{"tls_ca", &t.ca}, {"tls_cert", &t.cert}, {"tls_key", &t.key}})
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0)
      return fatal(fmt::format("{}.{}: cannot read {}", role, name, *path));
  return t;
}

Result<ConnectionPtr> open_connection(const Url& url, const TlsFiles& tls, std::string_view key, amqp_channel_t channel) {
  ConnectionPtr c(amqp_new_connection());
  if (!c) return retriable("RabbitMQ: cannot allocate a connection");
  amqp_socket_t* socket = nullptr;  // owned by the connection
  if (url.tls) {
    auto s = tls_socket(c.get(), tls, key.substr(0, key.find('.')));
    if (!s) return s.error();
    socket = *s;
  } else {
    socket = amqp_tcp_socket_new(c.get());
    if (!socket) return retriable("RabbitMQ: cannot allocate a socket");
  }
  timeval tv = to_timeval(kConnectTimeout);
  if (int rc = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &tv); rc != AMQP_STATUS_OK) {
    // A certificate the CA does not verify, or that names another host: retried, as a renewed
    // certificate or CA file fixes it without a restart.
    if (url.tls && (rc == AMQP_STATUS_SSL_ERROR || rc == AMQP_STATUS_SSL_PEER_VERIFY_FAILED ||
                    rc == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED || rc == AMQP_STATUS_SSL_CONNECTION_FAILED))
      return retriable(fmt::format("RabbitMQ: TLS handshake with {}:{} failed: {} (check the broker's certificate against "
                                   "{}.tls_ca, and that it names the host {})",
                                   url.host, url.port, amqp_error_string2(rc), key.substr(0, key.find('.')), url.host));
    return Error{classify_status(rc), fmt::format("RabbitMQ: cannot connect to {}:{}: {}", url.host, url.port, amqp_error_string2(rc))};
  }
  amqp_set_handshake_timeout(c.get(), &tv);
  timeval rpc = to_timeval(std::chrono::seconds(10));
  amqp_set_rpc_timeout(c.get(), &rpc);
  // No heartbeat: the library only sends them from inside its calls, so an idle relay would be
  // disconnected by the broker.
  amqp_rpc_reply_t login = amqp_login(c.get(), url.vhost.c_str(), 0, kFrameMax, 0, AMQP_SASL_METHOD_PLAIN, url.user.c_str(),
                                      url.password.c_str());
  // With TLS 1.3 the broker refuses a client certificate after the handshake: it shows here.
  if (url.tls && login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && login.library_error == AMQP_STATUS_SSL_ERROR) {
    std::string_view role = key.substr(0, key.find('.'));
    return retriable(fmt::format("RabbitMQ: the TLS session with {}:{} failed before login: {} (the broker may require a client "
                                 "certificate: set {}.tls_cert and {}.tls_key)",
                                 url.host, url.port, amqp_error_string2(login.library_error), role, role));
  }
  if (auto s = check_reply(c.get(), channel, login, fmt::format("login (check {}'s user, password and vhost)", key)); !s)
    return s.error();
  amqp_channel_open(c.get(), channel);
  if (auto s = check_reply(c.get(), channel, amqp_get_rpc_reply(c.get()), "opening a channel"); !s) return s.error();
  return c;
}

Status check_reply(amqp_connection_state_t c, amqp_channel_t channel, const amqp_rpc_reply_t& r, const std::string& what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_NONE:
      return retriable(fmt::format("RabbitMQ: {}: no reply", what));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return Error{classify_status(r.library_error), fmt::format("RabbitMQ: {} failed: {}", what, amqp_error_string2(r.library_error))};
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }
  int code = 0;
  std::string text;
  if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
    code = m->reply_code;
    text = std::string(view(m->reply_text));
    amqp_connection_close_ok_t ok{};
    amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
  } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
    code = m->reply_code;
    text = std::string(view(m->reply_text));
    amqp_channel_close_ok_t ok{};
    amqp_send_method(c, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
  }
  ErrorKind kind = classify_close(code, text);
  if (kind == ErrorKind::permanent) kind = ErrorKind::fatal;
  return Error{kind, fmt::format("RabbitMQ refused {}: {} {}", what, code, text)};
}

}  // namespace relay::rabbitmq
