#include "backends/postgres/inbox_rows.h"

#include <fmt/format.h>

#include <cctype>

#include "pg/copy_text.h"
#include "util/digest.h"
#include "util/json_escape.h"
#include "util/json_scan.h"
#include "util/strings.h"

namespace relay::postgres {
namespace {

const std::string* header(const Message& m, std::string_view name) {
  for (const auto& [k, v] : m.headers)
    if (util::iequals(k, name)) return &v;
  return nullptr;
}

// jsonb refuses the escape \u0000 (PostgreSQL text cannot hold NUL), though it is valid JSON.
bool has_nul_escape(std::string_view s) {
  for (size_t i = s.find("\\u0000"); i != std::string_view::npos; i = s.find("\\u0000", i + 1)) {
    size_t slashes = 0;
    while (slashes < i && s[i - 1 - slashes] == '\\') ++slashes;
    if (slashes % 2 == 0) return true;  // the backslash is not itself escaped
  }
  return false;
}

// Why `payload` cannot be stored as jsonb as it is, or "" when it can.
const char* payload_problem(std::string_view payload) {
  if (!util::valid_utf8(payload)) return "the payload is not UTF-8 text";
  if (payload.find('\0') != std::string_view::npos) return "the payload contains NUL bytes";
  if (!json_scan::valid(payload)) return "the payload is not valid JSON";
  if (has_nul_escape(payload)) return "the payload contains \\u0000, which PostgreSQL cannot store";
  if (!json_scan::fits_numeric(payload))
    return "the payload has a number beyond PostgreSQL's numeric range (131072 digits before the point, 16383 after)";
  return "";
}

// Strings from a broker may hold any bytes, but PostgreSQL needs text: others are kept base64-encoded.
void append_field(std::string& out, std::string_view s) {
  if (util::valid_text(s)) pg::append_copy_field(out, s);
  else pg::append_copy_field(out, "base64:" + util::base64_encode(s));
}
void append_field_or_null(std::string& out, std::string_view s) {
  if (s.empty()) pg::append_copy_null(out);
  else append_field(out, s);
}
void append_json_text(std::string& json, std::string_view s) {
  if (util::valid_text(s)) util::append_json_string(json, s);
  else util::append_json_string(json, "base64:" + util::base64_encode(s));
}

// The mapped value when `ref` finds one, else `fallback` (null when empty).
void append_mapped(std::string& out, const FieldRef& ref, const Message& m, std::string_view fallback,
                   std::string& scratch) {
  scratch.clear();
  if (ref.kind != FieldRef::none && ref.extract(m, scratch)) append_field(out, scratch);
  else append_field_or_null(out, fallback);
}

}  // namespace

Result<FieldRef> FieldRef::parse(std::string_view key, std::string_view text, bool allow_literal) {
  FieldRef ref;
  auto expected = [&] {
    return fmt::format("write a JSON path into the payload such as \"$.id\" or \"$.order.items[0].sku\", or "
                       "\"header:<name>\"{}",
                       allow_literal ? ", or fixed text" : "");
  };
  if (util::starts_with(text, "header:")) {
    ref.kind = header;
    ref.name = std::string(text.substr(7));
    if (ref.name.empty()) return fatal(fmt::format("{}: \"header:\" needs a header name; {}", key, expected()));
    return ref;
  }
  if (util::starts_with(text, "$")) {
    ref.kind = json_path;
    size_t i = 1;
    while (i < text.size()) {
      if (text[i] == '.') {
        size_t end = text.find_first_of(".[", i + 1);
        if (end == std::string_view::npos) end = text.size();
        if (end == i + 1) return fatal(fmt::format("{}: \"{}\" has an empty step at {}; {}", key, text, i, expected()));
        ref.path.emplace_back(text.substr(i, end - i));
        i = end;
      } else if (text[i] == '[') {
        size_t end = text.find(']', i);
        std::string_view digits = end == std::string_view::npos ? std::string_view{} : text.substr(i + 1, end - i - 1);
        bool ok = !digits.empty() && digits.size() < 10;
        for (char c : digits) ok = ok && std::isdigit(static_cast<unsigned char>(c));
        if (!ok) return fatal(fmt::format("{}: \"{}\" needs an array index such as [0] at {}; {}", key, text, i, expected()));
        ref.path.push_back("#" + std::string(digits));
        i = end + 1;
      } else {
        return fatal(fmt::format("{}: \"{}\" is not a JSON path (unexpected '{}' at {}); {}", key, text, text[i], i, expected()));
      }
    }
    if (ref.path.empty()) return fatal(fmt::format("{}: \"$\" alone is the whole payload, not a field; {}", key, expected()));
    return ref;
  }
  if (!allow_literal || text.empty()) return fatal(fmt::format("{}: \"{}\" is not a field reference; {}", key, text, expected()));
  ref.kind = literal;
  ref.name = std::string(text);
  return ref;
}

bool FieldRef::extract(const Message& m, std::string& out) const {
  switch (kind) {
    case none: return false;
    case literal: out += name; return true;
    case header: {
      const std::string* v = postgres::header(m, name);
      if (!v) return false;
      out += *v;
      return true;
    }
    case json_path: {
      std::string_view at = m.data;
      for (const auto& step : path) {
        std::string_view next;
        if (step[0] == '#') {
          size_t want = std::stoul(step.substr(1)), n = 0;
          bool found = false;
          json_scan::each_element(at, [&](std::string_view v) {
            if (n++ == want) next = v, found = true;
          });
          if (!found) return false;
        } else if (!json_scan::field(at, std::string_view(step).substr(1), next)) {
          return false;
        }
        at = next;
      }
      if (json_scan::kind(at) == 'z') return false;  // null: as if absent
      json_scan::append_text(out, at);
      return true;
    }
  }
  return false;
}

Result<InboxRowOptions> InboxRowOptions::from_config(const ConfigSection& sink, bool forward) {
  InboxRowOptions o;
  o.forward = forward;
  auto ref = [&](const char* key, bool allow_literal, FieldRef& into) -> Status {
    if (!sink.has(key)) return {};
    auto r = FieldRef::parse(key, sink.text(key), allow_literal);
    if (!r) return r.error();
    into = std::move(*r);
    return {};
  };
  if (auto s = ref("event_id", false, o.event_id); !s) return s.error();
  if (auto s = ref("aggregate_id", false, o.aggregate_id); !s) return s.error();
  if (auto s = ref("trace_id", false, o.trace_id); !s) return s.error();
  if (sink.has("event_type")) {
    std::string text = sink.text("event_type");
    bool reference = util::starts_with(text, "$") || util::starts_with(text, "header:");
    if (forward && !reference) {
      o.event_type_rendered = true;  // a template the outbox source renders per message
    } else {
      if (!forward && text.find('{') != std::string::npos)
        return fatal(fmt::format("event_type: \"{}\" is a template, but templates apply to outbox pipelines; in a reverse "
                                 "pipeline write a JSON path such as \"$.type\", \"header:<name>\" or fixed text",
                                 text));
      if (auto s = ref("event_type", true, o.event_type); !s) return s.error();
    }
  }
  o.dead_letter_invalid = sink.text("invalid_payload") == "dead_letter";
  o.max_payload_bytes = sink.integer("max_payload_bytes");
  return o;
}

std::string bounded_event_id(std::string_view identity) {
  if (identity.size() <= kMaxEventIdBytes) return std::string(identity);
  return "sha256:" + util::sha256_hex(identity);
}

std::string_view trace_id_of(std::string_view tp) {
  // version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags (2 hex)
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return tp;
  for (size_t i = 3; i < 35; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(tp[i]))) return tp;
  return tp.substr(3, 32);
}

size_t encode_inbox_rows(std::span<const Message> batch, const InboxRowOptions& o, std::string& out,
                         std::span<Outcome> outcomes) {
  std::string scratch, text, json;
  size_t rows = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Message& m = batch[i];
    if (m.data.size() > o.max_payload_bytes) {
      outcomes[i] = {Outcome::rejected, fmt::format("the payload has {} bytes, more than max_payload_bytes ({})",
                                                    m.data.size(), o.max_payload_bytes)};
      continue;
    }
    const char* problem = payload_problem(m.data);
    if (*problem && o.dead_letter_invalid) {
      outcomes[i] = {Outcome::rejected, std::string(problem) + " (invalid_payload = \"dead_letter\")"};
      continue;
    }
    ++rows;

    // event_id, bounded: the identity as sent goes to the headers when it is too long to be stored as it is
    scratch.clear();
    std::string_view identity =
        o.event_id.kind != FieldRef::none && o.event_id.extract(m, scratch) && !scratch.empty() ? std::string_view(scratch)
                                                                                                 : std::string_view(m.dedup_key);
    std::string long_identity;
    if (identity.size() > kMaxEventIdBytes) {
      long_identity = identity;
      append_field(out, bounded_event_id(identity));
    } else {
      append_field(out, identity);
    }

    // event_type
    out += '\t';
    if (o.event_type_rendered) {
      append_field_or_null(out, m.routes[0]);
    } else {
      text.clear();
      if (o.forward) text.append(m.source).append(".").append(to_string(m.op));
      else text = m.subject;
      append_mapped(out, o.event_type, m, text, scratch);
    }

    // source, aggregate_id
    out += '\t';
    append_field_or_null(out, m.source);
    out += '\t';
    append_mapped(out, o.aggregate_id, m, m.key, scratch);

    // payload (jsonb), as it came or as a JSON string with the reason in error
    out += '\t';
    if (!*problem) {
      pg::append_copy_field(out, m.data);
    } else {
      json.clear();
      append_json_text(json, m.data);
      pg::append_copy_field(out, json);
    }
    out += '\t';
    if (*problem)
      pg::append_copy_field(out, fmt::format("{}; it is stored as a JSON string{}", problem,
                                             util::valid_text(m.data) ? "" : " of its base64 encoding"));
    else
      pg::append_copy_null(out);

    // headers (jsonb object)
    json = "{";
    if (o.forward) {
      json += "\"op\":\"";
      json += to_string(m.op);
      json += '"';
    }
    for (const auto& [k, v] : m.headers) {
      if (json.size() > 1) json += ',';
      append_json_text(json, k);
      json += ':';
      append_json_text(json, v);
    }
    if (!long_identity.empty()) {  // last: jsonb keeps the last of two equal keys, so a sender's own cannot hide it
      if (json.size() > 1) json += ',';
      append_json_text(json, kLongEventIdHeader);
      json += ':';
      append_json_text(json, long_identity);
    }
    json += '}';
    out += '\t';
    pg::append_copy_field(out, json);

    // trace_id
    out += '\t';
    scratch.clear();
    if (o.trace_id.kind != FieldRef::none && o.trace_id.extract(m, scratch)) {
      append_field(out, scratch);
    } else {
      const std::string* tp = header(m, "traceparent");
      append_field_or_null(out, tp ? trace_id_of(*tp) : std::string_view{});
    }
    out += '\n';
  }
  return rows;
}

}  // namespace relay::postgres
