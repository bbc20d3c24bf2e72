#include "util/pg_text.h"

#include <charconv>
#include <utility>

namespace relay::pg_text {

std::vector<std::string> parse_text_array(std::string_view text, char delimiter) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\' && i + 2 < text.size()) cur += text[++i];
    else if (c == '"') quoted = !quoted;
    else if (c == delimiter && !quoted) out.push_back(std::exchange(cur, {}));
    else cur += c;
  }
  if (text.size() > 2) out.push_back(cur);
  return out;
}

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

namespace {

// Reads PostgreSQL's text from the front.
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

}  // namespace



// to += n × unit; false when that leaves an int64 (only text PostgreSQL did not write can: its
// timestamps end in year 294276, its intervals hold int32 months and days, int64 microseconds).
static bool add(std::int64_t& to, std::int64_t n, std::int64_t unit = 1) {
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

static bool valid_day(std::int64_t y, std::int64_t m, std::int64_t d) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap);
}

// "YYYY-MM-DD" (the year may have more digits); the era is read at the end of the value.
static bool read_date(Text& t, std::int64_t& year, std::int64_t& month, std::int64_t& day) {
  return t.number(4, 9, year) && t.eat('-') && t.number(2, 2, month) && t.eat('-') && t.number(2, 2, day);
}

static bool read_era(Text& t, std::int64_t& year) {
  if (t.eat(" BC")) year = 1 - year;  // 1 BC is year 0 of the proleptic calendar
  return t.done();
}

// "HH:MM:SS[.ffffff]" as microseconds past midnight (24:00:00 allowed).
static bool read_time(Text& t, std::int64_t& micros) {
  std::int64_t h, m, s;
  if (!(t.number(2, 2, h) && t.eat(':') && t.number(2, 2, m) && t.eat(':') && t.number(2, 2, s))) return false;
  micros = h * kMicrosPerHour + m * kMicrosPerMinute + s * kMicrosPerSecond + t.fraction_micros();
  return h <= 24 && m < 60 && s < 60 && micros <= kMicrosPerDay;
}

// "+HH[:MM[:SS]]" as seconds east of UTC.
static bool read_offset(Text& t, std::int64_t& seconds) {
  int sign = t.eat('+') ? 1 : t.eat('-') ? -1 : 0;
  std::int64_t h = 0, m = 0, s = 0;
  if (!sign || !t.number(2, 2, h)) return false;
  if (t.eat(':') && !t.number(2, 2, m)) return false;
  if (t.eat(':') && !t.number(2, 2, s)) return false;
  seconds = sign * (h * 3600 + m * 60 + s);
  return true;
}


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


std::optional<std::int64_t> parse_time(std::string_view text) {
  Text t{text};
  std::int64_t micros = 0;
  if (!read_time(t, micros) || !t.done()) return std::nullopt;
  return micros;
}

std::optional<ZonedTime> parse_timetz(std::string_view text) {
  Text t{text};
  std::int64_t micros, offset;
  if (!read_time(t, micros) || !read_offset(t, offset) || !t.done()) return std::nullopt;
  if (micros == kMicrosPerDay && offset == 0) return ZonedTime{micros, true};
  std::int64_t utc = (micros - offset * kMicrosPerSecond) % kMicrosPerDay;
  return ZonedTime{utc < 0 ? utc + kMicrosPerDay : utc, false};
}


// "[-]SS[.ffffff]" seconds as microseconds.
static bool read_seconds(std::string_view s, std::int64_t& micros) {
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

static bool read_integer(std::string_view s, std::int64_t& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// IntervalStyle iso_8601: P[nY][nM][nD][T[nH][nM][n.nS]].
static bool parse_iso_interval(std::string_view s, Interval& iv) {
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

static std::vector<std::string_view> words(std::string_view s) {
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
static bool read_clock(std::string_view token, int sign, std::int64_t& micros) {
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
static bool add_unit(Interval& iv, std::string_view number, std::string_view unit) {
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
static bool parse_worded_interval(std::string_view s, Interval& iv) {
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

}  // namespace relay::pg_text
