#include "format/outbox_event_router.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "util/json_escape.h"
#include "util/json_scan.h"

namespace relay::debezium {
namespace {

namespace js = json_scan;

// A Connect schema JsonSchemaData infers from a JSON value.
struct Inferred {
  enum Type { string, boolean, int32, int64, float64, bytes, array, structure } type = string;
  std::string name;                     // a struct's name: the dotted path of its field ("payload.items")
  std::vector<std::string> field_names;  // a struct's fields, in the order first seen
  std::vector<Inferred> children;        // a struct's field schemas, or an array's element schema
  bool optional = true;                  // false for the union of an array's differing objects (as Debezium merges them)
  bool operator==(const Inferred&) const = default;
};

// A JSON number as Jackson reads it: an int, a long, a double, or too big for a long (which
// Debezium's expansion cannot put in a Connect struct).
enum class NumberKind { int32, int64, float64, too_big };
NumberKind number_kind(std::string_view text) {
  if (text.find_first_of(".eE") != std::string_view::npos) return NumberKind::float64;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return NumberKind::too_big;
  return v >= INT32_MIN && v <= INT32_MAX ? NumberKind::int32 : NumberKind::int64;
}

// A JSON value as text: a string's contents (an object's key, a header's value, as
// SimpleHeaderConverter writes it), any other value as written.
std::string text_of(std::string_view value) {
  std::string s;
  js::append_text(s, value);
  return s;
}

class Inference {
 public:
  explicit Inference(const RouterOptions& o) : opt_(o) {}
  bool failed = false;

  // JsonSchemaData.toConnectSchema: nullopt for a value it leaves out (null, an empty array).
  std::optional<Inferred> schema_of(const std::string& key, std::string_view v) {
    switch (js::kind(v)) {
      case '"': return Inferred{Inferred::string};
      case 't':
      case 'f': return Inferred{Inferred::boolean};
      case 'n':
        switch (number_kind(v)) {
          case NumberKind::int32: return Inferred{Inferred::int32};
          case NumberKind::int64: return Inferred{Inferred::int64};
          default: return Inferred{Inferred::float64};
        }
      case 'z':
        if (opt_.null_as_bytes) return Inferred{Inferred::bytes};
        return std::nullopt;
      case '[': return array_schema(key, v);
      case '{': {
        Inferred s{Inferred::structure, key};
        js::each_field(v, [&](std::string_view k, std::string_view fv) {
          std::string name = text_of(k);
          auto f = schema_of(key.empty() ? name : key + "." + name, fv);
          if (f && std::find(s.field_names.begin(), s.field_names.end(), name) == s.field_names.end()) {
            s.field_names.push_back(std::move(name));
            s.children.push_back(std::move(*f));
          }
        });
        return s;
      }
      default: failed = true; return std::nullopt;
    }
  }

 private:
  std::optional<Inferred> array_schema(const std::string& key, std::string_view v) {
    std::vector<std::string_view> elements;
    js::each_element(v, [&](std::string_view e) { elements.push_back(e); });
    if (elements.empty()) {
      if (!opt_.empty_array_as_strings) return std::nullopt;
      Inferred a{Inferred::array};
      a.children.push_back(Inferred{Inferred::string});
      return a;
    }
    // The first non-null element decides; the others must be of its kind (and numbers of its width).
    std::string_view sample;
    std::optional<NumberKind> width;
    for (auto e : elements) {
      char k = js::kind(e);
      if (k == 'z') continue;
      if (sample.empty()) sample = e;
      char sk = js::kind(sample);
      if ((k == 't' || k == 'f') ? !(sk == 't' || sk == 'f') : k != sk) {
        failed = true;
        return std::nullopt;
      }
      if (k == 'n') {
        NumberKind n = number_kind(e);
        if (n == NumberKind::too_big) n = NumberKind::float64;
        if (width && *width != n) {
          failed = true;
          return std::nullopt;
        }
        width = n;
      }
    }
    Inferred a{Inferred::array};
    if (!sample.empty() && js::kind(sample) == '{') {
      // The union of the objects' fields, in the order first seen (Debezium merges a set of the
      // distinct schemas, whose order varies from run to run, and its union is not optional).
      Inferred merged;
      bool first = true;
      for (auto e : elements) {
        if (js::kind(e) != '{') continue;
        auto s = schema_of(key, e);
        if (first) merged = std::move(*s);
        else if (!(*s == merged)) {
          merged.optional = false;
          for (std::size_t i = 0; i < s->field_names.size(); ++i) {
            auto at = std::find(merged.field_names.begin(), merged.field_names.end(), s->field_names[i]);
            if (at == merged.field_names.end()) {
              merged.field_names.push_back(s->field_names[i]);
              merged.children.push_back(s->children[i]);
            } else if (merged.children[at - merged.field_names.begin()].type == Inferred::bytes && s->children[i].type != Inferred::bytes) {
              merged.children[at - merged.field_names.begin()] = s->children[i];
            }
          }
        }
        first = false;
      }
      a.children.push_back(std::move(merged));
      return a;
    }
    auto element = sample.empty() ? schema_of("", "null") : schema_of("", sample);
    if (!element) {
      failed = true;  // "Array has unrecognized member schema"
      return std::nullopt;
    }
    a.children.push_back(std::move(*element));
    return a;
  }

  const RouterOptions& opt_;
};

void append_inferred_schema(std::string& out, const Inferred& s, const std::string* field) {
  // JsonConverter's names of the types (FLOAT64 is "double").
  static constexpr const char* kTypes[] = {"string", "boolean", "int32", "int64", "double", "bytes", "array", "struct"};
  out += "{\"type\":\"";
  out += kTypes[s.type];
  out += '"';
  if (s.type == Inferred::array) {
    out += ",\"items\":";
    append_inferred_schema(out, s.children.front(), nullptr);
  } else if (s.type == Inferred::structure) {
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < s.children.size(); ++i) {
      if (i) out += ',';
      append_inferred_schema(out, s.children[i], &s.field_names[i]);
    }
    out += ']';
  }
  out += s.optional ? ",\"optional\":true" : ",\"optional\":false";
  if (s.type == Inferred::structure && !s.name.empty()) {
    out += ",\"name\":";
    util::append_json_string(out, s.name);
  }
  if (field) {
    out += ",\"field\":";
    util::append_json_string(out, *field);
  }
  out += '}';
}

// The value of `v` under schema `s` as JsonConverter writes it; false where Connect would refuse
// to put it in the struct (a value not of the schema's type).
bool append_data(std::string& out, const Inferred& s, std::string_view v) {
  const char k = js::kind(v);
  if (k == 'z') {
    out += "null";
    return true;
  }
  switch (s.type) {
    case Inferred::string:
      if (k != '"') return false;
      out += v;  // already a JSON string
      return true;
    case Inferred::boolean:
      if (k != 't' && k != 'f') return false;
      out += k == 't' ? "true" : "false";
      return true;
    case Inferred::int32:
    case Inferred::int64: {
      if (k != 'n') return false;
      NumberKind n = number_kind(v);
      if (n != (s.type == Inferred::int32 ? NumberKind::int32 : NumberKind::int64)) return false;
      std::int64_t i = 0;
      std::from_chars(v.data(), v.data() + v.size(), i);
      util::append_int(out, i);
      return true;
    }
    case Inferred::float64: {
      if (k != 'n' || number_kind(v) != NumberKind::float64) return false;
      append_java_double(out, std::strtod(std::string(v).c_str(), nullptr));
      return true;
    }
    case Inferred::bytes: return false;  // only nulls were seen
    case Inferred::array: {
      if (k != '[') return false;
      out += '[';
      bool first = true, ok = true;
      js::each_element(v, [&](std::string_view e) {
        if (!first) out += ',';
        first = false;
        ok = ok && append_data(out, s.children.front(), e);
      });
      out += ']';
      return ok;
    }
    case Inferred::structure: {
      if (k != '{') return false;
      out += '{';
      for (std::size_t i = 0; i < s.children.size(); ++i) {
        if (i) out += ',';
        util::append_json_string(out, s.field_names[i]);
        out += ':';
        std::string_view fv;
        if (!js::field(v, s.field_names[i], fv)) fv = "null";
        if (!append_data(out, s.children[i], fv)) return false;
      }
      out += '}';
      return true;
    }
  }
  return false;
}


// Names the field a schema describes: {"type":…} becomes {"type":…,"field":"<name>"}.
void name_field(std::string& schema, std::string_view name) {
  std::string field = ",\"field\":";
  util::append_json_string(field, name);
  schema.insert(schema.size() - 1, field);
}

}  // namespace

void append_java_double(std::string& out, double d) {
  if (d == 0) {
    out += std::signbit(d) ? "-0.0" : "0.0";
    return;
  }
  // The shortest digits that read back as `d`, then laid out as Java does: plain between 10^-3 and
  // 10^7, else d.dddE<n>.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(end - buf));
  const bool negative = sci.front() == '-';
  if (negative) sci.remove_prefix(1);
  const auto e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at))
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exponent = std::atoi(std::string(sci.substr(e_at + 1)).c_str());
  if (negative) out += '-';
  const double magnitude = std::fabs(d);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exponent - 1), '0');
      out += digits;
    } else {
      const auto whole = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= whole) {
        out += digits;
        out.append(whole - digits.size(), '0');
        out += ".0";
      } else {
        out.append(digits, 0, whole);
        out += '.';
        out.append(digits, whole);
      }
    }
    return;
  }
  out += digits[0];
  out += '.';
  out += digits.size() > 1 ? std::string_view(digits).substr(1) : std::string_view("0");
  out += 'E';
  out += std::to_string(exponent);
}

bool expand_json_payload(std::string_view payload, std::string_view name, const RouterOptions& options, std::string& value,
                         std::string* schema) {
  // Debezium parses text that starts with '{' or '['; only an object becomes a Connect struct.
  if (payload.empty() || payload.front() != '{' || !js::valid(payload)) return false;
  Inference inference(options);
  auto s = inference.schema_of(std::string(name), payload);
  if (inference.failed || !s) return false;
  std::string data;
  if (!append_data(data, *s, payload)) return false;
  value += data;
  if (schema) append_inferred_schema(*schema, *s, nullptr);
  return true;
}

bool OutboxEventRouter::route(const EventEncoder& table, std::string_view row, RoutedRecord& out, std::string& error) const {
  // The key: the aggregate id, as the key converter (JsonConverter) writes it.
  std::string key, key_schema;
  if (!table.append_column(row, opt_.event_key, key, schemas_ ? &key_schema : nullptr, error)) return false;
  if (schemas_) out.key = "{\"schema\":" + key_schema + ",\"payload\":" + key + "}";
  else out.key = std::move(key);

  std::string_view routed;
  if (js::field(row, opt_.route_by, routed)) out.routed_by = text_of(routed);
  else if (!table.has_column(opt_.route_by)) {
    error = fmt::format("the outbox has no column \"{}\" to route by (route.by.field)", opt_.route_by);
    return false;
  }

  std::string id;
  if (!table.append_column(row, opt_.event_id, id, nullptr, error)) return false;
  if (id != "null") out.headers.emplace_back("id", text_of(id));

  std::string payload, payload_schema;
  if (!table.append_column(row, opt_.payload, payload, &payload_schema, error)) return false;
  if (opt_.expand_json && js::kind(payload) == '"') {
    std::string text, value, schema;
    js::append_text(text, payload);
    if (expand_json_payload(text, opt_.payload, opt_, value, &schema)) {
      payload = std::move(value);
      payload_schema = std::move(schema);
    }
  }

  // Further columns: into headers, or beside the payload in an envelope.
  std::string envelope_schema, envelope;
  for (const auto& a : opt_.additional) {
    if (!table.has_column(a.field)) {
      if (opt_.ignore_missing_additional) continue;
      error = fmt::format("the outbox has no column \"{}\" that table.fields.additional.placement names", a.field);
      return false;
    }
    std::string v, s;
    if (!table.append_column(row, a.field, v, a.placement == RouterOptions::Placement::envelope ? &s : nullptr, error)) return false;
    if (a.placement == RouterOptions::Placement::header) {
      if (v != "null") out.headers.emplace_back(a.alias, text_of(v));
      continue;
    }
    envelope += ',';
    util::append_json_string(envelope, a.alias);
    envelope += ':';
    envelope += v;
    name_field(s, a.alias);
    envelope_schema += ',';
    envelope_schema += s;
  }

  std::string schema, value;
  if (!in_envelope_) {
    schema = std::move(payload_schema);
    value = std::move(payload);
  } else {
    value = "{\"payload\":" + payload + envelope + "}";
    // Debezium names the envelope's schema after the table's value schema and the routed value, and
    // keeps the first name it made for a payload schema.
    std::string name = table.value_schema_name();
    name.insert(name.rfind('.') + 1, out.routed_by + ".");
    auto [at, fresh] = schema_names_.try_emplace(payload_schema, name);
    if (fresh && schema_names_.size() > 10000) schema_names_.clear();
    name_field(payload_schema, "payload");
    schema = "{\"type\":\"struct\",\"fields\":[" + payload_schema + envelope_schema + "],\"optional\":false,\"name\":";
    util::append_json_string(schema, fresh ? name : at->second);
    schema += '}';
  }
  if (schemas_) out.value = "{\"schema\":" + schema + ",\"payload\":" + value + "}";
  else out.value = std::move(value);
  return true;
}

}  // namespace relay::debezium
