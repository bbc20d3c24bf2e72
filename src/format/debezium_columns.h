// What the files of format debezium's column values share (debezium_types.cpp, debezium_values.cpp,
// debezium_schemas.cpp, debezium_defaults.cpp): which Connect shape a PostgreSQL type takes, and
// the encodings and decimal arithmetic Java's classes define. Not for use outside them.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "format/debezium_types.h"
#include "util/json_escape.h"
#include "util/pg_text.h"

namespace relay::debezium {

using pg_text::Decimal;

// Debezium's defaults for the settings Modes does not carry.
constexpr int kMoneyFractionDigits = 2;  // money.fraction.digits
constexpr std::string_view kUnavailable = kUnavailablePlaceholder;

// ---- Types: which Connect shape a PostgreSQL type takes (debezium_types.cpp)

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

struct Shape {
  Kind kind = Kind::omitted;
  bool array = false;
  bool element_optional = true;
  std::string_view enum_labels;
};

Shape shape_of(const PgType& t, const Modes& modes);
// Built-in types that pg_type gives an element (typelem) though they are no arrays.
bool subscriptable_scalar(std::uint32_t type_oid);
// What pgjdbc's TypeInfoCache reports for a typmod, which Debezium's schemas follow.
int time_precision(std::int32_t typmod);
int numeric_precision(std::int32_t typmod);
int numeric_scale(std::int32_t typmod);
bool variable_scale(std::int32_t typmod);
std::int64_t bits_length(std::uint32_t type_oid, std::int32_t typmod);

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

// The Connect type of a column's schema ("string", "int64", "struct"...; debezium_schemas.cpp).
std::string_view schema_type(const ColumnType& c);

// ---- Encodings: base64, hex, Java's number text (debezium_types.cpp)

void append_base64(std::string& out, std::string_view bytes, bool url_safe = false);
void append_quoted_base64(std::string& out, std::string_view bytes, bool url_safe = false);
void append_quoted_hex(std::string& out, std::string_view bytes);
// The shortest decimal digits of `v` without exponent or trailing zeros, at most 9 after the point
// (Debezium's BigDecimal.valueOf(v).stripTrailingZeros().toPlainString() after setScale(9, DOWN)).
std::string plain_seconds(double v);

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

// ---- Intervals as Debezium reads them (debezium_types.cpp)

// The interval as pgjdbc's PGInterval splits PostgreSQL's text, which Debezium reads.
struct IntervalParts {
  std::int64_t years, months, days, hours, minutes;
  double seconds;
};
IntervalParts parts_of(const pg_text::Interval& iv);
// Java's (long) of a double: truncation, saturating, NaN as 0.
std::int64_t java_long(double v);
// io.debezium.time.MicroDuration.durationMicros with its 365.25 / 12 days a month, in the same
// double steps so every value matches Debezium's bit for bit.
std::int64_t micro_duration(const IntervalParts& p);

// ---- Decimal arithmetic, as Java's BigDecimal (debezium_types.cpp)

// BigDecimal.setScale: more digits append zeros; fewer round half up (Java's HALF_UP), or fail when
// `exact` and a non-zero digit would go (Debezium's setScale without a rounding mode).
bool set_scale(Decimal& d, int scale, bool exact);
void strip_trailing_zeros(Decimal& d);
std::string to_plain(const Decimal& d);
std::string unscaled_bytes(const Decimal& d);
double to_double(const Decimal& d);

}  // namespace relay::debezium
