#include "sinks/rabbitmq/amqp_connection.h"

#include <amqp_tcp_socket.h>
#include <fmt/format.h>

#include <algorithm>

namespace relay::amqp_wire {

timeval to_timeval(std::chrono::microseconds d) {
  d = std::max(d, std::chrono::microseconds(1000));
  return {static_cast<time_t>(d.count() / 1000000), static_cast<suseconds_t>(d.count() % 1000000)};
}

Result<ConnectionPtr> open_connection(const Url& url, std::string_view key, amqp_channel_t channel, int frame_max,
                                      std::chrono::seconds connect_timeout) {
  ConnectionPtr c(amqp_new_connection());
  if (!c) return retriable("RabbitMQ: cannot allocate a connection");
  amqp_socket_t* socket = amqp_tcp_socket_new(c.get());  // owned by the connection
  if (!socket) return retriable("RabbitMQ: cannot allocate a socket");
  timeval tv = to_timeval(connect_timeout);
  if (int rc = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &tv); rc != AMQP_STATUS_OK)
    return Error{classify_status(rc), fmt::format("RabbitMQ: cannot connect to {}:{}: {}", url.host, url.port, amqp_error_string2(rc))};
  amqp_set_handshake_timeout(c.get(), &tv);
  timeval rpc = to_timeval(std::chrono::seconds(10));
  amqp_set_rpc_timeout(c.get(), &rpc);
  // No heartbeat: the library only sends them from inside its calls, so an idle relay would be
  // disconnected by the broker.
  if (auto s = check_reply(c.get(), channel, amqp_login(c.get(), url.vhost.c_str(), 0, frame_max, 0, AMQP_SASL_METHOD_PLAIN,
                                                         url.user.c_str(), url.password.c_str()),
                           fmt::format("login (check {}'s user, password and vhost)", key));
      !s)
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

}  // namespace relay::amqp_wire
