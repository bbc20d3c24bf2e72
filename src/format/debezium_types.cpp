// Column values and Connect schemas as the Debezium PostgreSQL connector 3.6 writes them
// (PostgresValueConverter over JdbcValueConverters, then Kafka's JsonConverter), read from the text
// to_jsonb renders. docs/debezium-types.md lists every type and what differs from Debezium.
#include "format/debezium_types.h"

#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "format/geojson_wkb.h"
#include "pg/copy_text.h"
#include "util/json_escape.h"
#include "util/json_scan.h"

namespace relay::debezium {
namespace {

namespace js = json_scan;

// Debezium's defaults for the settings Modes does not carry.
constexpr int kMoneyFractionDigits = 2;                                    // money.fraction.digits
constexpr std::string_view kUnavailable = kUnavailablePlaceholder;

// ---------------------------------------------------------------------------------------------
// Types: which Connect shape a PostgreSQL type takes.

namespace oid {
constexpr std::uint32_t boolean = 16, bytea = 17, char_ = 18, name = 19, int8 = 20, int2 = 21, int2vector = 22, int4 = 23,
                        text = 25, oid_ = 26, oidvector = 30, json = 114, xml = 142, point = 600, lseg = 601, path = 602,
                        box = 603, polygon = 604, line = 628, cidr = 650, float4 = 700, float8 = 701, circle = 718,
                        macaddr8 = 774, money = 790, macaddr = 829, inet = 869, bpchar = 1042, varchar = 1043,
                        date = 1082, time = 1083, timestamp = 1114, timestamptz = 1184, interval = 1186,
                        timetz = 1266, bit = 1560, varbit = 1562, numeric = 1700, refcursor = 1790, uuid = 2950,
                        tsvector = 3614, jsonb = 3802, int4range = 3904, numrange = 3906, tsrange = 3908,
                        tstzrange = 3910, daterange = 3912, int8range = 3926;
constexpr std::uint32_t first_user_oid = 16384;  // FirstNormalObjectId: extension and user types
}  // namespace oid

enum class Kind {
  omitted, boolean, int16, int32, int64, oid, float32, float64, numeric, money, string, bytea, date, time, timetz,
  timestamp, timestamptz, interval, uuid, json, xml, bits, tsvector, enumeration, point, ltree, hstore, geometry,
  geography,
  unknown  // a type Debezium does not map, with include.unknown.datatypes: its text's bytes
};

Kind builtin_kind(std::uint32_t type_oid) {
  switch (type_oid) {
    case oid::boolean: return Kind::boolean;
    case oid::int2: return Kind::int16;
    case oid::int4: return Kind::int32;
    case oid::int8: return Kind::int64;
    case oid::oid_: return Kind::oid;
    case oid::float4: return Kind::float32;
    case oid::float8: return Kind::float64;
    case oid::numeric: return Kind::numeric;
    case oid::money: return Kind::money;
    case oid::char_: case oid::name: case oid::text: case oid::varchar: case oid::bpchar: case oid::inet: case oid::cidr:
    case oid::macaddr: case oid::macaddr8: case oid::int4range: case oid::int8range: case oid::numrange: case oid::tsrange:
    case oid::tstzrange: case oid::daterange:
      return Kind::string;
    case oid::bytea: return Kind::bytea;
    case oid::date: return Kind::date;
    case oid::time: return Kind::time;
    case oid::timetz: return Kind::timetz;
    case oid::timestamp: return Kind::timestamp;
    case oid::timestamptz: return Kind::timestamptz;
    case oid::interval: return Kind::interval;
    case oid::uuid: return Kind::uuid;
    case oid::json: case oid::jsonb: return Kind::json;
    case oid::xml: return Kind::xml;
    case oid::bit: case oid::varbit: return Kind::bits;
    case oid::tsvector: return Kind::tsvector;
    case oid::point: return Kind::point;
    default: return Kind::omitted;
  }
}

// Extension types Debezium recognises by name (their oids differ per database).
Kind extension_kind(std::string_view name) {
  if (name == "citext" || name == "isbn") return Kind::string;
  if (name == "ltree") return Kind::ltree;
  if (name == "hstore") return Kind::hstore;
  if (name == kGeometryType) return Kind::geometry;
  if (name == kGeographyType) return Kind::geography;
  return Kind::omitted;
}

Kind scalar_kind(std::uint32_t type_oid, char typtype, std::string_view name) {
  if (typtype == 'e') return Kind::enumeration;
  if (type_oid >= oid::first_user_oid) return typtype == 'b' ? extension_kind(name) : Kind::omitted;
  return builtin_kind(type_oid);
}

// Built-in types that pg_type gives an element (typelem) though they are no arrays.
bool subscriptable_scalar(std::uint32_t type_oid) {
  switch (type_oid) {
    case oid::name: case oid::int2vector: case oid::oidvector: case oid::point: case oid::lseg: case oid::box:
    case oid::line: case oid::path: case oid::polygon: case oid::circle:
      return true;
    default: return false;
  }
}

// The arrays Debezium declines (PostgresValueConverter returns no schema for them).
bool declined_array_element(std::uint32_t element) {
  switch (element) {
    case oid::money: case oid::name: case oid::interval: case oid::varbit: case oid::xml: case oid::point:
    case oid::refcursor:
      return true;
    default: return false;
  }
}

struct Shape {
  Kind kind = Kind::omitted;
  bool array = false;
  bool element_optional = true;
  std::string_view enum_labels;
};

std::string_view element_name(const PgType& t) {
  if (!t.element_name.empty()) return t.element_name;
  std::string_view n = t.name;
  return !n.empty() && n[0] == '_' ? n.substr(1) : n;
}

Shape shape_of(const PgType& t, const Modes& modes) {
  // A type Debezium does not map is left out, or with include.unknown.datatypes written as bytes.
  const Kind unmapped = modes.include_unknown ? Kind::unknown : Kind::omitted;
  if (t.element == 0 || subscriptable_scalar(t.oid)) {
    Kind k = scalar_kind(t.oid, t.typtype, t.name);
    return {k == Kind::omitted ? unmapped : k, false, true, t.enum_labels};
  }
  if (declined_array_element(t.element)) return {};
  Kind k = scalar_kind(t.element, t.element_typtype, element_name(t));
  // An array of unmapped elements: Debezium's generic array of required bytes.
  if (k == Kind::omitted) return {unmapped, unmapped != Kind::omitted, false, {}};
  // Enum and tsvector arrays take Debezium's generic array path, whose element schema is not optional.
  bool optional = k != Kind::enumeration && k != Kind::tsvector;
  std::string_view labels = t.element_enum_labels.empty() ? std::string_view(t.enum_labels) : t.element_enum_labels;
  return {k, true, optional, labels};
}

// What pgjdbc's TypeInfoCache reports for a typmod, which Debezium's schemas follow.
int time_precision(std::int32_t typmod) { return typmod < 0 ? 6 : typmod; }
int numeric_precision(std::int32_t typmod) { return typmod == -1 ? 0 : static_cast<int>(((typmod - 4) & 0xFFFF0000u) >> 16); }
int numeric_scale(std::int32_t typmod) { return typmod == -1 ? 0 : (typmod - 4) & 0xFFFF; }
bool variable_scale(std::int32_t typmod) {
  int p = numeric_precision(typmod);
  return (p == 0 || p == 131089) && numeric_scale(typmod) == 0;
}
std::int64_t bits_length(std::uint32_t type_oid, std::int32_t typmod) {
  if (type_oid == oid::varbit && typmod == -1) return std::numeric_limits<std::int32_t>::max();
  return typmod;
}

struct ColumnType {
  const PgType& type;
  const Modes& modes;
  Shape shape;
  std::uint32_t base_oid() const { return shape.array ? type.element : type.oid; }
  std::int32_t typmod() const { return type.typmod; }
  bool millis_time() const { return modes.time == TimePrecision::adaptive && time_precision(typmod()) <= 3; }
  bool millis_timestamp() const { return modes.time == TimePrecision::connect || time_precision(typmod()) <= 3; }
  bool single_bit() const { return bits_length(base_oid(), typmod()) <= 1; }
};

// ---------------------------------------------------------------------------------------------
// Connect schemas, written as JsonConverter writes them.

struct Schema {
  std::string_view type;
  bool optional = true;
  std::string_view name;
  int version = 0;
  std::string_view doc;
  std::vector<std::pair<std::string_view, std::string>> parameters;
  std::vector<Schema> children;  // an array's items, or a struct's fields (named by `field`)
  std::string_view default_value;  // JSON text; empty: none
  std::string_view field;
};

Schema plain(std::string_view type) { return Schema{.type = type}; }
Schema named(std::string_view type, std::string_view name) { return Schema{.type = type, .name = name, .version = 1}; }
Schema required_field(std::string_view type, std::string_view field) { return Schema{.type = type, .optional = false, .field = field}; }
Schema optional_field(std::string_view type, std::string_view field) { return Schema{.type = type, .field = field}; }

void append_schema(std::string& out, const Schema& s, std::optional<std::string_view> field) {
  out += "{\"type\":\"";
  out += s.type;
  out += '"';
  if (s.type == "array") {
    out += ",\"items\":";
    append_schema(out, s.children.front(), std::nullopt);
  } else if (s.type == "map") {
    out += ",\"keys\":";
    append_schema(out, s.children[0], std::nullopt);
    out += ",\"values\":";
    append_schema(out, s.children[1], std::nullopt);
  } else if (s.type == "struct") {
    out += ",\"fields\":[";
    for (std::size_t i = 0; i < s.children.size(); ++i) {
      if (i) out += ',';
      append_schema(out, s.children[i], s.children[i].field);
    }
    out += ']';
  }
  out += s.optional ? ",\"optional\":true" : ",\"optional\":false";
  if (!s.name.empty()) {
    out += ",\"name\":\"";
    out += s.name;
    out += '"';
  }
  if (s.version) {
    out += ",\"version\":";
    util::append_int(out, s.version);
  }
  if (!s.doc.empty()) {
    out += ",\"doc\":\"";
    out += s.doc;
    out += '"';
  }
  if (!s.parameters.empty()) {
    out += ",\"parameters\":{";
    for (std::size_t i = 0; i < s.parameters.size(); ++i) {
      if (i) out += ',';
      util::append_json_string(out, s.parameters[i].first);
      out += ':';
      util::append_json_string(out, s.parameters[i].second);
    }
    out += '}';
  }
  if (!s.default_value.empty()) {
    out += ",\"default\":";
    out += s.default_value;
  }
  if (field) {
    out += ",\"field\":";
    util::append_json_string(out, *field);
  }
  out += '}';
}

Schema decimal_schema(int scale) {
  Schema s = named("bytes", "org.apache.kafka.connect.data.Decimal");
  s.parameters.emplace_back("scale", std::to_string(scale));
  return s;
}

Schema numeric_schema(const ColumnType& c) {
  switch (c.modes.decimal) {
    case DecimalHandling::double_: return plain("double");
    case DecimalHandling::string: return plain("string");
    case DecimalHandling::precise: break;
  }
  if (variable_scale(c.typmod())) {
    Schema s = named("struct", "io.debezium.data.VariableScaleDecimal");
    s.doc = "Variable scaled decimal";
    s.children = {required_field("int32", "scale"), required_field("bytes", "value")};
    return s;
  }
  Schema s = decimal_schema(numeric_scale(c.typmod()));
  s.parameters.emplace_back("connect.decimal.precision", std::to_string(numeric_precision(c.typmod())));
  return s;
}

Schema money_schema(const Modes& m) {
  switch (m.decimal) {
    case DecimalHandling::double_: return plain("double");
    case DecimalHandling::string: return plain("string");
    case DecimalHandling::precise: break;
  }
  return decimal_schema(kMoneyFractionDigits);
}

Schema date_schema(const Modes& m) {
  return m.time == TimePrecision::connect ? named("int32", "org.apache.kafka.connect.data.Date") : named("int32", "io.debezium.time.Date");
}

Schema time_schema(const ColumnType& c) {
  if (c.modes.time == TimePrecision::connect) return named("int32", "org.apache.kafka.connect.data.Time");
  return c.millis_time() ? named("int32", "io.debezium.time.Time") : named("int64", "io.debezium.time.MicroTime");
}

Schema timestamp_schema(const ColumnType& c) {
  if (c.modes.time == TimePrecision::connect) return named("int64", "org.apache.kafka.connect.data.Timestamp");
  return c.millis_timestamp() ? named("int64", "io.debezium.time.Timestamp") : named("int64", "io.debezium.time.MicroTimestamp");
}

Schema point_schema() {
  Schema s = named("struct", "io.debezium.data.geometry.Point");
  s.doc = "Geometry (POINT)";
  s.children = {required_field("double", "x"), required_field("double", "y"), optional_field("bytes", "wkb"),
                optional_field("int32", "srid")};
  return s;
}

// PostGIS's geometry and geography (Debezium 3.6's version 1: the EWKB and its SRID).
Schema postgis_schema(std::string_view name, std::string_view doc) {
  Schema s = named("struct", name);
  s.doc = doc;
  s.children = {required_field("bytes", "wkb"), optional_field("int32", "srid")};
  return s;
}

Schema kind_schema(const ColumnType& c) {
  const Modes& m = c.modes;
  switch (c.shape.kind) {
    case Kind::boolean: return plain("boolean");
    case Kind::int16: return plain("int16");
    case Kind::int32: return plain("int32");
    case Kind::int64: case Kind::oid: return plain("int64");
    case Kind::float32: return plain("float");
    case Kind::float64: return plain("double");
    case Kind::numeric: return numeric_schema(c);
    case Kind::money: return money_schema(m);
    case Kind::string: return plain("string");
    case Kind::bytea: return plain(m.binary == BinaryHandling::bytes ? "bytes" : "string");
    case Kind::date: return date_schema(m);
    case Kind::time: return time_schema(c);
    case Kind::timetz: return named("string", "io.debezium.time.ZonedTime");
    case Kind::timestamp: return timestamp_schema(c);
    case Kind::timestamptz: return named("string", "io.debezium.time.ZonedTimestamp");
    case Kind::interval:
      return m.interval == IntervalHandling::string ? named("string", "io.debezium.time.Interval")
                                                    : named("int64", "io.debezium.time.MicroDuration");
    case Kind::uuid: return named("string", "io.debezium.data.Uuid");
    case Kind::json: return named("string", "io.debezium.data.Json");
    case Kind::hstore: {
      if (m.hstore == HStoreHandling::json) return named("string", "io.debezium.data.Json");
      Schema map = plain("map");  // its keys are never null, its values may be
      map.children = {Schema{.type = "string", .optional = false}, plain("string")};
      return map;
    }
    case Kind::xml: return named("string", "io.debezium.data.Xml");
    case Kind::tsvector: return named("string", "io.debezium.data.Tsvector");
    case Kind::ltree: return named("string", "io.debezium.data.Ltree");
    case Kind::bits: {
      if (c.single_bit()) return plain("boolean");
      Schema s = named("bytes", "io.debezium.data.Bits");
      s.parameters.emplace_back("length", std::to_string(bits_length(c.base_oid(), c.typmod())));
      return s;
    }
    case Kind::enumeration: {
      Schema s = named("string", "io.debezium.data.Enum");
      s.parameters.emplace_back("allowed", std::string(c.shape.enum_labels));
      return s;
    }
    case Kind::point: return point_schema();
    case Kind::geometry: return postgis_schema("io.debezium.data.geometry.Geometry", "Geometry");
    case Kind::geography: return postgis_schema("io.debezium.data.geometry.Geography", "Geography");
    case Kind::unknown: return plain(m.binary == BinaryHandling::bytes ? "bytes" : "string");
    case Kind::omitted: break;
  }
  return plain("string");
}

// ---------------------------------------------------------------------------------------------
// Encodings: base64, hex, Java's number text.

void append_base64(std::string& out, std::string_view bytes, bool url_safe = false) {
  static constexpr char standard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* alphabet = url_safe ? url : standard;
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (std::size_t rest = bytes.size() - i) {
    unsigned v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0u);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
}

void append_quoted_base64(std::string& out, std::string_view bytes, bool url_safe = false) {
  out += '"';
  append_base64(out, bytes, url_safe);
  out += '"';
}

void append_quoted_hex(std::string& out, std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  out += '"';
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  out += '"';
}

// A double or float as Java's Double.toString / Float.toString write it (Jackson's output): the
// shortest digits that read back, plain between 10^-3 and 10^7, else d.dddE±n; NaN and the
// infinities as JSON strings, as Jackson quotes them.
template <class F>
void append_java_number(std::string& out, F v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  std::size_t e_at = sci.find('e');
  std::string digits;
  for (char ch : sci.substr(0, e_at))
    if (ch != '.') digits += ch;
  int exp = 0;
  std::string_view e_text = sci.substr(e_at + 1);
  if (e_text.front() == '+') e_text.remove_prefix(1);
  std::from_chars(e_text.data(), e_text.data() + e_text.size(), exp);
  if (exp >= -3 && exp < 7) {
    if (exp >= 0) {
      std::size_t int_len = static_cast<std::size_t>(exp) + 1;
      if (digits.size() < int_len) digits.append(int_len - digits.size(), '0');
      out.append(digits, 0, int_len);
      out += '.';
      out += digits.size() > int_len ? digits.substr(int_len) : "0";
    } else {
      out += "0.";
      out.append(static_cast<std::size_t>(-exp - 1), '0');
      out += digits;
    }
    return;
  }
  out += digits[0];
  out += '.';
  out += digits.size() > 1 ? digits.substr(1) : "0";
  out += 'E';
  util::append_int(out, exp);
}

// The shortest decimal digits of `v` without exponent or trailing zeros, at most 9 after the point
// (Debezium's BigDecimal.valueOf(v).stripTrailingZeros().toPlainString() after setScale(9, DOWN)).
std::string plain_seconds(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  std::string s(buf, static_cast<std::size_t>(res.ptr - buf));
  if (std::size_t dot = s.find('.'); dot != std::string::npos) {
    if (s.size() - dot - 1 > 9) s.resize(dot + 10);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// ---------------------------------------------------------------------------------------------
// Decimal numbers, as Java's BigDecimal: an unscaled integer and a scale.

struct Decimal {
  bool negative = false;
  std::string digits;  // the unscaled value's digits, no leading zeros; empty for zero
  int scale = 0;       // value = ±digits × 10^-scale
};

void normalize(Decimal& d) {
  std::size_t nz = d.digits.find_first_not_of('0');
  d.digits.erase(0, nz == std::string::npos ? d.digits.size() : nz);
  if (d.digits.empty()) d.negative = false;
}

// A JSON number (-?int(.frac)?(e±exp)?). PostgreSQL writes a numeric without an exponent; a float's
// default has a double's (to ±324). A larger one, which would make a few characters a number of
// that many digits, is refused.
std::optional<Decimal> parse_decimal(std::string_view s) {
  constexpr int kMaxExponent = 1000;
  Decimal d;
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') {
    d.negative = true;
    ++i;
  }
  std::size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') d.digits += s[i++];
  if (i == start) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    std::size_t frac = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') d.digits += s[i++];
    if (i == frac) return std::nullopt;
    d.scale = static_cast<int>(i - frac);
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    int exp = 0;
    if (i < s.size() && s[i] == '+') ++i;
    auto r = std::from_chars(s.data() + i, s.data() + s.size(), exp);
    if (r.ec != std::errc() || r.ptr == s.data() + i || exp < -kMaxExponent || exp > kMaxExponent) return std::nullopt;
    i = static_cast<std::size_t>(r.ptr - s.data());
    d.scale -= exp;
  }
  if (i != s.size()) return std::nullopt;
  normalize(d);
  return d;
}

// BigDecimal.setScale: more digits append zeros; fewer round half up (Java's HALF_UP), or fail when
// `exact` and a non-zero digit would go (Debezium's setScale without a rounding mode).
bool set_scale(Decimal& d, int scale, bool exact) {
  if (scale >= d.scale) {
    if (!d.digits.empty()) d.digits.append(static_cast<std::size_t>(scale - d.scale), '0');
    d.scale = scale;
    return true;
  }
  std::size_t drop = static_cast<std::size_t>(d.scale - scale);
  d.scale = scale;
  if (drop > d.digits.size()) {
    bool nonzero = !d.digits.empty();
    d.digits.clear();
    d.negative = false;
    return !(exact && nonzero);
  }
  std::string gone = d.digits.substr(d.digits.size() - drop);
  d.digits.resize(d.digits.size() - drop);
  if (gone.find_first_not_of('0') == std::string::npos) return true;
  if (exact) return false;
  if (gone[0] >= '5') {
    std::size_t k = d.digits.size();
    while (k > 0 && d.digits[k - 1] == '9') d.digits[--k] = '0';
    if (k == 0) d.digits.insert(d.digits.begin(), '1');
    else ++d.digits[k - 1];
  }
  normalize(d);
  return true;
}

void strip_trailing_zeros(Decimal& d) {
  while (!d.digits.empty() && d.digits.back() == '0') {
    d.digits.pop_back();
    --d.scale;
  }
  if (d.digits.empty()) d.scale = 0;
  if (d.scale < 0) set_scale(d, 0, true);
}

std::string to_plain(const Decimal& d) {
  std::string s = d.negative ? "-" : "";
  if (d.scale <= 0) {
    s += d.digits.empty() ? "0" : d.digits;
    if (!d.digits.empty()) s.append(static_cast<std::size_t>(-d.scale), '0');
    return s;
  }
  std::size_t scale = static_cast<std::size_t>(d.scale);
  std::string digits = d.digits.size() <= scale ? std::string(scale + 1 - d.digits.size(), '0') + d.digits : d.digits;
  s.append(digits, 0, digits.size() - scale);
  s += '.';
  s.append(digits, digits.size() - scale, scale);
  return s;
}

// The unscaled value as Java's BigInteger.toByteArray: big-endian two's complement, fewest bytes.
std::string unscaled_bytes(const Decimal& d) {
  std::vector<std::uint32_t> limbs;  // little-endian base 2^32 magnitude
  for (std::size_t i = 0; i < d.digits.size();) {
    std::size_t n = std::min<std::size_t>(9, d.digits.size() - i);
    std::uint64_t chunk = 0, mul = 1;
    for (std::size_t k = 0; k < n; ++k, ++i) {
      chunk = chunk * 10 + static_cast<std::uint64_t>(d.digits[i] - '0');
      mul *= 10;
    }
    std::uint64_t carry = chunk;
    for (auto& limb : limbs) {
      std::uint64_t v = limb * mul + carry;
      limb = static_cast<std::uint32_t>(v);
      carry = v >> 32;
    }
    if (carry) limbs.push_back(static_cast<std::uint32_t>(carry));
  }
  std::string mag;
  for (auto it = limbs.rbegin(); it != limbs.rend(); ++it)
    for (int shift = 24; shift >= 0; shift -= 8) mag += static_cast<char>((*it >> shift) & 0xFF);
  std::size_t nz = mag.find_first_not_of('\0');
  mag.erase(0, nz == std::string::npos ? mag.size() : nz);
  if (mag.empty()) return std::string(1, '\0');
  auto top = static_cast<unsigned char>(mag[0]);
  if (!d.negative) return top & 0x80 ? '\0' + mag : mag;
  // -M fits len(M) bytes when M <= 2^(8·len-1), that is unless the top bit is set with any other bit.
  bool power_of_two_top = top == 0x80 && mag.find_first_not_of('\0', 1) == std::string::npos;
  if (top & 0x80 && !power_of_two_top) mag.insert(mag.begin(), '\0');
  bool borrow = true;  // two's complement: invert and add one, from the low byte
  for (std::size_t k = mag.size(); k-- > 0;) {
    unsigned v = static_cast<unsigned char>(~static_cast<unsigned char>(mag[k]));
    if (borrow) {
      v += 1;
      borrow = v > 0xFF;
    }
    mag[k] = static_cast<char>(v & 0xFF);
  }
  return mag;
}

double to_double(const Decimal& d) {
  std::string s = to_plain(d);
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  // Beyond a double's range (a numeric may have 131072 digits) BigDecimal.doubleValue gives
  // ±Infinity, below it ±0 (from_chars leaves v alone).
  if (r.ec == std::errc::result_out_of_range) {
    v = static_cast<int>(d.digits.size()) > d.scale ? std::numeric_limits<double>::infinity() : 0.0;
    if (d.negative) v = -v;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Reading to_jsonb's text.

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// The unescaped text of a JSON string span, or nothing when `v` is no string.
std::optional<std::string> string_text(std::string_view v) {
  if (js::kind(v) != '"' || v.size() < 2 || v.back() != '"') return std::nullopt;
  std::string s;
  js::append_text(s, v);
  return s;
}

bool is_string(std::string_view v) { return js::kind(v) == '"' && v.size() >= 2 && v.back() == '"'; }
bool is_number(std::string_view v) { return js::kind(v) == 'n'; }

struct Text {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i == s.size(); }
  bool eat(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool eat(std::string_view word) {
    if (s.substr(i, word.size()) != word) return false;
    i += word.size();
    return true;
  }
  // Between min and max decimal digits.
  bool number(std::size_t min, std::size_t max, std::int64_t& v) {
    std::size_t start = i;
    v = 0;
    while (i < s.size() && i - start < max && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    return i - start >= min;
  }
  // ".ffffff" as microseconds (digits past the sixth ignored, as they never come).
  std::int64_t fraction_micros() {
    std::int64_t micros = 0;
    if (!eat('.')) return 0;
    int n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 6) micros = micros * 10 + (s[i] - '0');
      ++n, ++i;
    }
    for (; n < 6; ++n) micros *= 10;
    return micros;
  }
};

constexpr std::int64_t kMicrosPerSecond = 1000000, kMicrosPerMinute = 60 * kMicrosPerSecond,
                       kMicrosPerHour = 60 * kMicrosPerMinute, kMicrosPerDay = 24 * kMicrosPerHour;

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// to += n × unit; false when that leaves an int64 (only text PostgreSQL did not write can: its
// timestamps end in year 294276, its intervals hold int32 months and days, int64 microseconds).
bool add(std::int64_t& to, std::int64_t n, std::int64_t unit = 1) {
  std::int64_t product;
  return !__builtin_mul_overflow(n, unit, &product) && !__builtin_add_overflow(to, product, &to);
}

// Proleptic Gregorian days since 1970-01-01 (as Java's LocalDate and PostgreSQL count).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month, day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

bool valid_day(std::int64_t y, std::int64_t m, std::int64_t d) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap);
}

// "YYYY-MM-DD" (the year may have more digits); the era is read at the end of the value.
bool read_date(Text& t, std::int64_t& year, std::int64_t& month, std::int64_t& day) {
  return t.number(4, 9, year) && t.eat('-') && t.number(2, 2, month) && t.eat('-') && t.number(2, 2, day);
}

bool read_era(Text& t, std::int64_t& year) {
  if (t.eat(" BC")) year = 1 - year;  // 1 BC is year 0 of the proleptic calendar
  return t.done();
}

// "HH:MM:SS[.ffffff]" as microseconds past midnight (24:00:00 allowed).
bool read_time(Text& t, std::int64_t& micros) {
  std::int64_t h, m, s;
  if (!(t.number(2, 2, h) && t.eat(':') && t.number(2, 2, m) && t.eat(':') && t.number(2, 2, s))) return false;
  micros = h * kMicrosPerHour + m * kMicrosPerMinute + s * kMicrosPerSecond + t.fraction_micros();
  return h <= 24 && m < 60 && s < 60 && micros <= kMicrosPerDay;
}

// "+HH[:MM[:SS]]" as seconds east of UTC.
bool read_offset(Text& t, std::int64_t& seconds) {
  int sign = t.eat('+') ? 1 : t.eat('-') ? -1 : 0;
  std::int64_t h = 0, m = 0, s = 0;
  if (!sign || !t.number(2, 2, h)) return false;
  if (t.eat(':') && !t.number(2, 2, m)) return false;
  if (t.eat(':') && !t.number(2, 2, s)) return false;
  seconds = sign * (h * 3600 + m * 60 + s);
  return true;
}

enum class Special { none, positive_infinity, negative_infinity };

Special special_of(std::string_view text) {
  return text == "infinity" ? Special::positive_infinity : text == "-infinity" ? Special::negative_infinity : Special::none;
}

std::optional<std::int64_t> parse_date(std::string_view text) {
  Text t{text};
  std::int64_t y, m, d;
  if (!read_date(t, y, m, d) || !read_era(t, y) || !valid_day(y, m, d)) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

// A timestamp (with_zone: and its offset) as microseconds since the epoch, UTC.
std::optional<std::int64_t> parse_timestamp(std::string_view text, bool with_zone) {
  Text t{text};
  std::int64_t y, mo, d, micros, offset = 0;
  if (!read_date(t, y, mo, d) || !(t.eat('T') || t.eat(' ')) || !read_time(t, micros)) return std::nullopt;
  if (with_zone && !read_offset(t, offset)) return std::nullopt;
  if (!read_era(t, y) || !valid_day(y, mo, d)) return std::nullopt;
  std::int64_t utc = micros - offset * kMicrosPerSecond;
  if (!add(utc, days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)), kMicrosPerDay)) return std::nullopt;
  return utc;
}

struct ZonedTime {
  std::int64_t utc_micros;  // past midnight UTC
  bool boundary;            // 24:00:00 at UTC
};

std::optional<ZonedTime> parse_timetz(std::string_view text) {
  Text t{text};
  std::int64_t micros, offset;
  if (!read_time(t, micros) || !read_offset(t, offset) || !t.done()) return std::nullopt;
  if (micros == kMicrosPerDay && offset == 0) return ZonedTime{micros, true};
  std::int64_t utc = (micros - offset * kMicrosPerSecond) % kMicrosPerDay;
  return ZonedTime{utc < 0 ? utc + kMicrosPerDay : utc, false};
}

// An interval as PostgreSQL keeps it.
struct Interval {
  std::int64_t months = 0, days = 0, micros = 0;
};

// "[-]SS[.ffffff]" seconds as microseconds.
bool read_seconds(std::string_view s, std::int64_t& micros) {
  Text t{s};
  bool negative = t.eat('-');
  if (!negative) t.eat('+');
  std::int64_t whole;
  if (!t.number(1, 18, whole)) return false;
  micros = t.fraction_micros();
  if (!add(micros, whole, kMicrosPerSecond)) return false;
  if (negative) micros = -micros;
  return t.done();
}

bool read_integer(std::string_view s, std::int64_t& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// IntervalStyle iso_8601: P[nY][nM][nD][T[nH][nM][n.nS]].
bool parse_iso_interval(std::string_view s, Interval& iv) {
  bool in_time = false;
  std::size_t i = 1;
  while (i < s.size()) {
    if (s[i] == 'T') {
      in_time = true;
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < s.size() && (s[i] == '-' || s[i] == '+' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9'))) ++i;
    if (i == start || i == s.size()) return false;
    std::string_view number = s.substr(start, i - start);
    char unit = s[i++];
    std::int64_t v = 0;
    if (in_time && unit == 'S') {
      if (!read_seconds(number, v) || !add(iv.micros, v)) return false;
      continue;
    }
    if (!read_integer(number, v)) return false;
    const bool ok = !in_time && unit == 'Y'   ? add(iv.months, v, 12)
                    : !in_time && unit == 'M' ? add(iv.months, v)
                    : !in_time && unit == 'W' ? add(iv.days, v, 7)
                    : !in_time && unit == 'D' ? add(iv.days, v)
                    : in_time && unit == 'H'  ? add(iv.micros, v, kMicrosPerHour)
                                              : in_time && unit == 'M' && add(iv.micros, v, kMicrosPerMinute);
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// "[±]H:MM:SS[.f]" (any number of hour digits) as signed microseconds.
bool read_clock(std::string_view token, int sign, std::int64_t& micros) {
  Text t{token};
  std::int64_t h, m, s;
  if (!(t.number(1, 18, h) && t.eat(':') && t.number(2, 2, m))) return false;
  s = 0;
  std::int64_t frac = 0;
  if (t.eat(':')) {
    if (!t.number(2, 2, s)) return false;
    frac = t.fraction_micros();
  }
  if (!t.done()) return false;
  micros = frac;
  if (!add(micros, h, kMicrosPerHour) || !add(micros, m, kMicrosPerMinute) || !add(micros, s, kMicrosPerSecond)) return false;
  micros *= sign;
  return true;
}

// A unit word of IntervalStyle postgres or postgres_verbose applied to `number`.
bool add_unit(Interval& iv, std::string_view number, std::string_view unit) {
  std::int64_t v = 0;
  if (unit.starts_with("sec")) return read_seconds(number.front() == '+' ? number.substr(1) : number, v) && add(iv.micros, v);
  if (!read_integer(number, v)) return false;
  return unit.starts_with("year")   ? add(iv.months, v, 12)
         : unit.starts_with("mon")  ? add(iv.months, v)
         : unit.starts_with("day")  ? add(iv.days, v)
         : unit.starts_with("hour") ? add(iv.micros, v, kMicrosPerHour)
                                    : unit.starts_with("min") && add(iv.micros, v, kMicrosPerMinute);
}

// IntervalStyle postgres ("1 year 2 mons -3 days +04:05:06.78"), postgres_verbose ("@ 1 year 2 mons
// 3 days 4 hours 5 mins 6.78 secs ago") and sql_standard ("+1-2 +3 +4:05:06.78", "-1 2:03:04": a
// leading sign without others signs every field).
bool parse_worded_interval(std::string_view s, Interval& iv) {
  std::vector<std::string_view> tokens = words(s);
  bool verbose = !tokens.empty() && tokens.front() == "@";
  if (verbose) tokens.erase(tokens.begin());
  bool ago = !tokens.empty() && tokens.back() == "ago";
  if (ago) tokens.pop_back();
  if (tokens.empty()) return false;
  int inherited = tokens.front().front() == '-' ? -1 : 1;
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    std::string_view tok = tokens[k];
    bool has_unit = k + 1 < tokens.size() && std::isalpha(static_cast<unsigned char>(tokens[k + 1].front()));
    if (has_unit) {
      if (!add_unit(iv, tok, tokens[++k])) return false;
      continue;
    }
    int sign = tok.front() == '-' ? -1 : tok.front() == '+' ? 1 : inherited;
    std::string_view body = tok.front() == '-' || tok.front() == '+' ? tok.substr(1) : tok;
    std::int64_t a = 0, b = 0;
    if (body.find(':') != std::string_view::npos) {
      if (!read_clock(body, sign, a) || !add(iv.micros, a)) return false;
    } else if (std::size_t dash = body.find('-'); dash != std::string_view::npos) {
      std::int64_t months = 0;
      if (!read_integer(body.substr(0, dash), a) || !read_integer(body.substr(dash + 1), b) || !add(months, a, 12) ||
          !add(months, b) || !add(iv.months, months, sign))
        return false;
    } else {
      if (!read_integer(body, a) || !add(iv.days, a, sign)) return false;
    }
  }
  if (ago) {
    Interval negated;
    if (!add(negated.months, iv.months, -1) || !add(negated.days, iv.days, -1) || !add(negated.micros, iv.micros, -1)) return false;
    iv = negated;
  }
  return true;
}

std::optional<Interval> parse_interval(std::string_view s) {
  Interval iv;
  bool ok = !s.empty() && (s.front() == 'P' ? parse_iso_interval(s, iv) : parse_worded_interval(s, iv));
  if (!ok) return std::nullopt;
  return iv;
}

// The interval as pgjdbc's PGInterval splits PostgreSQL's text, which Debezium reads.
struct IntervalParts {
  std::int64_t years, months, days, hours, minutes;
  double seconds;
};

IntervalParts parts_of(const Interval& iv) {
  std::int64_t micros_of_minute = iv.micros % kMicrosPerMinute;
  return {iv.months / 12, iv.months % 12, iv.days, iv.micros / kMicrosPerHour, (iv.micros % kMicrosPerHour) / kMicrosPerMinute,
          static_cast<double>(micros_of_minute / kMicrosPerSecond) +
              static_cast<double>(micros_of_minute % kMicrosPerSecond) / static_cast<double>(kMicrosPerSecond)};
}

// Java's (long) of a double: truncation, saturating, NaN as 0.
std::int64_t java_long(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9223372036854775807.0) return std::numeric_limits<std::int64_t>::max();
  if (v <= -9223372036854775808.0) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

// io.debezium.time.MicroDuration.durationMicros with its 365.25 / 12 days a month, in the same
// double steps so every value matches Debezium's bit for bit.
std::int64_t micro_duration(const IntervalParts& p) {
  const double days_per_month = 365.25 / 12.0;
  double days = static_cast<double>(p.years * 12 + p.months) * days_per_month + static_cast<double>(p.days);
  double seconds = (((days * 24 + static_cast<double>(p.hours)) * 60) + static_cast<double>(p.minutes)) * 60 + p.seconds;
  return java_long(seconds * 1e6);
}

// ---------------------------------------------------------------------------------------------
// Values.

struct Writer {
  const ColumnType& c;
  std::string& out;
  std::string& error;

  bool bad(std::string_view value, std::string_view why) {
    constexpr std::size_t kShown = 80;
    std::string shown(value.substr(0, kShown));
    if (value.size() > kShown) shown += "…";
    error = "cannot read " + shown + " as " + (c.type.name.empty() ? "oid " + std::to_string(c.type.oid) : c.type.name) +
            ": " + std::string(why);
    return false;
  }

  bool boolean(std::string_view v) {
    if (v != "true" && v != "false") return bad(v, "expected true or false");
    out += v;
    return true;
  }

  bool integer(std::string_view v, std::int64_t min, std::int64_t max, bool string_allowed = false) {
    std::string_view digits = v;
    std::optional<std::string> text;
    if (string_allowed && is_string(v)) digits = *(text = string_text(v));
    else if (!is_number(v)) return bad(v, "expected a JSON number");
    std::int64_t n = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return bad(v, "expected an integer");
    if (n < min || n > max) return bad(v, "out of range");
    util::append_int(out, n);
    return true;
  }

  template <class F>
  bool floating(std::string_view v) {
    F x{};
    if (auto s = string_text(v)) {
      if (*s == "NaN") x = std::numeric_limits<F>::quiet_NaN();
      else if (*s == "Infinity") x = std::numeric_limits<F>::infinity();
      else if (*s == "-Infinity") x = -std::numeric_limits<F>::infinity();
      else return bad(v, "expected a number, NaN or Infinity");
    } else {
      if (!is_number(v)) return bad(v, "expected a JSON number");
      auto r = std::from_chars(v.data(), v.data() + v.size(), x);
      if (r.ptr != v.data() + v.size() || (r.ec != std::errc() && r.ec != std::errc::result_out_of_range))
        return bad(v, "expected a number");
    }
    append_java_number(out, x);
    return true;
  }

  // NaN and the infinities in the double and string modes (SpecialValueDecimal's forms).
  bool special_decimal(std::string_view v, std::string_view text) {
    static constexpr std::array<std::array<std::string_view, 3>, 3> forms = {{
        {"NaN", "\"NaN\"", "\"NAN\""},
        {"Infinity", "\"Infinity\"", "\"POSITIVE_INFINITY\""},
        {"-Infinity", "\"-Infinity\"", "\"NEGATIVE_INFINITY\""},
    }};
    for (const auto& f : forms) {
      if (text != f[0]) continue;
      if (c.modes.decimal == DecimalHandling::precise)
        return bad(v, "Debezium has no Decimal for NaN or Infinity (decimal.handling.mode precise); use string or double");
      out += c.modes.decimal == DecimalHandling::double_ ? f[1] : f[2];
      return true;
    }
    return bad(v, "expected a number, NaN or Infinity");
  }

  bool numeric(std::string_view v) {
    if (auto s = string_text(v)) return special_decimal(v, *s);
    std::optional<Decimal> d = is_number(v) ? parse_decimal(v) : std::nullopt;
    if (!d) return bad(v, "expected a JSON number");
    bool variable = variable_scale(c.typmod());
    if (!variable && !set_scale(*d, numeric_scale(c.typmod()), true)) return bad(v, "more fraction digits than the column's scale");
    switch (c.modes.decimal) {
      case DecimalHandling::double_: append_java_number(out, to_double(*d)); return true;
      case DecimalHandling::string: util::append_json_string(out, to_plain(*d)); return true;
      case DecimalHandling::precise: break;
    }
    if (!variable) {
      append_quoted_base64(out, unscaled_bytes(*d));
      return true;
    }
    strip_trailing_zeros(*d);
    out += "{\"scale\":";
    util::append_int(out, d->scale);
    out += ",\"value\":";
    append_quoted_base64(out, unscaled_bytes(*d));
    out += '}';
    return true;
  }

  bool money(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    std::optional<Decimal> d = s ? parse_money(*s) : std::nullopt;
    if (!d) return bad(v, "expected a money amount");
    switch (c.modes.decimal) {
      case DecimalHandling::double_: append_java_number(out, to_double(*d)); return true;
      case DecimalHandling::string: util::append_json_string(out, to_plain(*d)); return true;
      case DecimalHandling::precise: break;
    }
    set_scale(*d, kMoneyFractionDigits, false);
    append_quoted_base64(out, unscaled_bytes(*d));
    return true;
  }

  // cash_out's text under any lc_monetary: "$1,234.56", "-1.234,56 €", "CHF- 1’234.56",
  // "د.ب. 1,234.567-", "($5.00)". The amount runs from the first digit to the last; a '-' or '('
  // anywhere makes it negative; the decimal separator is the last '.' or ',' unless it repeats or,
  // being the only one, three digits follow it (then it groups thousands).
  static std::optional<Decimal> parse_money(std::string_view s) {
    std::size_t first = s.find_first_of("0123456789"), last = s.find_last_of("0123456789");
    if (first == std::string_view::npos) return std::nullopt;
    std::string_view amount = s.substr(first, last - first + 1);
    std::size_t sep = amount.find_last_of(".,");
    if (sep != std::string_view::npos) {
      char mark = amount[sep];
      bool repeats = amount.find(mark) != sep;
      bool other_mark = amount.find_first_of(mark == '.' ? "," : ".") != std::string_view::npos;
      bool three_after = amount.size() - sep - 1 == 3;
      if (repeats || (!other_mark && three_after)) sep = std::string_view::npos;
    }
    Decimal d;
    for (std::size_t i = 0; i < amount.size(); ++i) {
      char ch = amount[i];
      if (ch >= '0' && ch <= '9') d.digits += ch;
      else if (i == sep) d.scale = static_cast<int>(amount.size() - i - 1);
    }
    std::string_view outside_before = s.substr(0, first), outside_after = s.substr(last + 1);
    d.negative = outside_before.find_first_of("-(") != std::string_view::npos ||
                 outside_after.find_first_of("-(") != std::string_view::npos;
    normalize(d);
    return d;
  }

  bool bytea(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    std::optional<std::string> bytes = s ? decode_bytea(*s) : std::nullopt;
    if (!bytes) return bad(v, "expected bytea text (\\x… or escaped)");
    append_bytes(*bytes);
    return true;
  }

  void append_bytes(std::string_view bytes) {
    switch (c.modes.binary) {
      case BinaryHandling::bytes: case BinaryHandling::base64: append_quoted_base64(out, bytes); break;
      case BinaryHandling::base64_url_safe: append_quoted_base64(out, bytes, true); break;
      case BinaryHandling::hex: append_quoted_hex(out, bytes); break;
    }
  }

  // Hex digits, two per byte.
  static std::optional<std::string> decode_hex(std::string_view s) {
    auto nibble = [](char ch) -> int {
      if (ch >= '0' && ch <= '9') return ch - '0';
      if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
      if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
      return -1;
    };
    if (s.size() % 2) return std::nullopt;
    std::string bytes;
    bytes.reserve(s.size() / 2);
    for (std::size_t i = 0; i < s.size(); i += 2) {
      int hi = nibble(s[i]), lo = nibble(s[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      bytes += static_cast<char>(hi << 4 | lo);
    }
    return bytes;
  }

  // PostGIS's text, hex EWKB, as Debezium writes it: the EWKB itself and the SRID it carries
  // (PostgisGeometry: the SRID flag 0x20000000 of the type, the SRID after it).
  // include.unknown.datatypes: the bytes of the value's text (pgoutput's, which to_jsonb writes as a
  // JSON string), a geometric type's numbers written again as pgjdbc's objects write them (Java's
  // doubles); a composite captured by trigger (to_jsonb's object) as record_out writes its fields.
  bool unknown(std::string_view v) {
    std::string text;
    if (auto s = string_text(v)) text = geometric(c.shape.array ? c.type.element : c.type.oid) ? java_doubles(*s) : std::move(*s);
    else if (js::kind(v) == '{') text = record_text(v);
    else js::append_minified(text, v);
    append_bytes(text);
    return true;
  }

  static bool geometric(std::uint32_t type_oid) {
    switch (type_oid) {
      case oid::lseg: case oid::path: case oid::box: case oid::polygon: case oid::line: case oid::circle: return true;
      default: return false;
    }
  }

  // "(1,1),(0,0)" as PGbox writes it, "(1.0,1.0),(0.0,0.0)": each number as Java's Double.toString.
  static std::string java_doubles(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
      const char ch = s[i];
      const bool starts = std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == 'N' || ch == 'I';
      if (!starts) {
        out += ch;
        ++i;
        continue;
      }
      std::size_t end = i + 1;
      while (end < s.size() && std::string_view(",()[]{}<> ").find(s[end]) == std::string_view::npos) ++end;
      std::string_view token = s.substr(i, end - i);
      double d = 0;
      auto r = std::from_chars(token.data(), token.data() + token.size(), d);
      if (token == "NaN") out += "NaN";
      else if (token == "Infinity" || token == "-Infinity") out += token;
      else if (r.ec == std::errc() && r.ptr == token.data() + token.size()) append_java_number(out, d);
      else out += token;
      i = end;
    }
    return out;
  }

  // A row's fields as record_out writes them: (1,"a b",,t); a field holding one of "\(), or a
  // space, or empty, quoted.
  static std::string record_text(std::string_view object) {
    std::string out = "(";
    bool first = true;
    js::each_field(object, [&](std::string_view, std::string_view value) {
      if (!first) out += ',';
      first = false;
      const char k = js::kind(value);
      if (k == 'z') return;
      std::string text;
      if (k == '"') js::append_text(text, value);
      else if (k == 't' || k == 'f') text = k;
      else js::append_minified(text, value);
      const bool quote = text.empty() || text.find_first_of("\"\\(), \t\n\r") != std::string::npos;
      if (!quote) {
        out += text;
        return;
      }
      out += '"';
      for (char ch : text) {
        if (ch == '"' || ch == '\\') out += ch;
        out += ch;
      }
      out += '"';
    });
    return out + ")";
  }

  // A geometry captured by trigger comes as the GeoJSON to_jsonb writes, made EWKB again.
  bool postgis(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    std::optional<std::string> ewkb = s ? decode_hex(*s) : js::kind(v) == '{' ? ewkb_of_geojson(v) : std::nullopt;
    if (!ewkb || ewkb->size() < 9) return bad(v, "expected PostGIS's hex EWKB or a GeoJSON geometry");
    const bool little = (*ewkb)[0] != 0;
    auto u32 = [&](std::size_t at) {
      std::uint32_t n = 0;
      for (std::size_t k = 0; k < 4; ++k) {
        auto byte = static_cast<std::uint8_t>((*ewkb)[at + (little ? 3 - k : k)]);
        n = n << 8 | byte;
      }
      return n;
    };
    out += "{\"wkb\":";
    append_quoted_base64(out, *ewkb);
    out += ",\"srid\":";
    if (u32(1) & 0x20000000u) out += std::to_string(static_cast<std::int32_t>(u32(5)));
    else out += "null";
    out += '}';
    return true;
  }

  // bytea_output hex ("\x0102") or escape ("\001\\A").
  static std::optional<std::string> decode_bytea(std::string_view s) {
    if (s.starts_with("\\x")) return decode_hex(s.substr(2));
    std::string bytes;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\\') {
        bytes += s[i];
      } else if (i + 1 < s.size() && s[i + 1] == '\\') {
        bytes += '\\';
        ++i;
      } else if (i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
                 s[i + 3] >= '0' && s[i + 3] <= '7') {
        bytes += static_cast<char>((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
        i += 3;
      } else {
        return std::nullopt;
      }
    }
    return bytes;
  }

  bool date(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    if (!s) return bad(v, "expected a date string");
    // Debezium reads ±infinity as the LocalDates -5877611-06-21 and -22 (pgjdbc's infinity dates).
    Special sp = special_of(*s);
    std::optional<std::int64_t> days = sp == Special::positive_infinity   ? days_from_civil(-5877611, 6, 21)
                                       : sp == Special::negative_infinity ? days_from_civil(-5877611, 6, 22)
                                                                          : parse_date(*s);
    if (!days) return bad(v, "expected YYYY-MM-DD");
    util::append_int(out, *days);
    return true;
  }

  bool time(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    Text t{s ? std::string_view(*s) : std::string_view()};
    std::int64_t micros = 0;
    if (!s || !read_time(t, micros) || !t.done()) return bad(v, "expected HH:MM:SS[.ffffff]");
    bool millis = c.modes.time == TimePrecision::connect || c.millis_time();
    util::append_int(out, millis ? micros / 1000 : micros);
    return true;
  }

  bool timetz(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    std::optional<ZonedTime> zt = s ? parse_timetz(*s) : std::nullopt;
    if (!zt) return bad(v, "expected HH:MM:SS[.ffffff]±HH[:MM]");
    std::string text;
    append_clock(text, zt->utc_micros, 0);
    text += 'Z';
    util::append_json_string(out, text);
    return true;
  }

  bool timestamp(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    if (!s) return bad(v, "expected a timestamp string");
    bool millis = c.millis_timestamp();
    // pgjdbc's infinity (PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY) read as microseconds.
    static constexpr std::int64_t kPositiveInfinity = 9223372036825200000, kNegativeInfinity = -9223372036832400000;
    Special sp = special_of(*s);
    std::optional<std::int64_t> micros = sp == Special::positive_infinity   ? kPositiveInfinity
                                         : sp == Special::negative_infinity ? kNegativeInfinity
                                                                            : parse_timestamp(*s, false);
    if (!micros) return bad(v, "expected YYYY-MM-DDTHH:MM:SS[.ffffff]");
    util::append_int(out, millis ? floor_div(*micros, 1000) : *micros);
    return true;
  }

  bool timestamptz(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    if (!s) return bad(v, "expected a timestamp string");
    if (special_of(*s) != Special::none) {
      util::append_json_string(out, *s);
      return true;
    }
    std::optional<std::int64_t> micros = parse_timestamp(*s, true);
    if (!micros) return bad(v, "expected YYYY-MM-DDTHH:MM:SS[.ffffff]±HH:MM");
    std::string text;
    append_zoned_timestamp(text, *micros, time_precision(c.typmod()));
    util::append_json_string(out, text);
    return true;
  }

  // "HH:MM:SS" and a fraction: `width` digits (1-9), or as few as the value needs when width is 0
  // (DateTimeFormatter's ISO fraction).
  static void append_clock(std::string& text, std::int64_t micros, int width) {
    auto two = [&](std::int64_t n) {
      text += static_cast<char>('0' + n / 10);
      text += static_cast<char>('0' + n % 10);
    };
    two(micros / kMicrosPerHour);
    text += ':';
    two(micros / kMicrosPerMinute % 60);
    text += ':';
    two(micros / kMicrosPerSecond % 60);
    std::int64_t frac = micros % kMicrosPerSecond;
    char nine[24];
    std::snprintf(nine, sizeof nine, "%06lld000", static_cast<long long>(frac));
    std::string_view digits(nine, 9);
    if (width <= 0) {
      if (frac == 0) return;
      digits = digits.substr(0, digits.find_last_not_of('0') + 1);
    } else {
      digits = digits.substr(0, static_cast<std::size_t>(width));
    }
    text += '.';
    text += digits;
  }

  // io.debezium.time.ZonedTimestamp: ISO 8601 at UTC, the fraction as wide as the column's precision
  // (as Debezium formats a column of precision 1-6; precision 0 takes the plain ISO form).
  static void append_zoned_timestamp(std::string& text, std::int64_t micros, int precision) {
    std::int64_t days = floor_div(micros, kMicrosPerDay);
    Civil d = civil_from_days(days);
    char buf[32];
    if (d.year > 9999) std::snprintf(buf, sizeof buf, "+%lld", static_cast<long long>(d.year));
    else if (d.year >= 0) std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(d.year));
    else std::snprintf(buf, sizeof buf, "-%04lld", static_cast<long long>(-d.year));
    text += buf;
    std::snprintf(buf, sizeof buf, "-%02u-%02uT", d.month, d.day);
    text += buf;
    append_clock(text, micros - days * kMicrosPerDay, precision);
    text += 'Z';
  }

  bool interval(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    std::optional<Interval> iv = s ? parse_interval(*s) : std::nullopt;
    if (!iv) return bad(v, "expected an interval in an IntervalStyle's form");
    IntervalParts p = parts_of(*iv);
    if (c.modes.interval == IntervalHandling::numeric) {
      util::append_int(out, micro_duration(p));
      return true;
    }
    std::string text = "P" + std::to_string(p.years) + "Y" + std::to_string(p.months) + "M" + std::to_string(p.days) +
                       "DT" + std::to_string(p.hours) + "H" + std::to_string(p.minutes) + "M" + plain_seconds(p.seconds) + "S";
    util::append_json_string(out, text);
    return true;
  }

  bool bits(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    if (!s || s->find_first_not_of("01") != std::string::npos) return bad(v, "expected a string of 0 and 1");
    if (c.single_bit()) {
      out += s->find('1') != std::string::npos ? "true" : "false";
      return true;
    }
    // java.util.BitSet.toByteArray of the bits, the last character bit 0: little-endian, fewest bytes.
    std::string bytes;
    std::size_t n = s->size();
    for (std::size_t bit = 0; bit < n; ++bit) {
      if ((*s)[n - 1 - bit] != '1') continue;
      if (bytes.size() <= bit / 8) bytes.resize(bit / 8 + 1, '\0');
      bytes[bit / 8] = static_cast<char>(bytes[bit / 8] | (1 << (bit % 8)));
    }
    append_quoted_base64(out, bytes);
    return true;
  }

  bool point(std::string_view v) {
    std::optional<std::string> s = string_text(v);
    double x = 0, y = 0;
    if (!s || !read_point(*s, x, y)) return bad(v, "expected (x,y)");
    std::string wkb(1, '\x01');  // WKB: little-endian, type 1 (Point), x, y
    auto put = [&](const void* p, std::size_t n) { wkb.append(static_cast<const char*>(p), n); };
    std::uint32_t type = 1;
    put(&type, 4);
    put(&x, 8);
    put(&y, 8);
    out += "{\"x\":";
    append_java_number(out, x);
    out += ",\"y\":";
    append_java_number(out, y);
    out += ",\"wkb\":";
    append_quoted_base64(out, wkb);
    out += ",\"srid\":null}";
    return true;
  }

  static bool read_point(std::string_view s, double& x, double& y) {
    if (s.size() < 5 || s.front() != '(' || s.back() != ')') return false;
    s = s.substr(1, s.size() - 2);
    std::size_t comma = s.find(',');
    if (comma == std::string_view::npos) return false;
    auto number = [](std::string_view t, double& d) {
      auto r = std::from_chars(t.data(), t.data() + t.size(), d);
      return r.ptr == t.data() + t.size() && (r.ec == std::errc() || r.ec == std::errc::result_out_of_range);
    };
    return number(s.substr(0, comma), x) && number(s.substr(comma + 1), y);
  }

  bool string(std::string_view v) {
    if (!is_string(v)) return bad(v, "expected a JSON string");
    out += v;
    return true;
  }

  // json and jsonb: the value's JSON text, as a string.
  // json and jsonb: the document as PostgreSQL's jsonb output writes it ({"a": 1, "b": [1, 2]}),
  // which is what Debezium reads from the server.
  bool json(std::string_view v) {
    std::string compact, text;
    js::append_minified(compact, v);
    text.reserve(compact.size() + compact.size() / 8);
    bool in_string = false;
    for (std::size_t i = 0; i < compact.size(); ++i) {
      char ch = compact[i];
      text += ch;
      if (in_string) {
        if (ch == '\\' && i + 1 < compact.size()) text += compact[++i];
        else if (ch == '"') in_string = false;
      } else if (ch == '"') {
        in_string = true;
      } else if (ch == ',' || ch == ':') {
        text += ' ';
      }
    }
    util::append_json_string(out, text);
    return true;
  }

  // hstore: its object as compact JSON text (hstore.handling.mode json), or as a map (map).
  bool hstore(std::string_view v) {
    if (js::kind(v) != '{') return bad(v, "expected a JSON object");
    if (c.modes.hstore == HStoreHandling::map) {
      js::append_minified(out, v);
      return true;
    }
    std::string text;
    js::append_minified(text, v);
    util::append_json_string(out, text);
    return true;
  }

  bool scalar(std::string_view v) {
    if (v == "null") {
      out += "null";
      return true;
    }
    switch (c.shape.kind) {
      case Kind::boolean: return boolean(v);
      case Kind::int16: return integer(v, std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max());
      case Kind::int32: return integer(v, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max());
      case Kind::int64: return integer(v, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
      case Kind::oid: return integer(v, 0, std::numeric_limits<std::uint32_t>::max(), true);
      case Kind::float32: return floating<float>(v);
      case Kind::float64: return floating<double>(v);
      case Kind::numeric: return numeric(v);
      case Kind::money: return money(v);
      case Kind::bytea: return bytea(v);
      case Kind::date: return date(v);
      case Kind::time: return time(v);
      case Kind::timetz: return timetz(v);
      case Kind::timestamp: return timestamp(v);
      case Kind::timestamptz: return timestamptz(v);
      case Kind::interval: return interval(v);
      case Kind::bits: return bits(v);
      case Kind::point: return point(v);
      case Kind::geometry: case Kind::geography: return postgis(v);
      case Kind::unknown: return unknown(v);
      case Kind::json: return json(v);
      case Kind::hstore: return hstore(v);
      case Kind::string: case Kind::uuid: case Kind::xml: case Kind::tsvector: case Kind::enumeration: case Kind::ltree:
        return string(v);
      case Kind::omitted: break;
    }
    return bad(v, "Debezium does not map this type");
  }

  // A 1-D array. An element that is itself an array (a multi-dimensional value) is written null, as
  // Debezium's element converters turn what they cannot read into null.
  bool array(std::string_view v) {
    // An array of PostGIS values read from the WAL comes as its text: EWKB joined by ':'.
    if ((c.shape.kind == Kind::geometry || c.shape.kind == Kind::geography) && is_string(v)) {
      std::string text;
      js::append_text(text, v);
      out += '[';
      bool first = true;
      for (const auto& element : pg::parse_text_array(text, ':')) {
        if (!first) out += ',';
        first = false;
        if (element == "NULL") {
          out += "null";
          continue;
        }
        std::string quoted;
        util::append_json_string(quoted, element);
        if (!postgis(quoted)) return false;
      }
      out += ']';
      return true;
    }
    // An array of unmapped elements read from the WAL comes as its text ({"(1,a)","(2,b)"}).
    if (c.shape.kind == Kind::unknown && is_string(v)) {
      std::string text;
      js::append_text(text, v);
      out += '[';
      bool first = true;
      for (const auto& element : pg::parse_text_array(text)) {
        if (!first) out += ',';
        first = false;
        append_bytes(element);
      }
      out += ']';
      return true;
    }
    if (js::kind(v) != '[') return bad(v, "expected a JSON array");
    out += '[';
    bool first = true, ok = true;
    bool well_formed = js::each_element(v, [&](std::string_view e) {
      if (!ok) return;
      if (!first) out += ',';
      first = false;
      if (js::kind(e) == '[') out += "null";
      else ok = scalar(e);
    });
    out += ']';
    if (!well_formed && ok) return bad(v, "expected a JSON array");
    return ok;
  }
};

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
  if (kind_schema(c).type == "string") util::append_json_string(out, kUnavailable);
  else out += "null";
}

}  // namespace

bool omitted(const PgType& type, const Modes& modes) { return shape_of(type, modes).kind == Kind::omitted; }

bool append_value(const PgType& type, std::string_view json, const Modes& modes, std::string& out, std::string& error) {
  ColumnType c{type, modes, shape_of(type, modes)};
  std::size_t mark = out.size();
  Writer w{c, out, error};
  std::string_view v = trim(json);
  bool ok;
  if (c.shape.kind == Kind::omitted) ok = w.bad(v, "Debezium does not map this type (the column is left out)");
  else if (v == "null") ok = (out += "null", true);
  else ok = c.shape.array ? w.array(v) : w.scalar(v);
  if (!ok) out.resize(mark);
  return ok;
}

void append_unavailable(const PgType& type, const Modes& modes, std::string& out) {
  ColumnType c{type, modes, shape_of(type, modes)};
  if (c.shape.kind == Kind::omitted) return;
  if (c.shape.array) append_unavailable_array(c, out);
  else append_unavailable_scalar(c, out);
}

void append_zero(const PgType& type, const Modes& modes, std::string& out) {
  ColumnType c{type, modes, shape_of(type, modes)};
  if (c.shape.kind == Kind::omitted) return;
  if (c.shape.array) {
    out += "[]";
    return;
  }
  std::string error;
  Writer w{c, out, error};
  switch (c.shape.kind) {
    case Kind::boolean: out += "false"; return;
    case Kind::int16: case Kind::int32: case Kind::int64: case Kind::oid: out += '0'; return;
    case Kind::float32: case Kind::float64: case Kind::numeric: w.scalar("0"); return;
    case Kind::money:
      switch (modes.decimal) {
        case DecimalHandling::double_: out += "0.0"; return;
        case DecimalHandling::string: out += "\"0.00\""; return;
        case DecimalHandling::precise: out += "\"AA==\""; return;  // 0 at scale 2: one zero byte
      }
      return;
    case Kind::date: case Kind::time: case Kind::timestamp: out += '0'; return;
    case Kind::timestamptz: out += "\"1970-01-01T00:00:00Z\""; return;
    case Kind::timetz: out += "\"00:00:00Z\""; return;
    case Kind::interval: out += modes.interval == IntervalHandling::string ? "\"P0Y0M0DT0H0M0S\"" : "0"; return;
    case Kind::bits: out += c.single_bit() ? "false" : "\"\""; return;
    case Kind::hstore: out += modes.hstore == HStoreHandling::map ? "{}" : "\"{}\""; return;
    case Kind::point: out += "null"; return;
    // Debezium's fallback: GEOMETRYCOLLECTION EMPTY (PostgisGeometry.createEmpty).
    case Kind::geometry: case Kind::geography: out += "{\"wkb\":\"AQcAAAAAAAAA\",\"srid\":null}"; return;
    default: out += "\"\""; return;  // strings, bytes (empty), uuid, json, enum...
  }
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

void append_field_schema(const PgType& type, std::optional<std::string_view> field, bool optional, const Modes& modes,
                         std::string& out, std::string_view default_json,
                         const std::vector<std::pair<std::string_view, std::string>>& parameters) {
  ColumnType c{type, modes, shape_of(type, modes)};
  if (c.shape.kind == Kind::omitted) return;
  Schema s = kind_schema(c);
  if (c.shape.array) {
    s.optional = c.shape.element_optional;
    Schema array = plain("array");
    array.children.push_back(std::move(s));
    s = std::move(array);
  }
  // PostGIS's schemas are optional whatever the column (Debezium's Geometry.builder() says so).
  const bool postgis = !c.shape.array && (c.shape.kind == Kind::geometry || c.shape.kind == Kind::geography);
  s.optional = optional || postgis;
  s.default_value = default_json;
  s.parameters.insert(s.parameters.end(), parameters.begin(), parameters.end());
  append_schema(out, s, field);
}

namespace {

// pgjdbc's TypeInfoCache: a type's display size, precision and scale for a modifier (-1: none).
constexpr std::int64_t kUnknownLength = 2147483647;

std::int64_t jdbc_display_size(std::uint32_t type_oid, std::int32_t typmod) {
  switch (type_oid) {
    case oid::date: return 13;
    case oid::time: case oid::timetz: case oid::timestamp: case oid::timestamptz: {
      const int seconds = typmod == -1 ? 7 : typmod == 0 ? 0 : typmod == 1 ? 3 : typmod + 1;
      switch (type_oid) {
        case oid::time: return 8 + seconds;
        case oid::timetz: return 8 + seconds + 6;
        case oid::timestamp: return 13 + 1 + 8 + seconds;
        default: return 13 + 1 + 8 + seconds + 6;
      }
    }
    case oid::interval: return 49;
    case oid::numeric: {
      if (typmod == -1) return 131089;
      const int precision = numeric_precision(typmod), scale = numeric_scale(typmod);
      return 1 + precision + (scale != 0 ? 1 : 0);
    }
    default: return kUnknownLength;
  }
}

std::int64_t jdbc_precision(std::uint32_t type_oid, std::int32_t typmod) {
  switch (type_oid) {
    case oid::int2: return 5;
    case oid::oid_: case oid::int4: return 10;
    case oid::int8: return 19;
    case oid::float4: return 8;
    case oid::float8: return 17;
    case oid::numeric: return typmod == -1 ? 0 : numeric_precision(typmod);
    case oid::char_: case oid::boolean: return 1;
    case oid::bpchar: case oid::varchar: return typmod == -1 ? kUnknownLength : typmod - 4;
    case oid::date: case oid::time: case oid::timetz: case oid::interval: case oid::timestamp: case oid::timestamptz:
      return jdbc_display_size(type_oid, typmod);
    case oid::bit: return typmod;
    case oid::varbit: return typmod == -1 ? kUnknownLength : typmod;
    default: return kUnknownLength;
  }
}

std::int64_t jdbc_scale(std::uint32_t type_oid, std::int32_t typmod) {
  switch (type_oid) {
    case oid::float4: return 8;
    case oid::float8: return 17;
    case oid::numeric: return typmod == -1 ? 0 : numeric_scale(typmod);
    case oid::time: case oid::timetz: case oid::timestamp: case oid::timestamptz: return typmod == -1 ? 6 : typmod;
    case oid::interval: return typmod == -1 ? 6 : typmod & 0xFFFF;
    default: return 0;
  }
}

}  // namespace

std::vector<std::pair<std::string_view, std::string>> source_type_parameters(const PgType& type, std::string_view type_name,
                                                                             std::string_view column) {
  // An array is described by its element type, with the column's modifier.
  const std::uint32_t described = type.element != 0 && !subscriptable_scalar(type.oid) ? type.element : type.oid;
  std::int64_t length = jdbc_precision(described, type.typmod);
  if (length == 0) length = jdbc_display_size(described, type.typmod);
  std::string upper;
  for (char ch : type_name.empty() ? std::string_view(type.name) : type_name)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return {{"__debezium.source.column.type", std::move(upper)},
          {"__debezium.source.column.length", std::to_string(length)},
          {"__debezium.source.column.scale", std::to_string(jdbc_scale(described, type.typmod))},
          {"__debezium.source.column.name", std::string(column)}};
}

}  // namespace relay::debezium
