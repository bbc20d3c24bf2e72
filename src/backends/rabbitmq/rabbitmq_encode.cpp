#include "backends/rabbitmq/rabbitmq_encode.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "util/header_value.h"
#include "util/strings.h"

namespace relay::rabbitmq {
namespace {

amqp_table_entry_t text_entry(std::string_view key, std::string_view value) {
  amqp_table_entry_t e{};
  e.key = bytes(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = bytes(value);
  return e;
}

}  // namespace

void encode(const Message& m, Publish& out) {
  out.headers.clear();
  out.headers.push_back(text_entry("pgtrickle-op", to_string(m.op)));
  out.headers.push_back(text_entry("pgtrickle-stream-table", util::header_safe(m.source, out.stream_table)));
  if (!m.key.empty()) out.headers.push_back(text_entry("pgtrickle-key", util::header_safe(m.key, out.key)));
  for (const auto& [name, value] : m.headers) out.headers.push_back(text_entry(name, value));

  auto& p = out.props;
  p = amqp_basic_properties_t{};
  p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
             AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
  p.content_type = bytes(m.content_type.empty() ? std::string_view("application/json") : std::string_view(m.content_type));
  p.delivery_mode = 2;  // persistent: written to disk by durable queues before the confirm
  p.message_id = bytes(util::header_safe(m.dedup_key, out.message_id));
  p.app_id = bytes("pgtrickle-relay");
  p.headers.num_entries = static_cast<int>(out.headers.size());
  p.headers.entries = out.headers.data();
  if (m.committed_at > 0) {
    p._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    p.timestamp = static_cast<uint64_t>(std::floor(m.committed_at));
  }
}

Result<Url> parse_url(std::string_view url, std::string_view key) {
  auto bad = [&](std::string_view what) {
    return fatal(fmt::format("{}: {}; expected amqp[s]://user:password@host[:port][/vhost]", key, what));
  };
  Url u;
  std::string_view rest;
  if (url.substr(0, 8) == "amqps://") {
    u.tls = true;
    u.port = 5671;
    rest = url.substr(8);
  } else if (url.substr(0, 7) == "amqp://") {
    rest = url.substr(7);
  } else {
    return bad("the scheme must be amqp:// or amqps://");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    path = path.substr(0, path.find('?'));
    if (!path.empty() && !util::percent_decode(path, u.vhost)) return bad("the vhost has a bad %-escape");
    if (u.vhost.empty()) u.vhost.push_back('/');  // "amqp://host/" means the default vhost
  }
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (!util::percent_decode(userinfo.substr(0, colon), u.user)) return bad("the user has a bad %-escape");
    u.password.clear();
    if (colon != std::string_view::npos && !util::percent_decode(userinfo.substr(colon + 1), u.password))
      return bad("the password has a bad %-escape");
  }
  if (auto problem = util::parse_host_port(authority, u.host, u.port); !problem.empty()) return bad(problem);
  return u;
}

ErrorKind classify_close(int code, std::string_view text) {
  switch (code) {
    case AMQP_CONTENT_TOO_LARGE:      // 311
    case AMQP_NO_ROUTE:               // 312: mandatory message no queue is bound for
    case AMQP_NO_CONSUMERS:           // 313
      return ErrorKind::permanent;
    case AMQP_PRECONDITION_FAILED:    // 406: per message only when it is the message's size
      return refused_size(text) >= 0 ? ErrorKind::permanent : ErrorKind::fatal;
    case AMQP_INVALID_PATH:           // 402
    case AMQP_ACCESS_REFUSED:         // 403: the user may not write to the exchange
    case AMQP_NOT_FOUND:              // 404: the exchange does not exist
    case AMQP_SYNTAX_ERROR:           // 502
    case AMQP_COMMAND_INVALID:        // 503
    case AMQP_NOT_ALLOWED:            // 530: e.g. the vhost
    case AMQP_NOT_IMPLEMENTED:        // 540
      return ErrorKind::fatal;
    case AMQP_CONNECTION_FORCED:      // 320: the broker shuts down or an operator closed us
    case AMQP_RESOURCE_LOCKED:        // 405
    case AMQP_FRAME_ERROR:            // 501
    case AMQP_CHANNEL_ERROR:          // 504
    case AMQP_UNEXPECTED_FRAME:       // 505
    case AMQP_RESOURCE_ERROR:         // 506
    case AMQP_INTERNAL_ERROR:         // 541
    default:
      return ErrorKind::retriable;
  }
}

ErrorKind classify_status(int status) {
  switch (status) {
    case AMQP_STATUS_TABLE_TOO_BIG:  // this message's headers do not fit in one frame
      return ErrorKind::permanent;
    case AMQP_STATUS_BAD_URL:
    case AMQP_STATUS_INCOMPATIBLE_AMQP_VERSION:
    case AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD:
    case AMQP_STATUS_UNSUPPORTED:
      return ErrorKind::fatal;
    default:  // connection closed or lost, timeouts, heartbeat missed, name resolution...
      return ErrorKind::retriable;
  }
}

long long refused_size(std::string_view text) {
  // RabbitMQ: "PRECONDITION_FAILED - message size 200000 is larger than configured max size 131072".
  constexpr std::string_view marker = "message size ";
  size_t at = text.find(marker);
  if (at == std::string_view::npos || text.find("larger than configured max size") == std::string_view::npos) return -1;
  long long n = -1;
  const char* b = text.data() + at + marker.size();
  auto r = std::from_chars(b, text.data() + text.size(), n);
  return r.ec == std::errc() ? n : -1;
}

}  // namespace relay::rabbitmq
