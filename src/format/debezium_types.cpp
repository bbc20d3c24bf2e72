// Which Connect shape each PostgreSQL type takes in Debezium's events for the PostgreSQL connector
// 3.6 (PostgresValueConverter over JdbcValueConverters), the encodings of its values and its
// decimal arithmetic. The values are written in debezium_values.cpp, the schemas in
// debezium_schemas.cpp, the defaults and placeholders in debezium_defaults.cpp;
// docs/debezium-types.md lists every type and what differs from Debezium.
#include "format/debezium_columns.h"

namespace relay::debezium {

using namespace pg_text;

// ---------------------------------------------------------------------------------------------
// Types: which Connect shape a PostgreSQL type takes.



static Kind builtin_kind(std::uint32_t type_oid) {
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
static Kind extension_kind(std::string_view name) {
  if (name == "citext" || name == "isbn") return Kind::string;
  if (name == "ltree") return Kind::ltree;
  if (name == "hstore") return Kind::hstore;
  if (name == kGeometryType) return Kind::geometry;
  if (name == kGeographyType) return Kind::geography;
  return Kind::omitted;
}

static Kind scalar_kind(std::uint32_t type_oid, char typtype, std::string_view name) {
  if (typtype == 'e') return Kind::enumeration;
  if (type_oid >= oid::first_user_oid) return typtype == 'b' ? extension_kind(name) : Kind::omitted;
  return builtin_kind(type_oid);
}

bool subscriptable_scalar(std::uint32_t type_oid) {
  switch (type_oid) {
    case oid::name: case oid::int2vector: case oid::oidvector: case oid::point: case oid::lseg: case oid::box:
    case oid::line: case oid::path: case oid::polygon: case oid::circle:
      return true;
    default: return false;
  }
}

// The arrays Debezium declines (PostgresValueConverter returns no schema for them).
static bool declined_array_element(std::uint32_t element) {
  switch (element) {
    case oid::money: case oid::name: case oid::interval: case oid::varbit: case oid::xml: case oid::point:
    case oid::refcursor:
      return true;
    default: return false;
  }
}


static std::string_view element_name(const PgType& t) {
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

// ---------------------------------------------------------------------------------------------
// Encodings: base64, hex, Java's number text.

void append_base64(std::string& out, std::string_view bytes, bool url_safe) {
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

void append_quoted_base64(std::string& out, std::string_view bytes, bool url_safe) {
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

IntervalParts parts_of(const Interval& iv) {
  std::int64_t micros_of_minute = iv.micros % kMicrosPerMinute;
  return {iv.months / 12, iv.months % 12, iv.days, iv.micros / kMicrosPerHour, (iv.micros % kMicrosPerHour) / kMicrosPerMinute,
          static_cast<double>(micros_of_minute / kMicrosPerSecond) +
              static_cast<double>(micros_of_minute % kMicrosPerSecond) / static_cast<double>(kMicrosPerSecond)};
}

std::int64_t java_long(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9223372036854775807.0) return std::numeric_limits<std::int64_t>::max();
  if (v <= -9223372036854775808.0) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

std::int64_t micro_duration(const IntervalParts& p) {
  const double days_per_month = 365.25 / 12.0;
  double days = static_cast<double>(p.years * 12 + p.months) * days_per_month + static_cast<double>(p.days);
  double seconds = (((days * 24 + static_cast<double>(p.hours)) * 60) + static_cast<double>(p.minutes)) * 60 + p.seconds;
  return java_long(seconds * 1e6);
}

bool omitted(const PgType& type, const Modes& modes) { return shape_of(type, modes).kind == Kind::omitted; }

}  // namespace relay::debezium
