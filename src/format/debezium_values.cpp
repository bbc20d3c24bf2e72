// Column values as the Debezium PostgreSQL connector 3.6 writes them (PostgresValueConverter over
// JdbcValueConverters, then Kafka's JsonConverter), read from the text to_jsonb renders.
#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>
#include <vector>

#include "format/debezium_columns.h"
#include "format/geojson_wkb.h"
#include "util/json_scan.h"

namespace relay::debezium {

using namespace pg_text;

namespace {

namespace js = json_scan;

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

// ---------------------------------------------------------------------------------------------
// Values.

struct ValueWriter {
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
    std::optional<std::int64_t> micros = s ? parse_time(*s) : std::nullopt;
    if (!micros) return bad(v, "expected HH:MM:SS[.ffffff]");
    bool millis = c.modes.time == TimePrecision::connect || c.millis_time();
    util::append_int(out, millis ? *micros / 1000 : *micros);
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
      for (const auto& element : pg_text::parse_text_array(text, ':')) {
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
      for (const auto& element : pg_text::parse_text_array(text)) {
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

}  // namespace

bool append_value(const PgType& type, std::string_view json, const Modes& modes, std::string& out, std::string& error) {
  ColumnType c{type, modes, shape_of(type, modes)};
  std::size_t mark = out.size();
  ValueWriter w{c, out, error};
  std::string_view v = trim(json);
  bool ok;
  if (c.shape.kind == Kind::omitted) ok = w.bad(v, "Debezium does not map this type (the column is left out)");
  else if (v == "null") ok = (out += "null", true);
  else ok = c.shape.array ? w.array(v) : w.scalar(v);
  if (!ok) out.resize(mark);
  return ok;
}

void append_zero(const PgType& type, const Modes& modes, std::string& out) {
  ColumnType c{type, modes, shape_of(type, modes)};
  if (c.shape.kind == Kind::omitted) return;
  if (c.shape.array) {
    out += "[]";
    return;
  }
  std::string error;
  ValueWriter w{c, out, error};
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

}  // namespace relay::debezium
