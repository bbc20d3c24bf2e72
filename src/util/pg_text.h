// PostgreSQL's text output of values, read: arrays, numerics (exact), dates, times, timestamps and
// intervals, as PostgreSQL writes them (DateStyle ISO, IntervalStyle postgres or iso_8601, the
// text to_jsonb and the WAL give). One home for the PostgreSQL backend and the formats. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace relay::pg_text {

// The elements of a one-dimensional array in PostgreSQL's text output, e.g. {a,"b c"} (names,
// text[] values): quotes and backslash escapes undone. `delimiter`: the element type's typdelim
// (PostGIS's geometry: ':').
std::vector<std::string> parse_text_array(std::string_view text, char delimiter = ',');

// ---- numbers

// An exact decimal, as Java's BigDecimal: an unscaled integer and a scale.
struct Decimal {
  bool negative = false;
  std::string digits;  // the unscaled value's digits, no leading zeros; empty for zero
  int scale = 0;       // value = ±digits × 10^-scale
};

// Drops leading zeros (and the sign of zero).
void normalize(Decimal& d);
// A JSON number (-?int(.frac)?(e±exp)?); nothing for other text, or an exponent beyond ±1000.
std::optional<Decimal> parse_decimal(std::string_view s);

// ---- dates and times

constexpr std::int64_t kMicrosPerSecond = 1000000, kMicrosPerMinute = 60 * kMicrosPerSecond,
                       kMicrosPerHour = 60 * kMicrosPerMinute, kMicrosPerDay = 24 * kMicrosPerHour;

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Proleptic Gregorian days since 1970-01-01 (as Java's LocalDate and PostgreSQL count).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
struct Civil {
  std::int64_t year;
  unsigned month, day;
};
Civil civil_from_days(std::int64_t z);

enum class Special { none, positive_infinity, negative_infinity };
Special special_of(std::string_view text);

// A date as days since the epoch.
std::optional<std::int64_t> parse_date(std::string_view text);
// A time of day (HH:MM:SS[.ffffff], 24:00:00 included) as microseconds past midnight.
std::optional<std::int64_t> parse_time(std::string_view text);
// A timestamp (with_zone: and its offset) as microseconds since the epoch, UTC.
std::optional<std::int64_t> parse_timestamp(std::string_view text, bool with_zone);
struct ZonedTime {
  std::int64_t utc_micros;  // past midnight UTC
  bool boundary;            // 24:00:00 at UTC
};
// A time with its zone, as microseconds past midnight UTC.
std::optional<ZonedTime> parse_timetz(std::string_view text);

// An interval as PostgreSQL keeps it.
struct Interval {
  std::int64_t months = 0, days = 0, micros = 0;
};
// An interval in IntervalStyle postgres (1 year 2 mons 3 days 04:05:06) or iso_8601 (P1Y2M3DT4H5M6S).
std::optional<Interval> parse_interval(std::string_view s);

}  // namespace relay::pg_text
