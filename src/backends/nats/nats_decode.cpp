#include "backends/nats/nats_decode.h"

#include <charconv>
#include <string>

#include "util/strings.h"

namespace relay::nats {
namespace {

template <class T>
bool number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::optional<Delivery> parse_ack_subject(std::string_view reply) {
  std::string_view tokens[16];
  size_t n = 0;
  size_t start = 0;
  while (n < 16) {
    size_t dot = reply.find('.', start);
    tokens[n++] = reply.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (n < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return std::nullopt;
  // v1 has exactly 9 tokens; v2 adds the domain and account hash before the stream (and a token after).
  size_t base = n == 9 ? 2 : 4;
  if (n != 9 && n < 11) return std::nullopt;
  Delivery d;
  d.stream = tokens[base];
  d.consumer = tokens[base + 1];
  if (d.stream.empty() || d.consumer.empty()) return std::nullopt;
  if (!number(tokens[base + 2], d.delivered) || !number(tokens[base + 3], d.stream_seq) ||
      !number(tokens[base + 4], d.consumer_seq) || !number(tokens[base + 5], d.timestamp_ns) ||
      !number(tokens[base + 6], d.pending))
    return std::nullopt;
  return d;
}

Message to_message(std::string_view stream, std::string_view subject, std::string_view data,
                   std::vector<Header> headers, const Delivery& delivery) {
  Message m;
  m.op = Op::event;
  for (const auto& [k, v] : headers) {
    if (!v.empty() && util::iequals(k, "Nats-Msg-Id")) {
      m.dedup_key = v;
      break;
    }
  }
  if (m.dedup_key.empty()) {
    m.dedup_key.reserve(stream.size() + 21);
    m.dedup_key.append(stream).append(":").append(std::to_string(delivery.stream_seq));
  }
  m.subject = subject;
  m.source.reserve(5 + stream.size());
  m.source.append("nats:").append(stream);
  m.data = data;
  m.headers = std::move(headers);
  m.committed_at = static_cast<double>(delivery.timestamp_ns) / 1e9;
  return m;
}

}  // namespace relay::nats
