#include "backends/nats/nats_encode.h"

#include <cctype>
#include <charconv>

#include "util/header_value.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace relay::nats {

std::vector<std::pair<std::string_view, std::string_view>> headers(const Message& m, std::string& id_buf) {
  std::vector<std::pair<std::string_view, std::string_view>> h;
  h.reserve(2 + m.headers.size());
  h.emplace_back("Nats-Msg-Id", util::header_safe(m.dedup_key, id_buf));
  if (!m.content_type.empty()) h.emplace_back("content-type", m.content_type);
  for (const auto& [k, v] : m.headers)
    if (util::is_http_token(k) && util::fits_header(v)) h.emplace_back(k, v);
  return h;
}

PubAck parse_pub_ack(std::string_view body) {
  PubAck a;
  std::string_view v;
  if (json_scan::kind(body) != '{' || !json_scan::valid(body)) {
    a.error = "unreadable PubAck: " + std::string(body.substr(0, 200));
    return a;
  }
  if (json_scan::field(body, "error", v)) {
    std::string_view code, description;
    if (json_scan::field(v, "err_code", code)) std::from_chars(code.data(), code.data() + code.size(), a.err_code);
    if (json_scan::field(v, "description", description)) json_scan::append_text(a.error, description);
    if (a.error.empty()) a.error = "JetStream refused the message: " + std::string(v);
    return a;
  }
  if (!json_scan::field(body, "seq", v) || json_scan::kind(v) != 'n') {
    a.error = "PubAck without a sequence: " + std::string(body.substr(0, 200));
    return a;
  }
  a.stored = true;
  return a;
}

std::string reply_subject(std::string_view inbox, std::uint32_t generation, std::size_t index) {
  std::string s;
  s.reserve(inbox.size() + 24);
  s += inbox;
  s += '.';
  s += std::to_string(generation);
  s += '-';
  s += std::to_string(index);
  return s;
}

bool parse_reply_subject(std::string_view subject, std::uint32_t& generation, std::size_t& index) {
  size_t dot = subject.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string_view token = subject.substr(dot + 1);
  size_t dash = token.find('-');
  if (dash == std::string_view::npos) return false;
  const char* end = token.data() + token.size();
  auto g = std::from_chars(token.data(), token.data() + dash, generation);
  auto i = std::from_chars(token.data() + dash + 1, end, index);
  return g.ec == std::errc() && g.ptr == token.data() + dash && i.ec == std::errc() && i.ptr == end;
}

std::string subject_problem(std::string_view s) {
  if (s.empty()) return "the subject is empty";
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view token = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) return "the subject \"" + std::string(s) + "\" has an empty token";
    if (token == "*" || token == ">") return "the subject \"" + std::string(s) + "\" has a wildcard token";
    for (char c : token)
      if (std::isspace(static_cast<unsigned char>(c)))
        return "the subject \"" + std::string(s) + "\" contains whitespace";
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

std::string stream_subject(std::string_view text, std::string_view literal_prefix) {
  if (literal_prefix.size() == text.size()) return std::string(text);  // no variables
  size_t last_dot = literal_prefix.rfind('.');
  if (last_dot == std::string_view::npos) return "";
  return std::string(literal_prefix.substr(0, last_dot + 1)) + ">";
}

std::string default_stream_name(std::string_view subject) {
  std::string name;
  for (char c : subject) {
    if (c == '>' || c == '*') break;
    name += c == '.' ? '_' : c;
  }
  while (!name.empty() && name.back() == '_') name.pop_back();
  return name;
}

}  // namespace relay::nats
