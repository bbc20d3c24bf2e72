// What a column holds when no value is known: Debezium's placeholder for a TOASTed value an UPDATE
// left unchanged, and a column's default as Debezium reads it from the catalog.
#include <openssl/evp.h>

#include <cctype>
#include <charconv>

#include "format/debezium_columns.h"
#include "util/json_scan.h"

namespace relay::debezium {

using namespace pg_text;

namespace {

namespace js = json_scan;

// ---------------------------------------------------------------------------------------------
// The unavailable-value placeholder (UnchangedToastedPlaceholder).

// UUID.nameUUIDFromBytes: MD5, version 3.
std::string name_uuid(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_md5(), nullptr);
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x30);
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[md[i] >> 4];
    s += hex[md[i] & 15];
  }
  return s;
}

// The placeholder's bytes as Java ints (signed bytes), as Debezium fills int4[], date[] and int8[].
void append_placeholder_ints(std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < kUnavailable.size(); ++i) {
    if (i) out += ',';
    util::append_int(out, static_cast<std::int8_t>(kUnavailable[i]));
  }
  out += ']';
}

void append_unavailable_array(const ColumnType& c, std::string& out) {
  const Modes& m = c.modes;
  switch (c.type.element) {
    case oid::text: case oid::varchar: case oid::bpchar: case oid::json: case oid::jsonb:
      out += '[';
      util::append_json_string(out, kUnavailable);
      out += ']';
      return;
    case oid::bytea:
      if (m.binary != BinaryHandling::bytes) break;
      out += '[';
      append_quoted_base64(out, kUnavailable);
      out += ']';
      return;
    case oid::date:
      if (m.time == TimePrecision::connect) break;
      append_placeholder_ints(out);
      return;
    case oid::int4: case oid::int8:
      append_placeholder_ints(out);
      return;
    case oid::uuid:
      out += '[';
      util::append_json_string(out, name_uuid(kUnavailable));
      out += ']';
      return;
    default: break;
  }
  out += "null";
}

void append_unavailable_scalar(const ColumnType& c, std::string& out) {
  const Modes& m = c.modes;
  if (c.shape.kind == Kind::bytea || c.shape.kind == Kind::unknown) {  // both Debezium's binary converters
    switch (m.binary) {
      case BinaryHandling::bytes: append_quoted_base64(out, kUnavailable); return;
      case BinaryHandling::hex: util::append_json_string(out, kUnavailable); return;
      default: out += "null"; return;  // Debezium's base64 converters turn the marker into null
    }
  }
  if (c.shape.kind == Kind::hstore) {  // a map of the placeholder to itself
    std::string text = "{";
    util::append_json_string(text, kUnavailable);
    text += ':';
    util::append_json_string(text, kUnavailable);
    text += '}';
    if (m.hstore == HStoreHandling::map) out += text;
    else util::append_json_string(out, text);
    return;
  }
  // Elsewhere Debezium substitutes the placeholder text, which fits only a string schema.
  if (schema_type(c) == "string") util::append_json_string(out, kUnavailable);
  else out += "null";
}

}  // namespace

void append_unavailable(const PgType& type, const Modes& modes, std::string& out) {
  ColumnType c{type, modes, shape_of(type, modes)};
  if (c.shape.kind == Kind::omitted) return;
  if (c.shape.array) append_unavailable_array(c, out);
  else append_unavailable_scalar(c, out);
}

namespace {

// The function calls and SQL keywords Debezium takes for a generated default (the type's placeholder).
bool generated_default(std::string_view e) {
  std::size_t i = e.starts_with('(') ? 1 : 0, start = i;
  while (i < e.size() && (std::isalnum(static_cast<unsigned char>(e[i])) || e[i] == '_' || e[i] == '.')) ++i;
  if (i > start && i < e.size() && e[i] == '(' && e.find(')', i) != std::string_view::npos) return true;
  std::string lower;
  for (char ch : e) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower == "current_timestamp" || lower == "current_time" || lower == "current_date" || lower == "localtime" ||
         lower == "localtimestamp";
}

// The value of a default written as a literal: the text of its first quoted string ('' a quote),
// else the expression itself.
std::optional<std::string> literal_of(std::string_view e) {
  std::size_t q = e.find('\'');
  if (q == std::string_view::npos) {
    if (e.starts_with("NULL::")) return std::nullopt;
    return std::string(e);
  }
  std::string v;
  for (std::size_t i = q + 1; i < e.size(); ++i) {
    if (e[i] != '\'') {
      v += e[i];
    } else if (i + 1 < e.size() && e[i + 1] == '\'') {
      v += '\'';
      ++i;
    } else {
      return v;
    }
  }
  return std::nullopt;
}

bool java_integer(std::string_view s, std::int64_t min, std::int64_t max) {
  if (s.starts_with('+')) s.remove_prefix(1);
  std::int64_t n = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), n);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() && n >= min && n <= max;
}

}  // namespace

std::optional<std::string> default_value(const PgType& type, bool domain, std::string_view expression, const Modes& modes) {
  ColumnType c{type, modes, shape_of(type, modes)};
  // Debezium reads defaults of these types only, a domain's by the domain's own name (so none).
  if (domain || c.shape.array || c.shape.kind == Kind::omitted || expression.empty()) return std::nullopt;
  const std::uint32_t t = type.oid;
  const bool generated = generated_default(expression);
  std::optional<std::string> lit;
  if (!generated) {
    lit = literal_of(expression);
    if (!lit) return std::nullopt;
  }
  auto value = [&](std::string_view placeholder) { return generated ? std::string(placeholder) : *lit; };
  std::string json;  // the value as to_jsonb writes it, then converted as a column's value
  switch (c.shape.kind) {
    case Kind::boolean: {
      std::string v = value("false");
      for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      json = v == "true" ? "true" : "false";  // Boolean.parseBoolean
      break;
    }
    case Kind::int16: case Kind::int32: case Kind::int64: {
      std::string v = value("0");
      std::int64_t lim = c.shape.kind == Kind::int16 ? 32767 : c.shape.kind == Kind::int32 ? 2147483647 : INT64_MAX;
      if (!java_integer(v, -lim - 1, lim)) return std::nullopt;
      json = v.starts_with('+') ? v.substr(1) : v;
      break;
    }
    case Kind::float32: case Kind::float64: case Kind::numeric: {
      std::string v = value("0.0");
      if (!parse_decimal(v)) return std::nullopt;
      if (c.shape.kind == Kind::numeric && variable_scale(type.typmod) && modes.decimal == DecimalHandling::precise)
        return std::nullopt;  // a struct (VariableScaleDecimal) cannot be a Connect default
      json = v;
      break;
    }
    case Kind::string:
      if (t != oid::text && t != oid::varchar && t != oid::bpchar) return std::nullopt;
      json.clear();
      util::append_json_string(json, value(""));
      break;
    case Kind::json:  // the document itself, as to_jsonb embeds it
      json = value("{}");
      if (!js::valid(json)) return std::nullopt;
      break;
    case Kind::xml:
      util::append_json_string(json, value(""));
      break;
    case Kind::uuid:
      util::append_json_string(json, value("00000000-0000-0000-0000-000000000000"));
      break;
    case Kind::enumeration: {
      if (generated) return std::nullopt;
      util::append_json_string(json, *lit);
      break;
    }
    case Kind::date: case Kind::timestamp: case Kind::timestamptz: {
      std::string v = value("1970-01-01");
      if (v.size() == 10) v += c.shape.kind == Kind::date ? "" : "T00:00:00";
      else if (v.size() > 10 && v[10] == ' ') v[10] = 'T';
      if (c.shape.kind == Kind::timestamptz && v.find_first_of("+-Z", 19) == std::string::npos) v += "+00:00";
      if (c.shape.kind == Kind::date && v.size() > 10) v.resize(10);
      util::append_json_string(json, v);
      break;
    }
    case Kind::time: {
      std::string v = value("00:00");
      if (v.size() == 5) v += ":00";
      util::append_json_string(json, v);
      break;
    }
    case Kind::interval: {
      if (generated) return std::nullopt;
      util::append_json_string(json, *lit);
      break;
    }
    case Kind::bits: {
      std::string v = value("00");
      if (v.size() != 1 || !c.single_bit()) return std::nullopt;
      json = v == "1" ? "true" : "false";
      break;
    }
    default: return std::nullopt;
  }
  std::string out, error;
  if (c.shape.kind == Kind::bits) return json;
  if (!append_value(type, json, modes, out, error)) return std::nullopt;
  return out;
}

}  // namespace relay::debezium
