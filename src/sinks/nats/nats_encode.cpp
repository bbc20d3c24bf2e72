#include "sinks/nats/nats_encode.h"

#include <cctype>

namespace relay::nats_wire {

std::vector<std::pair<std::string_view, std::string_view>> headers(const Message& m) {
  std::vector<std::pair<std::string_view, std::string_view>> h;
  h.reserve(1 + m.headers.size());
  h.emplace_back("Nats-Msg-Id", m.dedup_key);
  for (const auto& [k, v] : m.headers) h.emplace_back(k, v);
  return h;
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

}  // namespace relay::nats_wire
