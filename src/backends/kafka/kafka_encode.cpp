#include "backends/kafka/kafka_encode.h"

#include <fmt/format.h>

#include "util/header_value.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace relay::kafka {
namespace {

bool topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

KeyRule KeyRule::from_option(std::string_view key_option) {
  KeyRule r;
  if (trim(key_option).empty()) return r;
  if (key_option.find('{') != std::string_view::npos) {
    r.kind = route;
    return r;
  }
  r.kind = columns;
  for (auto part : util::split_list(key_option, ','))
    if (auto c = trim(part); !c.empty()) r.names.emplace_back(c);
  return r;
}

void encode(const Message& m, const KeyRule& rule, std::string& key_buf, Record& out) {
  out.topic = m.routes[0];
  out.value = m.body;
  switch (rule.kind) {
    case KeyRule::message_key: out.key = m.key; break;
    case KeyRule::route: out.key = m.routes[1]; break;
    case KeyRule::columns: {
      // The same shape as the pipeline's `key` option: one column as text, several as a JSON array.
      key_buf.clear();
      std::string_view v;
      if (rule.names.size() == 1) {
        if (json_scan::field(m.data, rule.names[0], v)) json_scan::append_text(key_buf, v);
      } else {
        key_buf += '[';
        for (size_t i = 0; i < rule.names.size(); ++i) {
          if (i) key_buf += ',';
          if (json_scan::field(m.data, rule.names[i], v)) json_scan::append_minified(key_buf, v);
          else key_buf += "null";
        }
        key_buf += ']';
      }
      out.key = key_buf;
      break;
    }
  }
  out.headers.clear();
  out.headers.reserve(m.headers.size() + 2);
  // The identity holds the stream table's name, which its owner chose: made header-safe
  // (util/header_value.h), as on every sink, for consumers that carry it into a header of their own.
  out.headers.emplace_back(kDedupHeader, util::header_safe(m.dedup_key, out.id_buf));
  // CloudEvents' Kafka binding: content-type tells a structured event from a binary one.
  if (!m.content_type.empty()) out.headers.emplace_back("content-type", m.content_type);
  for (const auto& [k, v] : m.headers) {
    // The identity header is the relay's: an application header of that name cannot replace it.
    if (k == kDedupHeader) continue;
    out.headers.emplace_back(k, v);
  }
}

std::string topic_problem(std::string_view topic) {
  if (topic.empty()) return "the topic is empty";
  if (topic.size() > 249) return fmt::format("the topic is {} characters long; Kafka allows at most 249", topic.size());
  if (topic == "." || topic == "..") return fmt::format("\"{}\" is not a valid topic name", topic);
  for (char c : topic)
    if (!topic_char(c))
      return fmt::format("the topic \"{}\" contains '{}'; Kafka topics use only letters, digits, '.', '_' and '-'",
                         topic, c);
  return {};
}

std::string topic_template_problem(std::string_view text) {
  // Skip the variables ({name} and {{ column }}); what they render to is checked per message.
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, 2) == "{{") {
      size_t end = text.find("}}", i + 2);
      if (end == std::string_view::npos) return {};  // the template compiler reports this one
      i = end + 2;
    } else if (text[i] == '{') {
      size_t end = text.find('}', i + 1);
      if (end == std::string_view::npos) return {};
      i = end + 1;
    } else if (!topic_char(text[i])) {
      return fmt::format("\"{}\" contains '{}'; Kafka topics use only letters, digits, '.', '_' and '-'", text, text[i]);
    } else {
      ++i;
    }
  }
  return {};
}

}  // namespace relay::kafka
